"""The `loss` block every method's config includes: the loss network and the loss terms.

`stylejax.objectives.loss_network` builds its one frozen spec from this block, for pixel
optimization, the multi-style network and every later method. Every field is commented; a method
changes values (e.g. its layers) but adds no fields here.
"""

import ml_collections


def get_loss_config() -> ml_collections.ConfigDict:
  loss = ml_collections.ConfigDict()
  loss.network = ml_collections.ConfigDict()
  loss.network.arch = "vgg16"  # vgg16 | vgg19; must match the weights
  loss.network.weights = "vgg16-lpips"  # a source name (`stylejax weights list`) or a weight file path
  loss.network.format = ""  # weight file format when `weights` is a path with an ambiguous name
  loss.network.pooling = "max"  # max | avg (Gatys et al. preferred avg)
  loss.network.padding = "zero"  # zero | reflect
  loss.network.precision = "float32"  # float32 | tf32 | bf16: conv/matmul precision of the network
  loss.network.remat = False  # recompute each VGG block's activations in the backward pass (less memory)

  loss.content_layers = "relu4_2"  # "layer[:weight],..." e.g. "conv4_2" or "relu3_1:0.5,relu4_1"
  loss.style_layers = "relu1_1,relu2_1,relu3_1,relu4_1,relu5_1"  # same syntax, per-layer weights
  loss.content_weight = 1.0  # multiplies the content loss
  loss.style_weight = 1e4  # multiplies the style loss
  loss.tv_weight = 0.0  # multiplies the total-variation loss
  loss.statistic = "gram"  # gram | mean_var | mean_cov | sliced_wasserstein
  loss.gram_norm = "gatys"  # gatys | hw | chw (see stylejax/objectives/losses.py)
  loss.n_projections = 64  # sliced_wasserstein: random directions per layer
  return loss
