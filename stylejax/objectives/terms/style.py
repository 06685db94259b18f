"""The style term: the loss network's feature statistics (`loss.statistic`) of the image against
those of one or more paintings, mixed by `style_blend`."""

from __future__ import annotations

import dataclasses
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from stylejax.objectives import losses
from stylejax.objectives.layer_spec import layer_weights
from stylejax.objectives.terms.base import Term, register


def normalised_blend(blend: Sequence[float]) -> np.ndarray:
  """Per-style mixing weights scaled to sum 1 (float32)."""
  blend = np.asarray(blend, np.float32)
  return blend / blend.sum()


def config_blend(config) -> np.ndarray:
  """A pixel config's `style_blend`, equal weights when empty, normalised."""
  return normalised_blend(config.style_blend or [1.0] * len(config.styles))


def weights_of(loss, arch: str, blend: Sequence[float] = (1.0,)) -> dict:
  """{"weight", "layers", "blend"} of the `loss` block as float32 arrays."""
  layers = layer_weights(loss.style_layers, arch, "loss.style_layers")
  return {"weight": jnp.float32(loss.style_weight), "layers": {k: jnp.float32(v) for k, v in layers.items()},
          "blend": jnp.asarray(normalised_blend(blend))}


@register
@dataclasses.dataclass(frozen=True)
class Style(Term):
  """Statistics of the image's features against each painting's; style i's sliced-Wasserstein
  projections use `fold_in(key, i)`."""
  name = "style"
  fields = {"loss.style_layers": "the layers compared, with per-layer weights",
            "loss.style_weight": "its factor in the sum",
            "loss.statistic": "what is compared: gram | mean_var | mean_cov | sliced_wasserstein",
            "loss.gram_norm": "the Gram loss's normalisation",
            "loss.n_projections": "sliced_wasserstein: random directions per layer",
            "style_blend": "one weight per style image (normalised to sum 1)"}
  layers: tuple[str, ...]
  statistic: str
  gram_norm: str = "gatys"
  n_projections: int = 64

  @classmethod
  def of(cls, net) -> Style:
    return cls(layers=net.style_layers, statistic=net.statistic, gram_norm=net.gram_norm,
               n_projections=net.n_projections)

  @classmethod
  def from_config(cls, config, net) -> Style:
    return cls.of(net)

  @classmethod
  def weights(cls, config, arch: str) -> dict:
    return weights_of(config.loss, arch, config_blend(config))

  def feature_layers(self) -> tuple[str, ...]:
    return self.layers

  def targets(self, net, params, inputs) -> tuple:
    """One target pytree per style image, each computed on its own (images differ in size)."""
    return tuple(_targets(self, net, params, jnp.asarray(s)) for s in inputs["styles"])

  def value(self, image, features, targets, weights, key) -> jax.Array:
    style = 0.0
    for i, style_targets in enumerate(targets):
      style = style + weights["blend"][i] * losses.style_loss(
          features, style_targets, weights["layers"], self.statistic, gram_norm=self.gram_norm,
          key=jax.random.fold_in(key, i), n_projections=self.n_projections)
    return style


_targets = jax.jit(lambda term, net, params, image: losses.style_targets(
    net.features(params, image, term.layers), term.statistic), static_argnums=(0, 1))
