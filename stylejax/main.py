"""absl entry point: `python -m stylejax.main --config=quickstart --workdir=DIR`.

Flags and dispatch only: the config's `task` names its run function in `stylejax.tasks` (stylize:
`stylejax.pixel.stylize.run`, train: the training loop's `run`), called as run(config, workdir). A
config whose task needs more than a workdir (sweep, embed), or of a missing or unknown task, is one
line and exit code 2 that says how to run it. The config and its `--config.x=y` overrides are loaded
by `stylejax.configuration`, as in the `stylejax` command: a typo in either is one line and exit code
2, a bug in a config file keeps its traceback.
"""

import sys

from absl import app, flags

from stylejax import configuration, runtime, tasks
from stylejax.cli import expand_config_overrides
from stylejax.errors import StylejaxError

_CONFIG = flags.DEFINE_string("config", None, "A shipped config (NAME[:ARG], see stylejax/configs/) or a "
                              "get_config(arg) file (PATH.py[:ARG]).")
_SET = flags.DEFINE_multi_string("set", [], "Config override KEY=VALUE (repeatable); --config.KEY=VALUE "
                                 "is the same.")
_WORKDIR = flags.DEFINE_string("workdir", None, "Folder that will hold this run.")
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Replace an existing workdir.")
_QUIET = flags.DEFINE_bool("quiet", False, "No progress bar.")
flags.mark_flags_as_required(["config", "workdir"])


def _exit_with_error(message: str) -> None:
  print(f"stylejax: error: {StylejaxError(message)}", file=sys.stderr)  # StylejaxError squashes it to one line
  sys.exit(2)


def _parse_flags(argv):
  """absl's parser, but a bad flag is one line and exit code 2."""
  try:
    return flags.FLAGS(expand_config_overrides(argv))
  except flags.Error as e:  # unknown flag, missing required flag, bad flag value
    _exit_with_error(str(e))


def main(argv):
  runtime.configure()  # before anything creates a JAX backend
  if len(argv) > 1:
    _exit_with_error(f"unexpected arguments {argv[1:]}; this entry point takes flags only")
  try:
    config = configuration.apply_overrides(configuration.load_config(_CONFIG.value), _SET.value)
    runtime.configure_for(config)
    run = tasks.runner(tasks.task_of(config, f"config {_CONFIG.value!r}"))
    run(config, _WORKDIR.value, overwrite=_OVERWRITE.value, quiet=_QUIET.value)
  except StylejaxError as e:
    _exit_with_error(str(e))


if __name__ == "__main__":
  app.run(main, flags_parser=_parse_flags)
