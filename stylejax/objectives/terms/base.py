"""What an objective term is, and the registry that finds one by its name in `objective.terms`.

A term is a frozen dataclass subclassing `Term`, registered with `@register`, one module each
(content.py, style.py, tv.py). Its instance holds only what is structural (layers, a statistic):
it is hashable and part of the jit-static `PixelProblem`. Its numbers come from `weights`, a
pytree of float32 arrays, so a sweep vmaps over them and changing one never retraces.
"""

from __future__ import annotations

from typing import Any, ClassVar, Mapping

import jax

from stylejax.errors import StylejaxError


class Term:
  """One named term of a pixel objective. Subclasses set `name` and `fields` and are frozen dataclasses.

  The objective is sum_i weights[name_i]["weight"] * value_i over the terms in `objective.terms`;
  each value is logged under the term's name.
  """
  name: ClassVar[str]  # its name in `objective.terms` and in the logged metrics
  fields: ClassVar[Mapping[str, str]] = {}  # {config key: what it means} of every field it reads

  @classmethod
  def from_config(cls, config, net) -> Term:
    """Its static settings, from the run's config and `LossNetwork` (built from the same config)."""
    del config, net
    return cls()

  @classmethod
  def weights(cls, config, arch: str) -> dict:
    """Its numbers as float32 arrays: "weight" (its factor in the sum) and any of its own."""
    raise NotImplementedError

  def feature_layers(self) -> tuple[str, ...]:
    """The loss network's layers `value` reads; the network runs once for all terms together."""
    return ()

  def targets(self, net, params, inputs: Mapping[str, Any]) -> Any:
    """What `value` compares against, computed once per run and scale (a pytree of arrays, or None).

    `inputs` holds "content" (H, W, 3), "styles" (a list of images) and whatever else the runner
    passes (e.g. a previous frame warped onto this one, and its mask). `net` and `params` are the
    loss network and its parameters.
    """
    del net, params, inputs
    return None

  def value(self, image: jax.Array, features: Mapping[str, jax.Array], targets: Any, weights: Mapping,
            key: jax.Array) -> jax.Array:
    """The term's unweighted scalar for ONE (H, W, 3) image; pure, differentiable in `image`.

    `features` holds at least `feature_layers()`; `targets` is this term's `targets(...)`; `weights`
    this term's `weights(...)`; `key` the run's loss key (stochastic terms fold it in).
    """
    raise NotImplementedError


REGISTRY: dict[str, type[Term]] = {}


def register(cls: type[Term]) -> type[Term]:
  """Class decorator: makes the term known by `cls.name`."""
  if cls.name in REGISTRY:
    raise ValueError(f"two objective terms are named {cls.name!r}: {REGISTRY[cls.name]} and {cls}")
  REGISTRY[cls.name] = cls
  return cls


def lookup(name: str, what: str = "objective.terms") -> type[Term]:
  if name not in REGISTRY:
    raise StylejaxError(f"{what}: unknown objective term {name!r}; choose from {', '.join(REGISTRY)}")
  return REGISTRY[name]


def names(spec: str, what: str = "objective.terms") -> tuple[str, ...]:
  """"content,style,tv" -> ("content", "style", "tv"); an unknown, repeated or missing name is the user's."""
  found = tuple(n.strip() for n in spec.split(",") if n.strip())
  if not found:
    raise StylejaxError(f"{what}: no terms given; choose from {', '.join(REGISTRY)}")
  for name in found:
    lookup(name, what)
  if len(set(found)) != len(found):
    raise StylejaxError(f"{what}: a term is listed twice in {spec!r}")
  return found
