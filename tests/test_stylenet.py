"""The conditional-instance-norm network: shapes, styles, blending, numpy reference of the norm."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from stylejax.feedforward import transfer
from stylejax.networks import stylenet
from stylejax.errors import StylejaxError

SPEC = stylenet.NetworkSpec(n_styles=3, width_multiplier=0.25, n_residual=1)
stylize = jax.jit(stylenet.stylize, static_argnums=0)


def trained_like_params(spec, seed=0):
  """Random init, then random per-style gamma/beta rows, as after training (init rows are equal)."""
  params = stylenet.init_params(spec, jax.random.key(seed))
  rng = np.random.default_rng(seed)

  def perturb(path, leaf):
    name = jax.tree_util.keystr(path)
    if "gamma" in name:
      return jnp.asarray(1 + 0.5 * rng.standard_normal(leaf.shape), jnp.float32)
    if "beta" in name:
      return jnp.asarray(0.5 * rng.standard_normal(leaf.shape), jnp.float32)
    return leaf
  return jax.tree_util.tree_map_with_path(perturb, params)


@pytest.fixture(scope="module")
def params():
  return trained_like_params(SPEC)


@pytest.mark.parametrize("shape", [(37, 53, 3), (1, 33, 31, 3), (2, 20, 27, 3), (9, 11, 3)])
def test_output_has_the_input_shape_for_odd_sizes(params, shape):
  images = jax.random.uniform(jax.random.key(1), shape)
  out = stylize(SPEC, params, images, stylenet.one_hot(jnp.int32(0), 3))
  assert out.shape == shape
  assert float(out.min()) >= 0 and float(out.max()) <= 1  # sigmoid output


def test_different_styles_give_different_outputs(params):
  images = jax.random.uniform(jax.random.key(2), (2, 32, 32, 3))
  outs = [stylize(SPEC, params, images, stylenet.one_hot(jnp.int32(s), 3)) for s in range(3)]
  for a in range(3):
    for b in range(a + 1, 3):
      assert float(jnp.abs(outs[a] - outs[b]).mean()) > 1e-3


def test_one_hot_blend_equals_the_single_style_and_per_example_styles(params):
  images = jax.random.uniform(jax.random.key(3), (3, 24, 28, 3))
  single = stylize(SPEC, params, images, stylenet.one_hot(jnp.int32(2), 3))
  blend = stylize(SPEC, params, images, jnp.asarray(transfer.parse_style("2:0.7", 3)))
  np.testing.assert_array_equal(np.asarray(single), np.asarray(blend))
  # per-example ids in one batch: each row equals that style run alone
  mixed = stylize(SPEC, params, images, stylenet.one_hot(jnp.array([0, 2, 1]), 3))
  for i, s in enumerate([0, 2, 1]):
    alone = stylize(SPEC, params, images[i], stylenet.one_hot(jnp.int32(s), 3))
    np.testing.assert_allclose(np.asarray(mixed[i]), np.asarray(alone), atol=1e-5)


def test_blending_mixes_the_norm_rows_linearly(params):
  """A 50/50 blend uses gamma = (g0 + g1) / 2: check on one norm layer against numpy."""
  x = np.random.default_rng(0).standard_normal((2, 5, 6, 4)).astype(np.float32)
  gamma = np.random.default_rng(1).standard_normal((3, 4)).astype(np.float32)
  beta = np.random.default_rng(2).standard_normal((3, 4)).astype(np.float32)
  w = np.array([[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]], np.float32)
  out = stylenet.ConditionalInstanceNorm(3).apply({"params": {"gamma": gamma, "beta": beta}}, x, w)
  mean = x.mean(axis=(1, 2), keepdims=True)
  var = x.var(axis=(1, 2), keepdims=True)
  expected = (x - mean) / np.sqrt(var + 1e-5) * (w @ gamma)[:, None, None] + (w @ beta)[:, None, None]
  np.testing.assert_allclose(np.asarray(out), expected, atol=1e-5)


def test_parse_style():
  np.testing.assert_array_equal(transfer.parse_style("1", 3), [0, 1, 0])
  np.testing.assert_allclose(transfer.parse_style("0:1,2:3", 3), [0.25, 0, 0.75])
  for bad, needle in [("3", "out of range"), ("-1", "out of range"), ("0:0,1:0", "positive"),
                      ("0:-1,1:2", ">= 0"), ("x", "bad style"), ("0:nan", ">= 0")]:
    with pytest.raises(StylejaxError, match=needle):
      transfer.parse_style(bad, 3)


def test_width_multiplier_and_plain_instance_norm():
  small = stylenet.NetworkSpec(n_styles=1, width_multiplier=0.5, conditional=False)
  full = stylenet.NetworkSpec(n_styles=1, conditional=False)
  count = lambda spec: sum(x.size for x in jax.tree.leaves(stylenet.init_params(spec, jax.random.key(0))))
  assert small.channels == (16, 32, 64) and full.channels == (32, 64, 128)
  assert 3.5 < count(full) / count(small) < 4.1  # conv weights scale with width squared
  with pytest.raises(StylejaxError, match="exactly one style"):
    stylenet.NetworkSpec(n_styles=2, conditional=False)
  with pytest.raises(StylejaxError, match="at least one style"):
    stylenet.NetworkSpec(n_styles=0)


def test_network_follows_the_paper_layout():
  spec = stylenet.NetworkSpec(n_styles=2)
  params = stylenet.init_params(spec, jax.random.key(0))
  convs = [params[f"ReflectConv_{i}"]["Conv_0"]["kernel"].shape for i in range(16)]
  assert len(convs) == 3 + 2 * 5 + 2 + 1
  assert convs[0] == (9, 9, 3, 32) and convs[-1] == (9, 9, 32, 3)
  assert set(params) == {f"ReflectConv_{i}" for i in range(16)} | {f"ConditionalInstanceNorm_{i}" for i in range(16)}
  assert all(params[f"ConditionalInstanceNorm_{i}"]["gamma"].shape == (2, convs[i][-1]) for i in range(16))
