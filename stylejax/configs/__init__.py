"""The shipped configs: `stylejax ... --config NAME` loads `NAME.py` from this folder.

A runnable config defines `get_config(arg)` (and a sweep also `get_sweep(arg)`), says in `ARGS` which
`NAME:ARG` it accepts and sets `task` (stylejax.tasks) to the command that runs it. `base.py`,
`train_base.py`, `loss.py` and `fields.py` are the blocks the others build on; config files import them
as `stylejax.configs.base`, so a config outside the package (`--config path/to/file.py`) can too.
"""
