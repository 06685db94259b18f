"""Config of the Gram vs mean/variance study (see README.md for the protocol).

  python experiments/gram_vs_meanvar/run.py --data ../shared/data              # default, <= 2 h on 2 CPUs
  python experiments/gram_vs_meanvar/run.py --data ../shared/data --runlocal   # <= 15 min, a quick look
  python experiments/gram_vs_meanvar/run.py --data ../shared/data --scale accelerator  # GPU/TPU size
"""

import ml_collections

from stylejax.configs.base import get_base_config
from stylejax.configs.fields import add_field


ARGS = ("", "runlocal", "accelerator")  # what get_config(arg) accepts (NAME:ARG); anything else is refused


def get_config(arg: str = ""):
  c = get_base_config()
  c.loss.network.weights, c.loss.network.arch = "vgg16-lpips", "vgg16"
  c.loss.content_layers = "relu4_2"
  c.loss.style_layers = "relu1_1,relu2_1,relu3_1,relu4_1,relu5_1"
  c.loss.content_weight = 1.0
  # Adam, each statistic's weight grid as one vmapped program (a chunk of 3 runs). L-BFGS reached a
  # given loss in fewer steps, but its zoom line search spent more evaluations per step as the loss
  # flattened (~1 s per step at 192 px on 2 busy cores) and cannot share a program across runs
  # without evaluating both sides of every cond; Adam's cost is one evaluation per step, the same
  # for every statistic. In a pilot at 192 px (coffee x The Kiss) lr 0.05 flattened the loss by
  # ~120 steps (loss_curves_default.png shows it for every run).
  c.optim.name = "adam"
  c.optim.learning_rate = 0.05
  c.optim.init = "content_noise"  # the photo plus seeded noise, so seeds matter for every statistic
  c.optim.init_noise = 0.1
  c.image_size = 192  # brushwork is visible from here up (the floor)
  c.optim.steps = 120
  c.log_every = 20
  c.sweep_chunk_size = 3  # runs per vmapped program: one statistic's weight grid for one pair
  add_study_fields(c)
  if arg == "runlocal":  # a quick look: same protocol, small images and few pairs
    c.image_size = 128
    c.optim.steps = 60
    c.study.paintings_per_set = 1
  elif arg == "accelerator":  # the paper-sized study, for a GPU/TPU: every pair, 512 px, long runs
    c.image_size = 512
    c.optim.name = "lbfgs"  # the paper's optimizer, one run per program (see above)
    c.optim.steps = 500
    c.log_every = 50
    c.sweep_chunk_size = 1
    c.study.photos_per_painting = 0
    c.study.seeds = 3
    c.study.multipliers = (0.0625, 0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
    c.study.init_pairs = 0
  return c


def add_study_fields(c):
  add_field(c, "study", ml_collections.ConfigDict(), "the study's protocol (pairs, weight grid, seeds, inits)")
  add_field(c, "study.statistics", ("gram", "mean_var", "mean_cov"), "the statistics compared (gram: the reference)")
  add_field(c, "study.reference_gram_weight", 10.0, "the gram style weight every statistic is calibrated to")
  add_field(c, "study.multipliers", (0.25, 1.0, 4.0), "style-weight grid: x the statistic's calibrated weight")
  add_field(c, "study.photos_per_painting", 1, "photos paired with each painting, rotating; 0: every photo")
  add_field(c, "study.paintings_per_set", 0, "paintings per image set (sets alternate over the sorted "
            "paintings); 0: all")
  add_field(c, "study.seeds", 1, "seeds per pair (the bootstrap nests them in pairs)")
  add_field(c, "study.init_pairs", 1, "pairs per set that also run the other inits (centre weight); 0: all")
  add_field(c, "study.inits", ("content", "noise"), "the inits reported beside content_noise")
  add_field(c, "study.content_levels", (0.25, 0.5, 0.75), "matched content levels: fractions of the "
            "content-LPIPS range that all statistics' curves share")
  add_field(c, "study.bootstrap_resamples", 2000, "resamples for the intervals (pairs, then seeds in pairs)")
