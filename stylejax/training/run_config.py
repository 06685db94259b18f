"""A training workdir's identity: the config.json it was started with, and when a new start may resume it.

A workdir resumes when it holds the same config, up to what may change between starts:
- how the run is launched (`multihost`);
- a larger `optim.steps` (train longer), with the schedule fields that follow it;
- fields the config schema gained after the run was written, left at their defaults, and fields the
  schema no longer has.
Anything else needs `--overwrite` or another workdir.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import ml_collections

from stylejax.configs.train_base import get_train_base_config
from stylejax.errors import StylejaxError
from stylejax import nested
from stylejax.atomic_io import atomic_write_text
from stylejax.io import outputs, rundir

LAUNCH_KEYS = ("multihost",)  # how a run is started, not what it computes
LONGER_KEYS = ("optim.steps",)  # may grow: a finished run trains on


def config_json(config: ml_collections.ConfigDict) -> dict:
  return json.loads(config.to_json_best_effort(sort_keys=True))


def changed_keys(old: dict, wanted: dict, kind: str) -> list[str]:
  """Dotted keys of `wanted` that keep a workdir holding `old` from resuming (see the module doc)."""
  defaults = nested.flatten(config_json(get_train_base_config(kind)))
  flat_old, flat_wanted = nested.flatten(old), nested.flatten(wanted)
  changed = []
  for key in sorted(set(flat_old) | set(flat_wanted)):
    if key.split(".")[0] in LAUNCH_KEYS or key not in flat_wanted:
      continue
    before, after = flat_old.get(key), flat_wanted[key]
    if key not in flat_old and key in defaults and after == defaults[key]:
      continue
    if key in LONGER_KEYS and isinstance(before, int) and isinstance(after, int) and after >= before:
      continue
    if before != after:
      changed.append(key)
  return changed


def open_workdir(workdir: Path, config: ml_collections.ConfigDict, style_files: list[str],
                 overwrite: bool) -> None:
  """Resumes a workdir that holds this config; refuses any other non-empty folder unless overwrite."""
  outputs.check_folder(workdir, "train")
  wanted = config_json(config)
  if (workdir / rundir.CONFIG).exists() and not overwrite:
    old = rundir.read_config(workdir, "pass --overwrite to start again, or choose another --workdir")
    changed = changed_keys(old, wanted, config.network.kind)
    if changed:
      raise StylejaxError(f"workdir {workdir} holds a run with another config (differs in: "
                          f"{', '.join(changed[:6])}); pass --overwrite to replace it, or choose another --workdir")
    if wanted != old:  # a longer run: the workdir records the config it now trains to
      rundir.write_config(workdir, wanted)
    return
  if workdir.exists() and any(workdir.iterdir()):
    if not overwrite:
      missing = (f"holds checkpoints but no {rundir.CONFIG}" if (workdir / "checkpoints").exists()
                 else "already holds files that are not a training run")
      raise StylejaxError(f"workdir {workdir} {missing}; pass --overwrite to replace them, or choose another --workdir")
    shutil.rmtree(workdir)
  workdir.mkdir(parents=True, exist_ok=True)
  atomic_write_text(workdir / "styles.json", json.dumps(style_files, indent=1) + "\n")
  rundir.write_config(workdir, wanted)
