"""The pixel optimizer: each L-BFGS line-search choice lowers the loss, compiles once and counts its
loss evaluations exactly; line_search=none is torch.optim.LBFGS's fixed-step update."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from stylejax import configuration
from stylejax.errors import StylejaxError
from stylejax.io import weights
from stylejax.pixel import optimize, stylize

SIZE = 16


@pytest.fixture(scope="module")
def setup():
  """A 16 px problem on the packaged VGG16 (layers up to relu3_1), targets from random images."""
  config = configuration.load_config("testing:lbfgs")
  loaded = weights.load_vgg("vgg16-lpips")
  problem = stylize.problem_from_config(config, loaded)
  rng = np.random.default_rng(0)
  content = rng.uniform(0.2, 0.8, (SIZE, SIZE, 3)).astype(np.float32)
  style = rng.uniform(0.0, 1.0, (SIZE, SIZE, 3)).astype(np.float32)
  targets = stylize.targets(problem, loaded.params, content, [style])
  args = (loaded.params, targets, stylize.loss_weights(config, loaded.arch), jnp.float32(0.03),
          jax.random.key(0))
  return problem, content, args


def _variant(problem, **fields):
  return dataclasses.replace(problem, **fields)


def _run(problem, image, args, steps):
  state = optimize.init_state(problem, image)
  for _ in range(steps):
    state, _ = optimize.step(problem, state, jnp.int32(100), *args)
  return state


def _loss(problem, state, args):
  return float(optimize.evaluate(problem, state.param, *args[:3], args[4])["total"])


VARIANTS = {
    "zoom-project": {"line_search": "zoom"},
    "zoom-refresh": {"line_search": "zoom", "after_clip": "refresh"},
    "zoom-sigmoid": {"line_search": "zoom", "parametrization": "sigmoid"},
    "none-clip": {"line_search": "none"},
    "parallel-clip": {"line_search": "parallel"},
    "parallel-3-sigmoid": {"line_search": "parallel", "line_search_candidates": 3, "parametrization": "sigmoid"},
}  # not none-sigmoid: without a line search nothing bounds the step, and on this problem its
# second step saturates the sigmoid (the loss rises 30x and stays there); clipping bounds the damage


@pytest.mark.parametrize("name", VARIANTS)
def test_each_line_search_lowers_the_loss_and_compiles_once(setup, name):
  problem, content, args = setup
  problem = _variant(problem, **VARIANTS[name])
  state = optimize.init_state(problem, content)
  before = _loss(problem, state, args)
  state, _ = optimize.step(problem, state, jnp.int32(100), *args)
  compiled = optimize.step._cache_size()
  for _ in range(3):
    state, _ = optimize.step(problem, state, jnp.int32(100), *args)
  assert optimize.step._cache_size() == compiled  # the initial state's dtypes match a stepped one
  assert int(state.step) == 4 and int(state.bad_step) == -1
  assert _loss(problem, state, args) < 0.9 * before
  image = np.asarray(problem.to_image(state.param))
  assert image.min() >= 0.0 and image.max() <= 1.0


def _numpy_lbfgs(grad_fn, x, steps, lr, memory):
  """torch.optim.LBFGS's update without line search (first step min(1, 1/|g|_1) * lr, then
  H0 = s.y / y.y and the two-loop recursion), written out in numpy, with the image clipped after
  each step. The pairs use the clipped step, as stylejax's do (torch uses the unclipped one)."""
  pairs, g_prev, x_prev = [], None, None
  for k in range(steps):
    g = grad_fn(x).astype(np.float64).ravel()
    if k == 0:
      direction, t, gamma = -g, min(1.0, 1.0 / np.abs(g).sum()) * lr, 1.0
    else:
      s, y = (x - x_prev).ravel().astype(np.float64), g - g_prev
      pairs = (pairs + [(s, y)])[-memory:]
      gamma = s @ y / (y @ y)
      q, alphas = g.copy(), []
      for s_i, y_i in reversed(pairs):
        alphas.append(s_i @ q / (y_i @ s_i))
        q -= alphas[-1] * y_i
      r = gamma * q
      for (s_i, y_i), alpha in zip(pairs, reversed(alphas)):
        r += (alpha - y_i @ r / (y_i @ s_i)) * s_i
      direction, t = -r, lr
    x_prev, g_prev = x, g
    x = np.clip(x + t * direction.reshape(x.shape), 0.0, 1.0).astype(np.float32)
  return x


def test_no_line_search_is_torchs_fixed_step_lbfgs(setup):
  problem, content, args = setup
  problem = _variant(problem, line_search="none", lbfgs_step=0.5, lbfgs_memory=2)
  loss = lambda x: optimize.loss_terms(problem, x, *args[:3], args[4])["total"]
  grad_fn = jax.jit(jax.grad(loss))
  expected = _numpy_lbfgs(lambda x: np.asarray(grad_fn(jnp.asarray(x))), content, 4, 0.5, 2)
  state = _run(problem, content, args, 4)
  np.testing.assert_allclose(np.asarray(state.param), expected, atol=1e-4)
  assert not np.allclose(expected, content, atol=1e-2)  # the steps moved the image


@pytest.mark.parametrize("name", ["zoom-project", "zoom-refresh", "none-clip", "parallel-clip",
                                  "parallel-3-sigmoid"])
def test_evaluation_count_is_exact(setup, name, monkeypatch):
  """`OptState.evals` equals the loss evaluations the compiled step actually ran, counted by a
  host callback inside the loss (so evaluations in the line search's loop and conds count too)."""
  problem, content, args = setup
  # A memory size no other test uses, so this problem is traced afresh with the counting loss.
  problem = _variant(problem, lbfgs_memory=3, **VARIANTS[name])
  calls = []
  original = optimize.loss_terms

  def counted(*a, **kw):  # given the image, the callback runs once per image of a batched call
    jax.debug.callback(lambda image: calls.append(1), a[1])
    return original(*a, **kw)

  monkeypatch.setattr(optimize, "loss_terms", counted)
  state = optimize.init_state(problem, content)
  for _ in range(3):
    state, _ = optimize.step(problem, state, jnp.int32(100), *args)
    jax.block_until_ready(state)
  jax.effects_barrier()
  assert int(state.evals) == len(calls)
  if name == "none-clip":
    assert len(calls) == 3
  elif name.startswith("parallel"):  # a fixed number per step: its candidates, one batched call
    assert len(calls) == 3 * problem.line_search_candidates
  else:
    assert len(calls) >= 4  # the first step's evaluation plus at least one line-search step each


def test_parallel_search_compiles_once_across_weights_and_rejects_a_bad_step(setup):
  """One program for every step and weight; a direction that raises the loss is refused (the image
  stays, the next step backtracks) at the same cost as an accepted step."""
  problem, content, args = setup
  problem = _variant(problem, line_search="parallel", line_search_candidates=2, lbfgs_memory=4)
  state = optimize.init_state(problem, content)
  state, _ = optimize.step(problem, state, jnp.int32(100), *args)
  compiled = optimize.step._cache_size()
  heavier = jax.tree.map(lambda w: w * 2.0, args[2])
  for weights_tree in (args[2], heavier):
    state, _ = optimize.step(problem, state, jnp.int32(100), args[0], args[1], weights_tree, *args[3:])
  assert optimize.step._cache_size() == compiled
  # A step along the gradient (uphill), far enough that neither candidate passes Armijo.
  uphill = state.opt_state._replace(direction=10.0 * state.opt_state.grad)
  before = state.param
  after, value = optimize.step(problem, dataclasses.replace(state, opt_state=uphill), jnp.int32(100), *args)
  assert np.array_equal(np.asarray(after.param), np.asarray(before))
  assert float(after.opt_state.value) == float(state.opt_state.value) == float(value)
  assert int(after.evals) == int(state.evals) + 2 and int(after.step) == int(state.step) + 1
  assert optimize.step._cache_size() == compiled


@pytest.mark.parametrize("override,needle", [
    ("optim.line_search=backtracking", r"optim.line_search must be one of \('zoom', 'none', 'parallel'\)"),
    ("optim.line_search_candidates=0", "optim.line_search_candidates"),
    ("optim.max_linesearch_steps=0", "optim.max_linesearch_steps"),
    ("optim.lbfgs_step=0", "optim.lbfgs_step"),
    ("optim.lbfgs_step=nan", "optim.lbfgs_step")])
def test_bad_line_search_settings_are_user_errors(override, needle):
  config = configuration.apply_overrides(configuration.load_config("testing:lbfgs"), [override])
  with pytest.raises(StylejaxError, match=needle):
    configuration.validate(config)
