"""Timing loops shared by the benchmarks.

Interleaved timing runs several candidates round-robin, so drift on a shared machine hits all
alike; time-to-target loops run an iterative method until its loss reaches a target.
"""

from __future__ import annotations

import statistics
import time
from typing import Callable, Mapping

from benchmarks import report


def interleave(fns: Mapping[str, Callable[[], object]], repeats: int, warmup: int = 1) -> dict[str, list]:
  """What each zero-argument `fn` returns, over `repeats` rounds after `warmup` untimed rounds.

  Each round calls every candidate once, in an order rotated every round, so no candidate always
  runs first (or right after a particular other one). Returns {name: [result, ...]}.
  """
  names = list(fns)
  for _ in range(warmup):
    for name in names:
      fns[name]()
  out = {name: [] for name in names}
  for r in range(repeats):
    k = r % len(names)
    for name in names[k:] + names[:k]:
      out[name].append(fns[name]())
  return out


def _timed(fn: Callable[[], object], settle: int = 0) -> Callable[[], float]:
  def run() -> float:
    for _ in range(settle):
      fn()
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0
  return run


def time_interleaved(fns: Mapping[str, Callable[[], object]], repeats: int, warmup: int = 1, settle: int = 0
                     ) -> dict[str, list[float]]:
  """Seconds per call of each zero-argument `fn`, which must block until its result is ready.

  Calls interleaved as `interleave` does. `settle` untimed calls precede each timed one, so what a
  candidate leaves running (onnxruntime's workers spin on after a run) slows itself, not the next
  candidate. Returns {name: [seconds, ...]}.
  """
  return interleave({name: _timed(fn, settle) for name, fn in fns.items()}, repeats, warmup)


def time_quietly(fns: Mapping[str, Callable[[], object]], repeats: int, warmup: int, quiet: Mapping,
                 settle: int = 0) -> tuple[dict[str, list[float]], float | None]:
  """`time_interleaved` under `report.run_quietly(**quiet)`: (times, other processes' share)."""
  return report.run_quietly(lambda: time_interleaved(fns, repeats=repeats, warmup=warmup, settle=settle), **quiet)


def summarize(times: Mapping[str, list[float]], flops: float | None = None) -> dict:
  """Per candidate: "<name>_s" (median seconds), "<name>_spread" (min, max) and, given the FLOPs of
  one call, "<name>_gflops" (at the median)."""
  row = {}
  for name, ts in times.items():
    row[f"{name}_s"] = median(ts)
    row[f"{name}_spread"] = (min(ts), max(ts))
    if flops is not None:
      row[f"{name}_gflops"] = flops / median(ts) / 1e9
  return row


def train_step_rates(setup, torch_step: Callable[[], object], repeats: int, warmup: int, quiet: Mapping) -> dict:
  """A jitted training step (`setup.step(state)`, from `setup.initial`, fed its own output) against a
  torch step, interleaved: the row with "jax_ips", "torch_ips" (images/s at `setup.batch`), their
  "ratio", "first_call_s" (compilation included) and the other processes' share ("other")."""
  import jax  # pylint: disable=import-outside-toplevel

  box = {"state": setup.initial}
  t0 = time.perf_counter()
  jax.block_until_ready(setup.step(setup.initial))
  first_call = time.perf_counter() - t0

  def jax_step():
    box["state"], terms = setup.step(box["state"])
    jax.block_until_ready((box["state"], terms))

  times, other = time_quietly({"jax": jax_step, "torch": torch_step}, repeats, warmup, quiet)
  row = {"size": setup.size, "batch": setup.batch, "first_call_s": first_call, "other": other, **summarize(times)}
  for f in ("jax", "torch"):
    row[f"{f}_ips"] = setup.batch / row[f"{f}_s"]
  row["ratio"] = row["jax_ips"] / row["torch_ips"]
  return row


def median(xs) -> float:
  return statistics.median(xs)


# ----------------------------------------------------------------------------------------------
# Time to a target: how long an iterative method takes to reach a loss


def run_until(step_fn, target: float, max_steps: int, wall_cap: float) -> dict:
  """Calls step_fn() -> loss at the start point of that step, until a start point has loss <= target.

  The time credited for reaching the target is when the step that produced that image ended.
  """
  ends, losses = [0.0], []
  t0 = time.perf_counter()
  for k in range(max_steps + 1):
    loss = step_fn()  # the loss of iterate k; the call also ran step k, producing iterate k + 1
    losses.append(loss)
    if loss <= target:
      return {"reached": True, "steps": k, "time_s": ends[k], "losses": losses, "ends": ends,
              "best": min(losses)}
    ends.append(time.perf_counter() - t0)
    if k == max_steps or ends[-1] > wall_cap:
      break
  return {"reached": False, "steps": len(losses), "time_s": ends[-1], "losses": losses, "ends": ends,
          "best": min(losses)}


def time_to_threshold(losses, ends, threshold) -> tuple[int, float] | None:
  """(steps, seconds) at which an iterate first had loss <= threshold; losses[k] is the loss of the
  iterate produced at ends[k]."""
  for k, loss in enumerate(losses):
    if loss <= threshold:
      return k, ends[k]
  return None
