"""Tiny config for tests: 48 px, a few steps, the packaged VGG16, shallow layers."""

from stylejax.configs.base import get_base_config


ARGS = ("", "lbfgs")  # what get_config(arg) accepts (NAME:ARG); anything else is refused


def get_config(arg: str = ""):
  c = get_base_config()
  c.image_size = 48
  c.loss.content_layers = "relu3_1"
  c.loss.style_layers = "relu1_1,relu2_1,relu3_1"
  c.optim.name = "adam" if arg != "lbfgs" else "lbfgs"
  c.optim.learning_rate = 0.03
  c.optim.steps = 6
  c.log_every = 3
  return c
