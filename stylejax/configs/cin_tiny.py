"""Four styles on a small local set at 128 px: visibly stylized output in about 10 minutes on 2 CPUs.

(400 steps took 13.6 min on 2 CPU cores; this config stops at 300. docs/cin_tiny_grid.png is step 300.)

  stylejax train --config cin_tiny --workdir workdirs/cin_tiny
  stylejax grid --checkpoint workdirs/cin_tiny -o workdirs/cin_tiny/grid.png

Content: the scikit-image photos by default (offline); any folder with
`--config.data.content=folder:../shared/data/content`. A half-width network (width_multiplier 0.5)
keeps a step cheap.
"""

from stylejax.configs.train_base import get_train_base_config


ARGS = ("", "runlocal")  # what get_config(arg) accepts (NAME:ARG); anything else is refused


def get_config(arg: str = ""):
  c = get_train_base_config()
  c.styles = ("starry_night", "great_wave", "composition_vii", "the_scream")
  c.style_size = 128
  c.data.content = "skimage"
  c.data.image_size = 128
  c.data.max_side = 384
  c.network.width_multiplier = 0.5
  c.loss.style_weight = 30.0  # 1e3 gave texture without content in a 200-step pilot
  c.optim.batch_size = 4
  c.optim.learning_rate = 2e-3
  c.optim.steps = 300  # styles distinct and photos recognisable by 300 (checked up to 600 steps)
  c.checkpoint_every = 100
  c.log_every = 20
  c.eval_every = 100
  c.eval_images = ("astronaut", "coffee", "chelsea")
  c.eval_size = 128
  if arg == "runlocal":
    c.optim.steps = 60
    c.checkpoint_every = 30
    c.eval_every = 0
  return c
