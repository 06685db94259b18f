"""Lucid's "standard transforms" as one differentiable resampling of an (H, W, 3) image.

lucid (tensorflow/lucid, optvis/transform.py) applies, before each gradient step of a feature
visualization: pad(12, constant 0.5), jitter(8), random_scale(1 + (i - 5) / 50, i < 11),
random_rotate(-10..10 degrees, with 0 five more times), jitter(4). Here the scale, rotation and
both jitters are one affine map about the centre of the padded image, sampled bilinearly
(`bilinear`), so the gradient flows back to every pixel. The output is
the padded size; the pad's grey border, rotated and shifted, is what the network sees at the edges.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

PAD = 12
SCALES = tuple(1 + (i - 5) / 50 for i in range(11))
ANGLES = tuple(range(-10, 11)) + (0,) * 5  # degrees
JITTERS = (8, 4)  # lucid's two jitters, in that order: shifts of up to this many pixels


def lucid(image: jax.Array, key: jax.Array) -> jax.Array:
  """One random draw of the transforms: (H, W, 3) -> (H + 2 PAD, W + 2 PAD, 3)."""
  k_scale, k_angle, k_shift1, k_shift2 = jax.random.split(key, 4)
  x = jnp.pad(image, ((PAD, PAD), (PAD, PAD), (0, 0)), constant_values=0.5)
  h, w = x.shape[:2]
  scale = jax.random.choice(k_scale, jnp.asarray(SCALES, jnp.float32))
  angle = jnp.deg2rad(jax.random.choice(k_angle, jnp.asarray(ANGLES, jnp.float32)))
  shift = (jax.random.randint(k_shift1, (2,), 0, 2 * JITTERS[0] + 1) - JITTERS[0]
           + jax.random.randint(k_shift2, (2,), 0, 2 * JITTERS[1] + 1) - JITTERS[1]).astype(jnp.float32)
  rows, cols = jnp.meshgrid(jnp.arange(h, dtype=jnp.float32), jnp.arange(w, dtype=jnp.float32), indexing="ij")
  cy, cx = (h - 1) / 2, (w - 1) / 2
  # Output pixel (r, c) samples the input at the inverse map: rotate by -angle, divide by the scale.
  dy, dx = rows - cy - shift[0], cols - cx - shift[1]
  cos, sin = jnp.cos(angle), jnp.sin(angle)
  src_r = (cos * dy + sin * dx) / scale + cy
  src_c = (-sin * dy + cos * dx) / scale + cx
  return bilinear(x, src_r, src_c)


def bilinear(image: jax.Array, rows: jax.Array, cols: jax.Array) -> jax.Array:
  """`image` (H, W, C) sampled at fractional (rows, cols), edges repeated: four gathers of whole
  pixels (jax.scipy.ndimage.map_coordinates per channel compiled about 10x slower here)."""
  h, w = image.shape[:2]
  rows, cols = jnp.clip(rows, 0, h - 1), jnp.clip(cols, 0, w - 1)
  r0, c0 = jnp.floor(rows), jnp.floor(cols)
  fr, fc = (rows - r0)[..., None], (cols - c0)[..., None]
  r0, c0 = r0.astype(jnp.int32), c0.astype(jnp.int32)
  r1, c1 = jnp.minimum(r0 + 1, h - 1), jnp.minimum(c0 + 1, w - 1)
  at = lambda r, c: image[r, c]
  return ((1 - fr) * ((1 - fc) * at(r0, c0) + fc * at(r0, c1)) + fr * ((1 - fc) * at(r1, c0) + fc * at(r1, c1)))
