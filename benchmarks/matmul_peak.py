"""Practical float32 FLOP peak of JAX and PyTorch on this machine, from one large square matmul.

`python benchmarks/matmul_peak.py [--n 2048] [--repeats 7]` prints both; other benchmarks call
`matmul_peaks()` to express their achieved FLOP rate as a fraction of it.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Mapping

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from benchmarks import report  # noqa: E402
from benchmarks.timing import median, time_interleaved  # noqa: E402


def _jax_fn(n: int, seed: int = 0):
  import jax
  import jax.numpy as jnp
  rng = np.random.default_rng(seed)
  a = jnp.asarray(rng.standard_normal((n, n), dtype=np.float32))
  b = jnp.asarray(rng.standard_normal((n, n), dtype=np.float32))
  # Explicit "highest": float32 products, as a float32 conv net computes (on CPU it is the default).
  mm = jax.jit(lambda x, y: jnp.matmul(x, y, precision=jax.lax.Precision.HIGHEST))
  return lambda: mm(a, b).block_until_ready()


def _torch_fn(n: int, seed: int = 0):
  import torch
  rng = np.random.default_rng(seed)
  a = torch.from_numpy(rng.standard_normal((n, n), dtype=np.float32))
  b = torch.from_numpy(rng.standard_normal((n, n), dtype=np.float32))
  out = torch.empty(n, n)

  def run():
    with torch.no_grad():
      torch.matmul(a, b, out=out)
  return run


def matmul_peaks(n: int = 2048, repeats: int = 7, warmup: int = 2,
                 frameworks=("jax", "torch")) -> dict[str, float]:
  """{framework: GFLOP/s} of an n x n @ n x n float32 matmul, median of `repeats` after warmup.

  FLOPs counted as 2 n^3. JAX and torch calls are interleaved.
  """
  makers = {"jax": _jax_fn, "torch": _torch_fn}
  fns = {f: makers[f](n) for f in frameworks}
  times = time_interleaved(fns, repeats=repeats, warmup=warmup)
  flops = 2.0 * n ** 3
  return {f: flops / median(ts) / 1e9 for f, ts in times.items()}


def peaks_quietly(n: int, quiet: Mapping, when: str) -> tuple[dict[str, float], float | None]:
  """`matmul_peaks(n)` under `report.run_quietly(**quiet)`, printed; returns (peaks, other load)."""
  peaks, other = report.run_quietly(lambda: matmul_peaks(n), **quiet)
  print(f"matmul peak {when}: {peaks} (other processes: {report.pct(other)})", flush=True)
  return peaks, other


def best_peaks(*readings: dict[str, float] | None) -> dict[str, float]:
  """Per framework, the highest of several `matmul_peaks` readings (None readings skipped)."""
  readings = [r for r in readings if r]
  return {f: max(r[f] for r in readings) for f in readings[0]}


def jax_matmul_peak(n: int = 2048, repeats: int = 7) -> float:
  return matmul_peaks(n, repeats, frameworks=("jax",))["jax"]


def torch_matmul_peak(n: int = 2048, repeats: int = 7) -> float:
  return matmul_peaks(n, repeats, frameworks=("torch",))["torch"]


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument("--n", type=int, default=2048)
  parser.add_argument("--repeats", type=int, default=7)
  args = parser.parse_args(argv)
  for f, g in matmul_peaks(args.n, args.repeats).items():
    print(f"{f:6s} {args.n}x{args.n} float32 matmul: {g:8.1f} GFLOP/s")


if __name__ == "__main__":
  main()
