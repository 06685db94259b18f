"""absl entry point: `python -m stylejax.main --config=stylejax/configs/quickstart.py --workdir=DIR`.

Flags and dispatch only: a config with `task = "train"` (stylejax/configs/cin_*.py) goes to
`stylejax.feedforward.train.run(config, workdir)`, any other to `stylejax.pixel.stylize.run(config, workdir)`.
The config and its `--config.x=y` overrides are loaded by `stylejax.configuration`, as in the `stylejax`
command: a typo in either is one line and exit code 2, a bug in a config file keeps its traceback.
"""

import sys

from absl import app, flags

from stylejax import configuration, runtime
from stylejax.cli import expand_config_overrides
from stylejax.errors import StylejaxError
from stylejax.feedforward import train
from stylejax.pixel import stylize

_CONFIG = flags.DEFINE_string("config", None, "A config in configs/ (NAME[:ARG]) or a get_config(arg) "
                              "file (PATH.py[:ARG]).")
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
    run = train.run if config.get("task") == "train" else stylize.run
    run(config, _WORKDIR.value, overwrite=_OVERWRITE.value, quiet=_QUIET.value)
  except StylejaxError as e:
    _exit_with_error(str(e))


if __name__ == "__main__":
  app.run(main, flags_parser=_parse_flags)
