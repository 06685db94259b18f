"""The DeepDream term: how strongly a layer (or some of its channels) responds to the image.

Per layer l with activations a (h, w, C) and channel mask m (C,) (1 for chosen channels):
  l2      0.5 * sum(m a^2) / (h w sum(m))   google/deepdream's `objective_L2` (its gradient is a
          itself, as that notebook sets dst.diff = dst.data), averaged so sizes compare
  mean    sum(m a) / (h w sum(m))           the TensorFlow DeepDream tutorial's `calc_loss`
  guided  sum_i (m x_i) . (m y_j*) / (h w)  google/deepdream's `objective_guide`: each position x_i is
          pulled towards y_j*, the guide image's feature vector that matches it best (largest dot
          product; the choice is not differentiated, as in the notebook, whose gradient is y_j*)
The term's value is MINUS the weighted sum over `dream.layers`: the pixel objective is minimised,
so its other terms (content, style, tv) mix in with their usual signs.

Numbers (the layer weights, the channel masks) are weights, so a sweep over layers or channels is
one program: the term's structure holds every layer a sweep touches, and a run's weights are zero
on the layers it does not dream on.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from stylejax.errors import StylejaxError
from stylejax.objectives import dream_networks
from stylejax.objectives.terms.base import Term, register

REDUCTIONS = ("l2", "mean", "guided")


def layer_value(acts: jax.Array, mask: jax.Array, reduction: str, guide: jax.Array | None = None) -> jax.Array:
  """The objective of one layer's (h, w, C) activations; `guide` (n, C): the guide's features."""
  positions = acts.shape[0] * acts.shape[1]
  if reduction == "guided":
    x = acts.reshape(-1, acts.shape[-1]) * mask
    y = guide * mask
    best = jnp.argmax(x @ y.T, axis=1)
    return jnp.sum(x * jax.lax.stop_gradient(y[best])) / positions
  chosen = positions * jnp.maximum(jnp.sum(mask), 1.0)
  if reduction == "l2":
    return 0.5 * jnp.sum(mask * acts * acts) / chosen
  return jnp.sum(mask * acts) / chosen


def masks(channels: tuple[int, ...], counts: dict[str, int]) -> dict[str, jax.Array]:
  """{layer: (C,) float32 mask}: the chosen channels, or all of them when none is chosen."""
  out = {}
  for layer, count in counts.items():
    mask = np.ones(count, np.float32) if not channels else np.zeros(count, np.float32)
    mask[[c for c in channels if c < count]] = 1.0
    out[layer] = jnp.asarray(mask)
  return out


@register
@dataclasses.dataclass(frozen=True)
class Dream(Term):
  """Minus the response of `layers` to the image (or, guided, its match to a guide's features)."""
  name = "dream"
  fields = {"dream.network": "vgg (the loss block's) | alexnet | mobilenet_v2",
            "dream.layers": "the layers dreamt on, with per-layer weights",
            "dream.channels": "the channels dreamt on (every one when empty)",
            "dream.objective": "l2 | mean | guided",
            "dream.guide": "guided: the guide image",
            "dream.weight": "its factor in the sum"}
  layers: tuple[str, ...]
  reduction: str = "l2"

  def __post_init__(self):
    if self.reduction not in REDUCTIONS:
      raise StylejaxError(f"dream.objective must be one of {', '.join(REDUCTIONS)}, got {self.reduction!r}")

  @classmethod
  def from_config(cls, config, net) -> Dream:
    return cls(layers=tuple(sorted(_layers(config))), reduction=config.dream.objective)

  @classmethod
  def weights(cls, config, arch: str, layers: tuple[str, ...] = ()) -> dict:
    """{"weight", "layers": {layer: w}, "channels": {layer: (C,) mask}}; `layers` may add layers
    that this config does not dream on (a sweep's other runs'): they weigh 0."""
    chosen = _layers(config, arch)
    network = config.dream.network
    channels = dream_networks.channel_indices(config.dream.channels)
    counts = {k: dream_networks.channel_count(network, k, arch) for k in sorted({*chosen, *layers})}
    dream_networks.check_channels(channels, {k: counts[k] for k in chosen})
    return {"weight": jnp.float32(config.dream.weight),
            "layers": {k: jnp.float32(chosen.get(k, 0.0)) for k in counts},
            "channels": masks(channels, counts)}

  def feature_layers(self) -> tuple[str, ...]:
    return self.layers

  def targets(self, net, params, inputs):
    """Guided: {layer: (n, C)} features of the guide image (inputs["guide"]), else None."""
    if self.reduction != "guided":
      return None
    feats = _guide_features(net, params, jnp.asarray(inputs["guide"]), self.layers)
    return {k: v.reshape(-1, v.shape[-1]) for k, v in feats.items()}

  def value(self, image, features, targets, weights, key) -> jax.Array:
    total = 0.0
    for layer in self.layers:
      guide = targets[layer] if self.reduction == "guided" else None
      total = total + weights["layers"][layer] * layer_value(
          features[layer], weights["channels"][layer], self.reduction, guide)
    return -total


def _layers(config, arch: str | None = None) -> dict[str, float]:
  arch = arch or config.loss.network.arch
  return dream_networks.layer_weights(config.dream.layers, config.dream.network, arch)


_guide_features = jax.jit(lambda net, params, image, layers: net.features(params, image, layers),
                          static_argnums=(0, 3))


def check_config(config) -> None:
  """The dream fields of a config, one line for the first bad one (no network is loaded)."""
  d = config.dream
  dream_networks.check_network(d.network)
  if d.objective not in REDUCTIONS:
    raise StylejaxError(f"dream.objective must be one of {', '.join(REDUCTIONS)}, got {d.objective!r}")
  if d.objective == "guided" and not d.guide:
    raise StylejaxError("dream.objective=guided needs a guide image (dream.guide)")
  if not (np.isfinite(d.weight) and d.weight >= 0):
    raise StylejaxError(f"dream.weight must be finite and >= 0, got {d.weight}")
  Dream.weights(config, config.loss.network.arch)  # the layers and channels, against the network
