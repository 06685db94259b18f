"""StyleBank (Chen et al. 2017): one encoder/decoder shared by every style, and one small filter bank
per style applied to the encoder's features.

  encoder  9x9 conv s1 -> 3x3 conv s2 -> 3x3 conv s2       (widths c1, c2, c3; IN + ReLU after each)
  bank_k   bank_layers x (k x k conv c3 -> c3, IN + ReLU)   (one per style; stacked on a leading axis)
  decoder  (nearest x2, 3x3 conv, IN + ReLU) x2 -> 9x9 conv to RGB (bias) -> sigmoid

The paper's decoder upsamples with fractionally strided convolutions; here, as in `stylenet`, with
nearest-neighbour x2 then a conv (no checkerboard). Instance norms carry no affine (as
torch.nn.InstanceNorm2d's default in the reference implementation, jxcodetw/Stylebank
networks.py), and convs feeding them no bias (the norm removes it). All convs are reflect-padded.

Fusion (the paper's Sec. 3.4) happens on the features: with per-style weights w_k (a vector, or a
per-pixel map for region fusion) the decoder sees sum_k w_k bank_k(z) + (1 - sum_k w_k) z. Weights
summing to 1 are the paper's linear / region fusion; what is left of 1 goes to the auto-encoder
branch, D(E(I)), which reconstructs the photo (a region with no style keeps the photo's content).

Parameters: {"encoder": {"conv0".."conv2": {"kernel"}}, "decoder": {"conv0", "conv1": {"kernel"},
"conv2": {"kernel", "bias"}}, "banks": {"conv<i>": {"kernel": (n_styles, k, k, c3, c3)}}}, HWIO.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from stylejax.errors import StylejaxError
from stylejax.imaging import padding
from stylejax.networks import conv

DOWNSAMPLING = 4  # two stride-2 convolutions
EPSILON = 1e-5  # instance norm


@dataclasses.dataclass(frozen=True)
class StyleBankSpec:
  """The network's structure (hashable: a jit static argument)."""
  n_styles: int
  widths: tuple[int, int, int] = (32, 64, 128)  # the paper's channels at full, /2 and /4 resolution
  width_multiplier: float = 1.0
  bank_layers: int = 2  # conv + IN + ReLU layers per style bank
  bank_kernel: int = 3

  def __post_init__(self):
    if self.n_styles < 1:
      raise StylejaxError(f"StyleBank needs at least one style, got n_styles={self.n_styles}")
    if self.width_multiplier <= 0 or self.bank_layers < 1 or self.bank_kernel < 1 or self.bank_kernel % 2 == 0:
      raise StylejaxError(f"bad StyleBank structure: width_multiplier {self.width_multiplier} (> 0), "
                          f"bank_layers {self.bank_layers} (>= 1), bank_kernel {self.bank_kernel} (odd)")

  @property
  def channels(self) -> tuple[int, int, int]:
    return tuple(max(1, round(w * self.width_multiplier)) for w in self.widths)


def encoder_convs(spec: StyleBankSpec) -> list[tuple[int, int, int, int]]:
  """(cin, cout, kernel, stride) of the encoder's convs, in order."""
  c1, c2, c3 = spec.channels
  return [(3, c1, 9, 1), (c1, c2, 3, 2), (c2, c3, 3, 2)]


def decoder_convs(spec: StyleBankSpec) -> list[tuple[int, int, int, int]]:
  """(cin, cout, kernel, stride) of the decoder's convs; the first two follow a nearest x2."""
  c1, c2, c3 = spec.channels
  return [(c3, c2, 3, 1), (c2, c1, 3, 1), (c1, 3, 9, 1)]


def _rng(key: jax.Array) -> np.random.Generator:
  """A numpy generator seeded by `key`: initialisation in numpy takes milliseconds, where jax's
  random ops compile one by one (~20 s for this network on a loaded 2-core machine)."""
  return np.random.default_rng(np.asarray(jax.random.key_data(key)).ravel().tolist())


def _kernels(rng: np.random.Generator, shape: tuple[int, ...]) -> jax.Array:
  """LeCun-normal kernels (variance 1 / fan_in) of HWIO `shape`, or a stack of them."""
  fan_in = shape[-4] * shape[-3] * shape[-2]
  return jnp.asarray((rng.standard_normal(shape) / np.sqrt(fan_in)).astype(np.float32))


def init_banks(spec: StyleBankSpec, key: jax.Array, n: int) -> dict:
  """`n` freshly initialised banks, stacked: {"conv<i>": {"kernel": (n, k, k, c3, c3)}}."""
  c3, k = spec.channels[2], spec.bank_kernel
  rng = _rng(key)
  return {f"conv{i}": {"kernel": _kernels(rng, (n, k, k, c3, c3))} for i in range(spec.bank_layers)}


def init_params(spec: StyleBankSpec, key: jax.Array) -> dict:
  """Every parameter, from `key` alone (`param_shapes` gives their shapes without a key)."""
  rng = _rng(key)
  encoder = {f"conv{i}": {"kernel": _kernels(rng, (k, k, cin, cout))}
             for i, (cin, cout, k, _) in enumerate(encoder_convs(spec))}
  decoder = {f"conv{i}": {"kernel": _kernels(rng, (k, k, cin, cout))}
             for i, (cin, cout, k, _) in enumerate(decoder_convs(spec))}
  decoder["conv2"]["bias"] = jnp.zeros((3,), jnp.float32)
  return {"encoder": encoder, "decoder": decoder, "banks": init_banks(spec, jax.random.fold_in(key, 1), spec.n_styles)}


def param_shapes(spec: StyleBankSpec) -> dict:
  """The parameter tree as ShapeDtypeStructs (what a checkpoint restore needs)."""
  f32 = lambda *shape: jax.ShapeDtypeStruct(shape, jnp.float32)
  convs = lambda plan: {f"conv{i}": {"kernel": f32(k, k, cin, cout)} for i, (cin, cout, k, _) in enumerate(plan)}
  decoder = convs(decoder_convs(spec))
  decoder["conv2"]["bias"] = f32(3)
  c3, k = spec.channels[2], spec.bank_kernel
  return {"encoder": convs(encoder_convs(spec)), "decoder": decoder,
          "banks": {f"conv{i}": {"kernel": f32(spec.n_styles, k, k, c3, c3)} for i in range(spec.bank_layers)}}


def _reflect_conv(x, kernel, stride=1, bias=None):
  pad = kernel.shape[0] // 2
  x = jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="reflect")
  return conv.conv2d(x, kernel, bias, stride=stride)


def instance_norm(x):
  mean = x.mean(axis=(1, 2), keepdims=True)
  var = x.var(axis=(1, 2), keepdims=True)
  return (x - mean) * jax.lax.rsqrt(var + EPSILON)


def _conv_norm_relu(x, kernel, stride=1):
  return jax.nn.relu(instance_norm(_reflect_conv(x, kernel, stride)))


def encode(spec: StyleBankSpec, encoder: dict, images: jax.Array) -> jax.Array:
  """(N, H, W, 3) in [0, 1], H and W multiples of 4 -> (N, H/4, W/4, c3) features."""
  x = images
  for i, (_, _, _, stride) in enumerate(encoder_convs(spec)):
    x = _conv_norm_relu(x, encoder[f"conv{i}"]["kernel"], stride)
  return x


def decode(spec: StyleBankSpec, decoder: dict, z: jax.Array) -> jax.Array:
  del spec
  x = z
  for i in range(2):
    x = jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)  # nearest-neighbour x2
    x = _conv_norm_relu(x, decoder[f"conv{i}"]["kernel"])
  return jax.nn.sigmoid(_reflect_conv(x, decoder["conv2"]["kernel"], bias=decoder["conv2"]["bias"]))


def apply_bank(bank: dict, z: jax.Array) -> jax.Array:
  """One style's bank ({"conv<i>": {"kernel": (k, k, c3, c3)}}) on (N, h, w, c3) features."""
  for i in range(len(bank)):
    z = _conv_norm_relu(z, bank[f"conv{i}"]["kernel"])
  return z


def select_banks(banks: dict, style_ids: jax.Array) -> dict:
  """The banks of `style_ids` (any shape of integer ids), stacked like `banks`."""
  return jax.tree.map(lambda b: b[style_ids], banks)


def per_example_banks(banks: dict, z: jax.Array, style_ids: jax.Array) -> jax.Array:
  """Example i of the (N, h, w, c3) features through the bank of style_ids[i] (the training path:
  each example pays for one bank, whatever the number of styles)."""
  one = lambda bank, zi: apply_bank(bank, zi[None])[0]
  return jax.vmap(one)(select_banks(banks, style_ids), z)


def fuse_banks(banks: dict, z: jax.Array, weights: jax.Array) -> jax.Array:
  """sum_k w_k bank_k(z) + (1 - sum_k w_k) z, with `weights` (N, S) per image or (N, h, w, S) per
  feature pixel (region fusion). Every bank runs on every image: the inference path."""
  outputs = jax.lax.map(lambda bank: apply_bank(bank, z), banks)  # (S, N, h, w, c3)
  w = weights if weights.ndim == 4 else weights[:, None, None, :]
  w = jnp.moveaxis(w, -1, 0)[..., None]  # (S, N, h or 1, w or 1, 1)
  return (w * outputs).sum(axis=0) + (1.0 - w.sum(axis=0)) * z


def _pool_to_features(masks: jax.Array) -> jax.Array:
  """(N, H, W, S) per-pixel weights at a padded image's size -> (N, H/4, W/4, S), averaged over
  each feature pixel's 4x4 footprint (the paper's masks downsampled to the feature map)."""
  n, h, w, s = masks.shape
  return masks.reshape(n, h // DOWNSAMPLING, DOWNSAMPLING, w // DOWNSAMPLING, DOWNSAMPLING, s).mean(axis=(2, 4))


def _padded(images: jax.Array):
  mode = "reflect" if min(images.shape[1:3]) > DOWNSAMPLING else "edge"
  return padding.pad_to_multiple(images, DOWNSAMPLING, mode)


def stylize(spec: StyleBankSpec, params: dict, images: jax.Array, weights: jax.Array) -> jax.Array:
  """Stylized images, the shape of `images` ((N, H, W, 3) or (H, W, 3), RGB in [0, 1], any size).

  `weights`: (S,) or (N, S) per image (a one-hot row is one style, a convex combination the paper's
  linear fusion), or (N, H, W, S) / (H, W, S) per photo pixel (region fusion: each feature pixel
  takes the mean weight of its 4x4 footprint). Pure; jit with `spec` static.
  """
  single = images.ndim == 3
  x = images[None] if single else images
  w = jnp.asarray(weights, jnp.float32)
  if w.ndim == 3:  # one per-pixel map
    w = w[None]
  x, pads = _padded(x)
  if w.ndim == 4:
    w = jnp.broadcast_to(w, (x.shape[0], *w.shape[1:]))
    w = _pool_to_features(jnp.pad(w, ((0, 0), *pads, (0, 0)), mode="edge"))
  else:
    w = jnp.broadcast_to(w, (x.shape[0], spec.n_styles))
  z = encode(spec, params["encoder"], x)
  out = padding.crop_padding(decode(spec, params["decoder"], fuse_banks(params["banks"], z, w)), pads)
  return out[0] if single else out


def stylize_ids(spec: StyleBankSpec, params: dict, images: jax.Array, style_ids: jax.Array) -> jax.Array:
  """(N, H, W, 3) images (H, W multiples of 4), example i in style style_ids[i]: the stylising branch."""
  z = encode(spec, params["encoder"], images)
  return decode(spec, params["decoder"], per_example_banks(params["banks"], z, style_ids))


def reconstruct(spec: StyleBankSpec, params: dict, images: jax.Array) -> jax.Array:
  """D(E(I)) of (N, H, W, 3) images (H, W multiples of 4): the auto-encoder branch, no bank."""
  return decode(spec, params["decoder"], encode(spec, params["encoder"], images))
