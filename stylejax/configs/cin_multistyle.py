"""Dumoulin et al. 2017's multi-style network, with the paper's settings.

  stylejax train --config cin_multistyle --workdir workdirs/cin_multistyle \
      --config.data.content=tfds:coco/2014 --config.styles=PATH/TO/STYLE_FOLDER

256 px crops, batch 16, Adam 1e-3, 40k steps; VGG16 style layers "conv1".."conv4" (the ends of
blocks 1-4: relu1_2, relu2_2, relu3_3, relu4_3) and content "conv3" (relu3_3). The paper trained on
ImageNet with 32 styles; COCO 2014 (Johnson et al.'s set) is the documented real path here, see the
README ("Training data"). `cin_multistyle:runlocal` shrinks it for a laptop look.
"""

from stylejax.configs.train_base import get_train_base_config


ARGS = ("", "runlocal")  # what get_config(arg) accepts (NAME:ARG); anything else is refused


def get_config(arg: str = ""):
  c = get_train_base_config()
  c.styles = ("starry_night", "great_wave", "composition_vii", "the_scream")  # give your 32 styles
  c.data.content = "tfds:coco/2014"
  c.data.image_size = 256
  c.optim.batch_size = 16
  c.optim.learning_rate = 1e-3
  c.optim.steps = 40_000
  c.loss.content_layers = "relu3_3"
  c.loss.style_layers = "relu1_2,relu2_2,relu3_3,relu4_3"
  if arg == "runlocal":
    c.data.content = "skimage"
    c.data.image_size = 128
    c.optim.batch_size = 4
    c.optim.steps = 20
    c.checkpoint_every = 10
    c.log_every = 5
    c.eval_every = 0
    c.eval_size = 128
  return c
