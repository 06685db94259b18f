"""Tasks: what a config is for, and the one place that says which function runs it.

Every config sets `task` (the base configs do: `stylize` in base.py, `train` in train_base.py, `embed`
in retrieval.py; a sweep file's get_config sets `sweep`). A task is named after the `stylejax` command
that runs it. `python -m stylejax.main` and those commands look the task up here, so a config of one
task given to another command, or of a task nobody knows, is one clear line instead of a crash deep
in the wrong code. Run targets are "module:function" strings imported only when a run starts, so the
CLI stays light (`stylejax --help` imports no JAX).
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import TYPE_CHECKING, Callable

from stylejax.errors import StylejaxError

if TYPE_CHECKING:  # annotations only: the CLI imports this module before it needs ml_collections
  import ml_collections


@dataclasses.dataclass(frozen=True)
class Task:
  usage: str  # how a config of this task is run, shown when it is given to the wrong entry point
  # "module:function" called as run(config, workdir, *, overwrite, quiet) by `python -m stylejax.main`
  # and by the command of the same name; None: the task needs more than a config and a workdir.
  run: str | None = None
  # "module:function" that checks every value of a config of this task (one line for the first bad one)
  validate: str = "stylejax.configuration:validate"


TASKS = {
    "stylize": Task("stylejax stylize CONTENT STYLE... --config NAME --workdir DIR",
                    "stylejax.pixel.stylize:run"),
    "sweep": Task("stylejax sweep NAME[:ARG] --workdir DIR"),  # needs the file's get_sweep, not only a config
    "train": Task("stylejax train --config NAME --workdir DIR", "stylejax.training.loop:run",
                  "stylejax.training.loop:validate"),
    "dream": Task("stylejax dream PHOTO --workdir DIR", "stylejax.pixel.dream:run"),
    "embed": Task("stylejax embed SOURCE --index DIR --config NAME",  # needs a source and an index
                  validate="stylejax.retrieval.config_checks:validate"),
    "video": Task("stylejax video INPUT --method pixel --config NAME -o OUT.mp4",  # needs a video
                  validate="stylejax.video.pixel:validate"),
}


def task_of(config: ml_collections.ConfigDict, name: str = "the config") -> str:
  """The config's task, checked: a missing or unknown one is a StylejaxError naming `name`."""
  task = config.get("task")
  if task is None:
    raise StylejaxError(f"{name} declares no task; set task to one of {', '.join(TASKS)} (stylejax/tasks.py)")
  if task not in TASKS:
    raise StylejaxError(f"{name} has task {task!r}, which stylejax does not know; known tasks: {', '.join(TASKS)}")
  return task


def expect(config: ml_collections.ConfigDict, task: str, name: str = "the config") -> None:
  """Refuses a config of another task than `task` (the command it was given to), saying how to run it."""
  actual = task_of(config, name)
  if actual != task:
    raise StylejaxError(f"{name} has task {actual!r}, not {task!r}; run it with `{TASKS[actual].usage}`")


def _function(target: str) -> Callable:
  module, _, function = target.partition(":")
  return getattr(importlib.import_module(module), function)


def validate(config: ml_collections.ConfigDict, name: str = "the config") -> None:
  """Every check of `config`, as its task says: the method's of a training config, the embedding's
  of an embed config (imported now)."""
  _function(TASKS[task_of(config, name)].validate)(config)


def runner(task: str) -> Callable:
  """The run function of `task`: run(config, workdir, *, overwrite, quiet), imported now."""
  target = TASKS[task].run
  if target is None:
    raise StylejaxError(f"task {task!r} needs more than a config and a workdir; run it with `{TASKS[task].usage}`")
  return _function(target)
