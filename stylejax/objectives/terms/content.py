"""The content term: mean squared error of the loss network's features against the photo's
(Gatys et al. 2016), a weighted sum over `loss.content_layers`."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from stylejax.objectives import losses
from stylejax.objectives.layer_spec import layer_weights
from stylejax.objectives.terms.base import Term, register


def weights_of(loss, arch: str) -> dict:
  """{"weight", "layers"} of the `loss` block as float32 arrays."""
  layers = layer_weights(loss.content_layers, arch, "loss.content_layers")
  return {"weight": jnp.float32(loss.content_weight), "layers": {k: jnp.float32(v) for k, v in layers.items()}}


@register
@dataclasses.dataclass(frozen=True)
class Content(Term):
  """Features of the image against those of the content photo."""
  name = "content"
  fields = {"loss.content_layers": "the layers compared, with per-layer weights",
            "loss.content_weight": "its factor in the sum"}
  layers: tuple[str, ...]

  @classmethod
  def from_config(cls, config, net) -> Content:
    return cls(layers=net.content_layers)

  @classmethod
  def weights(cls, config, arch: str) -> dict:
    return weights_of(config.loss, arch)

  def feature_layers(self) -> tuple[str, ...]:
    return self.layers

  def targets(self, net, params, inputs) -> dict:
    return _targets(self, net, params, jnp.asarray(inputs["content"]))

  def value(self, image, features, targets, weights, key) -> jax.Array:
    return losses.content_loss(features, targets, weights["layers"])


_targets = jax.jit(lambda term, net, params, image: net.features(params, image, term.layers),
                   static_argnums=(0, 1))
