"""Process-wide settings of the stylejax programs, in one place.

Importing stylejax changes no global state. The entry points (`stylejax.cli.main`, the absl
`stylejax.main.main`) call `configure()` before anything starts JAX's backend: it appends the
product's XLA flags to `XLA_FLAGS`, which XLA reads once, when JAX creates its first backend, and
sets the product's environment variables. What the user has set wins. A library user who wants the
same settings calls `configure()` first, or sets them themselves.
"""

from __future__ import annotations

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
              environment: Mapping[str, tuple[str, str]] | None = None) -> None:
  """Appends the product's XLA flags (default `XLA_FLAGS`) to the environment's and sets the
  product's environment variables (default `ENVIRONMENT`), keeping whatever the user has set.

  Call it first in a program. A setting that would come too late (its reader has started: JAX's
  backend, or the library a variable is for) is not applied; that warns.
  """
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
  when it sets `loss.network.remat` (a user's own setting of the flag wins). Warns when the
  backend has started already, since XLA would not read them."""
  network = (config.get("loss") or {}).get("network") or {}
  if network.get("remat", False):
    configure(flags=LOW_MEMORY_XLA_FLAGS, environment={})
