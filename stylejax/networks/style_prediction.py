"""The style-prediction network of Ghiasi et al. 2017 on the multi-style transformer.

A painting -> frozen features -> per-channel mean and standard deviation of a few layers -> a small
trainable network -> a style embedding (the paper: 100 numbers). A dense head maps the embedding to
the (gamma, beta) of every conditional instance norm of `stylejax.networks.stylenet`, which then
stylizes the photo. The style network and the transformer are trained jointly (`batch_loss`), so any
painting works at test time in one forward pass.

Differences from the paper, which mean-pools Inception-v3's Mixed-6e and fine-tunes Inception:
- the features are the packaged, frozen VGG16 (`vgg16-lpips`, relu1_2..relu4_3) or AlexNet (LPIPS
  weights, relu1..relu5), chosen by `GhiasiSpec.features`; both load offline;
- they are summarised by each channel's mean and std (Inception's mean-pool keeps only the mean);
- as the backbone is frozen, one hidden ReLU layer (`hidden`) stands in for Inception's trained top
  before the paper's linear bottleneck to the embedding (hidden=0: the bottleneck alone).
The head is one dense layer for all norms (the paper's per-norm 1x1 convs, concatenated). It starts
at gamma = 1, beta = 0 with small weights, so training begins from a plain instance-norm network.

The head is affine, so a convex combination of embeddings gives the same combination of every
(gamma, beta): interpolating embeddings interpolates styles (`interpolate`).

`transformer="magenta"` fine-tunes Magenta's pretrained "lite" model instead (stylejax.networks.
magenta_arbitrary): its MobileNet-v2 predictor and 8/16/32-channel transformer, both trainable, start
from the dequantized float weights and run without activation rounding (`quantize=False`); the
feature network, the head and `embedding_dim` (always 100) are the model's own, and `features` is
unused.

Pure entry points (jit with `spec` static; frozen parameters are arguments):
  style_embedding(spec, params, features_params, paintings)   (N, H, W, 3) -> (N, embedding_dim)
  norm_params(spec, params, embedding)                       -> ((gamma, beta) per norm layer)
  stylize(spec, params, photos, embedding)                   the stylized photos
Training (the loss, the frozen feature weights) and a trained run's loading (`GhiasiModel`) are the
method's: `stylejax.methods.ghiasi`.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from stylejax.errors import StylejaxError
from stylejax.imaging import grids
from stylejax.networks import alexnet, magenta_arbitrary, preprocessing, stylenet, vgg

# The frozen feature networks: layers whose statistics describe a painting, and their weights.
FEATURE_LAYERS = {"vgg16": ("relu1_2", "relu2_2", "relu3_3", "relu4_3"), "alexnet": alexnet.LAYERS}
FEATURE_WEIGHTS = {"vgg16": "vgg16-lpips", "alexnet": "lpips-alexnet"}
MIN_STYLE_SIDE = 32  # AlexNet's relu5 (11x11 stride 4, two stride-2 pools) needs about this much
HIDDEN = 512
EPSILON = 1e-5  # added to the variance of the statistics
TRANSFORMERS = ("stylenet", "magenta")


@dataclasses.dataclass(frozen=True)
class GhiasiSpec:
  """The style network's and the transformer's structure (hashable: a jit static argument)."""
  transformer: stylenet.NetworkSpec  # its norms take predicted (gamma, beta); n_styles is unused
  features: str = "vgg16"  # vgg16 | alexnet: the frozen network under the style network
  embedding_dim: int = 100  # the paper's
  hidden: int = HIDDEN  # width of the hidden layer before the bottleneck; 0: none
  transformer_kind: str = "stylenet"  # stylenet (from scratch) | magenta (fine-tuned pretrained model)

  def __post_init__(self):
    if self.transformer_kind not in TRANSFORMERS:
      raise StylejaxError(f"unknown transformer {self.transformer_kind!r}; choose one of {TRANSFORMERS}")
    if self.magenta and self.embedding_dim != magenta_arbitrary.EMBEDDING_SIZE:
      raise StylejaxError(f"the magenta transformer's embedding has {magenta_arbitrary.EMBEDDING_SIZE} "
                          f"dimensions, got embedding_dim={self.embedding_dim}")
    if self.features not in FEATURE_LAYERS:
      raise StylejaxError(f"unknown style features {self.features!r}; choose one of {sorted(FEATURE_LAYERS)}")
    if not isinstance(self.embedding_dim, int) or self.embedding_dim < 1:
      raise StylejaxError(f"the embedding needs at least one dimension, got {self.embedding_dim!r}")
    if not isinstance(self.hidden, int) or self.hidden < 0:
      raise StylejaxError(f"hidden must be an integer >= 0, got {self.hidden!r}")

  @property
  def magenta(self) -> bool:
    return self.transformer_kind == "magenta"

  @property
  def norm_channels(self) -> tuple[int, ...]:
    return stylenet.norm_channels(self.transformer)


def spec_from_config(network: Mapping) -> GhiasiSpec:
  """The spec of a config's `network` block (a ConfigDict, or the dict of a run's config.json)."""
  transformer = stylenet.NetworkSpec(n_styles=1, widths=tuple(network["widths"]),
                                     width_multiplier=network["width_multiplier"],
                                     n_residual=network["n_residual"])
  return GhiasiSpec(transformer=transformer, features=network["style_features"],
                    embedding_dim=network["embedding_dim"],
                    transformer_kind=network.get("transformer", "stylenet"))


def feature_statistics(spec: GhiasiSpec, features_params, paintings: jax.Array) -> jax.Array:
  """(N, F): per layer, every channel's mean then every channel's std (biased, + EPSILON) over H, W.

  The feature network is frozen: no gradient flows into it or through it to the paintings.
  """
  layers = FEATURE_LAYERS[spec.features]
  if spec.features == "vgg16":
    feats = vgg.features(features_params, paintings, layers, arch="vgg16", preprocessing=preprocessing.LPIPS)
  else:
    feats = alexnet.features(features_params, paintings, layers)
  stats = []
  for layer in layers:
    f = feats[layer].astype(jnp.float32)
    stats += [f.mean(axis=(1, 2)), jnp.sqrt(f.var(axis=(1, 2)) + EPSILON)]
  return jax.lax.stop_gradient(jnp.concatenate(stats, axis=-1))


class StylePredictor(nn.Module):
  """Feature statistics (N, F) -> style embedding (N, embedding_dim)."""
  spec: GhiasiSpec

  @nn.compact
  def __call__(self, stats):
    x = stats
    if self.spec.hidden:
      x = nn.relu(nn.Dense(self.spec.hidden, name="hidden")(x))
    return nn.Dense(self.spec.embedding_dim, name="bottleneck")(x)  # linear, as the paper's


def _head_bias(channels: tuple[int, ...]) -> np.ndarray:
  """gamma = 1, beta = 0 for each norm, laid out [gamma_0, beta_0, gamma_1, beta_1, ...]."""
  return np.concatenate([np.concatenate([np.ones(c), np.zeros(c)]) for c in channels]).astype(np.float32)


class NormHead(nn.Module):
  """Embedding (N, D) -> [gamma_0 | beta_0 | gamma_1 | ...] (N, 2 sum C): one affine map."""
  channels: tuple[int, ...]

  @nn.compact
  def __call__(self, embedding):
    bias = _head_bias(self.channels)
    small = nn.initializers.variance_scaling(0.01, "fan_in", "truncated_normal")
    return nn.Dense(bias.size, kernel_init=small, bias_init=lambda *_: jnp.asarray(bias), name="head")(embedding)


def init_params(spec: GhiasiSpec, key: jax.Array, pretrained: dict | None = None) -> dict:
  """{"predictor", "head", "transformer"}: the trainable parameters (the feature network is apart).
  For the magenta transformer {"predictor", "transformer"}: the pretrained model's float weights,
  `pretrained` (`stylejax.io.magenta_release.load_params()`)."""
  if spec.magenta:
    if pretrained is None:
      raise StylejaxError("the magenta transformer starts from the pretrained model: pass "
                          "pretrained=stylejax.io.magenta_release.load_params()")
    return {name: pretrained[name]["params"] for name in ("predictor", "transformer")}
  k_predictor, k_head, k_transformer = jax.random.split(key, 3)
  n_stats = 2 * sum(_layer_channels(spec.features))
  return {
      "predictor": StylePredictor(spec).init(k_predictor, jnp.zeros((1, n_stats)))["params"],
      "head": NormHead(spec.norm_channels).init(k_head, jnp.zeros((1, spec.embedding_dim)))["params"],
      "transformer": stylenet.init_params(spec.transformer, k_transformer, external_norms=True),
  }


def _layer_channels(features: str) -> tuple[int, ...]:
  if features == "vgg16":
    return tuple(vgg.BLOCK_WIDTHS[int(layer[4]) - 1] for layer in FEATURE_LAYERS["vgg16"])
  return (64, 192, 384, 256, 256)  # AlexNet's relu1..relu5


def _check_paintings(paintings: jax.Array) -> None:
  if paintings.ndim != 4 or paintings.shape[-1] != 3:
    raise StylejaxError(f"paintings must be (H, W, 3) or (N, H, W, 3) RGB, got shape {paintings.shape}")
  if min(paintings.shape[1:3]) < MIN_STYLE_SIDE:
    raise StylejaxError(f"a {paintings.shape[1]}x{paintings.shape[2]} painting is too small for the style "
                        f"network; it needs at least {MIN_STYLE_SIDE} px a side")


def style_embedding(spec: GhiasiSpec, params, features_params, paintings: jax.Array) -> jax.Array:
  """The embedding of paintings, RGB [0, 1]: (N, H, W, 3) -> (N, D), or (H, W, 3) -> (D,).

  Any size of at least MIN_STYLE_SIDE; the statistics depend on scale, so paintings are best given at
  the training run's `style_size` (`GhiasiModel.embed` resizes them so).
  """
  x = jnp.asarray(paintings, jnp.float32)
  if spec.magenta:
    return magenta_arbitrary.style_embedding(_magenta_variables(params, "predictor"), x, quantize=False)
  single = x.ndim == 3
  x = x[None] if single else x
  _check_paintings(x)
  stats = feature_statistics(spec, features_params, x)
  out = StylePredictor(spec).apply({"params": params["predictor"]}, stats)
  return out[0] if single else out


def norm_params(spec: GhiasiSpec, params, embedding: jax.Array) -> tuple[tuple[jax.Array, jax.Array], ...]:
  """((gamma, beta) per norm layer of the transformer, each (N, C)) of (N, D) or (D,) embeddings."""
  if spec.magenta:
    raise StylejaxError("the magenta transformer computes its norms' (gamma, beta) inside each layer")
  e = jnp.asarray(embedding, jnp.float32)
  flat = NormHead(spec.norm_channels).apply({"params": params["head"]}, e[None] if e.ndim == 1 else e)
  pairs, start = [], 0
  for c in spec.norm_channels:
    pairs.append((flat[:, start:start + c], flat[:, start + c:start + 2 * c]))
    start += 2 * c
  return tuple(pairs)


def stylize(spec: GhiasiSpec, params, photos: jax.Array, embedding: jax.Array) -> jax.Array:
  """Photos ((N, H, W, 3) or (H, W, 3), RGB [0, 1], any size) in the style of `embedding` ((D,): one
  style for all, or (N, D)). Same shape out, in [0, 1]. Pure; jit with `spec` static."""
  if spec.magenta:
    return magenta_arbitrary.stylize(_magenta_variables(params, "transformer"), photos, embedding, quantize=False)
  return stylenet.stylize(spec.transformer, params["transformer"], photos, None,
                          norm_params(spec, params, embedding))


@functools.cache
def _placeholder_quant(part: str) -> dict:
  """The magenta modules' "quant" collection: read by every layer, unused without rounding."""
  module, args = ((magenta_arbitrary.StylePredictor(False), (jnp.zeros((1, 32, 32, 3)),)) if part == "predictor"
                  else (magenta_arbitrary.StyleTransformer(False),
                        (jnp.zeros((1, 16, 16, 3)), jnp.zeros((1, magenta_arbitrary.EMBEDDING_SIZE)))))
  shapes = jax.eval_shape(lambda: module.init(jax.random.key(0), *args))["quant"]
  return jax.tree.map(lambda _: np.array([1.0, 0.0], np.float32), shapes)


def _magenta_variables(params, part: str) -> dict:
  return {part: {"params": params[part], "quant": _placeholder_quant(part)}}


def interpolate(embeddings: jax.Array, weights: jax.Array) -> jax.Array:
  """sum_k w_k e_k / sum_k w_k of (K, D) embeddings: the styles blended with those weights."""
  w = jnp.asarray(weights, jnp.float32)
  return jnp.tensordot(w / w.sum(), jnp.asarray(embeddings, jnp.float32), axes=1)


@functools.partial(jax.jit, static_argnums=0)
def _embed_jit(spec, params, features_params, paintings):
  return style_embedding(spec, params, features_params, paintings)


@functools.partial(jax.jit, static_argnums=0)
def _stylize_jit(spec, params, photos, embedding):
  return stylize(spec, params, photos, embedding)


def style_grid(spec: GhiasiSpec, params, features_params, photos: list[np.ndarray],
               paintings: list[np.ndarray]) -> np.ndarray:
  """Rows: photos (same shape); columns: the photo, then each painting's style. (H*rows, W*(1+K), 3)."""
  batch = jnp.asarray(np.stack(photos))
  embeddings = [_embed_jit(spec, params, features_params, jnp.asarray(p)) for p in paintings]
  return grids.photo_grid(photos, [np.asarray(_stylize_jit(spec, params, batch, e)) for e in embeddings])


