"""Backward warping by an optical flow: sample an image at x + flow(x), bilinearly.

The flow convention is OpenCV's and the Middlebury .flo files': flow[..., 0] is the horizontal
(column) displacement, flow[..., 1] the vertical (row) one, in pixels. A flow F_{a->b} on frame a's
grid says pixel x of frame a is seen at x + F(x) in frame b, so `warp(frame_b, F_{a->b})` is frame b
brought onto frame a's grid. Points that land outside the image take the nearest border pixel
(`in_frame` says which did); the reliability masks (`stylejax.imaging.flow`) exclude them.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


@jax.jit
def warp(image, flow):
  """(H, W, C) or (H, W) image sampled at x + flow(x) (bilinear, border pixels replicated)."""
  image = jnp.asarray(image)
  flat = image.ndim == 2
  if flat:
    image = image[..., None]
  h, w = image.shape[:2]
  rows, cols = jnp.meshgrid(jnp.arange(h, dtype=jnp.float32), jnp.arange(w, dtype=jnp.float32), indexing="ij")
  x = jnp.clip(cols + flow[..., 0], 0, w - 1)
  y = jnp.clip(rows + flow[..., 1], 0, h - 1)
  x0, y0 = jnp.floor(x), jnp.floor(y)
  fx, fy = (x - x0)[..., None], (y - y0)[..., None]
  x0, y0 = x0.astype(jnp.int32), y0.astype(jnp.int32)
  x1, y1 = jnp.minimum(x0 + 1, w - 1), jnp.minimum(y0 + 1, h - 1)
  top = image[y0, x0] * (1 - fx) + image[y0, x1] * fx
  bottom = image[y1, x0] * (1 - fx) + image[y1, x1] * fx
  out = top * (1 - fy) + bottom * fy
  return out[..., 0] if flat else out


def in_frame(flow: np.ndarray) -> np.ndarray:
  """(H, W) bool: x + flow(x) lies inside the image (so a warp there samples real pixels)."""
  h, w = flow.shape[:2]
  rows, cols = np.mgrid[0:h, 0:w]
  x, y = cols + flow[..., 0], rows + flow[..., 1]
  return (x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)


def warp_np(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
  """`warp` as a float32 numpy array."""
  return np.asarray(warp(jnp.asarray(image, jnp.float32), jnp.asarray(flow, jnp.float32)))
