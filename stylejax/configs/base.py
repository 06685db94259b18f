"""The base config of single-image style transfer (pixel optimization). Every field is commented.

Other configs start from `get_base_config()` and assign its fields; the result is locked, so a typo in
a config file or an override (`--config.optim.stpes=10`) is an error instead of a silently new key.
A config that needs a new field declares it with `stylejax.configs.fields.add_field` and a doc.
"""

import ml_collections

from stylejax.configs.loss import get_loss_config


def get_base_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.task = "stylize"  # what runs this config (stylejax/tasks.py): stylize | sweep (a sweep file's runs)
  c.content = "astronaut"  # content image: a file, or astronaut | coffee | chelsea | rocket
  c.styles = ("starry_night",)  # style image files or names (starry_night, great_wave bundled)
  c.style_blend = ()  # one weight per style (normalised to sum 1); empty means equal weights
  c.seed = 0  # the only source of randomness (noise init, sliced-Wasserstein projections)
  c.image_size = 384  # longer side of the output, in pixels
  c.style_scale = 1.0  # style images are resized to style_scale * image_size (longer side)
  c.max_pixels = 100_000_000  # refuse larger input images (decompression-bomb guard)
  c.preserve_color = "none"  # none | luminance | histogram (Gatys et al. 2017)

  c.loss = get_loss_config()  # the loss network and loss terms (stylejax/configs/loss.py)

  c.objective = ml_collections.ConfigDict()
  c.objective.terms = "content,style,tv"  # summed in this order: content | style | tv (fields in `loss`)

  c.optim = ml_collections.ConfigDict()
  c.optim.name = "lbfgs"  # lbfgs | adam
  c.optim.learning_rate = 0.02  # adam step size; ignored by lbfgs (see line_search, lbfgs_step)
  c.optim.lbfgs_memory = 10  # lbfgs history size
  # parallel: Armijo over fixed candidate steps, one batched evaluation per step (vmapped sweeps)
  c.optim.line_search = "zoom"  # lbfgs: zoom (optax's strong Wolfe) | none (fixed step lbfgs_step) | parallel
  c.optim.max_linesearch_steps = 20  # lbfgs, zoom: most loss evaluations one line search makes
  c.optim.line_search_candidates = 1  # lbfgs, parallel: step sizes 1, 1/2, ... evaluated per step
  c.optim.lbfgs_step = 1.0  # lbfgs, line_search=none: step size (torch.optim.LBFGS's lr, default 1)
  c.optim.steps = 200  # optimizer steps at the final scale
  c.optim.init = "content"  # content | noise | content_noise | style_mean
  c.optim.init_noise = 0.1  # content_noise: amplitude of the seeded uniform noise added to the photo
  c.optim.parametrization = "clip"  # clip (pixels clipped to [0, 1]) | sigmoid (image = sigmoid(z))

  c.multiscale = ml_collections.ConfigDict()
  c.multiscale.scales = (1.0,)  # coarse-to-fine fractions of image_size, ending at 1.0
  c.multiscale.coarse_steps = 100  # optimizer steps at each scale before the last

  # The DeepDream term (stylejax/objectives/terms/dream.py; `stylejax dream` and configs/dream.py).
  c.dream = ml_collections.ConfigDict()
  c.dream.network = "vgg"  # vgg (the loss block's network) | alexnet | mobilenet_v2
  c.dream.layers = "relu4_3"  # "layer[:weight],..." of dream.network, e.g. "relu4_3" or "relu3_3,relu5_1:0.5"
  c.dream.channels = ""  # comma-separated channel numbers dreamt on (every channel when empty)
  c.dream.objective = "l2"  # l2 (google/deepdream) | mean (TF tutorial) | guided (grow the guide's features)
  c.dream.guide = ""  # guided: the guide image (a file or a named image)
  c.dream.weight = 1.0  # multiplies the dream term (its value is minus the layers' response)

  c.sweep_chunk_size = 0  # sweeps: runs per program call (0: all runs of a group at once)
  # 0: one at a time on CPU and for L-BFGS zoom, else all (stylejax.pixel.sweep.runs_in_parallel_for)
  c.sweep_runs_in_parallel = 0  # sweeps: runs vmapped together in a program call, the rest one after another
  c.log_every = 20  # steps run on device between host logging (one jitted chunk)
  c.snapshot_every = 0  # save an image every N steps (rounded up to log_every); 0: never
  c.lock()
  return c
