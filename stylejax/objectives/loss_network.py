"""The perceptual loss network: one frozen spec, one builder, and the loss terms evaluated on it.

Every method that optimizes against VGG features (pixel optimization; the trained methods cin, adain
and ghiasi) builds a `LossNetwork` from the config's `loss` block (`stylejax/configs/loss.py`). Pixel
optimization sums the terms its config lists (`term_values`, `stylejax.objectives.objective`); the
style networks use the Gatys composition through `loss_terms`. The spec is structural and hashable
(a jit static argument); VGG parameters, targets and every weight are arguments, so changing a
weight never retraces.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping, Sequence

import jax
import jax.numpy as jnp
import ml_collections

from stylejax.errors import StylejaxError
from stylejax.io import weights as weight_files
from stylejax.networks import vgg
from stylejax.objectives import losses, objective
from stylejax.objectives.layer_spec import layer_weights
from stylejax.networks.preprocessing import Preprocessing
from stylejax.objectives.terms import content as content_term, style as style_term, tv as tv_term

# Compute precision of the loss network's convolutions and matmuls. "float32" asks for full float32
# everywhere (XLA:GPU would otherwise use TF32 on Ampere and newer); "tf32" allows it; "bf16" runs the
# network in bfloat16 and hands float32 activations to the statistics.
PRECISIONS = ("float32", "tf32", "bf16")
_MATMUL_PRECISION = {"float32": "float32", "tf32": "tensorfloat32", "bf16": "bfloat16"}


@dataclasses.dataclass(frozen=True)
class LossNetwork:
  """What decides the loss's compiled program: the network, its layers and the style statistic."""
  arch: str
  preprocessing: Preprocessing
  pooling: str
  padding: str
  content_layers: tuple[str, ...]
  style_layers: tuple[str, ...]
  statistic: str
  gram_norm: str = "gatys"
  n_projections: int = 64
  precision: str = "float32"
  remat: bool = False  # checkpoint each VGG block: less memory for gradients, one more forward

  def __post_init__(self):
    if self.precision not in PRECISIONS:
      raise StylejaxError(f"unknown loss precision {self.precision!r}; choose one of {PRECISIONS}")
    losses.check_statistic(self.statistic, self.gram_norm)

  @property
  def layers(self) -> tuple[str, ...]:
    return tuple(sorted(set(self.content_layers) | set(self.style_layers)))

  def features(self, params, images, layers) -> dict[str, jax.Array]:
    """Named activations of RGB [0, 1] images, (N, H, W, 3) or (H, W, 3), always float32."""
    compute_dtype = jnp.bfloat16 if self.precision == "bf16" else None
    with jax.default_matmul_precision(_MATMUL_PRECISION[self.precision]):
      feats = vgg.features(params, images, layers, arch=self.arch, preprocessing=self.preprocessing,
                           pooling=self.pooling, padding=self.padding, compute_dtype=compute_dtype,
                           remat=self.remat)
    return {k: v.astype(jnp.float32) for k, v in feats.items()}

  def content_targets(self, params, content) -> dict[str, jax.Array]:
    return self.features(params, content, self.content_layers)

  def style_targets(self, params, style) -> dict:
    """The style statistic of one style image, (H, W, 3), per style layer (computed once)."""
    return losses.style_targets(self.features(params, style, self.style_layers), self.statistic)

  @property
  def statistics_precision(self) -> str:
    """The statistics' matmuls (Gram, covariance) stay float32 unless TF32 was asked for; bf16
    applies to the network's convolutions only."""
    return "float32" if self.precision == "float32" else "tensorfloat32"


def term_values(net: LossNetwork, terms: Sequence, weights: Mapping, features: Mapping, targets: Mapping,
                image: jax.Array, key: jax.Array) -> dict:
  """`objective.term_values` at the network's statistics precision: {each term, "total"}."""
  with jax.default_matmul_precision(net.statistics_precision):
    return objective.term_values(terms, image, features, targets, weights, key)


def loss_terms(net: LossNetwork, weights: Mapping, features: Mapping, content_targets: Mapping,
               style_targets: Sequence[Mapping], image: jax.Array, key: jax.Array) -> dict:
  """{"content", "style", "tv", "total"} of ONE (H, W, 3) output image, given its features.

  The Gatys composition (`objective.gatys`) of the style networks: `style_targets` holds one target
  pytree per style image, mixed by `weights["blend"]`; `weights` is the flat pytree of
  `loss_weights`. The sliced-Wasserstein projections of style i use `fold_in(key, i)`.
  """
  targets = {"content": content_targets, "style": style_targets, "tv": None}
  return term_values(net, objective.gatys(net), per_term_weights(weights), features, targets, image, key)


def per_term_weights(weights: Mapping) -> dict:
  """The flat `loss_weights` pytree keyed by Gatys term, as `term_values` reads it."""
  return {"content": {"weight": weights["content"], "layers": weights["content_layers"]},
          "style": {"weight": weights["style"], "layers": weights["style_layers"], "blend": weights["blend"]},
          "tv": {"weight": weights["tv"]}}


def loss_weights(loss: ml_collections.ConfigDict, arch: str, blend: Sequence[float] = (1.0,)) -> dict:
  """Every numeric weight as float32 arrays (a flat pytree), so changing one never retraces.

  `blend` mixes several style images (normalised to sum 1); a single style has blend (1.0,). The
  numbers are the Gatys terms' (`objective.weights_from_config` nests them per term instead).
  """
  content = content_term.weights_of(loss, arch)
  style = style_term.weights_of(loss, arch, blend)
  return {"content": content["weight"], "style": style["weight"], "tv": tv_term.weights_of(loss)["weight"],
          "blend": style["blend"], "content_layers": content["layers"], "style_layers": style["layers"]}


def from_config(loss: ml_collections.ConfigDict, loaded: weight_files.LoadedVGG) -> LossNetwork:
  """The spec of the config's `loss` block, with the loaded weights' architecture and contract."""
  return LossNetwork(
      arch=loaded.arch, preprocessing=loaded.preprocessing, pooling=loss.network.pooling,
      padding=loss.network.padding,
      content_layers=tuple(layer_weights(loss.content_layers, loaded.arch, "loss.content_layers")),
      style_layers=tuple(layer_weights(loss.style_layers, loaded.arch, "loss.style_layers")),
      statistic=loss.statistic, gram_norm=loss.gram_norm, n_projections=loss.n_projections,
      precision=loss.network.precision,
      remat=loss.network.get("remat", False))  # workdirs' config.json from before the field lack it


def load_weights(loss: ml_collections.ConfigDict) -> weight_files.LoadedVGG:
  """The weights the `loss` block names: explicit path, then the cache, then a download."""
  network = loss.network
  return weight_files.load_vgg(network.weights, arch=network.arch, fmt=network.format or None)
