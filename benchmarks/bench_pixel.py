"""Gatys-style pixel optimization: stylejax (JAX) step time and time-to-loss versus a PyTorch twin.

    python benchmarks/bench_pixel.py            # full run (~25 min on 2 CPU cores), writes "pixel"
    python benchmarks/bench_pixel.py --quick    # a couple of minutes, prints only

The problem is configs/base.py's (VGG16, packaged lpips weights, content relu4_2, Gram style loss
with the "gatys" normalisation on relu1_1..relu5_1, content weight 1, style weight 1e4, no TV,
content init, pixels clipped to [0, 1]); content = scikit-image astronaut, style = the bundled
Starry Night resized to the same longer side.

* JAX: exactly what the product runs -- `stylejax.pixel.stylize.problem_from_config`, `loss_weights`,
  the targets computed as `stylize` computes them, and the jitted `stylejax.pixel.optimize.step`
  (optax Adam, or optax L-BFGS with its zoom line search), one step per call.
* PyTorch: the twins of stylejax/reference/torch_twin.py, driven from benchmarks/pixel_torch_side.py:
  the same VGG16 weights (HWIO -> OIHW), the same preprocessing, the same loss; torch.optim.Adam, or
  torch.optim.LBFGS (strong Wolfe line search, history 10), one iteration per `.step` call
  (max_iter=1), the image clamped to [0, 1] after each step, as stylejax clips after each step.

Before anything is timed, the two loss functions are evaluated at the initial image and at a
perturbed one; every term must agree to < 1e-4 relative (and the gradients to < 1e-2 relative L2),
or the script stops with an error.

Measured, JAX and torch interleaved step by step: (a) Adam ms/step, (b) L-BFGS ms/step and function
evaluations per step, at each --sizes; (c) time to loss: torch L-BFGS runs --ttl-iters iterations
and its final loss L* becomes the target that JAX L-BFGS and JAX Adam (and, for reference, torch
Adam) must reach, each capped by --ttl-max-steps and --ttl-wall-cap. The JAX float32 matmul peak
(benchmarks/matmul_peak.py) is measured in the same run for context.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

# As the user set it: importing stylejax adds its own XLA:CPU flag to XLA_FLAGS (stylejax/__init__.py).
USER_XLA_FLAGS = os.environ.get("XLA_FLAGS")

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
import torch  # noqa: E402

from benchmarks import report  # noqa: E402
from benchmarks.matmul_peak import matmul_peaks  # noqa: E402
from benchmarks.pixel_torch_side import (GRAD_L2_TOLERANCE, LOSS_TOLERANCE, TorchAdam,  # noqa: E402
                                         TorchLBFGS, TorchTwin, check_agreement, torch_adam_fn,
                                         torch_lbfgs_fn)
from benchmarks.timing import interleave, median, run_until, time_to_threshold  # noqa: E402
from configs.base import get_base_config  # noqa: E402
from configs.quickstart import get_config as get_quickstart_config  # noqa: E402
from stylejax.io import images, weights  # noqa: E402
from stylejax.pixel import optimize, stylize  # noqa: E402
from stylejax.reference.torch_twin import to_nhwc  # noqa: E402

SECTION = "pixel"
BIG = 1 << 30  # total_steps for the product's step: never reached here


# ----------------------------------------------------------------------------------------------
# The JAX side: the product's own problem, targets and step


def product_config(size: int, optimizer: str, learning_rate: float):
  config = get_base_config()
  with config.unlocked():
    config.image_size = size
    config.optim.name = optimizer
    config.optim.learning_rate = learning_rate
  return config


class JaxSetup:
  """Everything `stylejax.pixel.stylize._optimize` builds for one scale, for one image size."""

  def __init__(self, size: int, loaded, content_full, style_full, adam_lr: float):
    self.size = size
    self.loaded = loaded
    self.adam_lr = adam_lr
    base = product_config(size, "adam", adam_lr)
    self.problems = {name: stylize.problem_from_config(product_config(size, name, adam_lr), loaded)
                     for name in ("adam", "lbfgs")}
    self.weights = stylize.loss_weights(base, loaded.arch)
    self.content = images.resize(content_full, size)
    self.style = images.resize(style_full, max(32, round(base.style_scale * size)))
    problem = self.problems["adam"]
    self.content_targets = stylize._content_targets(problem, loaded.params, jnp.asarray(self.content))
    self.style_targets = (stylize._style_targets(problem, loaded.params, jnp.asarray(self.style)),)
    _, self.loss_key = jax.random.split(jax.random.key(base.seed))

  def init(self, optimizer: str, image=None):
    image = self.content if image is None else image
    return optimize.init_state(self.problems[optimizer], image, self.adam_lr)

  def step(self, optimizer: str, state, total_steps=BIG):
    """One call of the product's jitted step; returns (state, loss at the step's start point)."""
    return optimize.step(self.problems[optimizer], state, jnp.int32(total_steps), self.loaded.params,
                         self.content_targets, self.style_targets, self.weights,
                         jnp.float32(self.adam_lr), self.loss_key)

  def terms(self, image) -> dict:
    out = optimize.evaluate(self.problems["adam"], jnp.asarray(image, jnp.float32), self.loaded.params,
                            self.content_targets, self.style_targets, self.weights, self.loss_key)
    return {k: float(v) for k, v in out.items()}

  def grad(self, image) -> np.ndarray:
    problem = self.problems["adam"]
    fn = jax.jit(jax.grad(lambda x: optimize.loss_terms(
        problem, x, self.loaded.params, self.content_targets, self.style_targets, self.weights,
        self.loss_key)["total"]))
    return np.asarray(fn(jnp.asarray(image, jnp.float32)))


def lbfgs_linesearch_evals(opt_state) -> int:
  return int(optax.tree_utils.tree_get(opt_state, "num_linesearch_steps"))


# ----------------------------------------------------------------------------------------------
# Timing


def jax_adam_fn(setup: JaxSetup):
  box = {"state": setup.init("adam")}

  def run():
    t0 = time.perf_counter()
    state, value = setup.step("adam", box["state"])
    jax.block_until_ready(state.param)
    s = time.perf_counter() - t0
    box["state"] = state
    return {"s": s, "loss": float(value), "evals": 1}
  return run


def jax_lbfgs_fn(setup: JaxSetup):
  box = {"state": setup.init("lbfgs"), "n": 0}

  def run():
    first = int(box["state"].step) == 0
    t0 = time.perf_counter()
    state, value = setup.step("lbfgs", box["state"])
    jax.block_until_ready(state.param)
    s = time.perf_counter() - t0
    box["state"] = state
    ls = lbfgs_linesearch_evals(state.opt_state)
    # stylejax re-evaluates value and gradient when clipping moved the image (a lax.cond); a pixel
    # left exactly at 0 or 1 after the step means clipping moved it (barring a zero update there).
    param = np.asarray(state.param)
    clipped = bool(np.any((param == 0.0) | (param == 1.0)))
    return {"s": s, "loss": float(value), "ls_evals": ls, "clip_refresh": clipped,
            "evals": ls + int(clipped) + int(first)}
  return run


def compile_time(setup: JaxSetup, optimizer: str) -> tuple[float, float]:
  """Seconds of the first and second calls (trace + compile + run), as no-op steps (total_steps=0).

  Two calls, because the product's L-BFGS step compiles twice: optax.lbfgs's initial state holds
  weak-typed scalars (the line search info: num_linesearch_steps, decrease_error,
  curvature_error) that the first step returns strongly typed, so the second call of the jitted
  `step` retraces and recompiles. Both compilations happen here, outside every timing.
  """
  times, state = [], setup.init(optimizer)
  for _ in range(2):
    t0 = time.perf_counter()
    state, _ = setup.step(optimizer, state, total_steps=0)
    jax.block_until_ready(state.param)
    times.append(time.perf_counter() - t0)
  return times[0], times[1]


def summarize(records: list[dict]) -> dict:
  s = [r["s"] for r in records]
  evals = [r["evals"] for r in records]
  out = {"ms": 1e3 * median(s), "min_ms": 1e3 * min(s), "max_ms": 1e3 * max(s),
         "evals": float(np.mean(evals)),
         "ms_per_eval": 1e3 * median([r["s"] / max(r["evals"], 1) for r in records]),
         "n": len(records)}
  if records and "ls_evals" in records[0]:
    out["ls_evals"] = float(np.mean([r["ls_evals"] for r in records]))
    out["clip_refresh"] = sum(r["clip_refresh"] for r in records)
  return out


def bench_steps(setup: JaxSetup, twin: TorchTwin, optimizer: str, repeats: int, warmup: int) -> dict:
  compile_s = compile_time(setup, optimizer)
  if optimizer == "adam":
    fns = {"jax": jax_adam_fn(setup), "torch": torch_adam_fn(twin, setup)}
  else:
    fns = {"jax": jax_lbfgs_fn(setup), "torch": torch_lbfgs_fn(twin, setup)}
  recs = interleave(fns, repeats, warmup)
  row = {"size": setup.size, "optimizer": optimizer, "compile_s": compile_s,
         **{f: summarize(r) for f, r in recs.items()}}
  row["ratio"] = row["jax"]["ms"] / row["torch"]["ms"]
  j, t = row["jax"], row["torch"]
  print(f"[{setup.size}px {optimizer}] JAX {j['ms']:.0f} ms/step ({j['evals']:.1f} evals/step, "
        f"{j['ms_per_eval']:.0f} ms/eval; first / second call incl. compile {compile_s[0]:.1f} / "
        f"{compile_s[1]:.1f} s), torch "
        f"{t['ms']:.0f} ms/step ({t['evals']:.1f} evals/step, {t['ms_per_eval']:.0f} ms/eval); "
        f"JAX/torch time ratio {row['ratio']:.2f}", flush=True)
  return row


# ----------------------------------------------------------------------------------------------
# Time to loss


def time_to_loss(setup: JaxSetup, twin: TorchTwin, torch_iters: int, max_steps: int, wall_cap: float,
                 torch_adam: bool, contention: report.PhaseLoads) -> dict:
  # Reference: torch L-BFGS for torch_iters iterations, from the content image.
  ref = TorchLBFGS(twin, setup.content)
  with contention.phase("time to loss: torch L-BFGS"):
    ends, losses, evals = [0.0], [], 0
    t0 = time.perf_counter()
    for _ in range(torch_iters):
      loss, n = ref.step()
      losses.append(loss)
      evals += n
      ends.append(time.perf_counter() - t0)
  torch_wall = ends[-1]
  final_image = to_nhwc(ref.x)[0]
  with torch.no_grad():
    final_torch = float(twin.loss(ref.x))
  losses.append(final_torch)
  final_jax = setup.terms(final_image)["total"]
  # The target, in each framework's own loss (they agree to ~1e-5 at the same image).
  out = {"size": setup.size, "torch_iters": torch_iters, "torch_wall_s": torch_wall, "torch_evals": evals,
         "target_torch": final_torch, "target_jax": final_jax, "initial": losses[0],
         "torch_lbfgs": {"losses": losses, "ends": ends}}
  print(f"[ttl {setup.size}px] torch L-BFGS {torch_iters} iterations: {torch_wall:.1f} s, {evals} loss "
        f"evaluations, loss {losses[0]:.4e} -> L* = {final_torch:.6e} (JAX loss at that image "
        f"{final_jax:.6e})", flush=True)

  for optimizer in ("lbfgs", "adam"):
    compile_time(setup, optimizer)  # already compiled when this size was timed; a no-op step
    box = {"state": setup.init(optimizer)}

    def step_fn(optimizer=optimizer, box=box):
      state, value = setup.step(optimizer, box["state"])
      jax.block_until_ready(state.param)
      box["state"] = state
      return float(value)
    with contention.phase(f"time to loss: JAX {optimizer}"):
      res = run_until(step_fn, final_jax, max_steps, wall_cap)
    out[f"jax_{optimizer}"] = res
    print(f"[ttl {setup.size}px] JAX {optimizer}: {'reached' if res['reached'] else 'did NOT reach'} "
          f"L* after {res['steps']} steps, {res['time_s']:.1f} s (best loss {res['best']:.6e})", flush=True)
  if torch_adam:
    opt = TorchAdam(twin, setup.content, setup.adam_lr)
    with contention.phase("time to loss: torch adam"):
      res = run_until(opt.step, final_torch, max_steps, wall_cap)
    out["torch_adam"] = res
    print(f"[ttl {setup.size}px] torch adam: {'reached' if res['reached'] else 'did NOT reach'} L* after "
          f"{res['steps']} steps, {res['time_s']:.1f} s (best loss {res['best']:.6e})", flush=True)
  return out


# ----------------------------------------------------------------------------------------------
# Report


def _fmt_time(hit) -> str:
  return "not reached" if hit is None else f"{hit[1]:.1f} s ({hit[0]} steps)"


def render(args, command, machine, busy, peaks, checks, adam_rows, lbfgs_rows, ttl, ttl_note, contention,
           total_s) -> str:
  lines = report.section_start("Pixel optimization (Gatys et al.): stylejax versus a PyTorch twin", command,
                               machine) + [
      f"CPU time taken by other processes just before / after the run: "
      + " / ".join(report.pct(b) for b in busy) + " of the machine; "
      f"during each phase (machine busy time minus this process's CPU time): {contention.describe()}. "
      f"Whole run: {total_s / 60:.1f} min.",
      "",
      "Problem: configs/base.py — VGG16 with the packaged lpips weights (`load_vgg(\"vgg16-lpips\")`), "
      "LPIPS preprocessing, content loss = MSE at relu4_2, style loss = Σ over relu1_1, relu2_1, "
      "relu3_1, relu4_1, relu5_1 of Σ(G−A)²/(4C²) with G = FᵀF/(H·W), content weight 1, style "
      "weight 1e4, TV 0; content image (scikit-image astronaut) as the initial image; pixels clipped "
      "to [0, 1] after each step; style = bundled Starry Night resized to the same longer side. "
      f"Adam learning rate {args.adam_lr:g} (configs/quickstart.py's), default β/ε in both frameworks.",
      "",
      "JAX: the product's own code path — `stylize.problem_from_config`, `stylize.loss_weights`, the "
      "targets as `stylize` computes them, and the jitted `stylejax.pixel.optimize.step` (optax.adam, or "
      "optax.lbfgs(memory 10) with its zoom line search), one call per step, blocking on the result. "
      "torch: the twin of `stylejax.reference.torch_twin` with the same weights (HWIO→OIHW), "
      "preprocessing and loss; "
      "`torch.optim.Adam`, or `torch.optim.LBFGS(history_size=10, line_search_fn=\"strong_wolfe\", "
      "max_iter=1, max_eval=26)`, one iteration per `.step`, then `clamp_(0, 1)`; torch's default "
      f"threads ({torch.get_num_threads()}).",
      "",
      "Agreement, checked before timing (the run stops otherwise): loss terms at the initial image "
      f"and at a perturbed one (content + 0.1·N(0,1), clipped) agree to < {LOSS_TOLERANCE:g} "
      f"relative; gradients to a relative L2 error < {GRAD_L2_TOLERANCE['perturbed']:g} at the "
      f"perturbed image and < {GRAD_L2_TOLERANCE['initial']:g} at the content image itself, where "
      "astronaut's flat saturated regions (~7% of pixels exactly 0 or 1) make neighbouring VGG "
      "activations tie exactly and the two frameworks' max-pool gradients route ties to different "
      "elements of the window (most of the difference sits in ~1% of the pixels):",
      "",
      "| px | image | JAX total | torch total | total rel err | style rel err | content rel err | grad rel L2 err |",
      "|---|---|---|---|---|---|---|---|",
  ]
  for size, check in checks.items():
    for label, c in check.items():
      lines.append(f"| {size} | {label} | {c['jax']['total']:.6e} | {c['torch']['total']:.6e} | "
                   f"{c['err']['total']:.1e} | {c['err']['style']:.1e} | {c['err']['content']:.1e}"
                   f"{' (of total)' if label == 'initial' else ''} | {c['grad_l2']:.1e} |")
  lines += [
      "",
      f"JAX float32 matmul peak ({args.matmul_n}×{args.matmul_n}, measured before / after the step "
      f"timings in this run): {peaks[0]['jax']:.1f} / {peaks[1]['jax']:.1f} GFLOP/s (torch "
      f"{peaks[0]['torch']:.1f} / {peaks[1]['torch']:.1f}).",
      "",
      f"### Step time (median over {args.steps} Adam / {args.lbfgs_steps} L-BFGS steps after "
      f"{args.warmup} warmup step(s), from the content image, JAX and torch steps interleaved)",
      "",
      "An \"eval\" is one loss + gradient evaluation (VGG forward and backward). ms/eval = median "
      "over the timed steps of (step time / its evaluations). Compile: the first and second calls of "
      "the jitted step (run as no-op steps before timing); the second call recompiles for L-BFGS "
      "because optax.lbfgs's initial state has weak-typed scalars that the first step returns "
      "strongly typed. JAX L-BFGS evaluations per step = the zoom line "
      "search's steps (`num_linesearch_steps` in the optax state) + the re-evaluation stylejax does "
      "when clipping moved the image (inferred: some pixel sits exactly at 0 or 1 after the step); "
      "torch's = closure calls (one at the step's start point + the strong Wolfe line search's).",
      "",
      "| optimizer | px | JAX ms/step | torch ms/step | JAX / torch | JAX evals/step | torch evals/step "
      "| JAX ms/eval | torch ms/eval | JAX 1st / 2nd call (compile) s |",
      "|---|---|---|---|---|---|---|---|---|---|",
  ]
  for r in adam_rows + lbfgs_rows:
    j, t = r["jax"], r["torch"]
    extra = ""
    if "ls_evals" in j:
      extra = f" ({j['ls_evals']:.1f} line search + {j['clip_refresh']}/{j['n']} steps re-evaluated after clip)"
    lines.append(f"| {r['optimizer']} | {r['size']} | {j['ms']:.0f} ({j['min_ms']:.0f}–{j['max_ms']:.0f}) | "
                 f"{t['ms']:.0f} ({t['min_ms']:.0f}–{t['max_ms']:.0f}) | {r['ratio']:.2f} | "
                 f"{j['evals']:.1f}{extra} | {t['evals']:.1f} | {j['ms_per_eval']:.0f} | "
                 f"{t['ms_per_eval']:.0f} | {r['compile_s'][0]:.1f} / {r['compile_s'][1]:.1f} |")
  adam_by_size = {r["size"]: r for r in adam_rows}
  notes = []
  for r in lbfgs_rows:
    a = adam_by_size.get(r["size"])
    if a:
      notes.append(f"{r['size']} px: JAX {r['jax']['ms_per_eval']:.0f} ms per evaluation inside "
                   f"L-BFGS vs {a['jax']['ms_per_eval']:.0f} ms per Adam step "
                   f"({r['jax']['ms_per_eval'] / a['jax']['ms_per_eval']:.2f}×); torch "
                   f"{r['torch']['ms_per_eval']:.0f} vs {a['torch']['ms_per_eval']:.0f} ms "
                   f"({r['torch']['ms_per_eval'] / a['torch']['ms_per_eval']:.2f}×)")
  if notes:
    lines += ["", "Cost of one loss evaluation inside an L-BFGS step versus an Adam step (on XLA:CPU, "
              "optax's zoom line search evaluates the loss inside a `while_loop`, where convolutions "
              "were measured ~2× slower than outside a loop): " + "; ".join(notes) + "."]
  if ttl is not None:
    t_lb = ttl["torch_lbfgs"]
    lines += [
        "",
        f"### Time to loss at {ttl['size']} px",
        "",
        (ttl_note + " " if ttl_note else "")
        + f"torch L-BFGS ran {ttl['torch_iters']} iterations ({ttl['torch_evals']} loss evaluations) "
        f"in {ttl['torch_wall_s']:.1f} s, from loss {ttl['initial']:.4e} to L* = "
        f"{ttl['target_torch']:.6e} (JAX's loss at the same image: {ttl['target_jax']:.6e}; each JAX "
        "run's target is this JAX value). JAX L-BFGS, JAX Adam"
        + (" and torch Adam" if "torch_adam" in ttl else "")
        + f" then ran from the same content image until an iterate's loss was ≤ L*, at most "
        f"{args.ttl_max_steps} steps or {args.ttl_wall_cap:.0f} s. Times exclude compilation and count "
        "from the first step to the end of the step that produced the iterate. Also shown: time to "
        "first get within 2×, 1.25× and 1.1× of L*.",
        "",
        "| run | reached L*? | steps | wall s to L* (or when stopped) | best loss | ≤ 2·L* | ≤ 1.25·L* | ≤ 1.1·L* |",
        "|---|---|---|---|---|---|---|---|",
    ]
    runs = [("torch L-BFGS (reference)", t_lb["losses"], t_lb["ends"], ttl["target_torch"], None)]
    for key, label, target in (("jax_lbfgs", "JAX L-BFGS (optax, zoom)", ttl["target_jax"]),
                               ("jax_adam", "JAX Adam", ttl["target_jax"]),
                               ("torch_adam", "torch Adam", ttl["target_torch"])):
      if key in ttl:
        runs.append((label, ttl[key]["losses"], ttl[key]["ends"], target, ttl[key]))
    for label, losses, ends, target, res in runs:
      n = min(len(losses), len(ends))
      hits = [time_to_threshold(losses[:n], ends[:n], f * target) for f in (2.0, 1.25, 1.1)]
      if res is None:
        reached, steps, wall = "(defines L*)", ttl["torch_iters"], ttl["torch_wall_s"]
      else:
        reached, steps, wall = ("yes" if res["reached"] else "**no**"), res["steps"], res["time_s"]
      lines.append(f"| {label} | {reached} | {steps} | {wall:.1f} | {min(losses):.6e} | "
                   + " | ".join(_fmt_time(h) for h in hits) + " |")
    # Progress per iteration, independent of speed: the loss of iterate k in each run.
    longest = max(len(r[1]) for r in runs)
    ks = [k for k in (10, 30, 60, 100, 200, 300, 500, 1000) if k < longest]
    lines += ["", "Loss of iterate k (after k steps), whatever the time it took — the optimizers' "
              "progress per iteration:", "",
              "| run | " + " | ".join(f"k = {k}" for k in ks) + " |",
              "|---|" + "---|" * len(ks)]
    for label, losses, ends, target, res in runs:
      lines.append(f"| {label} | " + " | ".join(f"{losses[k]:.4e}" if k < len(losses) else "—" for k in ks)
                   + " |")
    lines += ["", "Mean seconds per step in these runs: "
              + ", ".join(f"{label} {r['ends'][-1] / max(len(r['ends']) - 1, 1):.2f} s"
                          for label, _, _, _, r in runs if r is not None)
              + f"; torch L-BFGS {ttl['torch_wall_s'] / ttl['torch_iters']:.2f} s."]
  return "\n".join(lines)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--quick", action="store_true",
                      help="small sizes and few steps (a couple of minutes); prints only unless --report")
  parser.add_argument("--sizes", default=None, help="comma-separated px for the step timings (default 256,512)")
  parser.add_argument("--steps", type=int, default=None, help="timed Adam steps per size (default 10)")
  parser.add_argument("--lbfgs-steps", type=int, default=None, help="timed L-BFGS steps per size (default 6)")
  parser.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 2)")
  parser.add_argument("--ttl-size", type=int, default=None, help="px for the time-to-loss runs (default 256)")
  parser.add_argument("--ttl-iters", type=int, default=None, help="torch L-BFGS iterations defining L* (default 300)")
  parser.add_argument("--ttl-max-steps", type=int, default=None, help="step cap for the JAX runs (default 1000)")
  parser.add_argument("--ttl-wall-cap", type=float, default=None, help="seconds cap per JAX run (default 300)")
  parser.add_argument("--ttl-torch-budget", type=float, default=600.0,
                      help="if torch L-BFGS is predicted to need more than this many seconds at --ttl-size, "
                           "the time-to-loss runs use 192 px instead")
  parser.add_argument("--no-ttl", action="store_true", help="skip the time-to-loss runs")
  parser.add_argument("--torch-adam-ttl", action="store_true", help="also run torch Adam to L*")
  parser.add_argument("--adam-lr", type=float, default=None,
                      help="Adam learning rate (default: configs/quickstart.py's)")
  parser.add_argument("--matmul-n", type=int, default=None)
  parser.add_argument("--wait-quiet", type=float, default=900.0,
                      help="seconds to wait, at most, for other processes to leave the CPUs (0: don't)")
  parser.add_argument("--report", action="store_true", help="write the section even with --quick")
  parser.add_argument("--no-report", action="store_true", help="print only; leave BENCHMARKS.md alone")
  parser.add_argument("--section", default=SECTION)
  args = parser.parse_args(argv)
  defaults = ({"sizes": "128", "steps": 4, "lbfgs_steps": 3, "warmup": 1, "ttl_size": 128, "ttl_iters": 30,
               "ttl_max_steps": 150, "ttl_wall_cap": 30.0, "matmul_n": 1024} if args.quick else
              {"sizes": "256,512", "steps": 10, "lbfgs_steps": 6, "warmup": 2, "ttl_size": 256, "ttl_iters": 300,
               "ttl_max_steps": 1000, "ttl_wall_cap": 300.0, "matmul_n": 2048})
  for k, v in defaults.items():
    if getattr(args, k) is None:
      setattr(args, k, v)
  if args.adam_lr is None:
    args.adam_lr = float(get_quickstart_config().optim.learning_rate)
  sizes = [int(s) for s in args.sizes.split(",") if s]
  write = (not args.no_report) and (args.report or not args.quick)

  machine = report.machine_description()
  print(machine, flush=True)
  busy_before = report.wait_for_quiet(timeout=args.wait_quiet) if args.wait_quiet > 0 else report.cpu_busy_fraction()
  run_start = time.perf_counter()

  loaded = weights.load_vgg("vgg16-lpips")
  content_full = images.load_image("astronaut")
  style_full = images.load_image("starry_night")

  peaks_before = matmul_peaks(args.matmul_n)
  print(f"matmul peak before: {peaks_before}", flush=True)
  setups, twins, checks = {}, {}, {}
  for size in sorted(set(sizes + ([] if args.no_ttl else [args.ttl_size]))):
    setups[size] = JaxSetup(size, loaded, content_full, style_full, args.adam_lr)
    twins[size] = TorchTwin(setups[size])
    checks[size] = check_agreement(setups[size], twins[size])

  contention = report.PhaseLoads()
  with contention.phase("Adam step timings"):
    adam_rows = [bench_steps(setups[s], twins[s], "adam", args.steps, args.warmup) for s in sizes]
  with contention.phase("L-BFGS step timings"):
    lbfgs_rows = [bench_steps(setups[s], twins[s], "lbfgs", args.lbfgs_steps, args.warmup) for s in sizes]
  peaks_after = matmul_peaks(args.matmul_n)
  print(f"matmul peak after: {peaks_after}", flush=True)

  ttl, ttl_note = None, ""
  if not args.no_ttl:
    size = args.ttl_size
    by_size = {r["size"]: r for r in lbfgs_rows}
    if size in by_size:
      predicted = by_size[size]["torch"]["ms"] / 1e3 * args.ttl_iters
      if predicted > args.ttl_torch_budget and size > 192:
        ttl_note = (f"At {size} px, {args.ttl_iters} torch L-BFGS iterations were predicted to take "
                    f"{predicted:.0f} s (> {args.ttl_torch_budget:.0f} s) from the step timings above, "
                    "so the time-to-loss runs use 192 px.")
        print(ttl_note, flush=True)
        size = 192
    if size not in setups:
      setups[size] = JaxSetup(size, loaded, content_full, style_full, args.adam_lr)
      twins[size] = TorchTwin(setups[size])
      checks[size] = check_agreement(setups[size], twins[size])
    ttl = time_to_loss(setups[size], twins[size], args.ttl_iters, args.ttl_max_steps, args.ttl_wall_cap,
                       args.torch_adam_ttl, contention)
  busy_after = report.cpu_busy_fraction()
  total_s = time.perf_counter() - run_start
  print(f"total run time {total_s:.0f} s; other processes' share of the CPUs: {contention.describe()}",
        flush=True)

  command = report.command_line("bench_pixel.py", argv, USER_XLA_FLAGS)
  text = render(args, command, machine, (busy_before, busy_after), (peaks_before, peaks_after),
                checks, adam_rows, lbfgs_rows, ttl, ttl_note, contention, total_s)
  report.publish(args.section, text, write)


if __name__ == "__main__":
  main()
