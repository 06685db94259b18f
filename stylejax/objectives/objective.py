"""A pixel objective: the weighted sum of named terms (`stylejax.objectives.terms`).

Gatys et al. is one composition, content + style + tv (`GATYS`, the default `objective.terms`).
Every function here is generic over the terms: the pixel optimizer, sweeps and the style networks'
`loss_network.loss_terms` all go through `term_values`.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import jax

from stylejax.objectives import terms as term_registry
from stylejax.objectives.terms.base import Term
from stylejax.objectives.terms.content import Content
from stylejax.objectives.terms.style import Style
from stylejax.objectives.terms.tv import TotalVariation

GATYS = ("content", "style", "tv")


def gatys(net) -> tuple[Term, ...]:
  """Content + style + tv of a `LossNetwork`: the objective of Gatys et al. and of the style networks."""
  return (Content(layers=net.content_layers), Style.of(net), TotalVariation())


def terms_from_config(config, net) -> tuple[Term, ...]:
  """The terms `config.objective.terms` lists, in that order (the order of the sum)."""
  return tuple(term_registry.lookup(name).from_config(config, net)
               for name in term_registry.names(config.objective.terms))


def weights_from_config(config, arch: str) -> dict:
  """{term name: its weights pytree} of the terms the config lists; arrays, so a change never retraces."""
  return {name: term_registry.lookup(name).weights(config, arch)
          for name in term_registry.names(config.objective.terms)}


def feature_layers(terms: Sequence[Term]) -> tuple[str, ...]:
  """Every layer some term reads, sorted: the loss network runs once per evaluation for all of them."""
  return tuple(sorted(set().union(*(t.feature_layers() for t in terms))))


def targets_of(terms: Sequence[Term], net, params, inputs: Mapping[str, Any]) -> dict:
  """{term name: its targets}, computed once per run and scale."""
  return {t.name: t.targets(net, params, inputs) for t in terms}


def term_values(terms: Sequence[Term], image: jax.Array, features: Mapping, targets: Mapping,
                weights: Mapping, key: jax.Array) -> dict:
  """{each term's name: its value, "total": the weighted sum} for ONE (H, W, 3) image.

  The sum runs in the terms' order, starting from the first product (no 0.0 + ...): for the Gatys
  terms it is the same float32 arithmetic as content_weight * content + style_weight * style + ...
  """
  values = {t.name: t.value(image, features, targets[t.name], weights[t.name], key) for t in terms}
  total = None
  for t in terms:
    weighted = weights[t.name]["weight"] * values[t.name]
    total = weighted if total is None else total + weighted
  return {**values, "total": total}
