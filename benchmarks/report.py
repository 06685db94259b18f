"""Helpers shared by the benchmarks: write a named section of BENCHMARKS.md, describe the machine
and how busy other processes kept it.

Each benchmark owns one section, delimited by `<!-- begin NAME -->` / `<!-- end NAME -->`, and
rewrites only that section, so benchmarks can be rerun independently.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import platform
import re
import sys
import time

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
DEFAULT_PATH = REPO_ROOT / "BENCHMARKS.md"

HEADER = """# stylejax benchmarks

The machines these numbers come from are shared and noisy (other jobs, frequency scaling, few
cores), so absolute times drift from run to run by tens of percent. What matters is the ratios
measured side by side in one run (JAX versus the PyTorch twin, achieved FLOP rate versus the matmul
peak measured in the same process), with the timings of the things compared interleaved. Each
section below says the command that produced it; rerun it to refresh the section.
"""


def _markers(name: str) -> tuple[str, str]:
  if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
    raise ValueError(f"section name {name!r} must be letters, digits, '_', '.', '-'")
  return f"<!-- begin {name} -->", f"<!-- end {name} -->"


def update_section(name: str, markdown: str, path: str | os.PathLike = DEFAULT_PATH) -> pathlib.Path:
  """Replaces the text between `<!-- begin NAME -->` and `<!-- end NAME -->` in `path`.

  Appends the section when absent; creates the file, with a title and a note on noise, when absent.
  Returns the path written.
  """
  path = pathlib.Path(path)
  begin, end = _markers(name)
  block = f"{begin}\n{markdown.strip()}\n{end}"
  text = path.read_text() if path.exists() else HEADER
  start = text.find(begin)
  if start >= 0:
    stop = text.find(end, start)
    if stop < 0:
      raise ValueError(f"{path}: found {begin!r} but no {end!r}")
    text = text[:start] + block + text[stop + len(end):]
  else:
    text = text.rstrip("\n") + "\n\n" + block + "\n"
  path.write_text(text)
  return path


def command_line(script: str, argv=None, xla_flags: str | None = None) -> str:
  """The command that reproduces a run (`argv`: the script's arguments, default sys.argv[1:])."""
  command = f"python benchmarks/{script} " + " ".join(sys.argv[1:] if argv is None else argv)
  if xla_flags:
    command = f"XLA_FLAGS='{xla_flags}' " + command
  return command.strip()


def section_start(title: str, command: str, machine: str) -> list[str]:
  """The first lines of every section: its title, the command that produced it, the machine."""
  return [f"## {title}", "", f"Command: `{command}`", "", f"Machine: {machine}", ""]


def publish(name: str, markdown: str, write: bool, path: str | os.PathLike = DEFAULT_PATH) -> None:
  """Prints the section; writes it into `path` (BENCHMARKS.md) too when `write`."""
  print(markdown)
  if write:
    print(f"wrote {update_section(name, markdown, path)}")


def pct(fraction: float | None) -> str:
  return "n/a" if fraction is None else f"{100 * fraction:.0f}%"


def goal_verdict(ratio: float, must: float, aim: float) -> str:
  """How a measured ratio (lower is better) stands against a goal: must reach `must`, aim for `aim`."""
  if ratio <= aim:
    return "met, aim met too"
  return "met, aim not met" if ratio <= must else "**not met**"


def cpu_model() -> str:
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.lower().startswith("model name"):
          return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or platform.machine() or "unknown CPU"


def machine_description() -> str:
  """One markdown paragraph: CPU model, cores, library versions, JAX backend and devices."""
  parts = [f"CPU: {cpu_model()}",
           f"{os.cpu_count()} logical cores"
           + (f" ({len(os.sched_getaffinity(0))} usable)" if hasattr(os, "sched_getaffinity") else ""),
           f"Python {platform.python_version()}"]
  try:
    import jax
    import jaxlib
    devices = jax.devices()
    kinds = sorted({getattr(d, "device_kind", str(d)) for d in devices})
    parts.append(f"jax {jax.__version__} / jaxlib {jaxlib.__version__}, backend "
                 f"`{jax.default_backend()}`, {len(devices)} device(s): {', '.join(kinds)}")
  except ImportError:
    parts.append("jax not installed")
  try:
    import torch
    parts.append(f"torch {torch.__version__} ({torch.get_num_threads()} intra-op threads)")
  except ImportError:
    parts.append("torch not installed")
  flags = os.environ.get("XLA_FLAGS")
  if flags:
    parts.append(f"XLA_FLAGS=`{flags}`")
  return "; ".join(parts) + "."


def _cpu_times() -> tuple[int, int]:
  with open("/proc/stat") as f:
    fields = [int(v) for v in f.readline().split()[1:]]
  idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
  return sum(fields), idle


def machine_cpu_seconds() -> tuple[float, float] | None:
  """(total, busy) CPU seconds of the whole machine since boot, from /proc/stat; None if missing."""
  try:
    total, idle = _cpu_times()
  except OSError:
    return None
  tick = os.sysconf("SC_CLK_TCK")
  return total / tick, (total - idle) / tick


def cpu_busy_fraction(interval: float = 1.0) -> float | None:
  """Fraction of all cores' time spent busy over `interval` seconds (None where /proc/stat is absent).

  Call it while this process is idle to see how much of the machine other processes take.
  """
  try:
    total0, idle0 = _cpu_times()
    time.sleep(interval)
    total1, idle1 = _cpu_times()
  except OSError:
    return None
  return 1.0 - (idle1 - idle0) / max(total1 - total0, 1)


def wait_for_quiet(threshold: float = 0.1, timeout: float = 900.0, interval: float = 2.0) -> float | None:
  """Waits (up to `timeout` s) until other processes use less than `threshold` of the CPUs.

  Returns the last busy fraction seen, so a benchmark can report how quiet the machine was.
  """
  deadline = time.monotonic() + timeout
  busy = cpu_busy_fraction(interval)
  while busy is not None and busy >= threshold and time.monotonic() < deadline:
    print(f"machine {100 * busy:.0f}% busy with other work; waiting for it to quiet down", flush=True)
    busy = cpu_busy_fraction(max(interval, 10.0))
  return busy


class OtherLoad:
  """Context manager: the fraction of the machine's CPU time other processes used inside the block.

      with OtherLoad() as load:
        ...timed work...
      load.fraction  # 0.0 on a quiet machine; None where /proc/stat is absent

  Machine-wide busy time (from /proc/stat) minus this process's own CPU time, over the block's
  wall time times the core count.
  """

  def __enter__(self):
    self.fraction = None
    try:
      self._stat0 = _cpu_times()
    except OSError:
      self._stat0 = None
    t = os.times()
    self._mine0 = t.user + t.system
    return self

  def __exit__(self, *exc):
    if self._stat0 is None:
      return False
    total1, idle1 = _cpu_times()
    t = os.times()
    tick = os.sysconf("SC_CLK_TCK")
    total = (total1 - self._stat0[0]) / tick
    busy = total - (idle1 - self._stat0[1]) / tick
    mine = t.user + t.system - self._mine0
    self.fraction = max(0.0, busy - mine) / total if total > 0 else 0.0
    return False


def run_quietly(fn, max_other: float = 0.1, attempts: int = 3, wait_timeout: float = 900.0):
  """Calls `fn()` until other processes took < `max_other` of the machine during the call.

  Waits for a quiet machine before each attempt (at most `wait_timeout` s). Returns
  (result, fraction of the machine other processes took during the kept attempt); after
  `attempts` noisy tries it keeps the least noisy one, so callers should report the fraction.
  """
  best = None
  for i in range(attempts):
    if wait_timeout > 0:
      wait_for_quiet(threshold=max_other, timeout=wait_timeout)
    with OtherLoad() as load:
      result = fn()
    frac = load.fraction
    if frac is None or frac < max_other:
      return result, frac
    print(f"other processes took {100 * frac:.0f}% of the machine during attempt {i + 1}; "
          + ("retrying" if i + 1 < attempts else "keeping the least noisy attempt"), flush=True)
    if best is None or frac < best[1]:
      best = (result, frac)
  return best


class PhaseLoads:
  """The fraction of the machine other processes took during each named phase of a run.

      loads = PhaseLoads()
      with loads.phase("Adam step timings"):
        ...timed work...
      loads.describe()  # "Adam step timings 3%; ..." (n/a where /proc/stat is absent)
  """

  def __init__(self):
    self.fractions: dict[str, float | None] = {}

  @contextlib.contextmanager
  def phase(self, name: str):
    with OtherLoad() as load:
      yield
    self.fractions[name] = load.fraction

  def describe(self) -> str:
    return "; ".join(f"{name} {pct(v)}" for name, v in self.fractions.items())
