"""Pixel optimization with Optax: the image is the parameter, the loss a weighted sum of named terms.

`PixelProblem` holds what is structural (it decides the compiled program: the loss network, the
objective's terms (`stylejax.objectives.objective`; Gatys et al.'s content + style + tv by default),
the optimizer); everything numeric (VGG parameters, the terms' targets and weights) is an argument
of the jitted chunk, so changing a weight never retraces. A chunk queues `log_every` jitted steps on the
device without a host sync; the host logs between chunks.

A step whose loss or image is not finite freezes the optimization: the state stays at the last
finite image and the chunk reports the step, so the caller can stop with a clear message.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from stylejax.objectives import loss_network, objective
from stylejax.objectives.loss_network import LossNetwork
from stylejax.objectives.terms import Term


@dataclasses.dataclass(frozen=True)
class PixelProblem:
  """The static structure of a pixel-optimization run (hashable: a jit static argument).

  `terms` are summed in their order; None means Gatys et al.'s (`objective.gatys(loss)`).
  """
  loss: LossNetwork
  optimizer: str = "lbfgs"
  lbfgs_memory: int = 10
  parametrization: str = "clip"
  line_search: str = "zoom"  # zoom (optax's strong-Wolfe zoom) | none (fixed step `lbfgs_step`) | parallel
  max_linesearch_steps: int = 20
  line_search_candidates: int = 1  # parallel: step sizes tried per step, as one batched evaluation
  lbfgs_step: float = 1.0  # static: fixed per run like line_search; a sweep over it compiles per value
  after_clip: str = "project"  # zoom + clip: see `_search_fn` ("refresh", "stale": benchmark only)
  terms: tuple[Term, ...] | None = None

  def __post_init__(self):
    if self.terms is None:
      object.__setattr__(self, "terms", objective.gatys(self.loss))

  def to_image(self, param):
    return jax.nn.sigmoid(param) if self.parametrization == "sigmoid" else param

  def to_param(self, image):
    if self.parametrization == "sigmoid":
      image = jnp.clip(image, 1e-3, 1 - 1e-3)
      return jnp.log(image) - jnp.log1p(-image)
    return image


def loss_terms(problem: PixelProblem, image, vgg_params, targets, weights, key):
  """{each term's name: its value, "total": their weighted sum} for one (H, W, 3) image.

  `targets` and `weights` are keyed by term name (`objective.targets_of`, `weights_from_config`).
  The loss network runs once, for the layers the terms read; not at all when none reads any.
  """
  layers = objective.feature_layers(problem.terms)
  feats = problem.loss.features(vgg_params, image, layers) if layers else {}
  return loss_network.term_values(problem.loss, problem.terms, weights, feats, targets, image, key)


AFTER_CLIP = ("project", "refresh", "stale")  # see `_search_fn`


# L-BFGS defaults, from benchmarks/lbfgs_variants.py (VGG16, astronaut + Starry Night at 128 px,
# content init, 80 steps, 2 busy CPU cores; loss starts at 5.2e5):
#   line search, clipping              loss@20   loss@80  evals/step  loss@80 evals  ms/eval
#   zoom, re-evaluate after the clip   2.57e4    8830     2.04        1.44e4         2141
#   zoom, stale cache                  2.75e4    9034     1.01        9130           2195
#   zoom, projected search (default)   2.70e4    8938     1.02        9046           2225
#   none (fixed step 1), clip          2.72e4    9023     1.00        9023            814
# (40 steps, same problem: sigmoid instead of clipping ended 30% higher with either search.)
# Re-evaluating after the clip (stylejax before issue 9) bought 1% per step for twice the
# evaluations; per evaluation it is the worst. The projected search costs nothing and keeps the
# cache exact, so it is the default for clipped pixels. `none` matched it per evaluation and ran
# 2.7x faster per evaluation on XLA:CPU, where the zoom search's evaluations sit in a while loop
# (slow convolutions there); but nothing makes its loss fall (on a 16 px problem its second step
# tripled the loss), so zoom stays the default line search.
def make_optimizer(problem: PixelProblem, learning_rate) -> optax.GradientTransformation:
  if problem.line_search not in ("zoom", "none", "parallel") or problem.after_clip not in AFTER_CLIP:
    raise ValueError(f"bad line search {problem.line_search!r} / {problem.after_clip!r}")
  if problem.optimizer == "adam":
    return optax.adam(learning_rate)
  if problem.line_search == "parallel":
    return optax.scale_by_lbfgs(memory_size=problem.lbfgs_memory)  # the direction; `_parallel_step`
  if problem.line_search == "none":
    # torch.optim.LBFGS(lr=lbfgs_step) without line search, but for two details: the curvature pair
    # is the clipped step (torch: the unclipped one), and a pair with s.y <= 0 is kept (torch skips
    # s.y <= 1e-10; the benchmark counts them: none seen). First step: `_torch_first_step`.
    return optax.lbfgs(learning_rate=problem.lbfgs_step, memory_size=problem.lbfgs_memory,
                       linesearch=None)
  # initial_guess_strategy "one": every search starts at the L-BFGS step itself, as torch's does.
  # The first direction is scaled by min(1, 1/|g|_2) (torch starts at min(1, 1/|g|_1)); the search
  # corrects either.
  return optax.lbfgs(memory_size=problem.lbfgs_memory, linesearch=optax.scale_by_zoom_linesearch(
      max_linesearch_steps=problem.max_linesearch_steps, initial_guess_strategy="one"))


@dataclasses.dataclass
class OptState:
  """Everything the scan carries; a pytree."""
  param: Any
  opt_state: Any
  step: jax.Array
  bad_step: jax.Array  # -1 while every step has been finite, else the first bad step
  # Loss + gradient evaluations made so far, as one unbatched step runs them (vmapped in a sweep, a
  # lax.cond runs both branches: L-BFGS zoom then computes one more per step than counted here;
  # the parallel search has no cond, so its count holds under vmap too).
  evals: jax.Array


jax.tree_util.register_dataclass(
    OptState, data_fields=["param", "opt_state", "step", "bad_step", "evals"], meta_fields=[])


def init_state(problem: PixelProblem, image, learning_rate=0.0) -> OptState:
  param = problem.to_param(jnp.asarray(image, jnp.float32))
  opt_state = make_optimizer(problem, learning_rate).init(param)
  if problem.optimizer == "lbfgs" and problem.line_search == "parallel":
    zeros = jnp.zeros_like(param)
    opt_state = ParallelSearchState(opt_state, jnp.full((), jnp.inf, jnp.float32), zeros, zeros,
                                    jnp.ones((), jnp.float32))
  # optax's line-search state starts with weak-typed scalars that a step returns strongly typed;
  # making them strong here lets the jitted step compile once instead of twice.
  opt_state = jax.tree.map(lambda x: jnp.asarray(x, x.dtype), opt_state)
  zero = jnp.zeros((), jnp.int32)
  return OptState(param, opt_state, zero, zero - 1, zero)


@functools.partial(jax.jit, static_argnames=("problem",))
def step(problem: PixelProblem, state: OptState, total_steps, vgg_params, targets, weights,
         learning_rate, key):
  """One optimizer step; a no-op once `total_steps` is reached or a step went non-finite.

  `total_steps`, `learning_rate` and every weight are traced, so changing them never retraces.
  Returns the new state and the loss at the step's starting point (NaN for a no-op).
  """
  optimizer = make_optimizer(problem, learning_rate)

  def loss_at(param, step_key):
    return loss_terms(problem, problem.to_image(param), vgg_params, targets, weights, step_key)["total"]

  # Adam resamples sliced-Wasserstein projections each step (Heitz et al.); L-BFGS keeps one set,
  # since its line search and curvature pairs assume a fixed objective.
  step_key = jax.random.fold_in(key, state.step) if problem.optimizer == "adam" else key
  value_fn = functools.partial(loss_at, step_key=step_key)
  zoom = problem.optimizer == "lbfgs" and problem.line_search == "zoom"
  if problem.optimizer == "lbfgs" and problem.line_search == "parallel":
    value, param, opt_state = _parallel_step(problem, optimizer, value_fn, state.param, state.opt_state)
    evals = jnp.asarray(problem.line_search_candidates, jnp.int32)
  else:
    if zoom:
      search_fn = _search_fn(problem, value_fn)
      cached = optax.tree_utils.tree_get(state.opt_state, "value")
      value, grad = optax.value_and_grad_from_state(search_fn)(state.param, state=state.opt_state)
      updates, opt_state = optimizer.update(grad, state.opt_state, state.param, value=value,
                                            grad=grad, value_fn=search_fn)
      # value_and_grad_from_state evaluates only when nothing is cached (the first step).
      evals = (optax.tree_utils.tree_get(opt_state, "num_linesearch_steps")
               + (~jnp.isfinite(cached)).astype(jnp.int32))
    else:
      value, grad = jax.value_and_grad(value_fn)(state.param)
      updates, opt_state = optimizer.update(grad, state.opt_state, state.param)
      if problem.optimizer == "lbfgs":
        updates = _torch_first_step(updates, grad, state.opt_state)
      evals = jnp.ones((), jnp.int32)
    param = optax.apply_updates(state.param, updates)
  if problem.parametrization == "clip":
    unclipped, param = param, jnp.clip(param, 0.0, 1.0)
    if zoom and problem.after_clip == "refresh":
      opt_state, refreshed = _refresh_after_clip(opt_state, unclipped, param, value_fn)
      evals = evals + refreshed
  finite = jnp.isfinite(value) & jnp.all(jnp.isfinite(param))
  active = (state.step < total_steps) & (state.bad_step < 0)
  advance = active & finite
  keep = lambda new, old: jax.tree.map(lambda n, o: jnp.where(advance, n, o), new, old)
  new_state = OptState(
      param=keep(param, state.param), opt_state=keep(opt_state, state.opt_state),
      step=state.step + advance.astype(jnp.int32),
      bad_step=jnp.where(active & ~finite, state.step, state.bad_step),
      evals=state.evals + jnp.where(active, evals, 0).astype(jnp.int32))
  return new_state, jnp.where(active, value, jnp.nan)


def run_chunk(problem: PixelProblem, chunk: int, state: OptState, *args):
  """`chunk` steps queued on the device without a host sync; returns the state and their losses.

  Not a `lax.scan`: with plain `lax.conv`, XLA:CPU ran convolutions inside a loop body about 2x
  slower than the same step dispatched on its own (2.2 s vs 0.9 s per Adam step, VGG16 at 256 px).
  `stylejax.networks.conv` now removes most of that gap (benchmarks/conv_paths.py); a scan has not
  been re-measured. JAX dispatch is asynchronous, so the host only waits when the caller reads the
  losses.
  """
  values = []
  for _ in range(chunk):
    state, value = step(problem, state, *args)
    values.append(value)
  return state, jnp.stack(values)


class ParallelSearchState(NamedTuple):
  """What `_parallel_step` carries: optax's L-BFGS memory, then the accepted point's loss (+inf
  before the first evaluation) and gradient, the direction to search next and its step scale."""
  lbfgs: Any
  value: jax.Array
  grad: Any
  direction: Any
  scale: jax.Array


ARMIJO_C1 = 1e-4  # sufficient decrease, as optax's zoom and torch's strong Wolfe use
MIN_SCALE = 2.0 ** -10  # a step scale this small after a rejection restarts the L-BFGS memory


def _parallel_step(problem: PixelProblem, lbfgs, value_fn, x, s: ParallelSearchState):
  """The line search written for vmap: the same work on every step of every run, no lax.cond.

  The candidates x_i = x + scale * 2^-i * d, i < `line_search_candidates` (projected onto [0, 1]
  for clipped pixels), are evaluated (loss and gradient) as ONE batched call; the largest that
  passes the projected Armijo test f(x_i) <= f(x) + c1 g.(x_i - x) is accepted and its gradient
  feeds L-BFGS, so no evaluation is repeated. When none passes, the step stays at x and the next
  one backtracks along d from scale * 2^-n; once that scale is below MIN_SCALE, or d is not a
  descent direction, the L-BFGS memory restarts (steepest descent, first-step scaling). An accepted
  step doubles the next scale, up to 1 (the L-BFGS step itself, where zoom starts too). The first
  step's d is 0: it only evaluates x. Returns (loss at x, the new point, the new state).
  """
  n = problem.line_search_candidates
  steps = s.scale * 0.5 ** jnp.arange(n, dtype=jnp.float32)
  points = jax.vmap(lambda t: x + t * s.direction)(steps)
  if problem.parametrization == "clip":
    points = jnp.clip(points, 0.0, 1.0)
  if n == 1:  # the same program without a batch axis of one
    value, grad = jax.value_and_grad(value_fn)(points[0])
    values, grads = value[None], grad[None]
  else:
    values, grads = jax.vmap(jax.value_and_grad(value_fn))(points)
  decrease = jax.vmap(lambda p: jnp.vdot(s.grad, p - x))(points)
  passes = jnp.isfinite(values) & (values <= s.value + ARMIJO_C1 * decrease)
  best = jnp.argmax(passes)  # the first (largest) step that passes
  accepted = passes[best]
  direction, memory = lbfgs.update(grads[best], s.lbfgs, points[best])
  # On a rejection: backtrack along the same direction, or restart the memory at x.
  shrunk = s.scale * 0.5 ** n
  restart = ~accepted & ((shrunk < MIN_SCALE) | (jnp.vdot(s.grad, s.direction) >= 0))
  fresh_direction, fresh_memory = lbfgs.update(s.grad, lbfgs.init(x), x)
  pick = lambda a, b, c: jax.tree.map(
      lambda a, b, c: jnp.where(accepted, a, jnp.where(restart, b, c)), a, b, c)
  new = ParallelSearchState(
      lbfgs=pick(memory, fresh_memory, s.lbfgs),
      value=jnp.where(accepted, values[best], s.value),
      grad=jnp.where(accepted, grads[best], s.grad),
      direction=pick(-direction, -fresh_direction, s.direction),
      scale=jnp.where(accepted, jnp.minimum(1.0, 2.0 * steps[best]), jnp.where(restart, 1.0, shrunk)))
  start_value = jnp.where(jnp.isfinite(s.value), s.value, values[0])  # first step: evaluated at x
  return start_value, jnp.where(accepted, points[best], x), new


def _search_fn(problem: PixelProblem, value_fn):
  """The function the zoom line search evaluates, whose value and gradient it caches for the next
  step. With clipped pixels the accepted point is then clipped, which would leave that cache stale:

  - "project" (default): the search evaluates the loss at the clipped trial point, so it searches
    along the projected path and its cache is the clipped point's value; the cached gradient is
    zero for pixels clipping moved (an outward push on a pixel at a bound, as in projected
    gradient methods). No extra evaluation.
  - "refresh": re-evaluate at the clipped point whenever clipping moved a pixel (almost every step).
  - "stale": keep the unclipped point's value and gradient (benchmark only).
  """
  if problem.parametrization != "clip" or problem.after_clip != "project":
    return value_fn
  def projected(param):
    inside = (param >= 0.0) & (param <= 1.0)
    return value_fn(jnp.where(inside, param, jax.lax.stop_gradient(jnp.clip(param, 0.0, 1.0))))
  return projected


def _torch_first_step(updates, grad, lbfgs_state):
  """torch.optim.LBFGS scales its very first step by min(1, 1/|g|_1); optax's L-BFGS by
  min(1, 1/|g|_2). Rescale optax's first step to torch's (later steps use the same s.y/y.y)."""
  first = optax.tree_utils.tree_get(lbfgs_state, "count") == 0
  l1 = sum(jnp.sum(jnp.abs(g)) for g in jax.tree.leaves(grad))
  l2 = optax.tree.norm(grad)
  ratio = jnp.where(first, jnp.minimum(1.0, 1.0 / l1) / jnp.minimum(1.0, 1.0 / l2), 1.0)
  return jax.tree.map(lambda u: u * ratio.astype(u.dtype), updates)


def _refresh_after_clip(opt_state, unclipped, clipped, value_fn):
  """Recomputes the line search's cached value and gradient at the clipped image when clipping
  moved the accepted point; returns the state and the number of evaluations made (0 or 1)."""
  moved = jnp.any(unclipped != clipped)
  value, grad = jax.lax.cond(
      moved, lambda: jax.value_and_grad(value_fn)(clipped),
      lambda: (optax.tree_utils.tree_get(opt_state, "value"),
               optax.tree_utils.tree_get(opt_state, "grad")))
  return optax.tree_utils.tree_set(opt_state, value=value, grad=grad), moved.astype(jnp.int32)


@functools.partial(jax.jit, static_argnames=("problem",))
def evaluate(problem: PixelProblem, param, vgg_params, targets, weights, key):
  """Every loss term at the current image (for logging)."""
  return loss_terms(problem, problem.to_image(param), vgg_params, targets, weights, key)
