"""Gatys et al. 2016 preset: VGG19 (Caffe weights), style conv1_1..conv5_1, content conv4_2,
average pooling, L-BFGS, 512 px, Gram normalised by 1/(4 N^2 M^2), alpha/beta = 1e-3.

  stylejax weights download vgg19-caffe-jcjohnson   # or: stylejax weights import vgg19-d01eb7cb.pth
  stylejax stylize photo.jpg painting.jpg --config gatys --workdir workdirs/gatys
"""

from stylejax.configs.base import get_base_config


ARGS = ("", "runlocal")  # what get_config(arg) accepts (NAME:ARG); anything else is refused


def get_config(arg: str = ""):
  c = get_base_config()
  c.image_size = 512
  c.loss.network.arch = "vgg19"
  c.loss.network.weights = "vgg19-caffe-jcjohnson"
  c.loss.network.pooling = "avg"
  c.loss.content_layers = "conv4_2"
  c.loss.style_layers = "conv1_1,conv2_1,conv3_1,conv4_1,conv5_1"
  c.loss.gram_norm = "gatys"
  c.loss.content_weight = 1.0
  c.loss.style_weight = 1e3
  c.optim.name = "lbfgs"
  c.optim.steps = 500
  c.optim.init = "noise"
  if arg == "runlocal":
    c.image_size = 256
    c.optim.steps = 100
  return c
