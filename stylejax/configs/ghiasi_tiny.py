"""Ghiasi et al. 2017's style-prediction network at toy size: trains end to end on 2 CPUs in minutes.

  stylejax train --config ghiasi_tiny --workdir workdirs/ghiasi_tiny

A style network (frozen packaged VGG16 features -> a 100-d embedding) predicts every conditional
instance norm of a half-width multi-style transformer; both learn together on (photo, painting)
pairs, a random crop (and flip) of a random painting per photo each step. Paintings: the four bundled
ones, or any folder with --config.styles=folder:PATH; AlexNet features with
--config.network.style_features=alexnet. At 64 px and batch 4 a step is cheap, so the loss visibly
falls within the run; four paintings teach the style network little about unseen ones, and CPU
training gives no quality (the pretrained Magenta model, `stylejax apply --style-image`, does).
"""

from stylejax.configs.train_base import get_train_base_config


ARGS = ("",)  # what get_config(arg) accepts (NAME:ARG); anything else is refused


def get_config(arg: str = ""):
  del arg
  c = get_train_base_config("ghiasi")
  c.network.style_features = "vgg16"  # the packaged vgg16-lpips, frozen
  c.network.embedding_dim = 100  # the paper's
  c.network.width_multiplier = 0.5  # transformer widths 16, 32, 64
  c.styles = ("starry_night", "great_wave", "composition_vii", "the_scream")
  c.style_size = 64  # random style crops, like the photos
  c.data.content = "skimage"
  c.data.image_size = 64
  c.data.max_side = 256
  # The loss of the CIN network (Dumoulin et al., as Ghiasi et al.): VGG16 relu3_3 content,
  # relu1_2..relu4_3 Gram style; cin_tiny's style weight.
  c.loss.style_weight = 30.0
  c.optim.learning_rate = 2e-3
  # At the full rate the predicted norms jumped into a saturated, all-white output within 20 steps
  # (loss stuck at ~480); at 1/100 the loss fell steadily (532 -> 259 by step 80).
  c.network.style_lr_scale = 0.01
  c.optim.batch_size = 4
  c.optim.steps = 300
  c.checkpoint_every = 100
  c.log_every = 10
  c.eval_every = 150
  c.eval_images = ("astronaut", "coffee", "chelsea")
  c.eval_size = 64
  return c
