"""Temporal consistency of a stylized video: the warping error of Lai et al. 2018 ("Learning Blind
Video Temporal Consistency", Sec. 5.1, their evaluate_WarpError.py).

For consecutive frames, E_t = sum_x M_t(x) |O_t(x) - warp(O_{t+1}, F_{t->t+1})(x)|^2 / sum_x M_t(x),
the squared RGB distance ([0, 1] pixels) averaged over the non-occluded pixels M_t, and E is the
mean of E_t over the clip. F and M come from the INPUT video (its flow, forward-backward check, so
a result cannot lower its error by changing the motion); Lai et al. use no motion-boundary test.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from stylejax.imaging import warp as warping


@jax.jit
def pair_warping_error(current, following, flow_forward, mask):
  """E_t for one pair: current O_t, following O_{t+1}, F_{t->t+1} and M_t on frame t."""
  diff = jnp.sum((current - warping.warp(following, flow_forward)) ** 2, axis=-1)
  return jnp.sum(mask * diff) / jnp.maximum(jnp.sum(mask), 1.0)


def warping_errors(frames: Sequence[np.ndarray], flows_forward: Sequence[np.ndarray],
                   masks: Sequence[np.ndarray]) -> np.ndarray:
  """E_t for t = 0..T-2 of (H, W, 3) [0, 1] frames (uint8 frames are scaled to [0, 1])."""
  as_float = lambda f: np.asarray(f, np.float32) / (255.0 if np.asarray(f).dtype == np.uint8 else 1.0)
  return np.asarray([float(pair_warping_error(as_float(frames[t]), as_float(frames[t + 1]),
                                              jnp.asarray(flows_forward[t]), jnp.asarray(masks[t])))
                     for t in range(len(frames) - 1)], np.float64)


def warping_error(frames, flows_forward, masks) -> float:
  """E: the mean of `warping_errors` over the clip."""
  return float(np.mean(warping_errors(frames, flows_forward, masks)))
