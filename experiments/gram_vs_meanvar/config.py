"""Base config of the Gram vs mean/variance ablation (see README.md for the protocol).

  python experiments/gram_vs_meanvar/run.py --data ../shared/data             # default protocol
  python experiments/gram_vs_meanvar/run.py --data ../shared/data --runlocal  # quick look
"""

from configs.base import get_base_config


ARGS = ("", "runlocal")  # what get_config(arg) accepts (NAME:ARG); anything else is refused


def get_config(arg: str = ""):
  c = get_base_config()
  c.image_size = 64 if arg == "runlocal" else 96
  c.loss.network.weights, c.loss.network.arch = "vgg16-lpips", "vgg16"
  c.loss.content_layers = "relu4_2"
  c.loss.style_layers = "relu1_1,relu2_1,relu3_1,relu4_1,relu5_1"
  c.loss.content_weight = 1.0
  c.optim.name = "adam"  # one loss evaluation per step: the same cost for every statistic
  c.optim.learning_rate = 0.02
  c.optim.steps = 32 if arg == "runlocal" else 64
  # The photo plus seeded noise: seeds matter for every statistic, and 64 steps suffice (from pure
  # noise, 64 Adam steps left every statistic in the texture regime, content LPIPS ~0.85).
  c.optim.init = "content_noise"
  c.optim.init_noise = 0.1
  c.log_every = 8 if arg == "runlocal" else 16
  c.sweep_chunk_size = 3  # runs per program
  return c
