"""The flow between any two frames of a clip, computed once: from the user's folder of .flo files
(`--flow-dir`, e.g. RAFT's), else from the run's cache, else by DIS (then cached there).

Files are named by 1-based frame numbers, `flow_{a:06d}_{b:06d}.flo` = F_{a->b}, the names the
frame folders use (stylejax.io.video.frame_name), so a user can write them with any flow method.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from stylejax.errors import StylejaxError
from stylejax.imaging import flow as flowlib
from stylejax.io import flo


def flow_name(a: int, b: int) -> str:
  """The file of F_{a->b} for 0-based frames a, b."""
  return f"flow_{a + 1:06d}_{b + 1:06d}.flo"


class ClipFlow:
  """F_{a->b} and reliability masks for a clip whose frame t is `frame(t)` ((H, W, 3) [0, 1])."""

  def __init__(self, frame: Callable[[int], np.ndarray], shape: tuple[int, int], *, cache: Path | None = None,
               given: Path | None = None, preset: str = "medium"):
    if preset not in flowlib.PRESETS:
      raise StylejaxError(f"flow preset must be one of {', '.join(flowlib.PRESETS)}, got {preset!r}")
    if given is not None and not Path(given).is_dir():
      raise StylejaxError(f"--flow-dir {given}: no such folder of .flo files")
    self._frame, self.shape, self.cache, self.given, self.preset = frame, tuple(shape), cache, given, preset
    self._flows: dict[tuple[int, int], np.ndarray] = {}
    self.computed = 0  # DIS calls made (the rest came from files)

  def flow(self, a: int, b: int) -> np.ndarray:
    if (a, b) not in self._flows:
      self._flows[(a, b)] = self._load(a, b)
    return self._flows[(a, b)]

  def _load(self, a: int, b: int) -> np.ndarray:
    name = flow_name(a, b)
    for folder in (self.given, self.cache):
      if folder is not None and (Path(folder) / name).is_file():
        flow = flo.read_flo(Path(folder) / name)
        if flow.shape[:2] != self.shape:
          raise StylejaxError(f"{Path(folder) / name}: a {flow.shape[1]} x {flow.shape[0]} flow for "
                              f"{self.shape[1]} x {self.shape[0]} frames")
        return flow
    flow = flowlib.dis_flow(self._frame(a), self._frame(b), self.preset)
    self.computed += 1
    if self.cache is not None:
      flo.write_flo(Path(self.cache) / name, flow)
    return flow

  def reliability(self, a: int, b: int, motion_boundaries: bool = True) -> np.ndarray:
    """Ruder et al.'s mask on frame a for frame b warped onto it."""
    return flowlib.reliability(self.flow(a, b), self.flow(b, a), motion_boundaries)

  def forget(self, before: int) -> None:
    """Drops the flows of frames earlier than `before` from memory (long clips)."""
    self._flows = {k: v for k, v in self._flows.items() if min(k) >= before}
