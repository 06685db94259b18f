"""Process-wide settings of the stylejax programs, in one place.

Importing stylejax changes no global state. The entry points (`stylejax.cli.main`, the absl
`stylejax.main.main`) call `configure()` before anything starts JAX's backend: it appends the
product's XLA flags to `XLA_FLAGS`, which XLA reads once, when JAX creates its first backend, sets
the product's environment variables and tunes glibc's allocator (`HOST_ALLOCATOR`). What the user
has set wins. A library user who wants the same settings calls `configure()` first, or sets them
themselves.
"""

from __future__ import annotations

import ctypes
import os
import sys
import warnings
from typing import Mapping, Sequence

# The XLA flags the product runs with, each with the reason it is here. None today: the CPU
# scheduler flag that `import stylejax` used to set guarded a mean_cov hang that is now avoided in
# the loss itself (stylejax/objectives/losses.py, `_eigh`).
XLA_FLAGS: tuple[str, ...] = ()

# What a run that asks for memory first (`loss.network.remat=True`) adds. XLA:CPU's default
# scheduler orders independent operations for concurrency and so keeps more buffers alive at once;
# the quickstart's L-BFGS step at 1024 px needs 1.81 GiB of XLA temp memory with it and 1.37 GiB
# without it, 1.20 GiB with remat too (benchmarks/bench_highres.py has the 2048 px run). XLA reads
# it once per process (per-program compiler options do not reach it: measured, no change), so
# the entry points set it (`configure_for`) before the run starts JAX's backend.
LOW_MEMORY_XLA_FLAGS: tuple[str, ...] = ("--xla_cpu_enable_concurrency_optimized_scheduler=false",)

# Environment variables the product sets unless the user has, with the module whose import loads
# the library that reads them (once, at load).
ENVIRONMENT: Mapping[str, tuple[str, str]] = {
    # jaxlib's CPU eigh (the mean_cov loss) calls LAPACK in scipy's OpenBLAS from inside XLA's own
    # thread pool. OpenBLAS's threads on top made a 512x512 eigh 6-8x slower, a 256x256 one 20-60x,
    # on 2 busy cores, and a 12-run mean_cov sweep took 1.3x to 17x a gram sweep's time (1.5x in one
    # thread).
    "OPENBLAS_NUM_THREADS": ("1", "scipy.linalg"),
}


# glibc's allocator (mallopt parameters), process-wide. XLA:CPU allocates every call's buffers afresh,
# and oneDNN its layout copies; above glibc's mmap threshold (dynamic, at most 32 MiB), and from the
# per-thread arenas XLA's worker threads use, each was a fresh mmap whose pages faulted in on every
# call: multistyle26 at 512 px took 16,488 page faults and 75 ms of system time per 208 ms call,
# 65,736 and 266 ms per 770 ms at 1024 px. One arena, a 1 GiB mmap threshold and no trimming keep
# freed memory in the process for the next call: 0 faults, 9 ms, 171 ms per call at 512 px; 6,881,
# 34 ms, 695 ms at 1024 px. The price: the process keeps its peak heap until it exits.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -3, -8
HOST_ALLOCATOR: Mapping[int, int] = {M_ARENA_MAX: 1, M_MMAP_THRESHOLD: 1 << 30, M_TRIM_THRESHOLD: (1 << 31) - 1}

# A memory-first run (`loss.network.remat=True`) gives freed memory back instead: glibc's default
# thresholds (128 KiB), fixed, so that every large buffer is unmapped when freed.
MEMORY_FIRST_ALLOCATOR: Mapping[int, int] = {M_MMAP_THRESHOLD: 128 * 1024, M_TRIM_THRESHOLD: 128 * 1024}

# Environment variables by which a user tunes glibc's allocator; any of them set, stylejax leaves it be.
_ALLOCATOR_VARIABLES = ("MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_",
                        "MALLOC_MMAP_MAX_")


def configure_allocator(settings: Mapping[int, int]) -> bool:
  """Applies mallopt `settings` where the C library is glibc and the user has not tuned it through
  the environment; returns whether it did."""
  if any(v in os.environ for v in _ALLOCATOR_VARIABLES) or "glibc.malloc" in os.environ.get("GLIBC_TUNABLES", ""):
    return False
  try:
    libc = ctypes.CDLL(None)
    libc.gnu_get_libc_version  # pylint: disable=pointless-statement  # glibc only: macOS's, musl's are left alone
    mallopt = libc.mallopt
  except (OSError, AttributeError):
    return False
  mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
  return all(mallopt(parameter, value) == 1 for parameter, value in settings.items())


def _flag_name(flag: str) -> str:
  return flag.split("=", 1)[0]


def missing_flags(current: str, flags: Sequence[str]) -> list[str]:
  """Those of `flags` whose name the `current` XLA_FLAGS does not set: a user's setting wins."""
  names = {_flag_name(f) for f in current.split()}
  return [f for f in flags if _flag_name(f) not in names]


def _backend_initialized() -> bool:
  if "jax" not in sys.modules:  # no jax imported, no backend (importing jax creates none either)
    return False
  from jax._src import xla_bridge  # pylint: disable=import-outside-toplevel
  return xla_bridge.backends_are_initialized()


def _too_late(what: str, since: str) -> None:
  warnings.warn(f"{since}, so stylejax's {what} cannot take effect; call stylejax.runtime.configure() "
                "first", RuntimeWarning, stacklevel=3)


def configure(flags: Sequence[str] | None = None,
              environment: Mapping[str, tuple[str, str]] | None = None,
              allocator: Mapping[int, int] | None = None) -> None:
  """Appends the product's XLA flags (default `XLA_FLAGS`) to the environment's, sets the product's
  environment variables (default `ENVIRONMENT`) and glibc allocator settings (default
  `HOST_ALLOCATOR`; `configure_allocator`), keeping whatever the user has set.

  Call it first in a program. A setting that would come too late (its reader has started: JAX's
  backend, or the library a variable is for) is not applied; that warns.
  """
  configure_allocator(HOST_ALLOCATOR if allocator is None else allocator)
  for name, (value, reader) in (ENVIRONMENT if environment is None else environment).items():
    if name in os.environ:
      continue  # the user's, or an earlier call's
    if reader in sys.modules:
      _too_late(f"{name}={value}", f"{reader} is already loaded")
    else:
      os.environ[name] = value
  current = os.environ.get("XLA_FLAGS", "")
  missing = missing_flags(current, XLA_FLAGS if flags is None else flags)
  if not missing:
    return  # set already, by the user or by an earlier call
  if _backend_initialized():
    _too_late(f"XLA flags {missing}", "JAX's backend is already initialised")
    return
  os.environ["XLA_FLAGS"] = " ".join([*current.split(), *missing])


def configure_for(config) -> None:
  """Adds what a run's config asks for before the run starts JAX's backend: `LOW_MEMORY_XLA_FLAGS`
  and `MEMORY_FIRST_ALLOCATOR` when it sets `loss.network.remat` (a user's own setting wins). Warns
  when the backend has started already, since XLA would not read them."""
  network = (config.get("loss") or {}).get("network") or {}
  if network.get("remat", False):
    configure(flags=LOW_MEMORY_XLA_FLAGS, environment={}, allocator=MEMORY_FIRST_ALLOCATOR)
