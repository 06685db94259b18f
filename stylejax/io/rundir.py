"""A run's directory (stylize, sweep, train, embed): what may be replaced, config.json, and the two
ways a run writes.

- Claiming: a path that names a file is refused (stylejax.io.outputs); a folder that holds something
  else is replaced only with --overwrite.
- Staged (`StagedRun`: stylize, sweep): outputs go to a hidden staging folder beside the run
  directory, `.NAME.staging-HOST-PID-XXXX`; `commit()` renames it into place (moving an earlier run
  aside only when overwrite was asked for, and deleting it only after the rename). A run that fails
  or is killed leaves the earlier directory exactly as it was.
- Resumable in place (train: stylejax.training.run_config; embed: stylejax.retrieval.store): the
  run writes into the directory itself and decides from what it finds there whether it may resume.

A SIGKILLed staged run leaves its staging folder behind. The next run in the same place removes
staging folders whose process (on this host) is gone, saying so in one line on stderr; folders of
live processes, or of other hosts, are left alone.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import sys
import tempfile
from pathlib import Path

from stylejax.atomic_io import atomic_write_text
from stylejax.errors import StylejaxError
from stylejax.io import outputs

CONFIG = "config.json"
_HOST = re.sub(r"[^A-Za-z0-9_.]", "_", socket.gethostname()) or "host"
_LEFTOVER = re.compile(r"^\.(?P<name>.+)\.(?P<kind>staging|old)-(?P<host>[A-Za-z0-9_.]+)-(?P<pid>\d+)(-[^-]*)?$")


def json_text(obj) -> str:
  """How a run directory writes its JSON files (config.json, summary.json ...)."""
  return json.dumps(obj, indent=2, sort_keys=True) + "\n"


def write_config(folder: str | Path, config: dict) -> None:
  atomic_write_text(Path(folder) / CONFIG, json_text(config))


def read_config(folder: str | Path, fix: str) -> dict:
  """The run's config.json as a dict; damage is one line naming the file and `fix`."""
  path = Path(folder) / CONFIG
  try:
    config = json.loads(path.read_text())
  except (OSError, ValueError) as e:
    raise StylejaxError(f"{path} is unreadable ({type(e).__name__}); {fix}") from None
  if not isinstance(config, dict):
    raise StylejaxError(f"{path} is not a config (a JSON object); {fix}")
  return config


def claim(path: str | Path, overwrite: bool, what: str, option: str = "--workdir") -> Path:
  """`path` as a run directory of `what`: a file is refused, and a non-empty folder unless `overwrite`."""
  path = outputs.check_folder(path, what, option)
  if path.is_dir() and any(path.iterdir()) and not overwrite:
    raise StylejaxError(f"{option} {path} already holds another run; pass --overwrite to replace it, or "
                        f"choose another {option}")
  return path


def _alive(pid: int) -> bool:
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    return True  # another user's live process
  try:  # a killed child its parent has not reaped yet is a zombie: gone for our purposes
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
  except (OSError, IndexError):
    return True


def remove_stale(final: str | Path) -> list[Path]:
  """Removes the staging folders beside `final` left by dead processes of this host (and puts back a
  run that a killed commit had moved aside); says so on stderr. Returns what it removed."""
  final = Path(final)
  if not final.parent.is_dir():
    return []
  removed = []
  for entry in sorted(final.parent.iterdir()):
    match = _LEFTOVER.match(entry.name)
    if (match is None or match["name"] != final.name or match["host"] != _HOST or not entry.is_dir()
        or _alive(int(match["pid"]))):
      continue
    if match["kind"] == "old" and not final.exists():  # killed between commit's two renames
      os.replace(entry, final)
      print(f"stylejax: put back {final} (a killed run, process {match['pid']}, had moved it aside)", file=sys.stderr)
      continue
    shutil.rmtree(entry, ignore_errors=True)
    removed.append(entry)
  if removed:
    pids = ", ".join(_LEFTOVER.match(p.name)["pid"] for p in removed)
    print(f"stylejax: removed {len(removed)} stale staging folder(s) beside {final} (process {pids} gone): "
          f"{', '.join(p.name for p in removed)}", file=sys.stderr)
  return removed


class StagedRun:
  """A run directory written in a staging folder and renamed into place by `commit()`."""

  def __init__(self, path: str | Path, overwrite: bool = False, what: str = "this run"):
    self.final = claim(path, overwrite, what)
    self.overwrite = overwrite
    self.staging: Path | None = None

  def open(self) -> "StagedRun":
    self.final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(self.final)
    self.staging = Path(tempfile.mkdtemp(dir=self.final.parent,
                                         prefix=f".{self.final.name}.staging-{_HOST}-{os.getpid()}-"))
    os.chmod(self.staging, 0o755)  # mkdtemp makes 0700; the run directory is meant to be shared
    return self

  def path(self, name: str) -> Path:
    assert self.staging is not None, "open() the run directory first"
    target = self.staging / name
    target.parent.mkdir(parents=True, exist_ok=True)
    return target

  def write_json(self, name: str, obj) -> None:
    atomic_write_text(self.path(name), json_text(obj))

  def append_jsonl(self, name: str, obj) -> None:
    with open(self.path(name), "a") as f:
      f.write(json.dumps(obj, sort_keys=True) + "\n")

  def commit(self) -> Path:
    old = None
    if self.final.exists():
      old = self.final.parent / f".{self.final.name}.old-{_HOST}-{os.getpid()}"
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
