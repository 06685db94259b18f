"""Tiny StyleBank config for tests: 2 styles, 32 px crops, a narrow network, a few steps."""

from stylejax.configs.train_base import get_train_base_config


ARGS = ("",)  # what get_config(arg) accepts (NAME:ARG); anything else is refused


def get_config(arg: str = ""):
  del arg
  c = get_train_base_config("stylebank")
  c.styles = ("starry_night", "great_wave")
  c.style_size = 48
  c.data.image_size = 32
  c.data.max_side = 96
  c.network.width_multiplier = 0.125
  c.network.bank_layers = 1
  c.loss.content_layers = "relu1_2"  # one VGG block: a quick compile
  c.loss.style_layers = "relu1_2"
  c.optim.batch_size = 2
  c.optim.steps = 6
  c.checkpoint_every = 3
  c.log_every = 3
  c.eval_every = 0
  c.eval_images = ("astronaut",)
  c.eval_size = 32
  return c
