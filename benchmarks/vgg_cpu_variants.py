"""Exploratory: do simple changes make the JAX VGG gradient faster on CPU?

    [XLA_FLAGS=...] python benchmarks/vgg_cpu_variants.py [--arch vgg19] [--size 256] [--repeats 5]

Times, interleaved in one process, the same loss/gradient as bench_vgg.py in several JAX
variants (stylejax.networks.vgg.features; a plain-lax NHWC twin; a plain-lax NCHW/OIHW twin; matmul
precision "highest") against the PyTorch twin. XLA flags are per process: run once per flag set
and compare the ratio to torch. Prints only; writes nothing.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks import bench_vgg  # noqa: E402
from benchmarks.timing import median, time_quietly  # noqa: E402
from stylejax.networks import vgg  # noqa: E402
from stylejax.networks.preprocessing import TORCHVISION  # noqa: E402
from stylejax.reference.torch_twin import relative_max, to_nchw, to_nhwc  # noqa: E402


def lax_loss(arch: str, layout: str, precision=None):
  """sum(conv5_1^2) with lax.conv_general_dilated in `layout` ("NHWC" or "NCHW")."""
  dn = ("NHWC", "HWIO", "NHWC") if layout == "NHWC" else ("NCHW", "OIHW", "NCHW")
  bshape = (1, 1, 1, -1) if layout == "NHWC" else (1, -1, 1, 1)
  window = (1, 2, 2, 1) if layout == "NHWC" else (1, 1, 2, 2)

  def loss(images, params):  # images NHWC in [0, 1]; params already in the layout's kernel order
    x = TORCHVISION(images)
    if layout == "NCHW":
      x = jnp.transpose(x, (0, 3, 1, 2))
    for name in vgg.layer_names(arch):
      if name.startswith("conv"):
        p = params[name]
        x = jax.lax.conv_general_dilated(x, p["kernel"], (1, 1), ((1, 1), (1, 1)),
                                         dimension_numbers=dn, precision=precision)
        x = x + p["bias"].reshape(bshape)
      elif name.startswith("relu"):
        x = jax.nn.relu(x)
      else:
        x = jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, window, window, "VALID")
      if name == bench_vgg.LAYER:
        break
    return jnp.sum(jnp.square(x))
  return loss


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument("--arch", default="vgg19")
  parser.add_argument("--size", type=int, default=256)
  parser.add_argument("--repeats", type=int, default=5)
  parser.add_argument("--variants", default="stylejax,lax_nhwc,lax_nchw,highest,torch")
  parser.add_argument("--wait-quiet", type=float, default=900.0,
                      help="seconds to wait, at most, for other processes to leave the CPUs (0: don't)")
  args = parser.parse_args(argv)
  print("XLA_FLAGS =", os.environ.get("XLA_FLAGS"), flush=True)

  pkey, ikey = jax.random.split(jax.random.PRNGKey(0))
  params = vgg.init_params(pkey, args.arch)
  params_oihw = {n: {"kernel": jnp.transpose(p["kernel"], (3, 2, 0, 1)), "bias": p["bias"]}
                 for n, p in params.items()}
  images = jax.random.uniform(ikey, (1, args.size, args.size, 3), jnp.float32)
  model = bench_vgg.torch_twin(args.arch, params)
  images_t = to_nchw(images)
  g_ref = to_nhwc(bench_vgg.torch_loss_and_grad(model, images_t)[1])

  _, stylejax_grad = bench_vgg.jax_grad_fn(args.arch)
  jax_variants = {
      "stylejax": (stylejax_grad, params),
      "lax_nhwc": (jax.jit(jax.grad(lax_loss(args.arch, "NHWC"))), params),
      "lax_nchw": (jax.jit(jax.grad(lax_loss(args.arch, "NCHW"))), params_oihw),
      "highest": (jax.jit(jax.grad(lax_loss(args.arch, "NHWC", jax.lax.Precision.HIGHEST))), params),
  }
  fns = {}
  for name in args.variants.split(","):
    if name == "torch":
      fns[name] = lambda: bench_vgg.torch_loss_and_grad(model, images_t)
      continue
    fn, p = jax_variants[name]
    err = relative_max(np.asarray(fn(images, p)), g_ref)
    print(f"{name}: grad rel max err vs torch {err:.1e}", flush=True)
    fns[name] = (lambda fn=fn, p=p: fn(images, p).block_until_ready())
  times, other = time_quietly(fns, args.repeats, 1, {"wait_timeout": args.wait_quiet})
  print(f"other processes took {100 * (other or 0):.0f}% of the machine", flush=True)
  flops = bench_vgg.grad_flops(args.arch, args.size)
  t_torch = median(times["torch"]) if "torch" in times else None
  for name, ts in times.items():
    t = median(ts)
    extra = f", torch/this {t_torch / t:.2f}x" if t_torch else ""
    print(f"{args.arch} {args.size}px {name:9s} {1e3 * t:7.0f} ms  {flops / t / 1e9:6.1f} GFLOP/s{extra}",
          flush=True)


if __name__ == "__main__":
  main()
