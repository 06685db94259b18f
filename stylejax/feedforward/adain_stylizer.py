"""A trained AdaIN decoder with its encoder, ready to stylize: from a training workdir or the release.

  model = AdainStylizer.from_workdir("workdirs/adain_tiny")              # `stylejax train` output
  model = AdainStylizer.from_release("models/decoder.pth")               # vgg_normalised.pth beside it
  out = model.apply(photo, [painting_a, painting_b], np.array([0.7, 0.3]), alpha=0.8)

`apply` has the signature of every arbitrary-style model (`stylejax.feedforward.arbitrary.
ArbitraryModel`). The controls are the paper's (section 7), in feature space:
- several paintings with weights: their AdaIN targets are mixed;
- alpha: t = alpha AdaIN(f_c, f_s) + (1 - alpha) f_c, so 0 decodes the photo's own features;
- a mask: region k of the photo gets painting k's statistics (AdaIN per region of the feature map);
  with one painting the dark band keeps the photo's own features;
- preserve_color: each painting first gets the photo's colour mean and covariance (the paper's
  colour control, the release's --preserve_color).

Paintings are resized so their shorter side is `style_side`, the scale the decoder saw them at in
training: the release's test.py uses 512 (its training crops 256 px from paintings resized to 512);
a workdir uses style_size x the mean of data.crop_scale.

The release's preprocessing contract (naoto0804/pytorch-AdaIN, test.py): RGB [0, 1] input (its
1x1 input conv is folded into conv1_1, `stylejax.io.adain_release`), VGG19 with reflect padding
and max pooling up to relu4_1, the paper's decoder. The release pools with ceil_mode; here the photo
is reflect-padded to a multiple of 8 (`adain.stylize`), which is the same for photos whose sides are
multiples of 8, and a painting's statistics leave out its last (side mod 8) rows and columns.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from stylejax.errors import StylejaxError
from stylejax.feedforward import arbitrary
from stylejax.io import checkpoints
from stylejax.imaging import color, images
from stylejax.io import adain_release
from stylejax.io import weights as weight_files
from stylejax.networks import adain
from stylejax.objectives import loss_network
from stylejax.networks import preprocessing
from stylejax.objectives.loss_network import LossNetwork

RELEASE_ENCODER = "vgg_normalised.pth"
RELEASE_STYLE_SIDE = 512


def release_network(preprocess: preprocessing.Preprocessing) -> LossNetwork:
  """The release's encoder: VGG19, reflect padding, max pooling, read up to relu4_1."""
  return LossNetwork(arch="vgg19", preprocessing=preprocess, pooling="max", padding="reflect",
                     content_layers=(adain.CONTENT_LAYER,), style_layers=adain.ENCODER_LAYERS,
                     statistic="mean_var")


@functools.partial(jax.jit, static_argnames=("net", "spec"))
def _stylize(decoder_params, vgg_params, content, styles, alpha, style_weights, mask, *, net, spec):
  return adain.stylize(decoder_params, vgg_params, content, styles, alpha, style_weights, mask, net=net,
                       spec=spec)


def _region_labels(mask: np.ndarray, shape: tuple[int, int], n_styles: int) -> np.ndarray:
  """Painting index per photo pixel from the mask's luminance bands; one painting: the dark band is
  -1, which `adain.target` leaves with the photo's own features."""
  if n_styles == 1:
    return arbitrary.region_labels(mask, shape, 2) - 1
  return arbitrary.region_labels(mask, shape, n_styles)


@dataclasses.dataclass(frozen=True)
class AdainStylizer:
  spec: adain.DecoderSpec
  net: LossNetwork
  decoder_params: dict
  vgg_params: dict
  style_side: int
  source: str  # where the weights came from, for messages

  @classmethod
  def from_workdir(cls, checkpoint: str | Path, step: int | None = None) -> "AdainStylizer":
    """The decoder of an `adain` training workdir (latest checkpoint by default), with the encoder
    and preprocessing its config names."""
    workdir = checkpoints.find_workdir(checkpoint)
    try:
      config = ml_collections.ConfigDict(checkpoints.read_json(workdir, "config.json"))
      spec = adain.DecoderSpec(width_multiplier=float(config.network.width_multiplier))
      style_side = round(config.style_size * sum(config.data.crop_scale) / 2)
      loss = config.loss
    except (AttributeError, KeyError, TypeError, ValueError) as e:
      raise StylejaxError(f"{workdir}: config.json is not an AdaIN training config ({type(e).__name__}: "
                          f"{e})") from None
    loaded = loss_network.load_weights(loss)
    net = loss_network.from_config(loss, loaded)
    like = jax.eval_shape(lambda: adain.init_params(spec, jax.random.key(0)))
    params, step = checkpoints.restore_params(workdir, like, step)
    return cls(spec=spec, net=net, decoder_params=params, vgg_params=loaded.params, style_side=style_side,
               source=f"{workdir} step {step}")

  @classmethod
  def from_release(cls, decoder: str | Path, encoder: str | Path | None = None) -> "AdainStylizer":
    """The release's decoder.pth and vgg_normalised.pth (default: beside the decoder)."""
    encoder = Path(decoder).parent / RELEASE_ENCODER if encoder is None else Path(encoder)
    if not encoder.is_file():
      raise StylejaxError(f"{encoder}: not found; the release's decoder needs its {RELEASE_ENCODER} "
                          "(put it beside the decoder, or pass --encoder PATH)")
    loaded = weight_files.read_weight_file(encoder, fmt="adain-vgg")
    decoder_params = adain_release.read_decoder(str(decoder))
    return cls(spec=adain.PAPER, net=release_network(loaded.preprocessing), decoder_params=decoder_params,
               vgg_params=loaded.params, style_side=RELEASE_STYLE_SIDE, source=str(decoder))

  def painting(self, painting: np.ndarray) -> np.ndarray:
    """A painting at the scale the decoder was trained on: shorter side `style_side`."""
    h, w = painting.shape[:2]
    scale = self.style_side / min(h, w)
    return images.resize(painting, (max(1, round(h * scale)), max(1, round(w * scale))))

  def apply(self, photo: np.ndarray, paintings: list[np.ndarray], weights: np.ndarray, alpha: float = 1.0,
            mask: np.ndarray | None = None, preserve_color: bool = False) -> np.ndarray:
    """The (H, W, 3) [0, 1] photo in the paintings' style: blended by `weights`, or placed by the
    bands of `mask` (an image, any size: painting k on the k-th band of its luminance, dark to light)."""
    if not (math.isfinite(alpha) and 0 <= alpha <= 1):
      raise StylejaxError(f"--alpha must be in [0, 1], got {alpha}")
    styles = [self.painting(p) for p in paintings]
    if preserve_color:
      styles = [color.match_histogram(s, photo) for s in styles]
    labels, blend = None, jnp.asarray(weights, jnp.float32)
    if mask is not None:
      labels, blend = jnp.asarray(_region_labels(mask, photo.shape[:2], len(styles))), None
    out = _stylize(self.decoder_params, self.vgg_params, jnp.asarray(photo), [jnp.asarray(s) for s in styles],
                   jnp.float32(alpha), blend, labels, net=self.net, spec=self.spec)
    return np.asarray(out)
