"""VGG forward + backward (gradient w.r.t. the image) through conv5_1: stylejax versus a PyTorch twin.

    python benchmarks/bench_vgg.py [--sizes 256,512] [--archs vgg19,vgg16] [--repeats N]

For each architecture and size (batch 1, float32, torchvision preprocessing, random He-initialised
weights from `stylejax.networks.vgg.init_params`):

* JAX: `jax.jit(jax.grad(loss))` with loss = sum(conv5_1 ** 2), conv5_1 from `stylejax.networks.vgg.features`.
* PyTorch: the `torch.nn` VGG twin of stylejax/reference/torch_twin.py (Conv2d 3x3 pad 1 + ReLU,
  max pool 2), run up to conv5_1, loaded with the same weights (HWIO -> OIHW), same preprocessing,
  same loss, gradient by autograd w.r.t. the image only (weights do not require grad); torch
  threads left at their default.

Before timing, the two losses and gradients are checked to agree (relative max error < 1e-3); the
script fails loudly otherwise. Timings are the median of N calls after warmup, JAX and torch calls
interleaved. The achieved FLOP rate is compared with a large float32 matmul measured in the same
process (benchmarks/matmul_peak.py). Results go to the "vgg" section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from stylejax import runtime  # noqa: E402
runtime.configure()  # the product's process settings (glibc allocator, OPENBLAS_NUM_THREADS) before JAX starts

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from benchmarks import report  # noqa: E402
from benchmarks.matmul_peak import best_peaks, peaks_quietly  # noqa: E402
from benchmarks.timing import summarize, time_quietly  # noqa: E402
from stylejax.networks import vgg  # noqa: E402
from stylejax.networks.preprocessing import TORCHVISION  # noqa: E402
from stylejax.reference.torch_twin import (Mismatch, Preprocess, TorchVGG, relative_error, relative_l2,  # noqa: E402
                                           relative_max, to_nchw)

LAYER = "conv5_1"
TOLERANCE = 1e-3
F32_GRAD_L2_TOLERANCE = 1e-2
GOAL_FRACTION = 0.85


# ----------------------------------------------------------------------------------------------
# FLOP count


def conv_flops(arch: str, size: int, last: str = LAYER) -> float:
  """Forward FLOPs of the convolutions up to and including `last`: sum of 2*H*W*Cin*Cout*9."""
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


def grad_flops(arch: str, size: int) -> float:
  """Forward + backward w.r.t. the input only: the data gradient of a conv costs as much as the
  conv itself (a transposed conv with the same kernel), weight gradients are not computed, so
  total = 2 x forward conv FLOPs. ReLU, pooling, preprocessing and the loss are not counted."""
  return 2.0 * conv_flops(arch, size)


# ----------------------------------------------------------------------------------------------
# The two implementations


def jax_grad_fn(arch: str):
  def loss(images, params):
    act = vgg.features(params, images, [LAYER], arch=arch, preprocessing=TORCHVISION)[LAYER]
    return jnp.sum(jnp.square(act))
  return jax.jit(loss), jax.jit(jax.grad(loss))


def torch_twin(arch: str, params) -> TorchVGG:
  """The frozen torch VGG twin (NCHW) with torchvision preprocessing and the weights of `params` (HWIO)."""
  return TorchVGG.from_hwio(arch, params, preprocess=Preprocess.of(TORCHVISION)).eval()


def torch_loss_and_grad(model: TorchVGG, images_nchw):
  x = images_nchw.detach().requires_grad_(True)
  loss = model.features(x, [LAYER])[LAYER].square().sum()
  (g,) = torch.autograd.grad(loss, x)
  return loss.detach(), g


# ----------------------------------------------------------------------------------------------
# Benchmark


def bench_config(arch: str, size: int, repeats: int, warmup: int, seed: int = 0, quiet=None) -> dict:
  """`quiet`: kwargs of report.run_quietly for the timing loop (max_other, attempts, wait_timeout)."""
  key = jax.random.PRNGKey(seed)
  pkey, ikey = jax.random.split(key)
  params = vgg.init_params(pkey, arch)
  images = jax.random.uniform(ikey, (1, size, size, 3), jnp.float32)
  model = torch_twin(arch, params)
  images_t = to_nchw(images)

  # Correctness first, or no timing. (1) float64: both implementations, same weights, same input;
  # the gradient must agree to a relative max error < TOLERANCE (it agrees to ~1e-12). This is
  # where a wrong layout, weight conversion, preprocessing or loss would show. (2) float32, the
  # functions timed below: losses must agree to < TOLERANCE and gradients to a relative L2 error
  # < F32_GRAD_L2_TOLERANCE. A float32 relative *max* error < 1e-3 is not a sound criterion here:
  # with random weights and random pixels, rounding differences flip a few max-pool argmaxes and
  # ReLU signs, which moves whole gradient contributions to neighbouring pixels; torch float32 is
  # itself ~1e-2 (max) away from torch float64 at 256 px. Both errors are reported.
  loss_fn, grad_fn = jax_grad_fn(arch)
  with jax.enable_x64(True):
    params64 = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), params)
    images64 = jnp.asarray(images, jnp.float64)
    l64_fn, g64_fn = jax_grad_fn(arch)
    loss_j64 = float(l64_fn(images64, params64))
    grad_j64 = np.asarray(g64_fn(images64, params64)).transpose(0, 3, 1, 2)
  loss_t64, grad_t64 = torch_loss_and_grad(model.double(), images_t.double())
  model.float()
  loss_t64, grad_t64 = float(loss_t64), grad_t64.numpy()
  loss_err64 = relative_error(loss_j64, loss_t64)
  grad_err64 = relative_max(grad_j64, grad_t64)

  loss_j = float(loss_fn(images, params))
  grad_j = np.asarray(grad_fn(images, params)).transpose(0, 3, 1, 2)
  loss_t, grad_t = torch_loss_and_grad(model, images_t)
  loss_t, grad_t = float(loss_t), grad_t.numpy()
  loss_err = relative_error(loss_j, loss_t)
  grad_err = relative_max(grad_j, grad_t)
  grad_l2 = relative_l2(grad_j, grad_t)
  print(f"[{arch} {size}px] float64: loss rel err {loss_err64:.1e}, grad rel max err {grad_err64:.1e}; "
        f"float32: loss jax={loss_j:.6e} torch={loss_t:.6e} rel err {loss_err:.1e}, grad rel max err "
        f"{grad_err:.1e}, rel L2 err {grad_l2:.1e} (vs float64: jax {relative_l2(grad_j, grad_t64):.1e}, "
        f"torch {relative_l2(grad_t, grad_t64):.1e})", flush=True)
  if not (np.isfinite(loss_j) and np.all(np.isfinite(grad_j))):
    raise Mismatch(f"{arch} {size}px: non-finite JAX loss or gradient")
  if loss_err64 > TOLERANCE or grad_err64 > TOLERANCE:
    raise Mismatch(f"{arch} {size}px: in float64, JAX and torch disagree (loss rel err "
                   f"{loss_err64:.2e}, gradient rel max err {grad_err64:.2e}, tolerance {TOLERANCE:g})")
  if loss_err > TOLERANCE or grad_l2 > F32_GRAD_L2_TOLERANCE:
    raise Mismatch(f"{arch} {size}px: in float32, JAX and torch disagree (loss rel err "
                   f"{loss_err:.2e} (tolerance {TOLERANCE:g}), gradient rel L2 err {grad_l2:.2e} "
                   f"(tolerance {F32_GRAD_L2_TOLERANCE:g}))")

  fns = {"jax": lambda: grad_fn(images, params).block_until_ready(),
         "torch": lambda: torch_loss_and_grad(model, images_t)}
  times, other = time_quietly(fns, repeats, warmup, quiet or {})
  flops = grad_flops(arch, size)
  row = {"arch": arch, "size": size, "gflop": flops / 1e9, "loss_err": loss_err, "grad_err": grad_err,
         "grad_l2": grad_l2, "loss_err64": loss_err64, "grad_err64": grad_err64,
         "jax_l2_64": relative_l2(grad_j, grad_t64), "torch_l2_64": relative_l2(grad_t, grad_t64),
         "other": other, **summarize(times, flops)}
  row["speedup"] = row["torch_s"] / row["jax_s"]
  print(f"[{arch} {size}px] jax {1e3 * row['jax_s']:.0f} ms ({row['jax_gflops']:.1f} GFLOP/s), "
        f"torch {1e3 * row['torch_s']:.0f} ms ({row['torch_gflops']:.1f} GFLOP/s), "
        f"speedup torch/jax {row['speedup']:.2f}x; other processes took {report.pct(other)} of the machine",
        flush=True)
  return row


def render(rows, peaks_before, peaks_after, peak, matmul_n, command, repeats, warmup, busy) -> str:
  lines = report.section_start("VGG forward + backward w.r.t. the image, through conv5_1", command,
                               report.machine_description()) + [
      f"The machine is shared: other processes took {report.pct(busy[0])} of it just before the run and "
      f"{report.pct(busy[1])} / {report.pct(busy[2])} during the matmul peak measurements before / after; each "
      "timing loop waits for a quiet machine and is retried (up to "
      "`--attempts`) when other processes take more than `--max-other` of it meanwhile; the "
      "\"other load\" column is what they took during the kept loop.",
      "",
      "Batch 1, float32, torchvision preprocessing, random He-initialised weights. Loss = "
      "sum(conv5_1²); the gradient is taken w.r.t. the input image only. JAX: "
      "`jax.jit(jax.grad(loss))` over `stylejax.networks.vgg.features`; torch: the `torch.nn` twin of "
      "`stylejax.reference.torch_twin` (NCHW Conv2d 3x3 pad 1 + ReLU, max pool 2) with the same weights, "
      "autograd w.r.t. the "
      f"image, default torch threads. Time: median of {repeats} calls after {warmup} warmup call(s), "
      "JAX and torch calls interleaved.",
      "",
      "Agreement, checked before timing (the script fails otherwise): run in float64, the two "
      f"implementations' losses and gradients agree to a relative max error < {TOLERANCE:g} (column "
      "\"f64 grad max err\"); run in float32 (what is timed), the losses agree to < "
      f"{TOLERANCE:g} and the gradients to a relative L2 error < {F32_GRAD_L2_TOLERANCE:g}. The float32 "
      "gradients' relative *max* error is also shown but not required to be < 1e-3: with random "
      "weights and pixels, float32 rounding flips a few max-pool argmaxes and ReLU signs, which moves "
      "whole gradient contributions to neighbouring pixels (even a 1e-8 change in the preprocessing "
      "constants does so in float64). The last column is each framework's float32 gradient against "
      "the float64 one: the float32 noise floor that either implementation sits on.",
      "",
      "FLOPs: forward = Σ over the convs up to conv5_1 of 2·H·W·Cin·Cout·9; the data gradient of "
      "each conv costs the same again and no weight gradient is computed, so counted total = "
      "2 × forward conv FLOPs (ReLU, pooling, preprocessing, loss not counted).",
      "",
      f"Matmul peak: {matmul_n}×{matmul_n} float32 matmul, median GFLOP/s, measured before and after "
      f"the VGG runs: JAX {peaks_before['jax']:.1f} / {peaks_after['jax']:.1f}, torch "
      f"{peaks_before['torch']:.1f} / {peaks_after['torch']:.1f}. Fractions below use the higher of "
      f"the two readings per framework: JAX {peak['jax']:.1f}, torch {peak['torch']:.1f} GFLOP/s.",
      "",
      "| arch | px | GFLOP | JAX ms | torch ms | speedup (torch/JAX) | JAX GFLOP/s | JAX % of JAX peak "
      "| torch GFLOP/s | torch % of torch peak | f64 grad max err | f32 loss err | f32 grad L2 / max err "
      "| f32 vs f64 grad L2 err, JAX / torch | other load |",
      "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
  ]
  for r in rows:
    lines.append(
        f"| {r['arch']} | {r['size']} | {r['gflop']:.1f} | {1e3 * r['jax_s']:.0f} | "
        f"{1e3 * r['torch_s']:.0f} | {r['speedup']:.2f}× | {r['jax_gflops']:.1f} | "
        f"{100 * r['jax_gflops'] / peak['jax']:.0f}% | {r['torch_gflops']:.1f} | "
        f"{100 * r['torch_gflops'] / peak['torch']:.0f}% | {r['grad_err64']:.0e} | {r['loss_err']:.0e} | "
        f"{r['grad_l2']:.0e} / {r['grad_err']:.0e} | {r['jax_l2_64']:.0e} / {r['torch_l2_64']:.0e} | "
        f"{report.pct(r['other'])} |")
  lines += ["", "**Goals** (at least as fast as the PyTorch twin, and at least "
            f"{100 * GOAL_FRACTION:.0f}% of the matmul FLOP rate at 512 px on CPU):", ""]
  lines += goal_statements(rows, peak)
  return "\n".join(lines)


def goal_statements(rows, peak) -> list[str]:
  out = []
  slower = [r for r in rows if r["speedup"] < 1.0]
  if slower:
    out.append("- Speed vs PyTorch: **not met** — JAX is slower than the torch twin in "
               + ", ".join(f"{r['arch']} {r['size']} px ({r['speedup']:.2f}×)" for r in slower)
               + f"; it is at least as fast in {len(rows) - len(slower)} of {len(rows)} configs.")
  else:
    out.append(f"- Speed vs PyTorch: **met** — JAX is at least as fast as the torch twin in all "
               f"{len(rows)} configs (speedups "
               + ", ".join(f"{r['speedup']:.2f}×" for r in rows) + ").")
  big = [r for r in rows if r["size"] >= 512]
  if not big:
    out.append("- FLOP rate at 512 px: not measured in this run.")
  else:
    fr = [(r, r["jax_gflops"] / peak["jax"]) for r in big]
    ok = all(f >= GOAL_FRACTION for _, f in fr)
    out.append(f"- JAX FLOP rate at 512 px: **{'met' if ok else 'not met'}** — "
               + ", ".join(f"{r['arch']} {100 * f:.0f}%" for r, f in fr)
               + f" of the JAX matmul peak (goal ≥ {100 * GOAL_FRACTION:.0f}%).")
  return out


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--sizes", default="256,512", help="comma-separated image sizes in px")
  parser.add_argument("--archs", default="vgg19,vgg16")
  parser.add_argument("--repeats", type=int, default=5)
  parser.add_argument("--warmup", type=int, default=1)
  parser.add_argument("--matmul-n", type=int, default=2048)
  parser.add_argument("--no-report", action="store_true", help="print only; leave BENCHMARKS.md alone")
  parser.add_argument("--wait-quiet", type=float, default=900.0,
                      help="before each timing attempt, seconds to wait at most for other processes to "
                           "leave the CPUs (0: don't wait)")
  parser.add_argument("--max-other", type=float, default=0.1,
                      help="retry a timing loop when other processes took more than this fraction of the machine")
  parser.add_argument("--attempts", type=int, default=3, help="timing attempts per config at most")
  args = parser.parse_args(argv)
  sizes = [int(s) for s in args.sizes.split(",") if s]
  archs = [a for a in args.archs.split(",") if a]
  for a in archs:
    vgg.check_arch(a)
  quiet = dict(max_other=args.max_other, attempts=args.attempts, wait_timeout=args.wait_quiet)

  print(report.machine_description(), flush=True)
  busy_before = report.cpu_busy_fraction()
  peaks_before, other_before = peaks_quietly(args.matmul_n, quiet, "before")
  rows = [bench_config(a, s, args.repeats, args.warmup, quiet=quiet) for a in archs for s in sizes]
  peaks_after, other_after = peaks_quietly(args.matmul_n, quiet, "after")
  busy = (busy_before, other_before, other_after)

  command = report.command_line("bench_vgg.py", argv, os.environ.get("XLA_FLAGS"))
  text = render(rows, peaks_before, peaks_after, best_peaks(peaks_before, peaks_after), args.matmul_n,
                command, args.repeats, args.warmup, busy)
  report.publish("vgg", text, not args.no_report)


if __name__ == "__main__":
  main()
