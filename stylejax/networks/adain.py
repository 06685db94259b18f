"""Arbitrary style transfer with adaptive instance normalisation (Huang & Belongie 2017).

A fixed VGG encoder (the shared loss network, `stylejax.objectives.loss_network`) maps the photo and
the painting to relu4_1 features; AdaIN gives the photo's features the painting's per-channel mean
and standard deviation; a learned decoder that mirrors VGG up to relu4_1 maps them back to pixels.
Any painting works in one forward pass, with no training per style.

Pure entry points (frozen parameters in, arrays out; jit with `net` and `spec` static):
  encode(vgg_params, net, images)                     relu1_1..relu4_1 features
  adain(content_features, style_features)             the AdaIN layer
  target(content_features, style_features, ...)       t, with the paper's inference controls
  decode(spec, decoder_params, features)              pixels (not clipped), as in training
  stylize(decoder_params, vgg_params, content, style, alpha, style_weights, mask, net=, spec=)
  batch_loss(net, spec, decoder_params, vgg_params, content, style, weights, key)

Inference controls (paper, section 7): `alpha` trades content for style, t = alpha AdaIN + (1 -
alpha) f_c; several paintings with `style_weights` mix their AdaIN targets; a `mask` of region labels
stylizes each region of the photo with its own painting (AdaIN per region of the feature map).
Colour preservation: give the painting the photo's colours first (`stylejax.imaging.color.
match_histogram(style, content)`), or keep the photo's chrominance afterwards (`transfer_luminance`).

Statistics follow the release (naoto0804/pytorch-AdaIN, `calc_mean_std`): over H and W, unbiased
variance, eps 1e-5 added to the variance. The style *loss* uses the shared `mean_var` statistic
(biased variance): the two differ by a factor HW / (HW - 1) in the variance, under 0.1% at the
paper's relu4_1 size (32 x 32).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import TYPE_CHECKING, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from stylejax.errors import StylejaxError
from stylejax.imaging import grids, padding
from stylejax.networks import conv

if TYPE_CHECKING:  # a loss network is passed in; networks/ does not depend on objectives/
  from stylejax.objectives.loss_network import LossNetwork

ENCODER_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
CONTENT_LAYER = "relu4_1"
EPSILON = 1e-5
DOWNSAMPLING = 8  # three VGG poolings before relu4_1, three x2 upsamplings in the decoder
MIN_SIDE = 16  # relu4_1 at 2 x 2: the least that has a variance


@dataclasses.dataclass(frozen=True)
class DecoderSpec:
  """The decoder's structure (hashable: a jit static argument). `width_multiplier` scales the
  inner widths (256, 128, 64) for small fast models; 1.0 is the paper's decoder."""
  width_multiplier: float = 1.0

  def __post_init__(self):
    if not self.width_multiplier > 0:
      raise StylejaxError(f"width_multiplier must be positive, got {self.width_multiplier}")

  @property
  def plan(self) -> tuple[tuple[int, int, bool], ...]:
    """(in channels, out channels, nearest x2 upsampling before the conv) of each 3x3 conv.

    The release's channel plan: 512->256, up, 256x3, 256->128, up, 128->128, 128->64, up, 64->64, 64->3.
    """
    c3, c2, c1 = (max(1, round(w * self.width_multiplier)) for w in (256, 128, 64))
    return ((512, c3, False), (c3, c3, True), (c3, c3, False), (c3, c3, False), (c3, c2, False),
            (c2, c2, True), (c2, c1, False), (c1, c1, True), (c1, 3, False))


PAPER = DecoderSpec()


def conv_names(spec: DecoderSpec = PAPER) -> tuple[str, ...]:
  return tuple(f"conv_{i}" for i in range(len(spec.plan)))


def _upsample(x):
  return jnp.repeat(jnp.repeat(x, 2, axis=-3), 2, axis=-2)


class Decoder(nn.Module):
  """relu4_1 features (N, h, w, 512) -> images (N, 8h, 8w, 3): reflect-padded 3x3 convs, ReLU
  after all but the last, nearest x2 upsampling, no normalisation."""
  spec: DecoderSpec

  @nn.compact
  def __call__(self, x):
    plan = self.spec.plan
    for i, (_, out_ch, upsample) in enumerate(plan):
      if upsample:
        x = _upsample(x)
      x = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
      x = conv.Conv(out_ch, 3, name=f"conv_{i}")(x)
      if i < len(plan) - 1:
        x = nn.relu(x)
    return x


@functools.partial(jax.jit, static_argnums=0)  # eagerly, each layer compiled on its own
def init_params(spec: DecoderSpec, key: jax.Array) -> dict:
  return Decoder(spec).init(key, jnp.zeros((1, 2, 2, 512), jnp.float32))["params"]


def decode(spec: DecoderSpec, decoder_params, features: jax.Array) -> jax.Array:
  """Pixels of (N, h, w, 512) or (h, w, 512) features; not clipped (training feeds them to VGG)."""
  single = features.ndim == 3
  out = Decoder(spec).apply({"params": decoder_params}, features[None] if single else features)
  return out[0] if single else out


def encode(vgg_params, net: LossNetwork, images: jax.Array) -> dict[str, jax.Array]:
  """relu1_1..relu4_1 of RGB [0, 1] images through the shared loss network's VGG."""
  return net.features(vgg_params, images, ENCODER_LAYERS)


def mean_std(features: jax.Array, weights: jax.Array | None = None, eps: float = EPSILON):
  """Per-channel mean and sqrt(unbiased variance + eps) over H, W of (..., H, W, C) features.

  `weights` (..., H, W, 1) of 0/1 restricts both to a region (AdaIN per region of a mask).
  """
  if weights is None:
    weights = jnp.ones(features.shape[:-1] + (1,), features.dtype)
  count = weights.sum(axis=(-3, -2), keepdims=True)
  mean = (features * weights).sum(axis=(-3, -2), keepdims=True) / jnp.maximum(count, 1.0)
  squares = (((features - mean) * weights)**2).sum(axis=(-3, -2), keepdims=True)
  return mean, jnp.sqrt(squares / jnp.maximum(count - 1.0, 1.0) + eps)


def adain(content_features: jax.Array, style_features: jax.Array, eps: float = EPSILON) -> jax.Array:
  """AdaIN(x, y) = sigma(y) (x - mu(x)) / sigma(x) + mu(y), per example and channel (..., H, W, C)."""
  c_mean, c_std = mean_std(content_features, eps=eps)
  s_mean, s_std = mean_std(style_features, eps=eps)
  return (content_features - c_mean) / c_std * s_std + s_mean


def _region_masks(mask: jax.Array, n_styles: int, shape: tuple[int, int]) -> jax.Array:
  """(H', W') integer labels 0..n_styles-1, any size -> (n_styles, h, w, 1) 0/1 masks at `shape`."""
  one_hot = jax.nn.one_hot(mask, n_styles, dtype=jnp.float32)  # (H', W', K)
  resized = jax.image.resize(one_hot, shape + (n_styles,), method="nearest")
  return jnp.moveaxis(resized, -1, 0)[..., None]


def target(content_features: jax.Array, style_features: Sequence[jax.Array], alpha=1.0,
           style_weights: jax.Array | None = None, mask: jax.Array | None = None) -> jax.Array:
  """The decoder's input t for (..., h, w, C) content features and K paintings' (h_k, w_k, C) features.

  Without `mask`: t = alpha sum_k w_k AdaIN(f_c, f_k) + (1 - alpha) f_c (`style_weights` default to
  equal; they are used as given). With `mask` (labels 0..K-1, any size): region k of f_c gets the
  statistics of painting k, measured on that region only (the paper's spatial control); pixels with
  any other label keep the photo's own features.
  """
  k = len(style_features)
  s_stats = [mean_std(f) for f in style_features]
  if mask is None:
    weights = jnp.full((k,), 1.0 / k) if style_weights is None else jnp.asarray(style_weights, jnp.float32)
    c_mean, c_std = mean_std(content_features)
    normalised = (content_features - c_mean) / c_std
    mixed = sum(w * (normalised * s_std + s_mean) for w, (s_mean, s_std) in zip(weights, s_stats))
  else:
    regions = _region_masks(jnp.asarray(mask, jnp.int32), k, content_features.shape[-3:-1])
    mixed = (1.0 - regions.sum(axis=0)) * content_features
    for region, (s_mean, s_std) in zip(regions, s_stats):
      c_mean, c_std = mean_std(content_features, region)
      mixed = mixed + region * ((content_features - c_mean) / c_std * s_std + s_mean)
  return alpha * mixed + (1.0 - alpha) * content_features


def _check_side(image: jax.Array, what: str) -> None:
  if min(image.shape[-3:-1]) < MIN_SIDE:
    raise StylejaxError(f"the {what} image is {image.shape[-3]}x{image.shape[-2]}; AdaIN needs at "
                        f"least {MIN_SIDE} px a side")


def stylize(decoder_params, vgg_params, content: jax.Array, style, alpha=1.0,
            style_weights: jax.Array | None = None, mask: jax.Array | None = None, *, net: LossNetwork,
            spec: DecoderSpec = PAPER) -> jax.Array:
  """Content (H, W, 3) or (N, H, W, 3), RGB [0, 1], in the style of one painting (h, w, 3) or of a
  sequence of K paintings (sizes may differ) mixed by `style_weights` or placed by `mask`.

  Returns the content's shape, clipped to [0, 1]. Any size of at least 16 px: the photo is reflect-
  padded to a multiple of 8 and the output cropped back. Pure; jit with `net` and `spec` static.
  """
  styles = [style] if not isinstance(style, (list, tuple)) else list(style)
  if mask is not None and style_weights is not None:
    raise StylejaxError("give style_weights (a blend) or a mask (regions), not both")
  if style_weights is not None and len(style_weights) != len(styles):
    raise StylejaxError(f"{len(style_weights)} style weights for {len(styles)} style images")
  _check_side(content, "content")
  for s in styles:
    _check_side(s, "style")
  single = content.ndim == 3
  x = content[None] if single else content
  x, pads = padding.pad_to_multiple(x, DOWNSAMPLING)
  if mask is not None:  # labels laid over the photo, then padded with it
    labels = jax.image.resize(jnp.asarray(mask, jnp.float32), content.shape[-3:-1], method="nearest")
    mask = jnp.pad(labels.astype(jnp.int32), pads, mode="edge")
  c_feats = net.features(vgg_params, x, (CONTENT_LAYER,))[CONTENT_LAYER]
  s_feats = [net.features(vgg_params, s, (CONTENT_LAYER,))[CONTENT_LAYER] for s in styles]
  out = decode(spec, decoder_params, target(c_feats, s_feats, alpha, style_weights, mask))
  out = jnp.clip(padding.crop_padding(out, pads), 0.0, 1.0)
  return out[0] if single else out


@functools.partial(jax.jit, static_argnames=("net", "spec"))
def _stylize_jit(decoder_params, vgg_params, content, style, *, net, spec):
  return stylize(decoder_params, vgg_params, content, style, net=net, spec=spec)


def style_grid(net: LossNetwork, spec: DecoderSpec, decoder_params, vgg_params,
               photos: list[np.ndarray], styles: list[np.ndarray]) -> np.ndarray:
  """Rows: photos (same shape); columns: the photo, then each painting. (H*rows, W*(1+K), 3)."""
  batch = jnp.asarray(np.stack(photos))
  return grids.photo_grid(photos, [np.asarray(_stylize_jit(decoder_params, vgg_params, batch, jnp.asarray(s),
                                                           net=net, spec=spec)) for s in styles])
