"""Fully convolutional networks on any image size: pad to a multiple of the network's downsampling
factor, run, crop the output back.

  padded, pads = pad_to_multiple(x, 4)
  out = crop_padding(network(padded), pads)

Each spatial side gets half its padding on either end, the odd pixel at the bottom/right.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

Pads = tuple[tuple[int, int], tuple[int, int]]  # ((top, bottom), (left, right))


def pad_amounts(length: int, multiple: int) -> tuple[int, int]:
  """(before, after): the fewest pixels that make `length` a multiple of `multiple`, split in two."""
  total = -length % multiple
  return total // 2, total - total // 2


def pad_to_multiple(batch: jax.Array, multiple: int, mode: str = "reflect") -> tuple[jax.Array, Pads]:
  """An (N, H, W, C) batch padded (`jnp.pad`'s `mode`) so H and W are multiples of `multiple`, and
  the pads, for `crop_padding` (and for padding anything laid over the batch, such as a mask)."""
  pads = (pad_amounts(batch.shape[1], multiple), pad_amounts(batch.shape[2], multiple))
  return jnp.pad(batch, ((0, 0), *pads, (0, 0)), mode=mode), pads


def crop_padding(batch: jax.Array, pads: Pads) -> jax.Array:
  """An (N, H, W, C) output of a padded input, cropped back to the input's size."""
  (top, bottom), (left, right) = pads
  return batch[:, top:batch.shape[1] - bottom, left:batch.shape[2] - right]
