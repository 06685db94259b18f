"""CPU convolutions: stylejax on XLA (`STYLEJAX_CONV=xla`), stylejax with oneDNN (the default where
the library is built) and the PyTorch twin, interleaved in one process.

  python benchmarks/bench_conv_backends.py                 # VGG16/19 gradient at 256 and 512 px, single convs
  python benchmarks/bench_conv_backends.py --sizes 256 --no-report

Rows: the VGG gradient w.r.t. the image through conv5_1 (bench_vgg's computation) and, for single
layers of multistyle26, CycleGAN and VGG at 256 px, the forward pass and both gradients. This is issue 25's decision rule
for adopting oneDNN (VGG16/19 at 256 px >= 1.05x the torch twin). Results go to the "conv_backends"
section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from stylejax import runtime  # noqa: E402
runtime.configure()  # the product's process settings (glibc allocator, OPENBLAS_NUM_THREADS) before JAX starts

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from benchmarks import bench_vgg, report, timing  # noqa: E402
from benchmarks.matmul_peak import jax_matmul_peak  # noqa: E402
from stylejax.networks import conv, onednn_build, onednn_conv, vgg  # noqa: E402
from stylejax.reference.torch_twin import relative_l2, to_nchw  # noqa: E402

# name, size, Cin, Cout, kernel, stride (padded to keep the size, as the networks do)
LAYERS = [("multistyle26 first, 9x9 3->32", 256, 3, 32, 9, 1), ("multistyle26 down, 3x3 s2 32->64", 256, 32, 64, 3, 2),
          ("multistyle26 last, 9x9 32->3", 256, 32, 3, 9, 1), ("CycleGAN first, 7x7 3->64", 256, 3, 64, 7, 1),
          ("CycleGAN block, 3x3 256->256 at 64 px", 64, 256, 256, 3, 1), ("CycleGAN last, 7x7 64->3", 256, 64, 3, 7, 1),
          ("CycleGAN down, 3x3 s2 64->128", 256, 64, 128, 3, 2), ("VGG conv1_2, 3x3 64->64", 256, 64, 64, 3, 1),
          ("VGG conv3, 3x3 256->256 at 64 px", 64, 256, 256, 3, 1)]


def conv_backend(name: str):
  """Within the block, convolutions traced from then on use `name` ("xla" or "onednn")."""
  return mock.patch.dict(os.environ, {"STYLEJAX_CONV": "xla" if name == "xla" else ""})


def _compiled(make, backend: str, *args):
  """`make()` jitted and compiled for `args` with convolutions on `backend` (a fresh trace)."""
  with conv_backend(backend):
    return jax.jit(make()).lower(*args).compile()


def vgg_rows(sizes, repeats: int) -> list[dict]:
  rows = []
  for arch in ("vgg16", "vgg19"):
    params = vgg.init_params(jax.random.PRNGKey(0), arch)
    model = bench_vgg.torch_twin(arch, params)
    for size in sizes:
      images = jax.random.uniform(jax.random.PRNGKey(1), (1, size, size, 3), jnp.float32)
      fns = {b: _compiled(lambda: _vgg_grad(arch), b, images, params) for b in ("xla", "onednn")}
      nchw = to_nchw(images)
      _, torch_grad = bench_vgg.torch_loss_and_grad(model, nchw)
      error = {b: relative_l2(np.asarray(f(images, params)).transpose(0, 3, 1, 2), torch_grad.numpy())
               for b, f in fns.items()}
      times = timing.time_interleaved({"torch": lambda: bench_vgg.torch_loss_and_grad(model, nchw),
                                       **{b: (lambda f=f: f(images, params).block_until_ready())
                                          for b, f in fns.items()}}, repeats=repeats, warmup=1)
      med = {k: float(np.median(v)) for k, v in times.items()}
      flops = bench_vgg.grad_flops(arch, size)
      rows.append(dict(arch=arch, size=size, **{f"{k}_ms": 1e3 * v for k, v in med.items()},
                       **{f"{b}_speedup": med["torch"] / med[b] for b in fns},
                       **{f"{b}_gflops": flops / med[b] / 1e9 for b in fns}, **{f"{b}_err": e for b, e in error.items()}))
      print(rows[-1], flush=True)
  return rows


def _vgg_grad(arch: str):
  def loss(images, params):
    act = vgg.features(params, images, [bench_vgg.LAYER], arch=arch, preprocessing=bench_vgg.TORCHVISION)
    return jnp.sum(jnp.square(act[bench_vgg.LAYER]))
  return jax.grad(loss)


def layer_rows(repeats: int) -> list[dict]:
  """Each layer's forward pass, input gradient and kernel gradient on XLA (conv.py's paths), on oneDNN
  and in torch, timed one part at a time."""
  rng = np.random.default_rng(0)
  rows = []
  for name, size, cin, cout, k, stride in LAYERS:
    pad = (k - 1) // 2
    pads = ((pad, pad), (pad, pad))
    x = jnp.asarray(rng.standard_normal((1, size, size, cin)), jnp.float32)
    kernel = jnp.asarray(rng.standard_normal((k, k, cin, cout)) / np.sqrt(k * k * cin), jnp.float32)
    g = jnp.asarray(rng.standard_normal(onednn_conv.forward(x, kernel, stride, pads).shape), jnp.float32)
    xt, kt, gt = to_nchw(x), torch.from_numpy(np.asarray(kernel).transpose(3, 2, 0, 1).copy()), to_nchw(g)
    with conv_backend("onednn"):
      plan = onednn_conv.plan(x, kernel, pads)
    parts = {
        "forward": (plan.forward, (x, kernel), lambda x, k: conv._forward(x, k, (stride, stride), pads),
                    lambda x, k: onednn_conv.forward(x, k, stride, pads),
                    lambda: torch.nn.functional.conv2d(xt, kt, stride=stride, padding=pad)),
        "input gradient": (plan.input_grad, (kernel, g), lambda k, g: conv._input_grad(x.shape, k, stride, pads, g),
                           lambda k, g: onednn_conv.input_grad(x.shape, k, stride, pads, g),
                           lambda: torch.nn.grad.conv2d_input(xt.shape, kt, gt, stride=stride, padding=pad)),
        "kernel gradient": (plan.kernel_grad, (x, g), lambda x, g: conv._kernel_grad(x, kernel.shape, stride, pads, g),
                            lambda x, g: onednn_conv.kernel_grad(x, kernel.shape, stride, pads, g),
                            lambda: torch.nn.grad.conv2d_weight(xt, kt.shape, gt, stride=stride, padding=pad))}
    for part, (on_onednn, args, xla_fn, onednn_fn, torch_fn) in parts.items():
      compiled = {"xla": jax.jit(xla_fn).lower(*args).compile(), "onednn": jax.jit(onednn_fn).lower(*args).compile()}
      with torch.no_grad():
        times = timing.time_interleaved({"torch": torch_fn, **{b: (lambda f=f: f(*args).block_until_ready())
                                                               for b, f in compiled.items()}},
                                        repeats=repeats, warmup=2)
      rows.append(dict(name=name, part=part, dispatched="oneDNN" if on_onednn else "XLA",
                       **{f"{b}_ms": 1e3 * float(np.median(v)) for b, v in times.items()}))
      print(rows[-1], flush=True)
  return rows


def render(vgg, layers, peak, command) -> str:
  lines = report.section_start("CPU convolutions: XLA, oneDNN and the torch twin", command,
                               report.machine_description()) + [
      "stylejax runs convolutions through oneDNN on CPU where `make` built its library "
      "(`stylejax/networks/onednn_conv.py`, `plan`: XLA keeps the forward pass and kernel gradient of layers "
      "with ≤ 4 output channels, the input gradient of layers with ≤ 4 input channels, and the few-channel "
      "big kernels, where it measured faster) and on XLA with `STYLEJAX_CONV=xla`. "
      f"Medians of interleaved calls; JAX matmul peak in the same process: {peak:.0f} GFLOP/s.", "",
      "VGG forward + backward w.r.t. the image through conv5_1, batch 1 (speed-up = torch time / JAX time; "
      "issue 25 adopts oneDNN if VGG16/19 at 256 px reach ≥ 1.05x):", "",
      "| network | px | torch ms | XLA ms | oneDNN ms | speed-up XLA | speed-up oneDNN | oneDNN % of matmul peak "
      "| grad rel. L2 vs torch, XLA / oneDNN |",
      "|---|---|---|---|---|---|---|---|---|"]
  for r in vgg:
    lines.append(f"| {r['arch']} | {r['size']} | {r['torch_ms']:.0f} | {r['xla_ms']:.0f} | {r['onednn_ms']:.0f} | "
                 f"{r['xla_speedup']:.2f}x | **{r['onednn_speedup']:.2f}x** | {100 * r['onednn_gflops'] / peak:.0f}% | "
                 f"{r['xla_err']:.1e} / {r['onednn_err']:.1e} |")
  lines += ["", "Single convolutions, batch 1, each part timed alone (`dispatched`: where `conv2d` runs that part, "
            "`onednn_conv.plan`):", "",
            "| layer | part | dispatched | torch ms | XLA ms | oneDNN ms |", "|---|---|---|---|---|---|"]
  for r in layers:
    lines.append(f"| {r['name']} | {r['part']} | {r['dispatched']} | {r['torch_ms']:.2f} | {r['xla_ms']:.2f} | "
                 f"{r['onednn_ms']:.2f} |")
  lines += ["", "The VGG gradients' relative L2 to torch is pooling-argmax and ReLU flips in float32, of the same "
            "size for both backends (bench_vgg)."]
  return "\n".join(lines)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--sizes", default="256,512", help="VGG image sizes, comma-separated")
  parser.add_argument("--repeats", type=int, default=7)
  parser.add_argument("--no-report", action="store_true", help="print only; leave BENCHMARKS.md alone")
  args = parser.parse_args(argv)
  onednn_build.build()  # the comparison needs the library: a missing one is this run's error
  torch.set_num_threads(os.cpu_count() or 1)
  print(report.machine_description(), flush=True)
  peak = jax_matmul_peak()
  vgg_table = vgg_rows([int(s) for s in args.sizes.split(",")], args.repeats)
  layer_table = layer_rows(2 * args.repeats + 1)
  command = report.command_line("bench_conv_backends.py", argv, os.environ.get("XLA_FLAGS"))
  report.publish("conv_backends", render(vgg_table, layer_table, peak, command), not args.no_report)


if __name__ == "__main__":
  main()
