"""The loss block's layer fields: "relu1_1,relu2_1:0.5" -> per-layer weights, checked against the arch.

Its own module (below `loss_network` and the objective terms) because both read these fields:
the loss network for the layers it computes, the terms for the weights they apply.
"""

from __future__ import annotations

import math

from stylejax.errors import StylejaxError
from stylejax.networks import vgg


def layer_weights(spec: str, arch: str, what: str) -> dict[str, float]:
  """"relu1_1,relu2_1:0.5" -> {"relu1_1": 1.0, "relu2_1": 0.5}, checked against the arch."""
  weights = parse_weights(spec, what)
  vgg.check_layers(arch, weights)
  return weights


def parse_weights(spec: str, what: str) -> dict[str, float]:
  """"a,b:0.5" -> {"a": 1.0, "b": 0.5}, unchecked names (another network checks its own)."""
  weights = {}
  for item in (s.strip() for s in spec.split(",")):
    if not item:
      continue
    layer, _, weight = item.partition(":")
    try:
      value = float(weight) if weight else 1.0
    except ValueError:
      raise StylejaxError(f"{what}: bad weight in {item!r}") from None
    if not math.isfinite(value) or value < 0:
      raise StylejaxError(f"{what}: layer weight must be finite and >= 0, got {item!r}")
    weights[layer.strip()] = value
  if not weights:
    raise StylejaxError(f"{what}: no layers given")
  return weights
