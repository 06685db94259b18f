"""DeepDream (`stylejax dream`): google/deepdream's loop on a pixel objective. Every default says
where it comes from; "notebook" is google/deepdream's dream.ipynb (2015), "TF tutorial" is
tensorflow.org/tutorials/generative/deepdream.

  stylejax dream photo.jpg --layer relu4_3 --octaves 4 --workdir workdirs/dream -o dream.png
  stylejax dream photo.jpg --network alexnet --layer relu4 --workdir workdirs/dream_alexnet
  stylejax dream photo.jpg --guide flowers.jpg --layer relu4_3 --workdir workdirs/guided

ARGs: "" (512 px), "testing" (tiny and fast, for tests and notebooks).
"""

from stylejax.configs.base import get_base_config
from stylejax.configs.fields import add_field


ARGS = ("", "testing")  # what get_config(arg) accepts (NAME:ARG); anything else is refused


def get_config(arg: str = ""):
  c = get_base_config()
  c.task = "dream"
  c.content = "astronaut"  # the photo dreamt on (the notebook's is sky1024px.jpg)
  c.styles = ()  # none: add paintings and "style" to objective.terms to mix a style term in
  c.image_size = 512  # stylejax's choice (the notebook dreams its 1024 px photo at full size)
  c.objective.terms = "dream"  # e.g. "dream,content" keeps the photo's content (loss.content_weight)
  c.dream.layers = "relu4_3"  # stylejax's choice, a mid-high layer as the notebook's inception_4c/output
  c.dream.objective = "l2"  # the notebook's objective_L2 (its default)
  add_field(c, "dream.octaves", 4, "image sizes dreamt, smallest first (the notebook's octave_n=4)")
  add_field(c, "dream.octave_scale", 1.4, "each octave is 1/octave_scale of the next (the notebook's 1.4)")
  add_field(c, "dream.steps", 10, "steps per octave (the notebook's iter_n=10)")
  add_field(c, "dream.step_size", 1.5 / 255, "step of the normalised gradient, in [0, 1] pixel units (the "
            "notebook's step_size=1.5 on 0..255 pixels)")
  add_field(c, "dream.jitter", 32, "random roll of up to +-jitter px before each gradient (the notebook's 32)")
  add_field(c, "dream.normalize", "mean_abs", "mean_abs: step / mean|g| (the notebook) | std: step / std(g) "
            "(the TF tutorial)")
  add_field(c, "dream.clip", True, "clip pixels to [0, 1] after each step (the notebook's clip=True)")
  add_field(c, "dream.tile_size", 0, "gradient in tiles of at most this many px at a random offset, one "
            "tile in memory at a time (the TF tutorial's TiledGradients uses 512); 0: no tiles")
  add_field(c, "dream.transforms", False, "lucid's standard transforms (pad 12, jitter 8, scale 0.9..1.1, "
            "rotate -10..10 deg, jitter 4) before each gradient; off in the notebook")
  add_field(c, "dream.guide_size", 0, "guided: the guide's longer side in px (0: image_size); the notebook "
            "computes its guide features once, at the guide's own size")
  if arg == "testing":
    c.content = "astronaut"
    c.image_size = 48
    c.dream.octaves = 2
    c.dream.steps = 2
    c.dream.layers = "relu2_2"
  return c
