"""Ghiasi et al. 2017's style-prediction network with the paper's settings, for accelerators.

  stylejax train --config ghiasi_paper --workdir workdirs/ghiasi_paper \
      --config.data.content=tfds:coco/2014 --config.styles=folder:PATH/TO/paintings

As the paper and Magenta's release (arbitrary_image_stylization_train.py): the full-width multi-style
transformer (32, 64, 128, five residual blocks) whose every instance norm is predicted from a 100-d
style embedding; VGG16 loss with content at "conv3" (relu3_3) and Gram style at "conv1".."conv4"
(relu1_2, relu2_2, relu3_3, relu4_3); 256 px photo and painting crops with flips; batch 8; Adam at
1e-5 for both networks (network.style_lr_scale 1; ghiasi_tiny slows the style network to 1/100 of
its faster rate); 8M steps (the release's default).

What differs from the paper:
- the style network's backbone is the packaged VGG16 (vgg16-lpips), frozen, summarised by each
  channel's mean and std at relu1_2..relu4_3, then a 512-wide hidden layer and the 100-d linear
  bottleneck; the paper fine-tunes Inception-v3 (ImageNet weights) up to Mixed-6e and mean-pools it
  (no Inception weights ship offline). AlexNet: --config.network.style_features=alexnet;
- photos: MS-COCO here, ImageNet in the paper; paintings: any folder (the paper: Painter by Numbers,
  about 80k paintings, plus the DTD textures; see README, "Training data");
- the loss weights are in this project's loss normalisation (Gatys Gram, loss.py), not
  Magenta's; style weight as the CIN preset (cin_multistyle), no total variation;
- the release also resizes style images to a random size before cropping; here the painting's
  shorter side is scaled by U(crop_scale) like the photos.
"""

from stylejax.configs.train_base import get_train_base_config


ARGS = ("",)  # what get_config(arg) accepts (NAME:ARG); anything else is refused


def get_config(arg: str = ""):
  del arg
  c = get_train_base_config("ghiasi")
  c.network.style_features = "vgg16"
  c.network.embedding_dim = 100
  c.network.width_multiplier = 1.0
  c.styles = ("folder:data/paintings",)  # Painter by Numbers / WikiArt paintings
  c.style_size = 256
  c.data.content = "tfds:coco/2014"  # prepared in array_record format (README, "Training data")
  c.data.image_size = 256
  c.data.crop_scale = (1.0, 2.0)
  c.data.max_side = 1024
  c.optim.learning_rate = 1e-5
  c.optim.batch_size = 8
  c.optim.steps = 8_000_000
  c.checkpoint_every = 10_000
  c.log_every = 100
  c.eval_every = 10_000
  c.eval_size = 256
  return c
