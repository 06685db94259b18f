"""A new style for the pretrained 26-style CIN network in minutes on a CPU: only its (gamma, beta) train.

  stylejax train --config cin_newstyle --workdir workdirs/newstyle --config.styles=PAINTING.jpg
  stylejax apply --checkpoint workdirs/newstyle --style 26 photo.jpg -o out.png

The result has 27 styles: multistyle26's 26, bit for bit, then the new one (k paintings: 26..25+k).
Dumoulin et al. 2017 (Sec. 4.3) learn a new painting's gamma/beta with the rest frozen; every new row
starts at the mean of the base's styles. `network.base` may also be a cin workdir (set the network
block to its structure). `cin_newstyle:testing` is a tiny run for tests.
"""

from stylejax.configs.train_base import get_train_base_config


ARGS = ("", "testing")  # what get_config(arg) accepts (NAME:ARG); anything else is refused


def get_config(arg: str = ""):
  c = get_train_base_config("cin_newstyle")
  c.network.base = "multistyle26"
  # multistyle26's structure (stylejax/io/cin_release.py): the run's config.json then describes its network.
  c.network.widths = (32, 32, 32)
  c.network.up_widths = (8, 4)
  c.network.n_residual = 6
  c.styles = ("the_scream",)
  c.style_size = 256
  c.data.content = "skimage"
  c.data.image_size = 128
  c.data.max_side = 384
  c.loss.style_weight = 30.0
  c.optim.batch_size = 4
  c.optim.learning_rate = 1e-2
  c.optim.steps = 200
  c.checkpoint_every = 100
  c.log_every = 10
  c.eval_every = 100
  c.eval_images = ("astronaut", "coffee", "chelsea")
  c.eval_size = 128
  if arg == "testing":
    c.styles = ("starry_night", "great_wave")
    c.style_size = 48
    c.data.image_size = 32
    c.data.max_side = 96
    c.loss.content_layers = "relu2_2"
    c.loss.style_layers = "relu1_2,relu2_2"
    c.optim.steps = 4
    c.checkpoint_every = 2
    c.log_every = 2
    c.eval_every = 0
    c.eval_images = ("astronaut",)
    c.eval_size = 32
  return c
