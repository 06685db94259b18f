"""L-BFGS variants on one Gatys problem: loss at equal steps, equal loss evaluations and equal time.

    python benchmarks/lbfgs_variants.py                    # all, 40 steps at 128 px (~20 min, 2 CPUs)
    python benchmarks/lbfgs_variants.py --steps 80 --variants zoom-refresh,zoom-stale,zoom-project,none-clip
    python benchmarks/lbfgs_variants.py --steps 5 --size 48    # a quick look

The table in stylejax/pixel/optimize.py (above `make_optimizer`) is the second command's output.

The problem is stylejax/configs/base.py's (VGG16 with the packaged lpips weights, content relu4_2, Gram
style loss on relu1_1..relu5_1, style weight 1e4, content init), astronaut + Starry Night at
--size px. Every variant is the product's jitted `stylejax.pixel.optimize.step`, one call per step;
the variants run interleaved step by step (rotated order) so load on a shared machine hits all
alike. Evaluations are counted by the step itself (`OptState.evals`: line-search steps, the first
step's evaluation, re-evaluations after clipping); the loss reported is the true loss of the
iterate (`optimize.evaluate`, untimed), also for "stale", whose cached value is not.

Variants (L-BFGS memory 10):
  zoom-refresh   zoom line search, clip, re-evaluate at the clipped point (stylejax before issue 9)
  zoom-stale     zoom line search, clip, keep the unclipped point's cached value and gradient
  zoom-project   zoom line search along the clipped path (the loss is evaluated at clip(x))
  zoom-sigmoid   zoom line search, image = sigmoid(z): no clipping
  none-clip      no line search, fixed step 1 (torch.optim.LBFGS's default), clip
  none-sigmoid   no line search, fixed step 1, image = sigmoid(z)
  adam           Adam, learning rate 0.03 (stylejax/configs/quickstart.py), clip: one evaluation per step
  parallel-N     the vmap-friendly search (`optim.line_search=parallel`): N candidate steps per step, clip

Time to a loss (`--target L`, issue 25): each variant runs (interleaved step by step) until the true
loss of its iterate is <= L, counting only the jitted steps' wall time (the loss checks are untimed),
e.g. to bench_pixel's L* (torch L-BFGS's loss after 300 iterations at 256 px):

    python benchmarks/lbfgs_variants.py --size 256 --target 680.9136 --variants zoom-project,parallel-1

or, measuring torch on the same machine in the same run (its 300 iterations first, then the target
is the JAX loss of torch's image, and each variant's time is given as a fraction of torch's):

    python benchmarks/lbfgs_variants.py --size 256 --torch-iters 300 --variants zoom-project,parallel-1
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from stylejax import runtime  # noqa: E402
runtime.configure()  # the product's process settings (glibc allocator, OPENBLAS_NUM_THREADS) before JAX starts

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from stylejax.configs.base import get_base_config  # noqa: E402
from stylejax.imaging import images  # noqa: E402
from stylejax.objectives import loss_network  # noqa: E402
from stylejax.pixel import optimize, stylize  # noqa: E402

VARIANTS = {  # name: (optimizer, line_search, parametrization, after_clip)
    "zoom-refresh": ("lbfgs", "zoom", "clip", "refresh"),
    "zoom-stale": ("lbfgs", "zoom", "clip", "stale"),
    "zoom-project": ("lbfgs", "zoom", "clip", "project"),
    "zoom-sigmoid": ("lbfgs", "zoom", "sigmoid", "project"),
    "none-clip": ("lbfgs", "none", "clip", "project"),
    "none-sigmoid": ("lbfgs", "none", "sigmoid", "project"),
    "adam": ("adam", "zoom", "clip", "project"),
    "parallel-1": ("lbfgs", "parallel", "clip", "project", 1),
    "parallel-2": ("lbfgs", "parallel", "clip", "project", 2),
    "parallel-4": ("lbfgs", "parallel", "clip", "project", 4),
}
ADAM_LR = 0.03
BIG = 1 << 30


@dataclasses.dataclass
class Trace:
  """Per step of one variant: true loss after the step, cumulative evaluations and step seconds."""
  losses: list
  evals: list
  seconds: list
  bad_pairs: int = 0  # curvature pairs with s.y <= 1e-10 (torch would skip them; optax keeps them)


class Setup:
  def __init__(self, size: int):
    config = get_base_config()
    with config.unlocked():
      config.image_size = size
    self.config = config
    self.loaded = loss_network.load_weights(config.loss)
    content_full = images.load_image(config.content, config.max_pixels)
    styles_full = [images.load_image(s, config.max_pixels) for s in config.styles]
    self.content, styles = stylize.images_at_scale(config, content_full, styles_full, 1.0)
    self.base_problem = stylize.problem_from_config(config, self.loaded)
    self.weights = stylize.loss_weights(config, self.loaded.arch)
    self.targets = stylize.targets(self.base_problem, self.loaded.params, self.content, styles)
    self.key = stylize.run_keys(config.seed)[1]

  def problem(self, name: str):
    optimizer, line_search, parametrization, after_clip, *candidates = VARIANTS[name]
    return dataclasses.replace(self.base_problem, optimizer=optimizer, line_search=line_search,
                               parametrization=parametrization, after_clip=after_clip,
                               line_search_candidates=candidates[0] if candidates else 1)

  def step(self, problem, state, total_steps=BIG):
    return optimize.step(problem, state, jnp.int32(total_steps), self.loaded.params, self.targets,
                         self.weights, jnp.float32(ADAM_LR), self.key)

  def loss(self, problem, state) -> float:
    return float(optimize.evaluate(problem, state.param, self.loaded.params, self.targets,
                                   self.weights, self.key)["total"])


def curvature(opt_state):
  """(params, gradient) L-BFGS stored at the start of the last step, or None for Adam."""
  inner = opt_state[0]
  return (inner.params, inner.updates) if hasattr(inner, "diff_params_memory") else None


def run(setup: Setup, names, steps: int) -> tuple[dict, dict, float]:
  problems = {n: setup.problem(n) for n in names}
  states = {n: optimize.init_state(problems[n], setup.content, ADAM_LR) for n in names}
  compile_s = {}
  for n in names:  # a no-op step (total_steps 0) compiles; a second must not compile again
    t0 = time.perf_counter()
    jax.block_until_ready(setup.step(problems[n], states[n], 0))
    compile_s[n] = time.perf_counter() - t0
  compiled = optimize.step._cache_size()
  loss0 = setup.loss(problems[names[0]], states[names[0]])
  traces = {n: Trace([], [], []) for n in names}
  previous = {n: None for n in names}
  for i in range(steps):
    k = i % len(names)
    for n in names[k:] + names[:k]:
      t0 = time.perf_counter()
      states[n], _ = setup.step(problems[n], states[n])
      jax.block_until_ready(states[n])
      traces[n].seconds.append(time.perf_counter() - t0)
      traces[n].evals.append(int(states[n].evals))
      traces[n].losses.append(setup.loss(problems[n], states[n]))
      pair = curvature(states[n].opt_state)
      if pair is not None and previous[n] is not None:
        ys = float(jnp.vdot(pair[0] - previous[n][0], pair[1] - previous[n][1]))
        traces[n].bad_pairs += ys <= 1e-10
      previous[n] = pair
  if optimize.step._cache_size() != compiled:
    print(f"warning: the step recompiled ({compiled} -> {optimize.step._cache_size()} programs)")
  return traces, compile_s, loss0


def time_to_loss(setup: Setup, names, target: float, max_steps: int, wall_cap: float) -> dict:
  """Per variant: steps, evaluations and step seconds until the iterate's true loss is <= target.

  The variants step interleaved (rotated order, as `run`), each until it reaches the target or a
  cap, so load from other processes hits all alike; each is compiled first by a no-op step.
  """
  problems = {n: setup.problem(n) for n in names}
  states = {n: optimize.init_state(problems[n], setup.content, ADAM_LR) for n in names}
  for n in names:
    jax.block_until_ready(setup.step(problems[n], states[n], 0))
  compiled = optimize.step._cache_size()
  out = {n: {"steps": 0, "seconds": 0.0, "loss": setup.loss(problems[n], states[n])} for n in names}
  running = lambda n: (out[n]["loss"] > target and out[n]["steps"] < max_steps
                       and out[n]["seconds"] < wall_cap)
  i = 0
  while any(running(n) for n in names):
    k = i % len(names)
    for n in names[k:] + names[:k]:
      if not running(n):
        continue
      t0 = time.perf_counter()
      states[n], _ = setup.step(problems[n], states[n])
      jax.block_until_ready(states[n])
      out[n]["seconds"] += time.perf_counter() - t0
      out[n]["steps"] += 1
      out[n]["loss"] = setup.loss(problems[n], states[n])
    i += 1
  for n in names:
    out[n].update(reached=out[n]["loss"] <= target, evals=int(states[n].evals),
                  recompiled=optimize.step._cache_size() != compiled)
  return out


def torch_target(setup: Setup, size: int, iters: int) -> tuple[float, float]:
  """(JAX loss of the image torch L-BFGS reaches in `iters` iterations, torch's wall seconds for them)."""
  from benchmarks.bench_pixel import JaxSetup
  from benchmarks.pixel_torch_side import TorchTwin, torch_reference_run
  twin_setup = JaxSetup(size, setup.loaded, images.load_image(setup.config.content, setup.config.max_pixels),
                        images.load_image(setup.config.styles[0], setup.config.max_pixels), ADAM_LR)
  same = float(twin_setup.terms(setup.content)["total"]), setup.loss(setup.base_problem, optimize.init_state(
      setup.base_problem, setup.content, ADAM_LR))
  if not np.isclose(*same, rtol=1e-5):
    raise SystemExit(f"bench_pixel's problem and this one differ at the content image: {same}")
  ref = torch_reference_run(TorchTwin(twin_setup), twin_setup.content, iters)
  target = float(twin_setup.terms(ref["image"])["total"])
  print(f"torch L-BFGS (strong Wolfe), {iters} iterations: {ref['wall_s']:.1f} s, {ref['evals']} evaluations, "
        f"L* = {target:.6g} (JAX loss of its image)", flush=True)
  return target, ref["wall_s"]


def at_budget(trace: Trace, used: list, budget: float) -> float:
  """The loss after the last step whose cumulative cost is within `budget` (inf if none is)."""
  within = [loss for loss, u in zip(trace.losses, used) if u <= budget + 1e-9]
  return within[-1] if within else float("inf")


def table(traces: dict, compile_s: dict, loss0: float, steps: int) -> str:
  wall = {n: list(np.cumsum(t.seconds)) for n, t in traces.items()}
  equal_evals = min(t.evals[-1] for t in traces.values())
  equal_wall = min(w[-1] for w in wall.values())
  quarter = max(1, steps // 4)
  header = (f"| variant | loss @{quarter} steps | loss @{steps} steps | evals/step | ms/step | "
            f"ms/eval | loss @{equal_evals} evals | loss @{equal_wall:.0f} s | bad s.y pairs | "
            "compile s |")
  rows = [header, "|" + " --- |" * 10]
  for n, t in traces.items():
    ms_step = 1e3 * float(np.median(t.seconds))
    per_eval = [s / e for s, e in zip(t.seconds, np.diff([0] + t.evals)) if e > 0]
    rows.append(
        f"| {n} | {t.losses[quarter - 1]:.4g} | {t.losses[-1]:.4g} | {t.evals[-1] / steps:.2f} | "
        f"{ms_step:.0f} | {1e3 * float(np.median(per_eval)):.0f} | "
        f"{at_budget(t, t.evals, equal_evals):.4g} | {at_budget(t, wall[n], equal_wall):.4g} | "
        f"{t.bad_pairs} | {compile_s[n]:.1f} |")
  return (f"initial loss {loss0:.4g}; lower is better; loss = true loss of the iterate after the "
          f"step; ms = median over steps\n\n" + "\n".join(rows))


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--size", type=int, default=128, help="longer side in pixels")
  parser.add_argument("--steps", type=int, default=40, help="optimizer steps per variant")
  parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated names")
  parser.add_argument("--target", type=float, default=None, help="time each variant to this loss")
  parser.add_argument("--max-steps", type=int, default=1000, help="--target: step cap per variant")
  parser.add_argument("--wall-cap", type=float, default=400.0, help="--target: seconds cap per variant")
  parser.add_argument("--torch-iters", type=int, default=None,
                      help="target = the loss of torch L-BFGS (strong Wolfe) after this many iterations, run here first")
  args = parser.parse_args(argv)
  names = [n.strip() for n in args.variants.split(",")]
  unknown = sorted(set(names) - set(VARIANTS))
  if unknown:
    parser.error(f"unknown variants {unknown}; known: {', '.join(VARIANTS)}")
  setup = Setup(args.size)
  torch_s = None
  if args.torch_iters is not None:
    args.target, torch_s = torch_target(setup, args.size, args.torch_iters)
  if args.target is not None:
    print(f"{args.size} px, time to loss {args.target:g} (steps' wall time only), {jax.devices()[0].platform}, "
          f"{os.cpu_count()} CPUs\n\n| variant | reached | steps | evals | s to target | s/step | loss |\n"
          "|---|---|---|---|---|---|---|", flush=True)
    results = time_to_loss(setup, names, args.target, args.max_steps, args.wall_cap)
    for n, r in results.items():
      print(f"| {n} | {'yes' if r['reached'] else '**no**'} | {r['steps']} | {r['evals']} | {r['seconds']:.1f} | "
            f"{r['seconds'] / max(r['steps'], 1):.3f} | {r['loss']:.6g} |"
            + (f" {r['seconds'] / torch_s:.2f}x torch |" if torch_s else "")
            + (" RECOMPILED" if r["recompiled"] else ""), flush=True)
    return
  traces, compile_s, loss0 = run(setup, names, args.steps)
  print(f"{args.size} px, {args.steps} steps, {jax.devices()[0].platform}, {os.cpu_count()} CPUs\n")
  print(table(traces, compile_s, loss0, args.steps))


if __name__ == "__main__":
  main()
