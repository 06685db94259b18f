"""Optical flow between frames (OpenCV's DIS, Kroeger et al. 2016) and Ruder et al.'s reliability masks.

`dis_flow(a, b)` is F_{a->b} on frame a's grid (see `stylejax.imaging.warp` for the convention).
`reliability(F_ab, F_ba)` marks the pixels of frame a where frame b warped onto it can be trusted,
by the two tests of Ruder et al. 2016 ("Artistic style transfer for videos", Sec. 3.2):
- forward-backward consistency: with w~(x) = F_ba(x + F_ab(x)) (the return flow brought back onto
  a's grid), a pixel is disoccluded when |F_ab + w~|^2 > 0.01 (|F_ab|^2 + |w~|^2) + 0.5;
- motion boundaries: |grad u|^2 + |grad v|^2 > 0.01 |F_ab|^2 + 0.002 (u, v: the components of F_ab);
and, added here, x + F_ab(x) must land inside frame b. Lai et al. 2018's warping error uses the
first and last test only (`motion_boundaries=False`).
"""

from __future__ import annotations

import cv2
import numpy as np

from stylejax.imaging import warp as warping

PRESETS = {"ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
           "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}


def _gray(frame: np.ndarray) -> np.ndarray:
  """(H, W, 3) [0, 1] float -> (H, W) uint8 luminance, what DIS reads."""
  luma = np.asarray(frame, np.float32) @ np.asarray([0.299, 0.587, 0.114], np.float32)
  return np.clip(np.rint(luma * 255), 0, 255).astype(np.uint8)


def dis_flow(frame_a: np.ndarray, frame_b: np.ndarray, preset: str = "medium") -> np.ndarray:
  """F_{a->b}: (H, W, 2) float32, DIS with variational refinement at `preset`'s settings."""
  dis = cv2.DISOpticalFlow_create(PRESETS[preset])
  flow = dis.calc(_gray(frame_a), _gray(frame_b), None)
  return np.ascontiguousarray(flow, np.float32)


def consistent(flow_ab: np.ndarray, flow_ba: np.ndarray) -> np.ndarray:
  """(H, W) bool on frame a: the forward-backward test passes."""
  back = warping.warp_np(flow_ba, flow_ab)  # w~(x) = F_ba(x + F_ab(x))
  mismatch = np.sum((flow_ab + back) ** 2, axis=-1)
  scale = np.sum(flow_ab ** 2, axis=-1) + np.sum(back ** 2, axis=-1)
  return mismatch <= 0.01 * scale + 0.5


def off_motion_boundary(flow_ab: np.ndarray) -> np.ndarray:
  """(H, W) bool on frame a: not on a motion boundary (central differences of F_ab)."""
  du_y, du_x = np.gradient(flow_ab[..., 0])
  dv_y, dv_x = np.gradient(flow_ab[..., 1])
  gradient = du_x ** 2 + du_y ** 2 + dv_x ** 2 + dv_y ** 2
  return gradient <= 0.01 * np.sum(flow_ab ** 2, axis=-1) + 0.002


def reliability(flow_ab: np.ndarray, flow_ba: np.ndarray, motion_boundaries: bool = True) -> np.ndarray:
  """(H, W) float32 in {0, 1} on frame a: 1 where frame b warped by F_ab is reliable."""
  mask = consistent(flow_ab, flow_ba) & warping.in_frame(flow_ab)
  if motion_boundaries:
    mask &= off_motion_boundary(flow_ab)
  return mask.astype(np.float32)


def long_term_masks(masks: list[np.ndarray]) -> list[np.ndarray]:
  """Ruder et al.'s long-term weights (Eq. 8): the masks c^(i-j, i) of the frames j in J back,
  closest first, each reduced by the closer ones, c_long^j = max(c^j - sum_{k<j} c^k, 0), so a
  pixel is pulled toward the closest earlier frame that saw it."""
  out, covered = [], np.zeros_like(masks[0]) if masks else None
  for mask in masks:
    out.append(np.maximum(mask - covered, 0).astype(np.float32))
    covered = covered + mask
  return out


def endpoint_error(flow: np.ndarray, truth: np.ndarray, valid: np.ndarray | None = None) -> float:
  """Mean end-point error |flow - truth| over `valid` pixels (all when None)."""
  error = np.sqrt(np.sum((flow - truth) ** 2, axis=-1))
  return float(error.mean() if valid is None else error[valid.astype(bool)].mean())
