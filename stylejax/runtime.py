"""Process-wide settings of the stylejax programs, in one place.

Importing stylejax changes no global state. The entry points (`stylejax.cli.main`, the absl
`stylejax.main.main`) call `configure()` before anything touches JAX: it appends the product's XLA
flags to `XLA_FLAGS`, which XLA reads once, when JAX creates its first backend. A library user who
wants the same flags calls `configure()` first, or sets `XLA_FLAGS` themselves.
"""

from __future__ import annotations

import os
import sys
import warnings
from typing import Sequence

# The XLA flags the product runs with, each with the reason it is here. None today: the CPU
# scheduler flag that `import stylejax` used to set guarded a mean_cov hang that is now avoided in
# the loss itself (stylejax/objectives/losses.py, `_eigh`).
XLA_FLAGS: tuple[str, ...] = ()


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


def configure(flags: Sequence[str] | None = None) -> None:
  """Appends the product's XLA flags (default `XLA_FLAGS`) to the environment's, keeping the user's.

  Call it first in a program. Once JAX has a backend, new flags would be silently ignored, so this
  then warns and changes nothing.
  """
  current = os.environ.get("XLA_FLAGS", "")
  missing = missing_flags(current, XLA_FLAGS if flags is None else flags)
  if not missing:
    return  # set already, by the user or by an earlier call
  if _backend_initialized():
    warnings.warn(f"JAX's backend is already initialised, so the XLA flags {missing} cannot take "
                  "effect; call stylejax.runtime.configure() before using JAX", RuntimeWarning,
                  stacklevel=2)
    return
  os.environ["XLA_FLAGS"] = " ".join([*current.split(), *missing])
