"""DeepDream on a video (issue 23): each frame dreamt from the previous dream carried along the motion.

Frame 0 is dreamt as a photo (stylejax.pixel.dream). Frame t > 0 starts from
  x_t = f_t + carry * c_t * (warp(d_{t-1}, F_{t->t-1}) - f_t),
f_t the input frame, d_{t-1} the previous dream, F_{t->t-1} the input's backward flow and c_t Ruder
et al.'s reliability mask of frame t-1 on frame t (stylejax.imaging.flow): where the flow is
trusted the dream's detail d_{t-1} - f_{t-1} travels with the scene, at disocclusions and motion
boundaries the new frame shows through. x_t is then dreamt like a photo (all octaves, the same key
on every frame), so the dream keeps growing where it already is instead of a new dream appearing
every frame. The 2015 flow-guided DeepDream videos (graphific/DeepDreamVideo's --flow) start frame t
from f_t + warp(d_{t-1} - f_{t-1}) (Farneback flow, no mask, the whole detail: carry 1); here the
warped dream itself is blended in under Ruder et al.'s mask, and by default only half of it
(`DEFAULT_CARRY`).

`DreamFrames` is a `stylejax.video.run.FrameProducer`: the video runner gives it the frames, the
flows (computed once, cached as .flo in the run directory), the resumable frame folder and the MP4.
With `compare`, its per-frame output is the frame dreamt on its own (the baseline whose warping
error metrics.json reports beside the video's).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import ml_collections
import numpy as np

from stylejax.errors import StylejaxError
from stylejax.imaging import warp as warping
from stylejax.pixel import dream as pixel_dream
from stylejax.video import run as video_run
from stylejax.video.flows import ClipFlow

# Half the previous dream: with carry c the carried detail settles at (one frame's dream) / (1 - c), so
# c = 1 grows without bound (the 2015 videos' img + warped detail); DeepDreamAnim's examples blend 0.5.
# Measured (the note of issue 23's video part): 0.5 gave a lower warping error than 1 and than 0.
DEFAULT_CARRY = 0.5


def carried_init(frame: np.ndarray, previous_dream: np.ndarray, flow_back: np.ndarray, mask: np.ndarray,
                 carry: float) -> np.ndarray:
  """f_t + carry * c_t * (warp(d_{t-1}, F_{t->t-1}) - f_t); (H, W, 3) float32 in [0, 1]."""
  carried = warping.warp_np(previous_dream, flow_back)
  return (frame + carry * mask[..., None] * (carried - frame)).astype(np.float32)


def check_carry(carry: float) -> None:
  if not (np.isfinite(carry) and 0 <= carry <= 1):
    raise StylejaxError(f"--carry must be in [0, 1] (0: every frame dreamt on its own), got {carry}")


@dataclasses.dataclass
class DreamFrames:
  """Frame t's dream given the previous one; loads the network once for the whole clip."""
  config: ml_collections.ConfigDict
  carry: float = DEFAULT_CARRY
  compare: bool = False  # also dream every frame on its own (the per-frame baseline)
  history: int = 1

  def __post_init__(self):
    check_carry(self.carry)
    pixel_dream.validate(self.config)
    self.net, self.params = pixel_dream.network_and_params(self.config)
    self.problem = pixel_dream.problem_from_config(self.config, self.net)
    self.weights = pixel_dream.weights_from_config(self.config, self.problem)
    self.loop = pixel_dream.loop_from_config(self.config)
    self.side = pixel_dream.side_inputs(self.config)

  def dream(self, photo: np.ndarray) -> np.ndarray:
    """One image dreamt as `stylejax dream` would (its own octaves, the config's seed)."""
    sizes = pixel_dream.octave_sizes(*photo.shape[:2], self.config.dream.octaves, self.config.dream.octave_scale)
    pixel_dream.check_sizes(sizes)
    return pixel_dream.dream(self.problem, self.loop, {"photo": photo, **self.side}, self.params, self.weights,
                             self.config, sizes)[0]

  def __call__(self, t: int, frame: np.ndarray, previous: dict[int, np.ndarray], flows: ClipFlow):
    if t == 0 or self.carry == 0:
      out = self.dream(frame)
      return out, (out if self.compare else None)
    start = carried_init(frame, previous[t - 1], flows.flow(t, t - 1), flows.reliability(t, t - 1), self.carry)
    out = self.dream(start)
    return out, (self.dream(frame) if self.compare else None)


def run(config: ml_collections.ConfigDict, source: str | Path, output: str | Path, *,
        workdir: str | Path | None = None, carry: float = DEFAULT_CARRY, compare: str | Path | None = None,
        max_frames: int = 0, fps: float | None = None, flow_dir: str | Path | None = None,
        overwrite: bool = False, quiet: bool = False) -> video_run.VideoResult:
  """`stylejax dream CLIP -o OUT.mp4`: every setting checked before a frame is read; frames at
  `config.image_size` (longer side); a rerun with the same request resumes in `workdir`."""
  check_carry(carry)
  config.content = str(source)  # what validate reads as "the photo"; the frames come from the video
  pixel_dream.validate(config)
  if config.image_size % 2:
    raise StylejaxError(f"image_size must be even for a video (H.264 frames), got {config.image_size}")
  # run.json is compared with what it held: JSON's own types, so tuples and lists compare equal on resume
  request = {"method": "dream", "carry": carry, "compare": compare is not None,
             "config": json.loads(config.to_json_best_effort())}
  factory = lambda shape: DreamFrames(config, carry, compare=compare is not None)
  return video_run.run(source, output, factory, request, workdir=workdir, size=config.image_size,
                       max_frames=max_frames, fps=fps, compare=compare, flow_dir=flow_dir, overwrite=overwrite,
                       quiet=quiet)
