"""A dream sweep: layers x step sizes on one photo, as one vmapped program, and its contact sheet
(one row per layer): `contact_sheet.png` in the workdir.

  stylejax sweep dream_sweep --workdir workdirs/dream_sweep
  stylejax sweep dream_sweep:testing --workdir /tmp/dream_sweep     # tiny
"""

from stylejax.configs import dream
from stylejax.pixel.sweep import product


ARGS = ("", "testing")  # what get_config(arg) accepts (NAME:ARG); anything else is refused


def get_config(arg: str = ""):
  c = dream.get_config("testing" if arg == "testing" else "")
  c.task = "sweep"  # runs with `stylejax sweep`, which sees the dream fields and dreams
  return c


def get_sweep(arg: str = ""):
  if arg == "testing":
    return product({"dream.layers": ["relu1_2", "relu2_2"], "dream.step_size": [1.5 / 255, 3.0 / 255]})
  return product({"dream.layers": ["relu2_2", "relu3_3", "relu4_3", "relu5_3"],
                  "dream.step_size": [1.5 / 255, 3.0 / 255], "dream.channels": ["", "0,1,2,3"]})
