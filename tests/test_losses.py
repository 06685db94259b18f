"""Losses against numpy references; vmap, grad, invariances, and no retrace when weights change."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from stylejax.errors import StylejaxError
from stylejax.objectives import losses

RNG = np.random.default_rng(0)


def _features(h=6, w=5, c=4, seed=0):
  return np.random.default_rng(seed).standard_normal((h, w, c)).astype(np.float32)


def _np_gram(f):
  f = f.reshape(-1, f.shape[-1]).astype(np.float64)
  return f.T @ f / f.shape[0]


@pytest.mark.parametrize("norm", losses.GRAM_NORMS)
def test_gram_loss_matches_numpy(norm):
  x, y = _features(seed=1), _features(h=7, w=3, seed=2)  # different sizes: statistics still compare
  target = losses.style_target(jnp.asarray(y), "gram")
  ours = float(jax.jit(lambda f: losses.layer_style_loss(f, target, "gram", gram_norm=norm))(x))
  diff = _np_gram(x) - _np_gram(y)
  c = x.shape[-1]
  expected = {"gatys": (diff**2).sum() / (4 * c**2), "hw": (diff**2).mean(),
              "chw": ((diff / c)**2).mean()}[norm]
  assert ours == pytest.approx(expected, rel=1e-5)


def test_gatys_normalisation_equals_the_paper_formula():
  """1/(4 N^2 M^2) sum((G_raw - A_raw)^2) with unnormalised Grams, for equal sizes."""
  x, y = _features(seed=3), _features(seed=4)
  target = losses.style_target(jnp.asarray(y), "gram")
  ours = float(losses.layer_style_loss(jnp.asarray(x), target, "gram", gram_norm="gatys"))
  fx, fy = x.reshape(-1, 4).astype(np.float64), y.reshape(-1, 4).astype(np.float64)
  n, m = 4, fx.shape[0]
  paper = ((fx.T @ fx - fy.T @ fy)**2).sum() / (4 * n**2 * m**2)
  assert ours == pytest.approx(paper, rel=1e-5)


def test_mean_var_matches_numpy():
  x, y = _features(seed=5), _features(seed=6)
  target = losses.style_target(jnp.asarray(y), "mean_var")
  ours = float(jax.jit(lambda f: losses.layer_style_loss(f, target, "mean_var"))(x))
  fx, fy = x.reshape(-1, 4).astype(np.float64), y.reshape(-1, 4).astype(np.float64)
  sx, sy = np.sqrt(fx.var(0) + 1e-5), np.sqrt(fy.var(0) + 1e-5)
  expected = ((fx.mean(0) - fy.mean(0))**2).mean() + ((sx - sy)**2).mean()
  assert ours == pytest.approx(expected, rel=1e-5)


def _np_w2(fx, fy):
  """Gaussian W2^2 via scipy's matrix square root (an independent route)."""
  from scipy.linalg import sqrtm
  mx, my = fx.mean(0), fy.mean(0)
  cx = np.cov(fx, rowvar=False, bias=True)
  cy = np.cov(fy, rowvar=False, bias=True)
  sy = sqrtm(cy).real
  cross = sqrtm(sy @ cx @ sy).real
  return ((mx - my)**2).sum() + np.trace(cx) + np.trace(cy) - 2 * np.trace(cross)


def test_mean_cov_matches_numpy():
  x, y = _features(h=8, w=8, seed=7), _features(h=8, w=8, seed=8)
  target = losses.style_target(jnp.asarray(y), "mean_cov")
  ours = float(jax.jit(lambda f: losses.layer_style_loss(f, target, "mean_cov"))(x))
  expected = _np_w2(x.reshape(-1, 4).astype(np.float64), y.reshape(-1, 4).astype(np.float64)) / 4
  assert ours == pytest.approx(expected, rel=1e-3, abs=1e-5)


def _np_psd_sqrt(m):
  """Eigenvalues within rounding error of 0 are 0 (as in numpy.linalg.matrix_rank): the root of a
  1e-17 would put a slope of 1e8 into the central differences below."""
  values, vectors = np.linalg.eigh(m)
  values = np.where(values > np.abs(values).max() * len(values) * np.finfo(values.dtype).eps, values, 0.0)
  return (vectors * np.sqrt(values)) @ vectors.T


def _np_w2_eigh(fx, fy):
  """Gaussian W2^2 with float64 numpy eigh square roots: well defined for singular covariances."""
  cx = np.cov(fx, rowvar=False, bias=True)
  cy = np.cov(fy, rowvar=False, bias=True)
  sy = _np_psd_sqrt(cy)
  return (((fx.mean(0) - fy.mean(0))**2).sum() + np.trace(cx) + np.trace(cy)
          - 2 * np.trace(_np_psd_sqrt(sy @ cx @ sy)))


@pytest.mark.parametrize("dead_target_channel", [False, True])
def test_mean_cov_value_and_gradient_match_float64(dead_target_channel):
  """The value, and the gradient against central differences, of a float64 numpy reference. A dead
  (all-zero) target channel, as VGG has after ReLU, makes the covariances singular."""
  x = _features(h=6, w=6, seed=21).astype(np.float64)
  y = _features(h=7, w=5, seed=22).astype(np.float64)
  if dead_target_channel:
    y[..., 1] = 0.0
  reference = lambda f: _np_w2_eigh(f.reshape(-1, 4), y.reshape(-1, 4)) / 4
  target = losses.style_target(jnp.asarray(y, jnp.float32), "mean_cov")
  loss = lambda f: losses.layer_style_loss(f, target, "mean_cov")
  value, grad = jax.jit(jax.value_and_grad(loss))(jnp.asarray(x, jnp.float32))
  assert float(value) == pytest.approx(reference(x), rel=1e-4)
  step, numeric = 1e-6, np.zeros_like(x)
  for index in np.ndindex(x.shape):
    delta = np.zeros_like(x)
    delta[index] = step
    numeric[index] = (reference(x + delta) - reference(x - delta)) / (2 * step)
  np.testing.assert_allclose(grad, numeric, rtol=1e-3, atol=1e-4 * np.abs(numeric).max())


def test_mean_cov_target_sqrt_and_its_gradient_match_float64():
  y = _features(h=7, w=5, seed=23).astype(np.float64)
  y[..., 2] = 0.0  # singular: the square root's derivative is clamped there, so perturb elsewhere
  cov = np.cov(y.reshape(-1, 4), rowvar=False, bias=True)
  ours = losses.style_target(jnp.asarray(y, jnp.float32), "mean_cov")["cov_sqrt"]
  np.testing.assert_allclose(ours, _np_psd_sqrt(cov), atol=1e-5)
  weights = RNG.standard_normal((4, 4))
  probe = lambda m: (weights * m).sum()  # a scalar of the square root, to differentiate
  grad = jax.grad(lambda c: probe(losses._psd_sqrt(c)))(jnp.asarray(cov, jnp.float32))
  direction = np.zeros((4, 4))
  direction[:2, :2] = [[1.0, 0.3], [0.3, 0.5]]  # symmetric, off the dead channel
  numeric = (probe(_np_psd_sqrt(cov + 1e-6 * direction)) - probe(_np_psd_sqrt(cov - 1e-6 * direction))) / 2e-6
  assert float((np.asarray(grad) * direction).sum()) == pytest.approx(numeric, rel=1e-3)


def test_vmapped_mean_cov_runs_eigh_one_matrix_at_a_time():
  """jaxlib 0.10's XLA:CPU spreads a batched eigh over its thread pool and blocks until it is done;
  two at once (two layers of a vmapped sweep) deadlocked. Under vmap, loss and target loop instead."""
  batch = jnp.asarray(RNG.standard_normal((3, 5, 5, 4)), jnp.float32)
  target = losses.style_target(jnp.asarray(_features(seed=24)), "mean_cov")
  step = jax.vmap(jax.value_and_grad(lambda f: losses.layer_style_loss(f, target, "mean_cov")))
  targets = jax.vmap(lambda f: losses.style_target(f, "mean_cov"))
  for fn in (step, targets):
    text = jax.jit(fn).trace(batch).lower(lowering_platforms=("cpu",)).as_text()  # on any backend
    batch_dims = re.findall(r'@lapack_\w*syevd\w*\(.*?num_batch_dims = "(\d+)"', text)
    assert batch_dims and set(batch_dims) == {"0"}, batch_dims


def test_user_mistakes_are_stylejax_errors_and_gaps_in_the_code_are_assertions(monkeypatch):
  f = jnp.asarray(_features(seed=25))
  target = losses.style_target(f, "gram")
  with pytest.raises(StylejaxError, match="unknown style statistic"):
    losses.style_target(f, "l2")
  with pytest.raises(StylejaxError, match="unknown style statistic"):
    losses.layer_style_loss(f, target, "l2")
  with pytest.raises(StylejaxError, match="unknown gram normalisation"):
    losses.layer_style_loss(f, target, "gram", gram_norm="frobenius")
  with pytest.raises(StylejaxError, match="PRNG key"):
    losses.layer_style_loss(f, losses.style_target(f, "sliced_wasserstein"), "sliced_wasserstein")
  monkeypatch.setattr(losses, "STATISTICS", (*losses.STATISTICS, "new_statistic"))
  with pytest.raises(AssertionError, match="new_statistic"):
    losses.layer_style_loss(f, target, "new_statistic")


def test_sliced_wasserstein_matches_numpy_and_is_deterministic():
  x, y = _features(seed=9), _features(seed=10)
  target = losses.style_target(jnp.asarray(y), "sliced_wasserstein")
  key = jax.random.key(3)
  fn = jax.jit(lambda f, k: losses.layer_style_loss(f, target, "sliced_wasserstein", key=k, n_projections=8))
  ours = float(fn(x, key))
  assert float(fn(x, key)) == ours
  assert float(fn(x, jax.random.key(4))) != ours
  directions = np.asarray(jax.random.normal(key, (4, 8)), np.float64)
  directions /= np.linalg.norm(directions, axis=0, keepdims=True)
  px = np.sort(x.reshape(-1, 4) @ directions, axis=0)
  py = np.sort(y.reshape(-1, 4) @ directions, axis=0)
  assert ours == pytest.approx(((px - py)**2).mean(), rel=1e-4)


def test_sliced_wasserstein_resamples_quantiles_for_other_sizes():
  x = _features(h=4, w=4, seed=11)
  # A target that is x's pixels each repeated 3 times has the same distribution: loss ~ 0.
  repeated = np.repeat(x.reshape(-1, 4), 3, axis=0).reshape(12, 4, 4)
  target = losses.style_target(jnp.asarray(repeated), "sliced_wasserstein")
  loss = float(losses.layer_style_loss(jnp.asarray(x), target, "sliced_wasserstein",
                                       key=jax.random.key(0), n_projections=16))
  assert loss < 0.02


def test_content_and_tv_match_numpy():
  a, b = _features(seed=12), _features(seed=13)
  weights = {"x": jnp.float32(0.5), "y": jnp.float32(2.0)}
  ours = float(losses.content_loss({"x": a, "y": b}, {"x": b, "y": a}, weights))
  assert ours == pytest.approx(2.5 * ((a - b)**2).mean(), rel=1e-5)
  image = RNG.random((9, 7, 3)).astype(np.float32)
  expected = ((image[1:] - image[:-1])**2).mean() + ((image[:, 1:] - image[:, :-1])**2).mean()
  assert float(losses.total_variation(image)) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("statistic", ["gram", "mean_var", "mean_cov", "sliced_wasserstein"])
def test_style_statistics_ignore_spatial_permutation(statistic):
  x, y = _features(h=6, w=6, seed=14), _features(h=6, w=6, seed=15)
  permuted = RNG.permutation(x.reshape(-1, 4)).reshape(x.shape)
  target = losses.style_target(jnp.asarray(y), statistic)
  key = jax.random.key(0)
  loss = lambda f: float(losses.layer_style_loss(jnp.asarray(f), target, statistic, key=key))
  assert loss(permuted) == pytest.approx(loss(x), rel=1e-4)
  assert losses.style_target(jnp.asarray(x), statistic).keys() == target.keys()


def _batched_style_loss(feats, target_feats, layer_weights, statistic):
  targets = losses.style_targets(target_feats, statistic)
  return losses.style_loss(feats, targets, layer_weights, statistic, key=jax.random.key(0))


@pytest.mark.parametrize("statistic", losses.STATISTICS)
def test_vmap_equals_loop_and_vmap_grad_is_finite(statistic):
  batch = {"a": jnp.asarray(RNG.standard_normal((3, 5, 5, 4)), jnp.float32),
           "b": jnp.asarray(RNG.standard_normal((3, 3, 3, 6)), jnp.float32)}
  style = {"a": jnp.asarray(_features(h=5, w=5, seed=16)), "b": jnp.asarray(_features(3, 3, 6, seed=17))}
  weights = {"a": jnp.float32(1.0), "b": jnp.float32(0.3)}
  fn = jax.jit(lambda f: _batched_style_loss(f, style, weights, statistic))  # eager: ~140 small compiles
  mapped = jax.jit(jax.vmap(fn))(batch)
  looped = [fn({k: v[i] for k, v in batch.items()}) for i in range(3)]
  np.testing.assert_allclose(mapped, looped, rtol=1e-4, atol=1e-6)
  grads = jax.jit(jax.vmap(jax.grad(fn)))(batch)
  assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(grads))


def test_vmap_over_hyperparameters():
  """Weights are arrays, so a sweep over them is a vmap."""
  f = {"a": jnp.asarray(_features(seed=18))}
  targets = losses.style_targets({"a": jnp.asarray(_features(seed=19))}, "gram")
  fn = lambda w: losses.style_loss(f, targets, {"a": w}, "gram")
  ws = jnp.asarray([0.0, 1.0, 2.0])
  np.testing.assert_allclose(jax.vmap(fn)(ws), [0.0, float(fn(1.0)), 2 * float(fn(1.0))], rtol=1e-6)


def test_changing_weights_does_not_retrace():
  traces = []

  @jax.jit
  def total(f, w):
    traces.append(1)
    targets = losses.style_targets({"a": f["a"] * 2}, "gram")
    return losses.style_loss(f, targets, w, "gram")

  f = {"a": jnp.asarray(_features(seed=20))}
  for value in (0.1, 1.0, 5.0):
    total(f, {"a": jnp.float32(value)})
  assert len(traces) == 1
