"""A training workdir's checkpoints: the one orbax set-up, saving and restoring train states, and
reading a workdir for inference (find it, read its config, restore its parameters).

A checkpoint has two items: "params" (what inference restores) and "train" (the rest of the state:
optimizer state, step, any extra state a method keeps). Every method (`network.kind` in the
workdir's config.json) restores its parameters the same way; what differs (the parameter tree, how
it stylizes) lives with the method (`stylejax.methods`). A missing, corrupt or mismatched checkpoint
is a `StylejaxError`; anything else keeps its traceback. Resuming skips damaged checkpoints and
falls back to the newest intact one (`restore_latest_intact`).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import jax
import orbax.checkpoint as ocp

from stylejax.errors import StylejaxError
from stylejax.atomic_io import atomic_write_text

ITEMS = ("params", "train")


def manager(workdir: Path, keep: int | None = None, create: bool = False) -> ocp.CheckpointManager:
  """The orbax manager of `workdir/checkpoints` (`keep`: how many to keep when saving)."""
  options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=create)
  return ocp.CheckpointManager((Path(workdir) / "checkpoints").absolute(), options=options, item_names=ITEMS)


DIGESTS = "stylejax_sha256.json"  # in each step's folder: every file's size and sha256, written after the save


def save(checkpoints: ocp.CheckpointManager, state: dict) -> None:
  """Saves a train state ({"params", "step", ...}) at its step, then records its files' digests:
  orbax's files carry no checksum, so a flipped byte would otherwise restore as a wrong weight."""
  step = int(state["step"])
  checkpoints.save(step, args=ocp.args.Composite(
      params=ocp.args.StandardSave(state["params"]),
      train=ocp.args.StandardSave({k: v for k, v in state.items() if k != "params"})))
  checkpoints.wait_until_finished()
  if jax.process_index() == 0:
    folder = Path(checkpoints.directory) / str(step)
    atomic_write_text(folder / DIGESTS, json.dumps(_digests(folder), indent=1, sort_keys=True) + "\n")


def _digests(folder: Path) -> dict:
  return {str(f.relative_to(folder)): [f.stat().st_size, hashlib.sha256(f.read_bytes()).hexdigest()]
          for f in sorted(folder.rglob("*")) if f.is_file() and f.name != DIGESTS}


def damage(folder: Path) -> str | None:
  """What is wrong with a saved step's files against its recorded digests (None: intact, or saved
  without digests by an older stylejax)."""
  recorded_file = folder / DIGESTS
  if not recorded_file.is_file():
    return None
  try:
    recorded = json.loads(recorded_file.read_text())
  except (OSError, ValueError):
    return f"{recorded_file} is unreadable"
  for name, (size, digest) in recorded.items():
    path = folder / name
    if not path.is_file():
      return f"{path} is missing"
    if path.stat().st_size != size:
      return f"{path} has {path.stat().st_size} bytes, {size} were saved"
    if hashlib.sha256(path.read_bytes()).hexdigest() != digest:
      return f"{path} does not match its sha256"
  return None


def _quiet_abandoned_reads() -> None:
  """When one array of a checkpoint cannot be read, orbax gives up on the restore, closes its event
  loop and leaves the other reads running: as they finish, tensorstore's threads call into the closed
  loop and their coroutines are collected unfinished. Python reports each as an unraisable exception
  (`RuntimeError: Event loop is closed` tracebacks after our one-line error). They say nothing the
  error did not, so these two kinds (only) are dropped; anything else reaches the previous hook."""
  previous = sys.unraisablehook
  if getattr(previous, "stylejax_quiet_reads", False):
    return

  def hook(unraisable) -> None:
    error, obj = unraisable.exc_value, unraisable.object
    closed_loop = isinstance(error, RuntimeError) and str(error) == "Event loop is closed"
    abandoned = getattr(obj, "__qualname__", "") == "_read_array_index_and_device_put"
    if not (closed_loop or abandoned):
      previous(unraisable)

  hook.stylejax_quiet_reads = True
  sys.unraisablehook = hook


def restore(checkpoints: ocp.CheckpointManager, like: dict, step: int) -> dict:
  """The train state of checkpoint `step`, shaped and sharded like `like`."""
  _quiet_abandoned_reads()
  abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
  restored = checkpoints.restore(step, args=ocp.args.Composite(
      params=ocp.args.StandardRestore(abstract["params"]),
      train=ocp.args.StandardRestore({k: v for k, v in abstract.items() if k != "params"})))
  return {"params": restored["params"], **restored["train"]}


def restore_latest_intact(checkpoints: ocp.CheckpointManager, like: dict, warn) -> dict | None:
  """The newest checkpoint that restores, or None when there is none. A damaged one is skipped with
  one line through `warn`; when every saved checkpoint is damaged, a StylejaxError."""
  steps = sorted(checkpoints.all_steps(), reverse=True)
  for step in steps:
    wrong = damage(Path(checkpoints.directory) / str(step))
    if wrong is not None:
      warn(f"checkpoint {step} is damaged ({wrong}); trying an older one")
      continue
    try:
      return restore(checkpoints, like, step)
    except Exception as e:  # pylint: disable=broad-except; narrowed by checkpoint_fault
      fault = checkpoint_fault(e)
      if fault is None:
        raise  # a bug, not a damaged checkpoint: keep the traceback
      warn(f"checkpoint {step} in {checkpoints.directory} is damaged ({type(fault).__name__}: "
           f"{_first_line(fault)}); trying an older one")
  if steps:
    raise StylejaxError(f"no intact checkpoint in {checkpoints.directory} (damaged: steps "
                        f"{', '.join(map(str, steps))}); pass --overwrite to start again")
  return None


def _first_line(error: Exception) -> str:
  return (str(error).strip().splitlines() or [""])[0][:160]


def find_workdir(checkpoint: str | Path) -> Path:
  """The training workdir at `checkpoint`, or the one whose checkpoints/ folder it is."""
  path = Path(checkpoint)
  for candidate in (path, path.parent):
    if (candidate / "config.json").is_file() and (candidate / "checkpoints").is_dir():
      return candidate
  raise StylejaxError(f"no trained network at {checkpoint}: expected a training workdir with "
                      "config.json and checkpoints/")


def read_json(workdir: Path, name: str):
  try:
    return json.loads((workdir / name).read_text())
  except (OSError, ValueError) as e:
    raise StylejaxError(f"{workdir}: unreadable {name} ({type(e).__name__}: {e})") from None


def network_kind(workdir: Path) -> str:
  """The config's `network.kind`; runs written before kinds existed trained CIN networks."""
  config = read_json(workdir, "config.json")
  network = config.get("network") if isinstance(config, dict) else None
  if not isinstance(network, dict):
    raise StylejaxError(f"{workdir}: config.json has no network block")
  return str(network.get("kind", "cin"))


def checkpoint_fault(error: Exception) -> Exception | None:
  """What makes a restore fail for a missing, corrupt or mismatched checkpoint, or None for a bug.

  Orbax reports missing items as KeyError, tensorstore reports unreadable or mismatched arrays as
  ValueError, missing files are OSError; a failed array read comes wrapped in a bare Exception.
  """
  while type(error) is Exception and error.__cause__ is not None:  # pylint: disable=unidiomatic-typecheck
    error = error.__cause__
  return error if isinstance(error, (OSError, ValueError, KeyError)) else None


def restore_params(workdir: Path, like, step: int | None = None):
  """(params, step): the "params" item of checkpoint `step` (default: the latest), shaped like the
  pytree `like` (arrays or ShapeDtypeStructs), on this process's first device."""
  checkpoints = manager(workdir)
  try:
    step = checkpoints.latest_step() if step is None else step
    if step is None or step not in checkpoints.all_steps():
      raise StylejaxError(f"{workdir}: no checkpoint{'' if step is None else f' at step {step}'} "
                          f"(saved steps: {list(checkpoints.all_steps())})")
    wrong = damage(Path(checkpoints.directory) / str(step))
    if wrong is not None:
      older = sorted(s for s in checkpoints.all_steps() if s < step)
      raise StylejaxError(f"{workdir}: checkpoint {step} is damaged ({wrong})"
                          + (f"; an older one: --step {older[-1]}" if older else ""))
    # Without a target sharding orbax would reuse the training run's (several devices, maybe
    # several hosts) and refuse any other device layout.
    local = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    abstract = jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=local), like)
    _quiet_abandoned_reads()
    try:
      restored = checkpoints.restore(step, args=ocp.args.Composite(params=ocp.args.StandardRestore(abstract)))
    except Exception as e:  # pylint: disable=broad-except; narrowed by checkpoint_fault
      fault = checkpoint_fault(e)
      if fault is None:
        raise  # a bug, not a damaged checkpoint: keep the traceback
      raise StylejaxError(f"{workdir}: checkpoint {step} cannot be read: missing, damaged or saved by "
                          f"another network ({type(fault).__name__}: {_first_line(fault)})") from None
  finally:
    checkpoints.close()
  return restored["params"], step
