"""The temporal term of feed-forward training (Huang et al. 2017, "Real-time neural style transfer for
videos"; ReCoNet, Gao et al. 2018): a network that is consistent over time maps two frames linked by
a motion to two outputs linked by the same motion. The term is the output-level warped loss,

  temporal = sum_x c(x) * |O_2(x) - warp(O_1, F_{2->1})(x)|^2 / (3 * sum_x c(x)),

O_i the network's output on frame i, F_{2->1} the flow from frame 2 to frame 1 and c the mask of the
pixels of frame 2 that frame 1 shows.

Real clips cannot be had here, so each training photo is its own frame 1 and frame 2 is made from it
by a random small camera motion (shift, zoom, rotation about the centre) whose flow is known exactly,
with optional Gaussian noise (the stability term of Gupta et al. 2017: small input changes must not
change the output). Everything is a pure function of a key, so a run stays reproducible and a
resumed run draws the same pairs.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable

import jax
import jax.numpy as jnp
import ml_collections

from stylejax.errors import StylejaxError
from stylejax.imaging import warp as warping


@dataclasses.dataclass(frozen=True)
class TemporalSettings:
  """The config's `temporal` block (stylejax/configs/temporal.py; hashable: part of a static problem)."""
  weight: float = 0.0  # 0: no temporal term
  max_shift: float = 0.0  # px, each axis, U(-max, max)
  max_rotation: float = 0.0  # degrees, U(-max, max)
  max_zoom: float = 0.0  # relative scale, U(1 - max, 1 + max)
  noise: float = 0.0  # std of the Gaussian noise added to frame 2 (images in [0, 1])

  @classmethod
  def from_config(cls, block: ml_collections.ConfigDict | None) -> "TemporalSettings":
    if block is None:
      return cls()
    return cls(weight=float(block.weight), max_shift=float(block.max_shift), max_rotation=float(block.max_rotation),
               max_zoom=float(block.max_zoom), noise=float(block.noise))

  @property
  def enabled(self) -> bool:
    return self.weight > 0


def validate(block: ml_collections.ConfigDict, method: str, supported: bool) -> None:
  """One line for the first bad value of the `temporal` block (or a method that has no temporal term)."""
  for name in ("weight", "max_shift", "max_rotation", "max_zoom", "noise"):
    value = block[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
      raise StylejaxError(f"temporal.{name} must be a finite number >= 0, got {value!r}")
  if block.max_zoom >= 0.5:
    raise StylejaxError(f"temporal.max_zoom must be below 0.5 (a small camera motion), got {block.max_zoom}")
  if block.weight > 0 and not supported:
    raise StylejaxError(f"temporal.weight > 0: network.kind={method} has no temporal term yet "
                        "(cin, cin_newstyle, adain, ghiasi and cyclegan have one)")


def camera_flow(key: jax.Array, height: int, width: int, settings: TemporalSettings) -> jax.Array:
  """F_{2->1}, (H, W, 2): pixel x of frame 2 shows frame 1 at x + F(x), for a random motion
  p = c + zoom * R(angle) (x - c) + shift about the image centre c."""
  k_shift, k_angle, k_zoom = jax.random.split(key, 3)
  shift = jax.random.uniform(k_shift, (2,), minval=-settings.max_shift, maxval=settings.max_shift)
  angle = jnp.deg2rad(jax.random.uniform(k_angle, (), minval=-settings.max_rotation, maxval=settings.max_rotation))
  zoom = 1 + jax.random.uniform(k_zoom, (), minval=-settings.max_zoom, maxval=settings.max_zoom)
  rows, cols = jnp.meshgrid(jnp.arange(height, dtype=jnp.float32), jnp.arange(width, dtype=jnp.float32),
                            indexing="ij")
  x, y = cols - (width - 1) / 2, rows - (height - 1) / 2
  cos, sin = jnp.cos(angle), jnp.sin(angle)
  source_x = zoom * (cos * x - sin * y) + (width - 1) / 2 + shift[0]
  source_y = zoom * (sin * x + cos * y) + (height - 1) / 2 + shift[1]
  return jnp.stack([source_x - cols, source_y - rows], axis=-1)


def in_frame(flow: jax.Array) -> jax.Array:
  """(H, W) float32: 1 where x + flow(x) lies inside the image."""
  h, w = flow.shape[:2]
  rows, cols = jnp.meshgrid(jnp.arange(h, dtype=jnp.float32), jnp.arange(w, dtype=jnp.float32), indexing="ij")
  x, y = cols + flow[..., 0], rows + flow[..., 1]
  return ((x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)).astype(jnp.float32)


def second_frame(key: jax.Array, frame: jax.Array, settings: TemporalSettings):
  """(frame 2, F_{2->1}, mask) for one (H, W, 3) frame 1 in [0, 1]."""
  k_motion, k_noise = jax.random.split(key)
  flow = camera_flow(k_motion, frame.shape[0], frame.shape[1], settings)
  moved = warping.warp(frame, flow)
  if settings.noise:
    moved = jnp.clip(moved + settings.noise * jax.random.normal(k_noise, moved.shape), 0, 1)
  return moved, flow, in_frame(flow)


def warped_loss(output_1: jax.Array, output_2: jax.Array, flow: jax.Array, mask: jax.Array) -> jax.Array:
  """The masked mean of |O_2 - warp(O_1, F_{2->1})|^2 over the pixels frame 1 shows (and channels)."""
  carried = warping.warp(output_1, flow)
  return jnp.sum(mask[..., None] * (output_2 - carried) ** 2) / (3 * jnp.maximum(jnp.sum(mask), 1.0))


def batch_pairs(settings: TemporalSettings, key: jax.Array, content: jax.Array, first_example=0):
  """(frames 2, flows, masks) of an (N, H, W, 3) batch of frames 1, as `add_term` draws them from
  the loss's `key`: example i's pair from `first_example + i`."""
  key = jax.random.split(key)[1]  # apart from the example keys fold_in(key, i) of the other terms
  keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(first_example + jnp.arange(content.shape[0]))
  return jax.vmap(lambda k, f: second_frame(k, f, settings))(keys, content)


def add_term(settings: TemporalSettings, stylize: Callable[[jax.Array], jax.Array], content: jax.Array,
             outputs: jax.Array, key: jax.Array, first_example, total: jax.Array, terms: dict):
  """(total + weight * temporal, terms with "temporal") for a batch: `stylize` maps (N, H, W, 3)
  frames to the network's outputs with the same conditioning as `outputs` (its outputs on
  `content`). Example i's pair is drawn from `first_example + i`, so any device layout trains on the
  same pairs. Unchanged when the weight is 0."""
  if not settings.enabled:
    return total, terms
  frames_2, flows, masks = batch_pairs(settings, key, content, first_example)
  outputs_2 = stylize(frames_2)
  term = jnp.mean(jax.vmap(warped_loss)(outputs, outputs_2, flows, masks))
  return total + settings.weight * term, {**terms, "temporal": term, "total": total + settings.weight * term}
