"""Middlebury .flo optical-flow files: what RAFT, FlowNet2 and Sintel's ground truth write.

Layout (little-endian): the float32 tag 202021.25 ("PIEH"), int32 width, int32 height, then
height x width x 2 float32 (u, v interleaved, row by row). So a user can bring better flow than
OpenCV's DIS to `stylejax video --flow-dir`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from stylejax.atomic_io import atomic_write_bytes
from stylejax.errors import StylejaxError

TAG = 202021.25
_MAX_SIDE = 1 << 15  # a header claiming more is damage, not a flow


def flo_bytes(flow: np.ndarray) -> bytes:
  flow = np.asarray(flow, np.float32)
  if flow.ndim != 3 or flow.shape[-1] != 2:
    raise ValueError(f"a flow is (H, W, 2), got {flow.shape}")
  h, w, _ = flow.shape
  return (np.float32(TAG).astype("<f4").tobytes() + np.asarray([w, h], "<i4").tobytes()
          + flow.astype("<f4").tobytes())


def write_flo(path: str | Path, flow: np.ndarray) -> None:
  atomic_write_bytes(path, flo_bytes(flow))


def read_flo(path: str | Path) -> np.ndarray:
  """(H, W, 2) float32; a missing, truncated or foreign file is one line naming it."""
  path = Path(path)
  try:
    data = path.read_bytes()
  except OSError as e:
    raise StylejaxError(f"{path}: cannot read the flow file ({e.strerror or type(e).__name__})") from None
  if len(data) < 12 or np.frombuffer(data[:4], "<f4")[0] != np.float32(TAG):
    raise StylejaxError(f"{path} is not a .flo flow file (no PIEH tag)")
  w, h = (int(v) for v in np.frombuffer(data[4:12], "<i4"))
  if not (0 < w < _MAX_SIDE and 0 < h < _MAX_SIDE):
    raise StylejaxError(f"{path}: a .flo header of {w} x {h} pixels is damaged")
  if len(data) != 12 + 8 * w * h:
    raise StylejaxError(f"{path}: {len(data) - 12} bytes of flow for {w} x {h} pixels (truncated or damaged)")
  flow = np.frombuffer(data[12:], "<f4").reshape(h, w, 2).astype(np.float32)
  if not np.all(np.isfinite(flow)):
    raise StylejaxError(f"{path}: the flow holds NaN or Inf")
  return flow
