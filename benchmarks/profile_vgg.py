"""Exploratory: where the time of bench_vgg.py's gradient goes, op by op, in JAX and in torch.

    python benchmarks/profile_vgg.py [--arch vgg19] [--size 256] [--calls 3]

The same loss and gradient as bench_vgg.py (sum(conv5_1^2), gradient w.r.t. the image). JAX: the
compiled program's XLA:CPU thunks from a `jax.profiler` trace, summed per call and grouped by kind
(`ynn_fusion`: YNNPACK convolutions with whatever XLA fused into them; `transpose_copy_fusion`: the
flipped, in/out-swapped kernels of the input gradients; the rest elementwise). torch: its profiler's
self CPU time per op and input shapes. Prints only; writes nothing but a trace under a temporary
folder. Run it on a quiet machine: the two profiles are taken one after the other.
"""

from __future__ import annotations

import argparse
import collections
import glob
import gzip
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import torch  # noqa: E402
from torch.profiler import ProfilerActivity, profile  # noqa: E402

from benchmarks import bench_vgg  # noqa: E402
from stylejax.networks import vgg  # noqa: E402
from stylejax.reference.torch_twin import to_nchw  # noqa: E402


def jax_ops_ms(grad_fn, images, params, calls: int) -> dict[str, float]:
  """{thunk name: ms per call} of the compiled gradient, from a jax.profiler trace."""
  for _ in range(2):
    grad_fn(images, params).block_until_ready()
  with tempfile.TemporaryDirectory() as folder:
    with jax.profiler.trace(folder, create_perfetto_trace=True):
      for _ in range(calls):
        grad_fn(images, params).block_until_ready()
    (trace,) = glob.glob(os.path.join(folder, "**", "*.trace.json.gz"), recursive=True)
    with gzip.open(trace) as f:
      events = json.load(f)["traceEvents"]
  thunks = collections.defaultdict(float)
  for event in events:
    name = event.get("name", "")
    # Only the compiled program's own thunks: executor, wait and Python-side spans overlap them.
    if event.get("ph") != "X" or name.startswith("end:") or not name.split(".")[0].endswith("fusion"):
      continue
    thunks[name] += event["dur"] / 1e3 / calls
  return dict(thunks)


def torch_ops_ms(model, images_nchw, calls: int) -> list[tuple[str, str, float, int]]:
  """[(op, input shapes, self ms per call, times the op ran per call)], slowest first."""
  for _ in range(2):
    bench_vgg.torch_loss_and_grad(model, images_nchw)
  with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
    for _ in range(calls):
      bench_vgg.torch_loss_and_grad(model, images_nchw)
  rows = [(e.key, str(e.input_shapes), e.self_cpu_time_total / 1e3 / calls, e.count // calls)
          for e in prof.key_averages(group_by_input_shape=True)]
  return sorted(rows, key=lambda row: -row[2])


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument("--arch", default="vgg19")
  parser.add_argument("--size", type=int, default=256)
  parser.add_argument("--calls", type=int, default=3)
  args = parser.parse_args(argv)
  pkey, ikey = jax.random.split(jax.random.PRNGKey(0))
  params = vgg.init_params(pkey, args.arch)
  images = jax.random.uniform(ikey, (1, args.size, args.size, 3), jnp.float32)
  _, grad_fn = bench_vgg.jax_grad_fn(args.arch)

  thunks = jax_ops_ms(grad_fn, images, params, args.calls)
  kinds = collections.defaultdict(float)
  for name, ms in thunks.items():
    kinds[name.split(".")[0]] += ms
  print(f"JAX {args.arch} {args.size}px gradient, XLA:CPU thunks, ms per call "
        f"(sum {sum(kinds.values()):.0f}):")
  for kind, ms in sorted(kinds.items(), key=lambda kv: -kv[1]):
    print(f"  {ms:8.1f}  {kind}")
  convs = sorted((ms for name, ms in thunks.items() if name.startswith("ynn_fusion")), reverse=True)
  print(f"JAX's {len(convs)} YNNPACK thunks (one per conv and direction), ms:",
        " ".join(f"{ms:.1f}" for ms in convs))

  rows = torch_ops_ms(bench_vgg.torch_twin(args.arch, params), to_nchw(images), args.calls)
  totals = collections.defaultdict(float)
  for op, _, ms, _ in rows:
    totals[op] += ms
  print(f"torch {args.arch} {args.size}px gradient, self CPU ms per call (sum {sum(totals.values()):.0f}):")
  for op, ms in sorted(totals.items(), key=lambda kv: -kv[1])[:8]:
    print(f"  {ms:8.1f}  {op}")
  print("torch convolutions by input shape: ms per call, layers of that shape, ms per layer:")
  for op, shapes, ms, count in rows:
    if "convolution" in op and ms > 0.5:
      print(f"  {ms:8.1f}  x{count}  {ms / count:6.1f}  {op:28s} {shapes[:60]}")


if __name__ == "__main__":
  main()
