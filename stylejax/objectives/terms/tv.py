"""The total-variation term: mean squared difference of neighbouring pixels (a smoothness prior)."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from stylejax.objectives import losses
from stylejax.objectives.terms.base import Term, register


def weights_of(loss) -> dict:
  return {"weight": jnp.float32(loss.tv_weight)}


@register
@dataclasses.dataclass(frozen=True)
class TotalVariation(Term):
  """Reads the image only: no features, no targets."""
  name = "tv"
  fields = {"loss.tv_weight": "its factor in the sum"}

  @classmethod
  def weights(cls, config, arch: str) -> dict:
    return weights_of(config.loss)

  def value(self, image, features, targets, weights, key) -> jax.Array:
    return losses.total_variation(image)
