"""StyleBank (Chen et al. 2017) on four styles, small enough for 2 CPU cores.

  stylejax train --config stylebank_tiny --workdir workdirs/stylebank_tiny
  stylejax apply --checkpoint workdirs/stylebank_tiny --style 0:0.5,2:0.5 astronaut -o out/
  stylejax apply --checkpoint workdirs/stylebank_tiny --style 0,3 --mask MASK.png astronaut -o out/

The paper's settings, and where this config departs from them for a laptop:
- Network (the paper's Sec. 3.1): encoder 9x9 s1, 3x3 s2, 3x3 s2 with instance norm + ReLU, decoder
  its mirror (here nearest x2 + conv, `stylejax.networks.stylebank`). Banks: 2 conv+IN+ReLU layers of
  3x3 at the encoder's last width, as the most used reimplementation (jxcodetw/Stylebank
  networks.py, which widens the bottleneck to 256 channels). Half width here.
- Training: (T+1)-step alternation, T = 2 (the paper; jxcodetw args.py `T = 2`); Adam 1e-3 (jxcodetw
  `lr = 0.001`, decayed x0.8 every 10k iterations over 300k; here constant, a few hundred steps).
  Loss: VGG16 content + Gram style + TV; jxcodetw uses content conv4_2 and style conv1_2, conv2_2,
  conv3_2, conv4_2 (its conv_9; conv_2/4/6/9) at style weight 1e6 on its own Gram normalisation and
  TV 1e-5. Here the base config's layers (relu3_3; relu1_2..relu4_3) and cin_tiny's style weight.
"""

from stylejax.configs.train_base import get_train_base_config


ARGS = ("", "runlocal")  # what get_config(arg) accepts (NAME:ARG); anything else is refused


def get_config(arg: str = ""):
  c = get_train_base_config("stylebank")
  c.styles = ("starry_night", "great_wave", "composition_vii", "the_scream")
  c.style_size = 128
  c.data.content = "skimage"
  c.data.image_size = 128
  c.data.max_side = 384
  c.network.width_multiplier = 0.5
  c.loss.style_weight = 30.0  # cin_tiny's: 1e3 gave texture without content there
  c.optim.batch_size = 4
  c.optim.learning_rate = 2e-3
  c.optim.steps = 300
  c.checkpoint_every = 100
  c.log_every = 20
  c.eval_every = 100
  c.eval_images = ("astronaut", "coffee", "chelsea")
  c.eval_size = 128
  if arg == "runlocal":
    c.optim.steps = 30
    c.checkpoint_every = 15
    c.eval_every = 0
  return c
