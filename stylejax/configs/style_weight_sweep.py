"""An example sweep: style weight x seed for one content/style pair, as one vmapped program.

  stylejax sweep style_weight_sweep --workdir workdirs/sw --evaluate alexnet
  stylejax sweep style_weight_sweep:testing --workdir /tmp/sw     # tiny
"""

from stylejax.configs import quickstart, testing
from stylejax.pixel.sweep import cross, product, zipped


ARGS = ("", "testing")  # what get_config(arg) accepts (NAME:ARG); anything else is refused


def get_config(arg: str = ""):
  c = testing.get_config() if arg == "testing" else quickstart.get_config("runlocal")
  c.task = "sweep"  # runs with `stylejax sweep`, which also reads get_sweep
  c.content, c.styles = "chelsea", ("starry_night",)
  c.optim.init = "noise"  # so that seeds differ for every statistic
  # Adam, not the quickstart's L-BFGS zoom, so that the runs share one vmapped program: vmapped, the
  # zoom search computes both branches of its lax.conds (on CPU a zoom sweep goes run by run instead).
  c.optim.name, c.optim.learning_rate = "adam", 0.03
  return c


def get_sweep(arg: str = ""):
  weights = [1e3, 1e4] if arg == "testing" else [1e3, 1e4, 1e5]
  return cross(product({"loss.style_weight": weights}),
               zipped({"seed": [0, 1], "optim.learning_rate": [0.03, 0.03]}))
