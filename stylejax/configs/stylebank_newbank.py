"""Incremental learning (Chen et al. 2017, Sec. 3.3): a new style's bank on a trained StyleBank,
whose encoder, decoder and existing banks stay frozen (bit-identical in the result).

  stylejax train --config stylebank_tiny --workdir workdirs/stylebank_tiny
  stylejax train --config stylebank_newbank --workdir workdirs/stylebank_newbank \
      --set network.base=workdirs/stylebank_tiny --set styles=PATH/TO/PAINTING.jpg
  stylejax apply --checkpoint workdirs/stylebank_newbank --style 4 astronaut -o out/

Only the stylising branch runs (the paper trains the new bank alone; jxcodetw/Stylebank
IncrementalLearning.ipynb optimises only the new bank's parameters). The network fields must equal the
base's (checked); `styles` lists the new styles only, which follow the base's in the result.
"""

from stylejax.configs import stylebank_tiny


ARGS = ("",)  # what get_config(arg) accepts (NAME:ARG); anything else is refused


def get_config(arg: str = ""):
  del arg
  c = stylebank_tiny.get_config()
  c.network.base = "workdirs/stylebank_tiny"  # the StyleBank to extend (--set network.base=...)
  c.styles = ("the_scream",)  # the new style(s): give your painting
  c.optim.steps = 150  # a bank is small: far fewer steps than the base
  c.optim.learning_rate = 5e-3
  # The frozen decoder keeps the photo only as far as the new bank lets it: at the base's style weight
  # (30) a new bank gave content SSIM 0.25 on held-out paintings, at 10: 0.36, 5: 0.44, 3: 0.48, its Gram
  # distance staying at or below Gatys's (experiments/trained_networks_stylebank, issue 22).
  c.loss.style_weight = 4.0
  c.checkpoint_every = 50
  c.eval_every = 50
  return c
