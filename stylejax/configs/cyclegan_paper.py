"""CycleGAN as the paper trains it (Zhu et al. 2017; the reference's defaults): ResNet-9 generators,
70x70 PatchGAN, 256 px crops of images loaded at 286, batch 1, Adam 2e-4 (beta1 0.5), 100 epochs
constant + 100 epochs linear decay, LSGAN, lambda 10, identity 0.5, pools of 50. For an accelerator.

One epoch is max(|trainA|, |trainB|) images; `get_config("horse2zebra")` sets the steps for that set
(1067 horses, 1334 zebras: 200 epochs = 266,800 steps). The data: tfds's `cycle_gan/NAME`, prepared
in array_record format (README, "CycleGAN"):

  stylejax train --config cyclegan_paper:horse2zebra --workdir workdirs/horse2zebra
  stylejax translate --checkpoint workdirs/horse2zebra --direction AtoB photos/ -o out/
"""

from stylejax.configs.train_base import get_train_base_config

EPOCH_IMAGES = {"horse2zebra": 1334, "monet2photo": 6287, "summer2winter_yosemite": 1231,
                "apple2orange": 1019, "vangogh2photo": 6287, "cezanne2photo": 6287}  # max(|trainA|, |trainB|)
ARGS = ("", *EPOCH_IMAGES)  # what get_config(arg) accepts (NAME:ARG); anything else is refused


def get_config(arg: str = ""):
  name = arg or "horse2zebra"
  epoch = EPOCH_IMAGES[name]
  c = get_train_base_config("cyclegan")
  c.data.content = f"tfds:cycle_gan/{name}"
  c.data.split = "train"  # splits trainA and trainB
  c.data.image_size = 256  # crop_size
  c.data.max_side = 512
  c.network.n_blocks = 9
  c.network.load_size = 286
  c.network.constant_steps = 100 * epoch  # n_epochs
  c.network.decay_steps = 100 * epoch  # n_epochs_decay
  c.optim.learning_rate = 2e-4
  c.optim.batch_size = 1
  c.optim.steps = 200 * epoch
  c.checkpoint_every = 5 * epoch
  c.keep_checkpoints = 3
  c.log_every = 100
  c.eval_every = 5 * epoch
  c.eval_size = 256
  return c
