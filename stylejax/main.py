"""absl entry point: `python -m stylejax.main --config=configs/quickstart.py --workdir=DIR`.

Flags and dispatch only: a config with `task = "train"` (configs/cin_*.py) goes to
`stylejax.feedforward.train.run(config, workdir)`, any other to `stylejax.pixel.stylize.run(config, workdir)`.
`--config.x=y` overrides come from ml_collections' config_flags.
"""

import sys

from absl import app, flags
from ml_collections import config_flags

from stylejax.feedforward import train
from stylejax.pixel import stylize
from stylejax.errors import StylejaxError

_CONFIG = config_flags.DEFINE_config_file("config", None, "Path to a get_config(arg) file.",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Folder that will hold this run.")
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Replace an existing workdir.")
_QUIET = flags.DEFINE_bool("quiet", False, "No progress bar.")
flags.mark_flags_as_required(["config", "workdir"])


def _parse_flags(argv):
  """absl's parser, but a bad flag or config override is one line and exit code 2."""
  try:
    return flags.FLAGS(argv)
  except Exception as e:  # config_flags raises AttributeError/KeyError/TypeError for bad overrides
    message = " ".join(str(e).replace("\\n", " ").split())
    print(f"stylejax: error: bad flags: {message}", file=sys.stderr)
    sys.exit(2)


def main(argv):
  del argv
  try:
    config = _CONFIG.value
    run = train.run if config.get("task") == "train" else stylize.run
    run(config, _WORKDIR.value, overwrite=_OVERWRITE.value, quiet=_QUIET.value)
  except StylejaxError as e:
    print(f"stylejax: error: {e}", file=sys.stderr)
    sys.exit(2)


if __name__ == "__main__":
  app.run(main, flags_parser=_parse_flags)
