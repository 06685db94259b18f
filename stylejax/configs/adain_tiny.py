"""AdaIN (Huang & Belongie 2017) at toy size: trains end to end on 2 CPUs in minutes, offline.

  stylejax train --config adain_tiny --workdir workdirs/adain_tiny

The encoder (and loss network) is the packaged VGG16 (`vgg16-lpips`); with VGG19 weights at hand, set
--config.loss.network.arch=vgg19 and --config.loss.network.weights=vgg19-torchvision (or the release's
vgg_normalised.pth with --config.loss.network.padding=reflect). Paintings: the four bundled ones, or
any folder with --config.styles=folder:PATH (random crops and flips each step). A quarter-width
decoder at 64 px keeps a step cheap (~0.4 s on 2 shared CPU cores, 3-step smoke run), so 500 steps
take a few minutes; that only starts to learn (the paper trains 160k steps, adain_paper.py).
"""

from stylejax.configs.train_base import get_train_base_config


ARGS = ("",)  # what get_config(arg) accepts (NAME:ARG); anything else is refused


def get_config(arg: str = ""):
  del arg
  c = get_train_base_config("adain")
  c.network.width_multiplier = 0.25  # decoder widths 64, 32, 16 instead of 256, 128, 64
  c.styles = ("starry_night", "great_wave", "composition_vii", "the_scream")
  c.style_size = 64  # random style crops, like the photos
  c.data.content = "skimage"
  c.data.image_size = 64
  c.data.max_side = 256
  c.loss.network.arch = "vgg16"
  c.loss.network.weights = "vgg16-lpips"
  c.loss.content_layers = "relu4_1"  # AdaIN's target t lives there
  c.loss.style_layers = "relu1_1,relu2_1,relu3_1,relu4_1"
  c.loss.statistic = "mean_var"  # the paper's style loss: per-channel means and stds, summed over layers
  c.loss.content_weight = 1.0
  c.loss.style_weight = 10.0  # the paper's lambda
  c.optim.learning_rate = 5e-4
  c.optim.batch_size = 4
  c.optim.steps = 500
  c.checkpoint_every = 100
  c.log_every = 10
  c.eval_every = 250
  c.eval_images = ("astronaut", "coffee", "chelsea")
  c.eval_size = 64
  return c
