"""A run's workdir, written atomically and never silently overwritten.

Outputs go to a hidden staging folder beside the workdir; `commit()` renames it into place (moving
an earlier run aside only when overwrite was asked for, and deleting it only after the rename).
A run that fails or is killed leaves the earlier workdir exactly as it was.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from stylejax.atomic_io import atomic_write_text
from stylejax.errors import StylejaxError


class Workdir:

  def __init__(self, path: str | Path, overwrite: bool = False):
    self.final = Path(path)
    if self.final.exists() and not self.final.is_dir():
      raise StylejaxError(f"workdir {self.final} exists and is not a folder")
    if self.final.is_dir() and any(self.final.iterdir()) and not overwrite:
      raise StylejaxError(f"workdir {self.final} already holds another run; pass --overwrite to "
                          "replace it, or choose another --workdir")
    self.overwrite = overwrite
    self.staging: Path | None = None

  def open(self) -> "Workdir":
    self.final.parent.mkdir(parents=True, exist_ok=True)
    self.staging = Path(tempfile.mkdtemp(dir=self.final.parent, prefix=f".{self.final.name}.staging-"))
    os.chmod(self.staging, 0o755)  # mkdtemp makes 0700; the workdir is meant to be shared
    return self

  def path(self, name: str) -> Path:
    assert self.staging is not None, "open() the workdir first"
    target = self.staging / name
    target.parent.mkdir(parents=True, exist_ok=True)
    return target

  def write_json(self, name: str, obj) -> None:
    atomic_write_text(self.path(name), json.dumps(obj, indent=2, sort_keys=True) + "\n")

  def append_jsonl(self, name: str, obj) -> None:
    with open(self.path(name), "a") as f:
      f.write(json.dumps(obj, sort_keys=True) + "\n")

  def commit(self) -> Path:
    old = None
    if self.final.exists():
      old = self.final.parent / f".{self.final.name}.old-{os.getpid()}"
      os.replace(self.final, old)
    os.replace(self.staging, self.final)
    if old is not None:
      shutil.rmtree(old, ignore_errors=True)
    self.staging = None
    return self.final

  def abort(self) -> None:
    if self.staging is not None:
      shutil.rmtree(self.staging, ignore_errors=True)
      self.staging = None
