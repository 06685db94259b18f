"""Interleaved timing: run several candidates round-robin so drift on a shared machine hits all alike."""

from __future__ import annotations

import statistics
import time
from typing import Callable, Mapping


def time_interleaved(fns: Mapping[str, Callable[[], object]], repeats: int, warmup: int = 1
                     ) -> dict[str, list[float]]:
  """Seconds per call of each zero-argument `fn`, which must block until its result is ready.

  Each round calls every candidate once, in an order rotated every round, so no candidate always
  runs first (or right after a particular other one). Returns {name: [seconds, ...]}.
  """
  names = list(fns)
  for _ in range(warmup):
    for name in names:
      fns[name]()
  times = {name: [] for name in names}
  for r in range(repeats):
    k = r % len(names)
    for name in names[k:] + names[:k]:
      t0 = time.perf_counter()
      fns[name]()
      times[name].append(time.perf_counter() - t0)
  return times


def median(xs) -> float:
  return statistics.median(xs)
