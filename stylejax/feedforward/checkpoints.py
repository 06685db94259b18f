"""Reading a training workdir for inference: find it, read its config, restore its parameters.

Every network kind (`network.kind` in the workdir's config.json) restores its parameters the same
way; what differs (the parameter tree, how it stylizes) lives with the kind (`stylejax.feedforward.
models`). A missing, corrupt or mismatched checkpoint is a `StylejaxError`; anything else keeps its
traceback.
"""

from __future__ import annotations

import json
from pathlib import Path

import jax

from stylejax.errors import StylejaxError


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
  import orbax.checkpoint as ocp  # pylint: disable=import-outside-toplevel
  manager = ocp.CheckpointManager((workdir / "checkpoints").absolute(), item_names=("params", "train"),
                                  options=ocp.CheckpointManagerOptions(create=False))
  try:
    step = manager.latest_step() if step is None else step
    if step is None or step not in manager.all_steps():
      raise StylejaxError(f"{workdir}: no checkpoint{'' if step is None else f' at step {step}'} "
                          f"(saved steps: {list(manager.all_steps())})")
    # Without a target sharding orbax would reuse the training run's (several devices, maybe
    # several hosts) and refuse any other device layout.
    local = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    abstract = jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=local), like)
    try:
      restored = manager.restore(step, args=ocp.args.Composite(params=ocp.args.StandardRestore(abstract)))
    except Exception as e:  # pylint: disable=broad-except; narrowed by checkpoint_fault
      fault = checkpoint_fault(e)
      if fault is None:
        raise  # a bug, not a damaged checkpoint: keep the traceback
      raise StylejaxError(f"{workdir}: checkpoint {step} cannot be read: missing, damaged or saved by "
                          f"another network ({type(fault).__name__}: {str(fault)[:160]})") from None
  finally:
    manager.close()
  return restored["params"], step
