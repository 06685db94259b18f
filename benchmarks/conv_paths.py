"""Plain lax.conv_general_dilated versus stylejax.networks.conv on XLA:CPU, interleaved in one process.

    [XLA_FLAGS=...] python benchmarks/conv_paths.py [--repeats 3] [--cases vgg,loop,layers,stylenet]

Each case is compiled twice from the same code: once as shipped ("conv") and once with conv.py's
CPU path swapped for plain lax ("lax"), then both are timed round-robin (benchmarks/timing.py).
Prints a table of median wall and process-CPU milliseconds and the lax/conv ratio; writes nothing.
CPU time is the steadier number on a shared machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from unittest import mock

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from jax import lax  # noqa: E402

from stylejax.networks import conv, stylenet, vgg  # noqa: E402
from stylejax.networks.preprocessing import TORCHVISION  # noqa: E402


def plain_lax(x, kernel, stride, pads, plan=None):  # plan: where conv.py would run it (ignored)
  return lax.conv_general_dilated(x, kernel, (stride, stride), pads,
                                  dimension_numbers=("NHWC", "HWIO", "NHWC"))


def both(fn, *args):
  """{"lax": compiled fn with conv.py's CPU path replaced by plain lax, "conv": as shipped}."""
  # A fresh lambda each: jit's trace cache would otherwise hand one variant the other's trace.
  with mock.patch.object(conv, "_cpu_conv", plain_lax):
    lax_exe = jax.jit(lambda *a: fn(*a)).lower(*args).compile()
  conv_exe = jax.jit(lambda *a: fn(*a)).lower(*args).compile()
  return {"lax": lambda: jax.block_until_ready(lax_exe(*args)),
          "conv": lambda: jax.block_until_ready(conv_exe(*args))}


def vgg_cases(size):
  key = jax.random.PRNGKey(0)
  image = jax.random.uniform(key, (1, size, size, 3))
  for arch in ("vgg16", "vgg19"):
    params = vgg.init_params(key, arch)

    def loss(image, params, arch=arch):
      act = vgg.features(params, image, ["conv5_1"], arch=arch, preprocessing=TORCHVISION)["conv5_1"]
      return jnp.sum(act**2)
    yield f"{arch} grad wrt image to conv5_1 @{size}", both(jax.grad(loss), image, params)


def loop_cases(iterations=4):
  """Input gradient of a 4-layer 3x3 stack at 128 px, alone and in a while_loop body (per iteration)."""
  key = jax.random.PRNGKey(1)
  shapes = [(3, 3, 3, 64)] + [(3, 3, 64, 64)] * 3
  kernels = [0.1 * jax.random.normal(jax.random.fold_in(key, i), s) for i, s in enumerate(shapes)]
  image = jax.random.uniform(key, (1, 128, 128, 3))

  def loss(x, kernels):
    for k in kernels:
      x = jax.nn.relu(conv.conv2d(x, k, padding=((1, 1), (1, 1))))
    return jnp.sum(x**2)

  def in_loop(x, kernels):
    body = lambda c: (c[0] + 1, c[1] - 1e-6 * jax.grad(loss)(c[1], kernels))
    return lax.while_loop(lambda c: c[0] < iterations, body, (0, x))[1]
  yield "3x3 stack grad @128, outside loop", both(jax.grad(loss), image, kernels)
  yield f"3x3 stack grad @128, while_loop x{iterations}", both(in_loop, image, kernels)


def layer_cases(size):
  """The style network's 9x9 RGB layers: reflect pad + VALID conv, fwd + bwd (input and kernel)."""
  key = jax.random.PRNGKey(2)
  for cin, cout, batch in ((3, 32, 1), (32, 3, 1), (32, 3, 4)):
    x = jax.random.normal(key, (batch, size, size, cin))
    kernel = 0.05 * jax.random.normal(key, (9, 9, cin, cout))

    def loss(x, kernel):
      y = conv.conv2d(jnp.pad(x, ((0, 0), (4, 4), (4, 4), (0, 0)), mode="reflect"), kernel)
      return jnp.sum(jnp.sin(y))
    yield f"9x9 {cin}->{cout} fwd+bwd @{size} batch {batch}", both(jax.grad(loss, (0, 1)), x, kernel)


def stylenet_cases(sizes, train_size, train_batch):
  spec = stylenet.NetworkSpec(n_styles=4)
  params = stylenet.init_params(spec, jax.random.PRNGKey(3))
  for size in sizes:
    images = jax.random.uniform(jax.random.PRNGKey(4), (1, size, size, 3))
    fwd = lambda params, images: stylenet.stylize(spec, params, images, jnp.ones(4) / 4)
    yield f"stylenet forward @{size}", both(fwd, params, images)
  images = jax.random.uniform(jax.random.PRNGKey(5), (train_batch, train_size, train_size, 3))
  weights = stylenet.one_hot(jnp.arange(train_batch) % 4, 4)

  def train_loss(params, images, weights):
    return jnp.mean((stylenet.stylize(spec, params, images, weights) - images) ** 2)
  yield (f"stylenet grad wrt params @{train_size} batch {train_batch}",
         both(jax.grad(train_loss), params, images, weights))


def time_pair(fns, repeats):
  """Round-robin timing; {name: (median wall s, median CPU s)}."""
  for f in fns.values():
    f()
  samples = {n: [] for n in fns}
  names = list(fns)
  for r in range(repeats):
    for n in names[r % 2:] + names[:r % 2]:
      wall, cpu = time.perf_counter(), time.process_time()
      fns[n]()
      samples[n].append((time.perf_counter() - wall, time.process_time() - cpu))
  med = lambda xs: sorted(xs)[len(xs) // 2]
  return {n: (med([w for w, _ in s]), med([c for _, c in s])) for n, s in samples.items()}


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--cases", default="vgg,loop,layers,stylenet")
  parser.add_argument("--size", type=int, default=256)
  args = parser.parse_args(argv)
  if jax.default_backend() != "cpu":
    sys.exit("conv.py only changes the CPU path; nothing to compare on " + jax.default_backend())
  print("XLA_FLAGS =", os.environ.get("XLA_FLAGS"), flush=True)
  groups = {"vgg": lambda: vgg_cases(args.size), "loop": loop_cases,
            "layers": lambda: layer_cases(args.size),
            "stylenet": lambda: stylenet_cases((args.size, 2 * args.size), args.size, 4)}
  print(f"{'case':48s} {'lax wall/cpu ms':>17s} {'conv wall/cpu ms':>17s} {'lax/conv (cpu)':>15s}")
  for group in args.cases.split(","):
    for name, fns in groups[group]():
      t = time_pair(fns, args.repeats)
      (lw, lc), (cw, cc) = t["lax"], t["conv"]
      print(f"{name:48s} {1e3 * lw:8.0f}/{1e3 * lc:<8.0f} {1e3 * cw:8.0f}/{1e3 * cc:<8.0f} "
            f"{lw / cw:6.2f}x ({lc / cc:.2f}x)", flush=True)


if __name__ == "__main__":
  main()
