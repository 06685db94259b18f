"""The base config of single-image style transfer (pixel optimization). Every field is commented.

Other configs start from `get_base_config()` and change fields; the result is locked, so a typo in an
override (`--config.optim.stpes=10`) is an error instead of a silently ignored key.
"""

import ml_collections


def get_base_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.content = "astronaut"  # content image: a file, or astronaut | coffee | chelsea | rocket
  c.styles = ("starry_night",)  # style image files or names (starry_night, great_wave bundled)
  c.style_blend = ()  # one weight per style (normalised to sum 1); empty means equal weights
  c.seed = 0  # the only source of randomness (noise init, sliced-Wasserstein projections)
  c.image_size = 384  # longer side of the output, in pixels
  c.style_scale = 1.0  # style images are resized to style_scale * image_size (longer side)
  c.max_pixels = 100_000_000  # refuse larger input images (decompression-bomb guard)
  c.preserve_color = "none"  # none | luminance | histogram (Gatys et al. 2017)

  c.vgg = ml_collections.ConfigDict()
  c.vgg.arch = "vgg16"  # vgg16 | vgg19; must match the weights
  c.vgg.weights = "vgg16-lpips"  # a source name (`stylejax weights list`) or a weight file path
  c.vgg.format = ""  # weight file format when `weights` is a path with an ambiguous name
  c.vgg.pooling = "max"  # max | avg (Gatys et al. preferred avg)
  c.vgg.padding = "zero"  # zero | reflect

  c.loss = ml_collections.ConfigDict()
  c.loss.content_layers = "relu4_2"  # "layer[:weight],..." e.g. "conv4_2" or "relu3_1:0.5,relu4_1"
  c.loss.style_layers = "relu1_1,relu2_1,relu3_1,relu4_1,relu5_1"  # same syntax, per-layer weights
  c.loss.content_weight = 1.0  # multiplies the content loss
  c.loss.style_weight = 1e4  # multiplies the style loss
  c.loss.tv_weight = 0.0  # multiplies the total-variation loss
  c.loss.statistic = "gram"  # gram | mean_var | mean_cov | sliced_wasserstein
  c.loss.gram_norm = "gatys"  # gatys | hw | chw (see stylejax/objectives/losses.py)
  c.loss.n_projections = 64  # sliced_wasserstein: random directions per layer

  c.optim = ml_collections.ConfigDict()
  c.optim.name = "lbfgs"  # lbfgs (with zoom line search) | adam
  c.optim.learning_rate = 0.02  # adam step size; ignored by lbfgs, whose line search sets it
  c.optim.lbfgs_memory = 10  # lbfgs history size
  c.optim.steps = 200  # optimizer steps at the final scale
  c.optim.init = "content"  # content | noise | content_noise | style_mean
  c.optim.init_noise = 0.1  # content_noise: amplitude of the seeded uniform noise added to the photo
  c.optim.parametrization = "clip"  # clip (pixels clipped to [0, 1]) | sigmoid (image = sigmoid(z))

  c.multiscale = ml_collections.ConfigDict()
  c.multiscale.scales = (1.0,)  # coarse-to-fine fractions of image_size, ending at 1.0
  c.multiscale.coarse_steps = 100  # optimizer steps at each scale before the last

  c.sweep_chunk_size = 0  # sweeps: runs per compiled batch (0: all runs of a group at once)
  c.log_every = 20  # steps run on device between host logging (one jitted chunk)
  c.snapshot_every = 0  # save an image every N steps (rounded up to log_every); 0: never
  c.lock()
  return c
