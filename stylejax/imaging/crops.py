"""Centred crops. Offsets round down: an odd margin leaves its extra pixel at the bottom/right.

Two square crops, for two callers whose numbers must not move: `square` resizes on the host with
PIL's Lanczos (`images.resize`; training crops, grids, retrieval), `square_on_device` inside a jax
program with `jax.image.resize`'s lanczos3 (the Magenta style predictor's 256 x 256 input). The
two give slightly different pixels for the same image.
"""

from __future__ import annotations

import jax
import numpy as np

from stylejax.imaging import images


def center_crop(image, height: int, width: int):
  """The centred `height` x `width` window of an (..., H, W, C) image or batch (numpy or jax)."""
  h, w = image.shape[-3:-1]
  top, left = (h - height) // 2, (w - width) // 2
  return image[..., top:top + height, left:left + width, :]


def center_square(image):
  """The largest centred square of an (..., H, W, C) image or batch."""
  side = min(image.shape[-3:-1])
  return center_crop(image, side, side)


def square(image: np.ndarray, size: int) -> np.ndarray:
  """An (H, W, 3) image's centred square, resized to size x size on the host (PIL Lanczos), float32."""
  return images.resize(center_square(np.asarray(image, np.float32)), (size, size))


def square_on_device(batch: jax.Array, size: int) -> jax.Array:
  """An (N, H, W, C) batch's centred squares at size x size, traceable: lanczos3 with antialiasing
  (`jax.image.resize`), skipped when the square already has that size."""
  cropped = center_square(batch)
  if cropped.shape[1] == size:
    return cropped
  return jax.image.resize(cropped, (batch.shape[0], size, size, batch.shape[-1]), method="lanczos3",
                          antialias=True)


def fill(image: np.ndarray, height: int, width: int) -> np.ndarray:
  """The largest centred crop of the aspect height:width (sides rounded), resized to (height, width)."""
  h, w = image.shape[:2]
  crop_h, crop_w = min(h, round(w * height / width)), min(w, round(h * width / height))
  return images.resize(center_crop(image, crop_h, crop_w), (height, width))
