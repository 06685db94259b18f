"""Atomic file writes: a temporary file in the target folder, then a rename.

Readers (and a later run after a crash) see either the old file or the complete new one, never
half of one.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable


def atomic_write(path: str | Path, write: Callable[[str], None]) -> None:
  """Calls `write(tmp_path)`, then renames tmp_path onto `path`."""
  path = Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
  os.close(fd)
  try:
    write(tmp)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file normal permissions
    os.replace(tmp, path)
  finally:
    if os.path.exists(tmp):
      os.unlink(tmp)


def _umask() -> int:
  current = os.umask(0)
  os.umask(current)
  return current


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
  def write(tmp: str) -> None:
    with open(tmp, "wb") as f:
      f.write(data)
  atomic_write(path, write)


def atomic_write_text(path: str | Path, text: str) -> None:
  atomic_write_bytes(path, text.encode())
