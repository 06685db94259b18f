"""AdaIN as in the paper (Huang & Belongie 2017, section 6), for accelerators.

  stylejax train --config adain_paper --workdir workdirs/adain_paper \
      --config.data.content=tfds:coco/2014 --config.styles=folder:PATH/TO/wikiart

Encoder: the release's normalised VGG19 (naoto0804/pytorch-AdaIN `vgg_normalised.pth`, read as the
`adain-vgg` format: reflect padding, RGB [0, 1] in). Photos (MS-COCO) and paintings (WikiArt) have
their shorter side resized to 512 and are randomly cropped to 256 x 256; batch 8 (photo, painting)
pairs, Adam at 1e-4, lambda = 10, 160k iterations. The release also decays the learning rate as
lr / (1 + 5e-5 step); this config keeps it constant, as the paper states it.
"""

from stylejax.configs.train_base import get_train_base_config


ARGS = ("",)  # what get_config(arg) accepts (NAME:ARG); anything else is refused


def get_config(arg: str = ""):
  del arg
  c = get_train_base_config("adain")
  c.network.width_multiplier = 1.0  # the paper's decoder (512 -> 256 -> 128 -> 64 -> 3)
  c.styles = ("folder:data/wikiart",)  # WikiArt paintings (about 80k in the paper)
  c.style_size = 256
  c.data.content = "tfds:coco/2014"  # MS-COCO, prepared in array_record format (README, "Training data")
  c.data.image_size = 256
  c.data.crop_scale = (2.0, 2.0)  # shorter side 512, then a random 256 crop
  c.data.max_side = 1024
  c.loss.network.arch = "vgg19"
  c.loss.network.weights = "weights/vgg_normalised.pth"  # the release's file (format adain-vgg)
  c.loss.network.padding = "reflect"  # as the release's VGG; needed for its folded input conv
  c.loss.content_layers = "relu4_1"
  c.loss.style_layers = "relu1_1,relu2_1,relu3_1,relu4_1"
  c.loss.statistic = "mean_var"
  c.loss.content_weight = 1.0
  c.loss.style_weight = 10.0  # lambda
  c.optim.learning_rate = 1e-4
  c.optim.batch_size = 8
  c.optim.steps = 160_000
  c.checkpoint_every = 5000
  c.log_every = 100
  c.eval_every = 5000
  c.eval_size = 256
  return c
