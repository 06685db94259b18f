"""CycleGAN's networks (Zhu et al. 2017) in the layout of junyanz/pytorch-CycleGAN-and-pix2pix.

ResNet generator (`ResnetGenerator`, `--netG resnet_9blocks` / `resnet_6blocks`):

  reflect-pad 3, 7x7 conv ngf, IN, ReLU
  -> 3x3 conv stride 2 (zero pad 1), IN, ReLU  x2   (ngf*2, ngf*4)
  -> n_blocks x [reflect-pad 1, 3x3 conv, IN, ReLU, reflect-pad 1, 3x3 conv, IN] + skip
  -> 3x3 transposed conv stride 2 (padding 1, output_padding 1), IN, ReLU  x2   (ngf*2, ngf)
  -> reflect-pad 3, 7x7 conv 3, tanh

`upsample="resize"` swaps each transposed conv for a nearest-neighbour x2 resize, reflect-pad 1 and a
3x3 conv (Odena et al. 2016, "Deconvolution and checkerboard artifacts"): the usual remedy for the
checkerboard texture the reference's users ask about; not in the reference, so its files are transpose.

70x70 PatchGAN discriminator (`NLayerDiscriminator`, n_layers 3): 4x4 convs (zero pad 1) with strides
2, 2, 2, 1 and widths ndf, 2ndf, 4ndf, 8ndf, LeakyReLU 0.2, IN on all but the first, then a 4x4 conv to
one channel (one real/fake score per 70x70 patch).

IN is instance norm with eps 1e-5 and biased variance, without affine parameters unless `affine`
(the reference's `--norm instance` has none; some released generators, e.g. vintagify's, have them).
Every conv has a bias, as the reference's (it uses biases whenever the norm is instance norm), and
is initialised N(0, 0.02) with zero bias (`init_type normal`). Images are in [-1, 1].

Every convolution goes through `stylejax.networks.conv` (`conv2d`, and `conv_transpose` for the
transposed ones), so the CPU fast paths apply. Parameter names follow the reference's modules
(`stylejax.io.cyclegan_weights` maps them).
"""

from __future__ import annotations

import dataclasses
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from stylejax.errors import StylejaxError
from stylejax.imaging import padding
from stylejax.networks import conv, parameters

DOWNSAMPLING = 4  # two stride-2 convolutions
MIN_SIDE = 8  # the residual blocks reflect-pad by 1 at 1/4 resolution: they need 2 pixels there
EPSILON = 1e-5
UPSAMPLING = ("transpose", "resize")
INIT_STD = 0.02


@dataclasses.dataclass(frozen=True)
class GeneratorSpec:
  n_blocks: int = 9  # residual blocks: 9 for 256 px (the paper), 6 for 128 px
  ngf: int = 64  # channels of the first conv
  affine: bool = False  # instance norms with (scale, bias) parameters
  upsample: str = "transpose"  # "transpose" (the reference) or "resize" (nearest x2 + 3x3 conv)

  def __post_init__(self):
    if self.n_blocks < 1 or self.ngf < 1:
      raise StylejaxError(f"the generator needs n_blocks >= 1 and ngf >= 1, got {self.n_blocks}, {self.ngf}")
    if self.upsample not in UPSAMPLING:
      raise StylejaxError(f"the generator's upsample must be one of {', '.join(UPSAMPLING)}, got {self.upsample!r}")


@dataclasses.dataclass(frozen=True)
class DiscriminatorSpec:
  ndf: int = 64  # channels of the first conv
  n_layers: int = 3  # 3: the 70x70 PatchGAN
  affine: bool = False

  @property
  def widths(self) -> tuple[int, ...]:
    return tuple(self.ndf * min(2 ** i, 8) for i in range(self.n_layers + 1))


class _Conv(nn.Module):
  """`conv.conv2d` with the reference's N(0, 0.02) init: `kernel` (kh, kw, Cin, Cout) and `bias`."""
  features: int
  kernel_size: int
  stride: int = 1
  pad: int = 0  # zero padding on every side

  @nn.compact
  def __call__(self, x):
    k = self.kernel_size
    kernel = parameters.param(self, "kernel", nn.initializers.normal(INIT_STD), (k, k, x.shape[-1], self.features))
    bias = parameters.param(self, "bias", nn.initializers.zeros, (self.features,))
    p = self.pad
    apply = functools.partial(conv.conv2d, stride=self.stride, padding=((p, p), (p, p)))
    if self.is_initializing():  # init wants the parameters only: no conv to compile
      out = jax.eval_shape(apply, x, kernel, bias)
      return jnp.zeros(out.shape, out.dtype)
    return apply(x, kernel, bias)


def conv_transpose_2x(x: jax.Array, kernel: jax.Array, bias: jax.Array) -> jax.Array:
  """torch's ConvTranspose2d(k=3, stride=2, padding=1, output_padding=1) with `kernel` (3, 3, Cin, Cout)
  (torch's (Cin, Cout, kh, kw) weight transposed (2, 3, 0, 1)): (N, H, W, Cin) -> (N, 2H, 2W, Cout)."""
  n, h, w, _ = x.shape
  cout = kernel.shape[-1]
  y = conv.conv_transpose(x, jnp.transpose(kernel, (0, 1, 3, 2)), stride=2, padding=((1, 1), (1, 1)),
                          output_shape=(n, 2 * h, 2 * w, cout))
  return y + bias


class _ConvTranspose(nn.Module):
  features: int

  @nn.compact
  def __call__(self, x):
    kernel = parameters.param(self, "kernel", nn.initializers.normal(INIT_STD), (3, 3, x.shape[-1], self.features))
    bias = parameters.param(self, "bias", nn.initializers.zeros, (self.features,))
    if self.is_initializing():
      n, h, w, _ = x.shape
      return jnp.zeros((n, 2 * h, 2 * w, self.features), x.dtype)
    return conv_transpose_2x(x, kernel, bias)


class InstanceNorm(nn.Module):
  affine: bool = False

  @nn.compact
  def __call__(self, x):
    mean = x.mean(axis=(1, 2), keepdims=True)
    var = jnp.square(x - mean).mean(axis=(1, 2), keepdims=True)
    y = (x - mean) * jax.lax.rsqrt(var + EPSILON)
    if self.affine:
      scale = parameters.param(self, "scale", nn.initializers.ones, (x.shape[-1],))
      y = y * scale + parameters.param(self, "bias", nn.initializers.zeros, (x.shape[-1],))
    return y


def _reflect(x, pad: int):
  return jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="reflect")


def _nearest_2x(x):
  return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


class ResnetBlock(nn.Module):
  affine: bool

  @nn.compact
  def __call__(self, x):
    c = x.shape[-1]
    y = nn.relu(InstanceNorm(self.affine, name="norm_0")(_Conv(c, 3, name="conv_0")(_reflect(x, 1))))
    y = InstanceNorm(self.affine, name="norm_1")(_Conv(c, 3, name="conv_1")(_reflect(y, 1)))
    return x + y


class ResnetGenerator(nn.Module):
  spec: GeneratorSpec

  @nn.compact
  def __call__(self, x):
    """(N, H, W, 3) in [-1, 1], H and W multiples of 4 and at least 8 -> the same shape in [-1, 1]."""
    s = self.spec
    norm = lambda name: InstanceNorm(s.affine, name=name)
    x = nn.relu(norm("norm_in")(_Conv(s.ngf, 7, name="conv_in")(_reflect(x, 3))))
    for i in range(2):
      x = nn.relu(norm(f"norm_down_{i}")(_Conv(s.ngf * 2 ** (i + 1), 3, stride=2, pad=1, name=f"down_{i}")(x)))
    for i in range(s.n_blocks):
      x = ResnetBlock(s.affine, name=f"block_{i}")(x)
    for i in range(2):
      width = s.ngf * 2 ** (1 - i)
      if s.upsample == "resize":
        x = _Conv(width, 3, name=f"up_{i}")(_reflect(_nearest_2x(x), 1))
      else:
        x = _ConvTranspose(width, name=f"up_{i}")(x)
      x = nn.relu(norm(f"norm_up_{i}")(x))
    return jnp.tanh(_Conv(3, 7, name="conv_out")(_reflect(x, 3)))


class PatchDiscriminator(nn.Module):
  spec: DiscriminatorSpec

  @nn.compact
  def __call__(self, x):
    """(N, H, W, 3) in [-1, 1] -> (N, H', W', 1) scores (H' = H/8 - 2 for the 70x70 PatchGAN)."""
    widths = self.spec.widths
    x = nn.leaky_relu(_Conv(widths[0], 4, stride=2, pad=1, name="conv_0")(x), 0.2)
    for i, width in enumerate(widths[1:], start=1):
      stride = 2 if i < self.spec.n_layers else 1
      x = _Conv(width, 4, stride=stride, pad=1, name=f"conv_{i}")(x)
      x = nn.leaky_relu(InstanceNorm(self.spec.affine, name=f"norm_{i}")(x), 0.2)
    return _Conv(1, 4, pad=1, name=f"conv_{len(widths)}")(x)


def _init(module: nn.Module, key: jax.Array, dummy_shape: tuple[int, ...]) -> dict:
  """The reference's init: kernels N(0, 0.02), biases 0, norm scales 1. The shapes come from an
  abstract `module.init`; all kernels are one normal draw sliced up (a draw per kernel would compile
  one random-number kernel each: seconds at start-up)."""
  flat, treedef = jax.tree_util.tree_flatten_with_path(_abstract_params(module, dummy_shape))
  kernels = [s for path, s in flat if path[-1].key == "kernel"]
  noise = np.asarray(_normal(key, sum(s.size for s in kernels)))  # sliced on the host: no op compiled per shape
  leaves, offset = [], 0
  for path, s in flat:
    name = path[-1].key
    if name == "kernel":
      leaves.append(jnp.asarray(noise[offset:offset + s.size].reshape(s.shape)))
      offset += s.size
    else:
      leaves.append(jnp.asarray(np.full(s.shape, 1.0 if name == "scale" else 0.0, np.float32)))
  return jax.tree_util.tree_unflatten(treedef, leaves)


def _abstract_params(module: nn.Module, dummy_shape: tuple[int, ...]):
  return jax.eval_shape(lambda: module.init(jax.random.key(0), jnp.zeros(dummy_shape, jnp.float32)))["params"]


@functools.partial(jax.jit, static_argnums=1)
def _normal(key: jax.Array, size: int) -> jax.Array:
  return jax.random.normal(key, (size,), jnp.float32) * INIT_STD


_DUMMY = {"generator": (1, 16, 16, 3), "discriminator": (1, 64, 64, 3)}


def init_generator(spec: GeneratorSpec, key: jax.Array) -> dict:
  return _init(ResnetGenerator(spec), key, _DUMMY["generator"])


def init_discriminator(spec: DiscriminatorSpec, key: jax.Array) -> dict:
  return _init(PatchDiscriminator(spec), key, _DUMMY["discriminator"])


def param_shapes(spec: GeneratorSpec | DiscriminatorSpec):
  """The parameter tree of a network as ShapeDtypeStructs (nothing computed)."""
  if isinstance(spec, GeneratorSpec):
    return _abstract_params(ResnetGenerator(spec), _DUMMY["generator"])
  return _abstract_params(PatchDiscriminator(spec), _DUMMY["discriminator"])


def generate(spec: GeneratorSpec, params, x: jax.Array) -> jax.Array:
  """The generator on (N, H, W, 3) images in [-1, 1] with H, W multiples of 4 (training crops)."""
  return ResnetGenerator(spec).apply({"params": params}, x)


def discriminate(spec: DiscriminatorSpec, params, x: jax.Array) -> jax.Array:
  return PatchDiscriminator(spec).apply({"params": params}, x)


def translate(spec: GeneratorSpec, params, images: jax.Array) -> jax.Array:
  """Translated images of any size, (N, H, W, 3) or (H, W, 3) RGB in [0, 1] -> the same shape.

  Reflect-padded up to a multiple of 4 (at least 8 px; tiny sides are edge-padded) and cropped back,
  so any aspect ratio and odd size works at full resolution. Pure; jit with `spec` static.
  """
  single = images.ndim == 3
  x = images[None] if single else images
  x = x * 2.0 - 1.0
  pads = tuple(_pads(n) for n in x.shape[1:3])
  mode = "reflect" if min(x.shape[1:3]) > max(p for pair in pads for p in pair) else "edge"
  x = jnp.pad(x, ((0, 0), *pads, (0, 0)), mode=mode)
  out = padding.crop_padding(generate(spec, params, x), pads)
  out = (out + 1.0) / 2.0
  return out[0] if single else out


def _pads(length: int) -> tuple[int, int]:
  total = max(MIN_SIDE, length + (-length % DOWNSAMPLING)) - length
  return total // 2, total - total // 2
