"""The multi-style transformation network of Dumoulin et al. 2017 (conditional instance norm).

Johnson et al.'s network with every normalisation replaced by a conditional instance norm that holds
one (gamma, beta) row per style:

  9x9 conv s1 -> 3x3 conv s2 -> 3x3 conv s2 -> 5 residual blocks -> (nearest x2, 3x3 conv) x2
  -> 9x9 conv -> sigmoid.

`NetworkSpec` sets the widths of the three downsampling stages, those of the two upsampling stages
(by default the mirror of the first two), and the number of residual blocks: Magenta's pretrained
26-style network (stylejax.io.cin_release) is widths (32, 32, 32), up_widths (8, 4), 6 blocks.

All convolutions are reflect-padded. A style is chosen by a weight vector over the styles: the
norm's (gamma, beta) is the weighted sum of the rows, so a one-hot vector is exactly that style and a
convex combination blends styles (the paper's Figure 7). `conditional=False` gives one plain
(learned-affine) instance norm per layer: the single-style Johnson/Ulyanov network. Given
`norm_params` instead, one (gamma, beta) pair per norm layer (`norm_channels`), the norms hold no
rows and use those: Ghiasi et al.'s style-prediction network supplies them
(stylejax.networks.style_prediction).

Fully convolutional: any input size works. Inputs are reflect-padded up to a multiple of 4 (two
stride-2 convs down, two x2 upsamplings up) and the output is cropped back, so the output has the
input's exact shape.
"""

from __future__ import annotations

import dataclasses
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

from stylejax.errors import StylejaxError
from stylejax.imaging import padding
from stylejax.networks import conv, parameters

DOWNSAMPLING = 4  # two stride-2 convolutions


@dataclasses.dataclass(frozen=True)
class NetworkSpec:
  """The network's structure (hashable, so it can be a jit static argument)."""
  n_styles: int
  widths: tuple[int, int, int] = (32, 64, 128)  # the paper's channels at full, /2 and /4 resolution
  width_multiplier: float = 1.0  # scales every width, for small fast models
  n_residual: int = 5
  conditional: bool = True  # False: plain instance norm, one style (Johnson et al. / Ulyanov et al.)
  up_widths: tuple[int, ...] = ()  # channels of the two upsampling stages (1/2, full); () = (widths[1], widths[0])

  def __post_init__(self):
    if self.n_styles < 1:
      raise StylejaxError(f"the network needs at least one style, got n_styles={self.n_styles}")
    if not self.conditional and self.n_styles != 1:
      raise StylejaxError("plain instance norm (conditional=False) trains exactly one style")
    if self.width_multiplier <= 0:
      raise StylejaxError(f"width_multiplier must be positive, got {self.width_multiplier}")
    if len(self.up_widths) not in (0, 2):
      raise StylejaxError(f"up_widths must be two widths (or empty: the mirror of widths), got {self.up_widths}")

  @property
  def channels(self) -> tuple[int, int, int]:
    return tuple(max(1, round(w * self.width_multiplier)) for w in self.widths)

  @property
  def up_channels(self) -> tuple[int, int]:
    """The channels of the two upsampling stages (at 1/2 and full resolution)."""
    if not self.up_widths:
      return self.channels[1], self.channels[0]
    return tuple(max(1, round(w * self.width_multiplier)) for w in self.up_widths)


class ConditionalInstanceNorm(nn.Module):
  """Instance norm whose affine (gamma, beta) is `style_weights @ rows`; rows are (n_styles, C).
  With `gamma_beta` ((N, C), (N, C)) given, that affine is used and the norm holds no rows."""
  n_styles: int
  epsilon: float = 1e-5

  @nn.compact
  def __call__(self, x, style_weights, gamma_beta=None):
    channels = x.shape[-1]
    if gamma_beta is None:
      gamma = parameters.param(self, "gamma", nn.initializers.ones, (self.n_styles, channels))
      beta = parameters.param(self, "beta", nn.initializers.zeros, (self.n_styles, channels))
      gamma_beta = (style_weights @ gamma, style_weights @ beta)
    mean = x.mean(axis=(1, 2), keepdims=True)
    var = x.var(axis=(1, 2), keepdims=True)
    normalised = (x - mean) * jax.lax.rsqrt(var + self.epsilon)
    scale = gamma_beta[0][:, None, None, :]  # (N, 1, 1, C)
    shift = gamma_beta[1][:, None, None, :]
    return normalised * scale + shift


class ReflectConv(nn.Module):
  features: int
  kernel: int
  stride: int = 1

  @nn.compact
  def __call__(self, x):
    pad = self.kernel // 2
    x = jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="reflect")
    # No bias: every conv feeds an instance norm, which removes any per-channel constant.
    # Named as flax auto-named the nn.Conv it replaces, so parameter trees and checkpoints still match.
    return conv.Conv(self.features, self.kernel, stride=self.stride, use_bias=False, name="Conv_0")(x)


class StyleNet(nn.Module):
  spec: NetworkSpec

  @nn.compact
  def __call__(self, images, style_weights, norm_params=None):
    """images (N, H, W, 3) in [0, 1], H and W multiples of 4; style_weights (N, n_styles), or
    None with `norm_params`: a (gamma, beta) pair of (N, C) arrays per norm (`norm_channels`)."""
    c1, c2, c3 = self.spec.channels
    n = self.spec.n_styles
    given = iter(norm_params) if norm_params is not None else None

    def conv_norm(x, features, kernel, stride=1, activation=nn.relu):
      x = ReflectConv(features, kernel, stride)(x)
      x = ConditionalInstanceNorm(n)(x, style_weights, None if given is None else next(given))
      return activation(x) if activation is not None else x

    x = conv_norm(images, c1, 9)
    x = conv_norm(x, c2, 3, 2)
    x = conv_norm(x, c3, 3, 2)
    for _ in range(self.spec.n_residual):
      x = x + conv_norm(conv_norm(x, c3, 3), c3, 3, activation=None)
    for features in self.spec.up_channels:
      x = jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)  # nearest-neighbour x2
      x = conv_norm(x, features, 3)
    return conv_norm(x, 3, 9, activation=nn.sigmoid)


def norm_channels(spec: NetworkSpec) -> tuple[int, ...]:
  """The channels of every norm layer, in the network's order (that of `norm_params`)."""
  c1, c2, c3 = spec.channels
  return (c1, c2, c3) + (c3,) * (2 * spec.n_residual) + spec.up_channels + (3,)


def init_params(spec: NetworkSpec, key: jax.Array, size: int = 32, external_norms: bool = False) -> dict:
  """The network's parameters; `external_norms`: without norm rows, for `norm_params` (Ghiasi et al.)."""
  return _init_params(spec, key, size, external_norms)


# Compiled: run eagerly, every layer of the dummy forward pass compiled on its own (~8 s at start-up).
@functools.partial(jax.jit, static_argnums=(0, 2, 3))
def _init_params(spec: NetworkSpec, key: jax.Array, size: int, external_norms: bool) -> dict:
  dummy = jnp.zeros((1, size, size, 3), jnp.float32)
  if external_norms:
    norms = [(jnp.ones((1, c)), jnp.zeros((1, c))) for c in norm_channels(spec)]
    return StyleNet(spec).init(key, dummy, None, norms)["params"]
  return StyleNet(spec).init(key, dummy, jnp.ones((1, spec.n_styles)) / spec.n_styles)["params"]


def stylize(spec: NetworkSpec, params, images: jax.Array, style_weights: jax.Array | None,
            norm_params=None) -> jax.Array:
  """Stylized images, same shape as `images` ((N, H, W, 3) or (H, W, 3), RGB in [0, 1]).

  `style_weights` is (n_styles,) or (N, n_styles): a one-hot row picks a style, a convex
  combination blends styles. Or None, with `norm_params`: (gamma, beta) per norm layer, (N, C) or
  (1, C) each, for a network made with `init_params(..., external_norms=True)`. Pure; jit with
  `spec` static.
  """
  single = images.ndim == 3
  x = images[None] if single else images
  w = None if norm_params is not None else jnp.broadcast_to(
      jnp.asarray(style_weights, jnp.float32), (x.shape[0], spec.n_styles))
  # Reflect padding needs a side longer than the pad; tiny inputs get edge padding instead.
  mode = "reflect" if min(x.shape[1:3]) > DOWNSAMPLING else "edge"
  x, pads = padding.pad_to_multiple(x, DOWNSAMPLING, mode)
  out = padding.crop_padding(StyleNet(spec).apply({"params": params}, x, w, norm_params), pads)
  return out[0] if single else out


def is_norm(layer: str) -> bool:
  return layer.startswith("ConditionalInstanceNorm")


def style_rows(params: dict, start: int) -> dict:
  """Every norm's (gamma, beta) rows of the styles from `start` on: {norm: {"gamma", "beta"}}."""
  return {layer: {name: leaf[start:] for name, leaf in values.items()}
          for layer, values in params.items() if is_norm(layer)}


def with_style_rows(params: dict, rows: dict, start: int) -> dict:
  """`params` whose norms keep their rows before `start` (copied bit for bit) and take `rows` (as
  `style_rows` gives them, any number of styles) after: a network of start + k styles."""
  out = dict(params)
  for layer, values in rows.items():
    out[layer] = {name: jnp.concatenate([params[layer][name][:start], leaf]) for name, leaf in values.items()}
  return out


def one_hot(style_ids: jax.Array, n_styles: int) -> jax.Array:
  return jax.nn.one_hot(style_ids, n_styles, dtype=jnp.float32)
