"""The base config of training any method of stylejax.methods (cin, adain, ghiasi). Every field is commented.

Training configs (`cin_*`, `adain_*`, `ghiasi_*`) start from `get_train_base_config(kind)`;
the result is locked, so a typo in a config file or an override is an error (`stylejax.configs.fields.add_field`
declares a new field). Run one with

  stylejax train --config cin_tiny --workdir workdirs/cin_tiny
"""

import ml_collections

from stylejax.configs.loss import get_loss_config
from stylejax.configs.temporal import get_temporal_config
from stylejax.methods import registry


def get_train_base_config(kind: str = "cin") -> ml_collections.ConfigDict:
  """The base of a training config for the method `kind` (stylejax.methods.registry)."""
  c = ml_collections.ConfigDict()
  c.task = "train"  # what runs this config (stylejax/tasks.py): `stylejax train`, or stylejax.main
  c.seed = 0  # the only source of randomness: init, data order, crops, sliced-Wasserstein keys
  c.styles = ("starry_night", "great_wave")  # style image files/names, or one folder of images
  c.style_size = 256  # each style image: centre square crop, resized to style_size x style_size

  c.data = ml_collections.ConfigDict()
  c.data.content = "skimage"  # skimage | folder:PATH | tfds:NAME (e.g. tfds:coco/2014, prepared)
  c.data.tfds_data_dir = ""  # for tfds:NAME; empty: $TFDS_DATA_DIR or ~/tensorflow_datasets
  c.data.split = "train"  # for tfds:NAME
  c.data.image_size = 256  # training crops are image_size x image_size
  c.data.crop_scale = (1.0, 1.5)  # before a crop, the image's shorter side is resized to crop x U(lo, hi)
  c.data.max_side = 512  # folder datasets store images with the longer side at most this
  c.data.prefetch = 2  # batches prepared ahead by grain threads

  # The method's own block (stylejax.methods.<kind>.network_config): network.kind and the fields
  # of that method alone (`stylejax train --help` lists the methods).
  c.network = registry.get(kind).network_config()

  c.temporal = get_temporal_config()  # the temporal term (stylejax/configs/temporal.py); off by default

  c.loss = get_loss_config()  # the loss network and loss terms (stylejax/configs/loss.py)
  c.loss.content_layers = "relu3_3"  # the paper's "conv3" (end of VGG16 block 3)
  c.loss.style_layers = "relu1_2,relu2_2,relu3_3,relu4_3"  # "conv1".."conv4" block ends
  c.loss.style_weight = 1e3

  c.optim = ml_collections.ConfigDict()
  c.optim.learning_rate = 1e-3  # Adam peak learning rate
  c.optim.schedule = "constant"  # constant | cosine (decay to 0 at the last step)
  c.optim.warmup_steps = 0  # linear warm-up from 0 before the schedule
  c.optim.grad_clip = 0.0  # clip the global gradient norm to this; 0: no clipping
  c.optim.steps = 40_000  # training steps
  c.optim.batch_size = 16  # global batch, split over all devices (and hosts)

  c.checkpoint_every = 1000  # save an orbax checkpoint every N steps (and at the last step)
  c.keep_checkpoints = 3  # keep the K most recent checkpoints
  c.log_every = 50  # steps between metric lines (JSONL, TensorBoard, progress bar)
  c.eval_every = 1000  # steps between eval grids (eval photos x all styles); 0: only at the end
  c.eval_images = ("astronaut", "coffee", "chelsea")  # fixed eval photos (files or skimage names)
  c.eval_size = 256  # longer side of the eval photos
  c.multihost = False  # call jax.distributed.initialize() first (multi-host; see README)
  c.lock()
  return c
