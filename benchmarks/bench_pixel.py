"""Gatys-style pixel optimization: stylejax (JAX) step time and time-to-loss versus a PyTorch twin.

    python benchmarks/bench_pixel.py            # full run (~35 min on 2 CPU cores), writes "pixel"
    python benchmarks/bench_pixel.py --quick    # a few minutes, prints only (--report [--output F] writes)

The problem is stylejax/configs/base.py's (VGG16, packaged lpips weights, content relu4_2, Gram style loss
with the "gatys" normalisation on relu1_1..relu5_1, content weight 1, style weight 1e4, no TV,
content init, pixels clipped to [0, 1]); content = scikit-image astronaut, style = the bundled
Starry Night resized to the same longer side.

* JAX: exactly what the product runs -- `stylejax.pixel.stylize.problem_from_config`, `loss_weights`,
  the targets computed as `stylize` computes them, and the jitted `stylejax.pixel.optimize.step`
  (optax Adam, or optax L-BFGS with `optim.line_search` zoom or none), one step per call.
* PyTorch: the twins of stylejax/reference/torch_twin.py, driven from benchmarks/pixel_torch_side.py:
  the same VGG16 weights (HWIO -> OIHW), the same preprocessing, the same loss; torch.optim.Adam, or
  torch.optim.LBFGS (history 10, lr 1; strong Wolfe line search or none), one iteration per `.step`
  call (max_iter=1), the image clamped to [0, 1] after each step, as stylejax clips after each step.
  Compared: Adam with Adam, JAX zoom with torch strong Wolfe, JAX none with torch none.

Before anything is timed, the two loss functions are evaluated at the initial image and at a
perturbed one; every term must agree to < 1e-4 relative (and the gradients to < 1e-2 relative L2),
or the script stops with an error.

Measured, JAX and torch interleaved step by step: ms/step and loss evaluations per step (JAX:
`OptState.evals`, torch: closure calls) of each pair above, at each --sizes; time to loss: torch
L-BFGS (strong Wolfe) runs --ttl-iters iterations and its final loss L* becomes the target that
both JAX L-BFGS variants, JAX Adam and the --torch-ttl runs must reach, each capped by
--ttl-max-steps and --ttl-wall-cap. The section ends with issue 9's goals, met or not in this run.
The JAX float32 matmul peak (benchmarks/matmul_peak.py) is measured in the same run for context.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

# As the user set it: importing stylejax adds its own XLA:CPU flag to XLA_FLAGS (stylejax/__init__.py).
USER_XLA_FLAGS = os.environ.get("XLA_FLAGS")

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from stylejax import runtime  # noqa: E402
runtime.configure()  # the product's process settings (glibc allocator, OPENBLAS_NUM_THREADS) before JAX starts

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from benchmarks import report  # noqa: E402
from benchmarks.matmul_peak import matmul_peaks  # noqa: E402
from benchmarks.pixel_torch_side import (TorchTwin, agreement_markdown, check_agreement,  # noqa: E402
                                         torch_adam_fn, torch_lbfgs_fn, torch_reference_run)
from benchmarks.timing import interleave, median, run_until, time_to_threshold  # noqa: E402
from stylejax.configs.base import get_base_config  # noqa: E402
from stylejax.configs.quickstart import get_config as get_quickstart_config  # noqa: E402
from stylejax.imaging import images  # noqa: E402
from stylejax.io import weights  # noqa: E402
from stylejax.pixel import optimize, stylize  # noqa: E402

SECTION = "pixel"
BIG = 1 << 30  # total_steps for the product's step: never reached here
# name: (optimizer, JAX optim.line_search, the torch twin's L-BFGS line_search_fn, label)
VARIANTS = {
    "adam": ("adam", "zoom", None, "adam"),
    "lbfgs": ("lbfgs", "zoom", "strong_wolfe", "lbfgs (zoom) vs torch strong_wolfe"),
    "lbfgs-none": ("lbfgs", "none", None, "lbfgs (none) vs torch no line search"),
}
TTL_LABELS = {"lbfgs": "JAX L-BFGS (zoom)", "lbfgs-none": "JAX L-BFGS (none, step 1)", "adam": "JAX Adam",
              "torch-lbfgs-none": "torch L-BFGS (no line search)", "torch-adam": "torch Adam"}
# Issue 9's goals on JAX / reference ratios: (must reach, aim).
GOALS = {"eval_vs_adam": (1.15, 1.05), "lbfgs_step": (1.0, 0.85), "ttl": (1.0, 0.6)}


# ----------------------------------------------------------------------------------------------
# The JAX side: the product's own problem, targets and step


def product_config(size: int, optimizer: str, learning_rate: float, line_search: str = "zoom"):
  config = get_base_config()
  with config.unlocked():
    config.image_size = size
    config.optim.name = optimizer
    config.optim.learning_rate = learning_rate
    config.optim.line_search = line_search
  return config


class JaxSetup:
  """Everything `stylejax.pixel.stylize._optimize` builds for one scale, for one image size."""

  def __init__(self, size: int, loaded, content_full, style_full, adam_lr: float):
    self.size = size
    self.loaded = loaded
    self.adam_lr = adam_lr
    base = product_config(size, "adam", adam_lr)
    self.problems = {name: stylize.problem_from_config(product_config(size, opt, adam_lr, search), loaded)
                     for name, (opt, search, _, _) in VARIANTS.items()}
    self.weights = stylize.loss_weights(base, loaded.arch)
    self.content = images.resize(content_full, size)
    self.style = images.resize(style_full, max(32, round(base.style_scale * size)))
    problem = self.problems["adam"]
    self.targets = stylize.targets(problem, loaded.params, self.content, [self.style])
    _, self.loss_key = jax.random.split(jax.random.key(base.seed))

  def init(self, variant: str):
    return optimize.init_state(self.problems[variant], self.content, self.adam_lr)

  def step(self, variant: str, state, total_steps=BIG):
    """One call of the product's jitted step; returns (state, loss at the step's start point)."""
    return optimize.step(self.problems[variant], state, jnp.int32(total_steps), self.loaded.params,
                         self.targets, self.weights, jnp.float32(self.adam_lr), self.loss_key)

  def terms(self, image) -> dict:
    out = optimize.evaluate(self.problems["adam"], jnp.asarray(image, jnp.float32), self.loaded.params,
                            self.targets, self.weights, self.loss_key)
    return {k: float(v) for k, v in out.items()}

  def grad(self, image) -> np.ndarray:
    problem = self.problems["adam"]
    fn = jax.jit(jax.grad(lambda x: optimize.loss_terms(
        problem, x, self.loaded.params, self.targets, self.weights, self.loss_key)["total"]))
    return np.asarray(fn(jnp.asarray(image, jnp.float32)))


# ----------------------------------------------------------------------------------------------
# Timing


def jax_step_fn(setup: JaxSetup, variant: str):
  """A timed call per step from the content image; its loss evaluations as the step counted them."""
  box = {"state": setup.init(variant)}

  def run():
    before = box["state"].evals
    t0 = time.perf_counter()
    state, value = setup.step(variant, box["state"])
    jax.block_until_ready(state)
    s = time.perf_counter() - t0
    box["state"] = state
    return {"s": s, "loss": float(value), "evals": int(state.evals) - int(before)}
  return run


def torch_step_fn(twin: TorchTwin, setup: JaxSetup, variant: str):
  optimizer, _, line_search_fn, _ = VARIANTS[variant]
  return torch_adam_fn(twin, setup) if optimizer == "adam" else torch_lbfgs_fn(twin, setup, line_search_fn)


def compile_time(setup: JaxSetup, variant: str) -> dict:
  """Seconds of the first and second calls of the jitted step (trace + compile + run), as no-op
  steps (total_steps=0), and whether the second call compiled a program of its own."""
  times, state = [], setup.init(variant)
  for _ in range(2):
    programs = optimize.step._cache_size()
    t0 = time.perf_counter()
    state, _ = setup.step(variant, state, total_steps=0)
    jax.block_until_ready(state)
    times.append(time.perf_counter() - t0)
  return {"first_s": times[0], "second_s": times[1],
          "recompiled": optimize.step._cache_size() > programs}


def summarize(records: list[dict]) -> dict:
  s = [r["s"] for r in records]
  return {"ms": 1e3 * median(s), "min_ms": 1e3 * min(s), "max_ms": 1e3 * max(s),
          "evals": float(np.mean([r["evals"] for r in records])),
          "ms_per_eval": 1e3 * median([r["s"] / r["evals"] for r in records if r["evals"] > 0]),
          "n": len(records)}


def bench_steps(setup: JaxSetup, twin: TorchTwin, variant: str, repeats: int, warmup: int) -> dict:
  compile_s = compile_time(setup, variant)
  recs = interleave({"jax": jax_step_fn(setup, variant), "torch": torch_step_fn(twin, setup, variant)},
                    repeats, warmup)
  row = {"size": setup.size, "variant": variant, "compile": compile_s,
         **{f: summarize(r) for f, r in recs.items()}}
  row["ratio"] = row["jax"]["ms"] / row["torch"]["ms"]
  j, t = row["jax"], row["torch"]
  print(f"[{setup.size}px {variant}] JAX {j['ms']:.0f} ms/step ({j['evals']:.2f} evals/step, "
        f"{j['ms_per_eval']:.0f} ms/eval; first / second call {compile_s['first_s']:.1f} / "
        f"{compile_s['second_s']:.2f} s{', RECOMPILED' if compile_s['recompiled'] else ''}), torch "
        f"{t['ms']:.0f} ms/step ({t['evals']:.2f} evals/step, {t['ms_per_eval']:.0f} ms/eval); "
        f"JAX/torch time ratio {row['ratio']:.2f}", flush=True)
  return row


# ----------------------------------------------------------------------------------------------
# Time to loss


def _counted(run):
  """(step_fn for `run_until`, cumulative loss evaluations after each step) from a timed-step `run`."""
  evals = [0]

  def step_fn():
    r = run()
    evals.append(evals[-1] + r["evals"])
    return r["loss"]
  return step_fn, evals


def time_to_loss(setup: JaxSetup, twin: TorchTwin, torch_iters: int, max_steps: int, wall_cap: float,
                 torch_runs: list[str], contention: report.PhaseLoads) -> dict:
  with contention.phase("time to loss: torch L-BFGS"):
    ref = torch_reference_run(twin, setup.content, torch_iters)
  final_jax = setup.terms(ref["image"])["total"]
  # The target, in each framework's own loss (they agree to ~1e-5 at the same image).
  out = {"size": setup.size, "torch_iters": torch_iters, "torch_wall_s": ref["wall_s"],
         "torch_evals": ref["evals"], "target_torch": ref["losses"][-1], "target_jax": final_jax,
         "initial": ref["losses"][0], "runs": {}, "torch_lbfgs": ref}
  print(f"[ttl {setup.size}px] torch L-BFGS {torch_iters} iterations: {ref['wall_s']:.1f} s, {ref['evals']} "
        f"loss evaluations, loss {ref['losses'][0]:.4e} -> L* = {ref['losses'][-1]:.6e} (JAX loss at that "
        f"image {final_jax:.6e})", flush=True)
  runs = [(v, final_jax) for v in ("lbfgs", "lbfgs-none", "adam")]
  runs += [(f"torch-{v}", ref["losses"][-1]) for v in torch_runs]
  for name, target in runs:
    if name.startswith("torch-"):
      step_fn, evals = _counted(torch_step_fn(twin, setup, name[len("torch-"):]))
    else:
      compile_time(setup, name)  # already compiled when this size was timed: no-op steps
      step_fn, evals = _counted(jax_step_fn(setup, name))
    with contention.phase(f"time to loss: {TTL_LABELS[name]}"):
      res = run_until(step_fn, target, max_steps, wall_cap)
    res["evals"] = evals[min(res["steps"], len(evals) - 1)]
    out["runs"][name] = res
    print(f"[ttl {setup.size}px] {TTL_LABELS[name]}: {'reached' if res['reached'] else 'did NOT reach'} "
          f"L* after {res['steps']} steps ({res['evals']} evals), {res['time_s']:.1f} s (best loss "
          f"{res['best']:.6e})", flush=True)
  return out


# ----------------------------------------------------------------------------------------------
# Report


def _fmt_time(hit) -> str:
  return "not reached" if hit is None else f"{hit[1]:.1f} s ({hit[0]} steps)"


def goal_lines(rows: list[dict], ttl: dict | None) -> list[str]:
  """Issue 9's goals, each met or not in this run (ratios of JAX to the reference, lower is better)."""
  by = {(r["variant"], r["size"]): r for r in rows}
  sizes = sorted({r["size"] for r in rows})
  judged = lambda ratio, goal: f"{ratio:.2f}× ({report.goal_verdict(ratio, *GOALS[goal])})"
  bounds = lambda goal: f"must ≤ {GOALS[goal][0]:.2f}×, aim ≤ {GOALS[goal][1]:.2f}×"
  per_eval, steps = [], []
  for size in sizes:
    adam, zoom, none = (by[(v, size)] for v in ("adam", "lbfgs", "lbfgs-none"))
    per_eval.append(f"{size} px: zoom {judged(zoom['jax']['ms_per_eval'] / adam['jax']['ms'], 'eval_vs_adam')}, "
                    f"none {judged(none['jax']['ms_per_eval'] / adam['jax']['ms'], 'eval_vs_adam')} (torch, "
                    f"for comparison: strong Wolfe {zoom['torch']['ms_per_eval'] / adam['torch']['ms']:.2f}×, "
                    f"none {none['torch']['ms_per_eval'] / adam['torch']['ms']:.2f}×)")
    steps.append(f"{size} px: zoom vs strong Wolfe {judged(zoom['ratio'], 'lbfgs_step')}, none vs none "
                 f"{judged(none['ratio'], 'lbfgs_step')}")
  lines = ["", "### Goals (issue 9), from this run", "",
           f"- L-BFGS ms per loss evaluation / Adam ms per step (same run; the goal is JAX zoom's), "
           f"{bounds('eval_vs_adam')}: " + "; ".join(per_eval) + ".",
           "- L-BFGS step, JAX / torch time" + ("" if sizes == [256, 512] else " (the issue names 256 "
           "and 512 px)") + f", {bounds('lbfgs_step')}: " + "; ".join(steps) + "."]
  if ttl is not None:
    torch_s = ttl["torch_wall_s"]
    reached = {v: ttl["runs"][v]["time_s"] for v in ("lbfgs", "lbfgs-none") if ttl["runs"][v]["reached"]}
    parts = []
    for name in ([min(reached, key=reached.get)] if reached else ["lbfgs", "lbfgs-none"]) + ["adam"]:
      res = ttl["runs"][name]
      ratio = res["time_s"] / torch_s
      parts.append(f"{TTL_LABELS[name]} {res['time_s']:.1f} s = {judged(ratio, 'ttl')}" if res["reached"] else
                   f"{TTL_LABELS[name]} did not reach L* in {res['time_s']:.1f} s (> {ratio:.2f}×: **not met**)")
    lines.append(f"- Time to torch L-BFGS's {ttl['torch_iters']}-iteration loss L* at {ttl['size']} px, JAX "
                 f"wall time to L* / torch's {torch_s:.1f} s for its {ttl['torch_iters']} iterations"
                 + ("" if (ttl["size"], ttl["torch_iters"]) == (256, 300) else
                    " (the issue names 300 iterations at 256 px)") + f", {bounds('ttl')}: "
                 + ("the faster of the two JAX L-BFGS variants, " if len(reached) == 2 else "") + "; ".join(parts) + ".")
  lines.append("- Adam step, JAX / torch time (informational): "
               + ", ".join(f"{s} px {by[('adam', s)]['ratio']:.2f}×" for s in sizes) + ".")
  return lines


def ttl_lines(args, ttl: dict, ttl_note: str) -> list[str]:
  lines = [
      "", f"### Time to loss at {ttl['size']} px", "",
      (ttl_note + " " if ttl_note else "")
      + f"torch L-BFGS (strong Wolfe) ran {ttl['torch_iters']} iterations ({ttl['torch_evals']} loss "
      f"evaluations) in {ttl['torch_wall_s']:.1f} s, from loss {ttl['initial']:.4e} to L* = "
      f"{ttl['target_torch']:.6e} (JAX's loss at the same image: {ttl['target_jax']:.6e}; each JAX "
      "run's target is this JAX value). The other runs then started from the same content image and "
      f"ran until an iterate's loss was ≤ L*, at most {args.ttl_max_steps} steps or "
      f"{args.ttl_wall_cap:.0f} s. Times exclude compilation and count from the first step to the end "
      "of the step that produced the iterate; evals = loss evaluations made by then. Also shown: time "
      "to first get within 2×, 1.25× and 1.1× of L*.",
      "",
      "| run | reached L*? | steps | evals | wall s to L* (or when stopped) | best loss | ≤ 2·L* | ≤ 1.25·L* "
      "| ≤ 1.1·L* |",
      "|---|---|---|---|---|---|---|---|---|",
  ]
  ref = ttl["torch_lbfgs"]
  runs = [("torch L-BFGS, strong Wolfe (reference)", ref["losses"], ref["ends"], ttl["target_torch"], None)]
  for name, res in ttl["runs"].items():
    target = ttl["target_torch"] if name.startswith("torch-") else ttl["target_jax"]
    runs.append((TTL_LABELS[name], res["losses"], res["ends"], target, res))
  for label, losses, ends, target, res in runs:
    n = min(len(losses), len(ends))
    hits = [time_to_threshold(losses[:n], ends[:n], f * target) for f in (2.0, 1.25, 1.1)]
    if res is None:
      reached, steps, evals, wall = "(defines L*)", ttl["torch_iters"], ttl["torch_evals"], ttl["torch_wall_s"]
    else:
      reached, steps, evals, wall = ("yes" if res["reached"] else "**no**"), res["steps"], res["evals"], res["time_s"]
    lines.append(f"| {label} | {reached} | {steps} | {evals} | {wall:.1f} | {min(losses):.6e} | "
                 + " | ".join(_fmt_time(h) for h in hits) + " |")
  # Progress per iteration, independent of speed: the loss of iterate k in each run.
  longest = max(len(r[1]) for r in runs)
  ks = [k for k in (10, 30, 60, 100, 200, 300, 500, 1000) if k < longest]
  lines += ["", "Loss of iterate k (after k steps), whatever the time it took — the optimizers' "
            "progress per iteration:", "",
            "| run | " + " | ".join(f"k = {k}" for k in ks) + " |",
            "|---|" + "---|" * len(ks)]
  for label, losses, _, _, _ in runs:
    lines.append(f"| {label} | " + " | ".join(f"{losses[k]:.4e}" if k < len(losses) else "—" for k in ks)
                 + " |")
  lines += ["", "Mean seconds per step in these runs: "
            + ", ".join(f"{label} {r['ends'][-1] / max(len(r['ends']) - 1, 1):.2f} s"
                        for label, _, _, _, r in runs if r is not None)
            + f"; torch L-BFGS (reference) {ttl['torch_wall_s'] / ttl['torch_iters']:.2f} s."]
  return lines


def render(args, command, machine, busy, peaks, checks, rows, ttl, ttl_note, contention, total_s) -> str:
  lines = report.section_start("Pixel optimization (Gatys et al.): stylejax versus a PyTorch twin", command,
                               machine) + [
      f"CPU time taken by other processes just before / after the run: "
      + " / ".join(report.pct(b) for b in busy) + " of the machine; "
      f"during each phase (machine busy time minus this process's CPU time): {contention.describe()}. "
      f"Whole run: {total_s / 60:.1f} min.",
      "",
      "Problem: stylejax/configs/base.py — VGG16 with the packaged lpips weights (`load_vgg(\"vgg16-lpips\")`), "
      "LPIPS preprocessing, content loss = MSE at relu4_2, style loss = Σ over relu1_1, relu2_1, "
      "relu3_1, relu4_1, relu5_1 of Σ(G−A)²/(4C²) with G = FᵀF/(H·W), content weight 1, style "
      "weight 1e4, TV 0; content image (scikit-image astronaut) as the initial image; pixels clipped "
      "to [0, 1] after each step; style = bundled Starry Night resized to the same longer side. "
      f"Adam learning rate {args.adam_lr:g} (stylejax/configs/quickstart.py's), default β/ε in both frameworks.",
      "",
      "JAX: the product's own code path — `stylize.problem_from_config`, `stylize.loss_weights`, the "
      "targets as `stylize` computes them, and the jitted `stylejax.pixel.optimize.step`, one call per "
      "step, blocking on the result: optax.adam, or optax.lbfgs(memory 10) with `optim.line_search` "
      "zoom (optax's strong-Wolfe zoom search, at most 20 evaluations, run on loss(clip(x)) so its "
      "cached value and gradient are the clipped iterate's) or none (fixed step `optim.lbfgs_step` = 1). "
      "torch: the twin of `stylejax.reference.torch_twin` with the same weights (HWIO→OIHW), "
      "preprocessing and loss; `torch.optim.Adam`, or `torch.optim.LBFGS(lr=1, history_size=10, "
      "max_iter=1)` with `line_search_fn=\"strong_wolfe\", max_eval=26` or with `line_search_fn=None` "
      "(torch's default: a fixed step, one evaluation per `.step`), one iteration per `.step`, then "
      f"`clamp_(0, 1)`; torch's default threads ({torch.get_num_threads()}). Compared: Adam with Adam, "
      "JAX zoom with torch strong Wolfe, JAX none with torch none.",
      "",
  ] + agreement_markdown(checks)
  recompiled = sorted({r["variant"] for r in rows if r["compile"]["recompiled"]})
  lines += [
      "",
      f"JAX float32 matmul peak ({args.matmul_n}×{args.matmul_n}, measured before / after the step "
      f"timings in this run): {peaks[0]['jax']:.1f} / {peaks[1]['jax']:.1f} GFLOP/s (torch "
      f"{peaks[0]['torch']:.1f} / {peaks[1]['torch']:.1f}).",
      "",
      f"### Step time (median over {args.steps} Adam / {args.lbfgs_steps} L-BFGS steps after "
      f"{args.warmup} warmup step(s), from the content image, JAX and torch steps interleaved)",
      "",
      "An \"eval\" is one loss + gradient evaluation (VGG forward and backward). JAX evals/step = "
      "`OptState.evals` after minus before the step, as the step counts them (zoom: its line search's "
      "evaluations, plus one at the start point on the very first step, which is a warmup step here); "
      "torch's = closure calls (one at the step's start point + the strong Wolfe line search's, if "
      "any). ms/eval = median over the timed steps of (step time / its evaluations). 1st / 2nd call: "
      "wall time of the first two calls of the jitted step (no-op steps, total_steps = 0, before "
      "timing): the first traces, compiles and runs; the second "
      + (f"**compiled another program** for {', '.join(recompiled)} (a state whose types changed)"
         if recompiled else "compiled nothing new, for every variant (the step's compiled-program "
         "count did not grow)") + ". A no-op step still computes a whole step (total_steps = 0 masks "
      "its update, not its work), so the 2nd call is about one step's run time.",
      "",
      "| variant | px | JAX ms/step | torch ms/step | JAX / torch | JAX evals/step | torch evals/step "
      "| JAX ms/eval | torch ms/eval | JAX 1st / 2nd call s |",
      "|---|---|---|---|---|---|---|---|---|---|",
  ]
  for r in rows:
    j, t, c = r["jax"], r["torch"], r["compile"]
    lines.append(f"| {VARIANTS[r['variant']][3]} | {r['size']} | {j['ms']:.0f} ({j['min_ms']:.0f}–{j['max_ms']:.0f}) "
                 f"| {t['ms']:.0f} ({t['min_ms']:.0f}–{t['max_ms']:.0f}) | {r['ratio']:.2f} | "
                 f"{j['evals']:.2f} | {t['evals']:.2f} | {j['ms_per_eval']:.0f} | {t['ms_per_eval']:.0f} | "
                 f"{c['first_s']:.1f} / {c['second_s']:.2f} |")
  lines.append("")
  lines.append("The zoom search evaluates the loss inside its `while_loop`; Adam and none evaluate it "
               "outside any loop.")
  if ttl is not None:
    lines += ttl_lines(args, ttl, ttl_note)
  return "\n".join(lines + goal_lines(rows, ttl))


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
  parser.add_argument("--ttl-max-steps", type=int, default=None, help="step cap per run to L* (default 1000)")
  parser.add_argument("--ttl-wall-cap", type=float, default=None, help="seconds cap per run to L* (default 300)")
  parser.add_argument("--ttl-torch-budget", type=float, default=600.0,
                      help="if torch L-BFGS is predicted to need more than this many seconds at --ttl-size, "
                           "the time-to-loss runs use 192 px instead")
  parser.add_argument("--no-ttl", action="store_true", help="skip the time-to-loss runs")
  parser.add_argument("--torch-ttl", default="lbfgs-none",
                      help="torch runs to L* besides the reference: comma-separated from lbfgs-none, adam")
  parser.add_argument("--adam-lr", type=float, default=None,
                      help="Adam learning rate (default: stylejax/configs/quickstart.py's)")
  parser.add_argument("--matmul-n", type=int, default=None)
  parser.add_argument("--wait-quiet", type=float, default=900.0,
                      help="seconds to wait, at most, for other processes to leave the CPUs (0: don't)")
  parser.add_argument("--report", action="store_true", help="write the section even with --quick")
  parser.add_argument("--no-report", action="store_true", help="print only; leave BENCHMARKS.md alone")
  parser.add_argument("--section", default=SECTION)
  parser.add_argument("--output", default=str(report.DEFAULT_PATH), help="the markdown file to write into")
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
  torch_ttl = [v for v in args.torch_ttl.split(",") if v]
  if set(torch_ttl) - {"lbfgs-none", "adam"}:
    parser.error(f"--torch-ttl takes lbfgs-none and/or adam, not {args.torch_ttl!r}")
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
  rows = []
  for variant in VARIANTS:
    with contention.phase(f"{variant} step timings"):
      rows += [bench_steps(setups[s], twins[s], variant, args.steps if variant == "adam" else args.lbfgs_steps,
                           args.warmup) for s in sizes]
  peaks_after = matmul_peaks(args.matmul_n)
  print(f"matmul peak after: {peaks_after}", flush=True)

  ttl, ttl_note = None, ""
  if not args.no_ttl:
    size = args.ttl_size
    by_size = {r["size"]: r for r in rows if r["variant"] == "lbfgs"}
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
                       torch_ttl, contention)
  busy_after = report.cpu_busy_fraction()
  total_s = time.perf_counter() - run_start
  print(f"total run time {total_s:.0f} s; other processes' share of the CPUs: {contention.describe()}",
        flush=True)

  command = report.command_line("bench_pixel.py", argv, USER_XLA_FLAGS)
  text = render(args, command, machine, (busy_before, busy_after), (peaks_before, peaks_after),
                checks, rows, ttl, ttl_note, contention, total_s)
  report.publish(args.section, text, write, args.output)


if __name__ == "__main__":
  main()
