"""An example sweep: style weight x seed for one content/style pair, as one vmapped program.

  stylejax sweep style_weight_sweep --workdir workdirs/sw --evaluate alexnet
  stylejax sweep style_weight_sweep:testing --workdir /tmp/sw     # tiny
"""

from stylejax.configs import quickstart, testing
from stylejax.pixel.sweep import cross, product


ARGS = ("", "testing")  # what get_config(arg) accepts (NAME:ARG); anything else is refused


def get_config(arg: str = ""):
  c = testing.get_config() if arg == "testing" else quickstart.get_config("runlocal")
  c.task = "sweep"  # runs with `stylejax sweep`, which also reads get_sweep
  c.content, c.styles = "chelsea", ("starry_night",)
  c.optim.init = "noise"  # so that seeds differ for every statistic
  # L-BFGS as the quickstart, with the parallel line search instead of zoom: a fixed number of batched
  # evaluations per step and no lax.cond, so on accelerators the runs are vmapped together (vmapped,
  # zoom computes both branches of its lax.conds and waits for the slowest run's search). Single runs
  # reach torch's 300-iteration loss in 0.58x torch's time with it, zoom 0.55x (BENCHMARKS.md, issue25).
  c.optim.name, c.optim.line_search = "lbfgs", "parallel"
  return c


def get_sweep(arg: str = ""):
  weights = [1e3, 1e4] if arg == "testing" else [1e3, 1e4, 1e5]
  return cross(product({"loss.style_weight": weights}),
               product({"seed": [0, 1]}))
