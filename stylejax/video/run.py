"""`stylejax video`: a clip through any method, frame by frame, resumable, into an MP4.

The run directory (`--workdir`, default: beside the output, OUT_run/) holds
  run.json       what was asked (input, method, settings, frame count and rate): a rerun with the
                 same request resumes, another request is refused unless --overwrite
  frames/        the output frames, frame_000001.png ... (each written atomically: a frame file
                 exists only once it is complete, so a killed run resumes after the last one)
  raw/           the method's own per-frame output beside it (the comparison's middle panel)
  flow/          F_{a->b} of the input as .flo files, computed once (or read from --flow-dir)
  metrics.json   warping error (Lai et al. 2018) of the output and of the per-frame frames
Each output frame is rounded to 8 bits before a later frame reads it, in a fresh run as after a
resume, so a resumed run writes the same frames as one that was never stopped.
"""

from __future__ import annotations

import dataclasses
import io
import json
import shutil
import time
from pathlib import Path
from typing import Callable, Protocol

import numpy as np
from PIL import Image
from tqdm import tqdm

from stylejax.atomic_io import atomic_write_bytes, atomic_write_text
from stylejax.errors import StylejaxError
from stylejax.evaluation import temporal
from stylejax.imaging import images
from stylejax.io import outputs, rundir
from stylejax.io import video as videoio
from stylejax.video import consistency
from stylejax.video.flows import ClipFlow

RUN_FILE = "run.json"


class FrameProducer(Protocol):
  history: int  # how many earlier outputs a frame reads

  def __call__(self, t: int, frame: np.ndarray, previous: dict[int, np.ndarray],
               flows: ClipFlow) -> tuple[np.ndarray, np.ndarray | None]:
    """(frame t's output, the method's own per-frame output or None), (H, W, 3) [0, 1]."""


@dataclasses.dataclass
class NetworkFrames:
  """A network's frame, then the post-hoc step (`consistency.MODES`) with the previous output."""
  stylize: Callable[[np.ndarray], np.ndarray]
  mode: str = "blend"
  beta: float = 0.6
  history: int = 1

  def __post_init__(self):
    if self.mode not in consistency.MODES:
      raise StylejaxError(f"--consistency for a network must be one of {', '.join(consistency.MODES)}, got {self.mode!r}")
    if not 0 <= self.beta < 1:
      raise StylejaxError(f"--beta must be in [0, 1), got {self.beta}")

  def __call__(self, t, frame, previous, flows):
    raw = np.clip(np.asarray(self.stylize(frame), np.float32), 0, 1)
    if t == 0 or self.mode == "none":
      return raw, raw
    if self.mode == "ema":
      return consistency.ema(raw, previous[t - 1], self.beta), raw
    return consistency.flow_blend(raw, previous[t - 1], flows.flow(t, t - 1), flows.reliability(t, t - 1),
                                  self.beta), raw


@dataclasses.dataclass
class VideoResult:
  workdir: Path
  output: Path
  frames: int
  resumed_from: int  # frames already done when this run started
  metrics: dict


def _png(image: np.ndarray) -> bytes:
  buffer = io.BytesIO()
  Image.fromarray(image).save(buffer, format="PNG")
  return buffer.getvalue()


def _read_png(path: Path) -> np.ndarray:
  with Image.open(path) as picture:
    return np.asarray(picture.convert("RGB"), np.uint8)


def prepare_workdir(workdir: Path, request: dict, overwrite: bool) -> bool:
  """True when `workdir` holds this same request (resume); clears it for a new one with overwrite."""
  workdir = outputs.check_folder(workdir, "video")
  request = json.loads(rundir.json_text(request))  # as run.json holds it: tuples are lists there
  run_file = workdir / RUN_FILE
  if run_file.is_file():
    try:
      earlier = json.loads(run_file.read_text())
    except ValueError:
      earlier = None
    if earlier == request:
      return True
    if not overwrite:
      raise StylejaxError(f"--workdir {workdir} holds a video run of another request (its {RUN_FILE} differs); "
                          "pass --overwrite to start over, or choose another --workdir")
  elif workdir.is_dir() and any(workdir.iterdir()) and not overwrite:
    raise StylejaxError(f"--workdir {workdir} already holds something else; pass --overwrite to replace it")
  if workdir.is_dir():
    shutil.rmtree(workdir)
  workdir.mkdir(parents=True)
  atomic_write_text(run_file, rundir.json_text(request))
  return False


def _done(folder: Path, n: int) -> int:
  """How many frames from the first on exist."""
  t = 0
  while t < n and (folder / videoio.frame_name(t)).is_file():
    t += 1
  return t


def default_workdir(output: Path) -> Path:
  return output.with_name(output.stem + "_run")


def run(source: str | Path, output: str | Path, producer_factory: Callable[[tuple[int, int]], FrameProducer],
        request: dict, *, workdir: str | Path | None = None, size: int = 0, max_frames: int = 0,
        fps: float | None = None, compare: str | Path | None = None, flow_dir: str | Path | None = None,
        flow_preset: str = "medium", overwrite: bool = False, quiet: bool = False) -> VideoResult:
  """Reads `source`, makes every frame not yet in the workdir, writes `output` (and `compare`:
  input | per-frame | consistent). `producer_factory(frame shape)` loads the method (after every
  input is checked); `request` is what run.json records besides the input settings."""
  output = outputs.check_file(output, videoio.WRITES, overwrite, "video")
  if compare is not None:
    compare = outputs.check_file(compare, videoio.WRITES, overwrite, "video", "--compare")
  workdir = Path(workdir) if workdir is not None else default_workdir(output)
  clip = videoio.read_video(source, size=size, max_frames=max_frames, fps=fps)
  frames_in = clip.frames[:, :clip.frames.shape[1] // 2 * 2, :clip.frames.shape[2] // 2 * 2]  # H.264: even sides
  n, shape = len(frames_in), frames_in.shape[1:3]
  if n < 1:
    raise StylejaxError(f"{source}: no frames")
  producer = producer_factory(shape)
  full_request = {"input": str(Path(source).resolve()), "size": size, "max_frames": max_frames, "frames": n,
                  "shape": list(shape), "fps": clip.fps, **request}
  resumed = prepare_workdir(workdir, full_request, overwrite)
  out_dir, raw_dir = workdir / "frames", workdir / "raw"
  frame = lambda t: frames_in[t].astype(np.float32) / 255.0
  flows = ClipFlow(frame, shape, cache=workdir / "flow", given=Path(flow_dir) if flow_dir else None,
                   preset=flow_preset)
  start = _done(out_dir, n) if resumed else 0
  previous: dict[int, np.ndarray] = {}
  for t in range(max(0, start - producer.history), start):
    previous[t] = _read_png(out_dir / videoio.frame_name(t)).astype(np.float32) / 255.0
  progress = tqdm(total=n, initial=start, disable=quiet, desc="video", unit="frame")
  times = []
  for t in range(start, n):
    began = time.perf_counter()
    out, raw = producer(t, frame(t), previous, flows)
    out8 = images.to_uint8(out)
    if raw is not None:
      atomic_write_bytes(raw_dir / videoio.frame_name(t), _png(images.to_uint8(raw)))
    atomic_write_bytes(out_dir / videoio.frame_name(t), _png(out8))  # last: marks frame t done
    previous[t] = out8.astype(np.float32) / 255.0
    previous.pop(t - producer.history, None)
    flows.forget(t - max(producer.history, 1))
    times.append(time.perf_counter() - began)
    progress.update(1)
  progress.close()
  outs = np.stack([_read_png(out_dir / videoio.frame_name(t)) for t in range(n)])
  raws = (np.stack([_read_png(raw_dir / videoio.frame_name(t)) for t in range(n)])
          if _done(raw_dir, n) == n else None)
  metrics = clip_metrics(outs, raws, flows, n)
  metrics["seconds_per_frame_this_run"] = float(np.mean(times)) if times else None
  metrics["flows_computed_this_run"] = flows.computed
  atomic_write_text(workdir / "metrics.json", rundir.json_text(metrics))
  videoio.write_video(output, outs, clip.fps)
  if compare is not None:
    panels = [frames_in, raws if raws is not None else outs, outs]
    videoio.write_video(compare, np.concatenate(panels, axis=2), clip.fps)
  return VideoResult(workdir=workdir, output=output, frames=n, resumed_from=start, metrics=metrics)


def clip_metrics(outs: np.ndarray, raws: np.ndarray | None, flows: ClipFlow, n: int) -> dict:
  """Warping error (Lai et al.) of the output and of the per-frame frames, with the input's flow."""
  if n < 2:
    return {"warping_error": None, "warping_error_per_frame_method": None}
  forward = [flows.flow(t, t + 1) for t in range(n - 1)]
  masks = [flows.reliability(t, t + 1, motion_boundaries=False) for t in range(n - 1)]
  return {"warping_error": temporal.warping_error(outs, forward, masks),
          "warping_error_per_frame_method": temporal.warping_error(raws, forward, masks) if raws is not None else None}


def stylize_clip(producer: FrameProducer, frame: Callable[[int], np.ndarray], n: int, flows: ClipFlow
                 ) -> tuple[np.ndarray, np.ndarray | None, list[float]]:
  """The runner's loop in memory (experiments, benchmarks): (outputs, per-frame outputs or None,
  seconds per frame), (T, H, W, 3) uint8, each output rounded to 8 bits before the next frame reads it."""
  outs, raws, times, previous = [], [], [], {}
  for t in range(n):
    began = time.perf_counter()
    out, raw = producer(t, frame(t), previous, flows)
    out8 = images.to_uint8(out)
    times.append(time.perf_counter() - began)
    outs.append(out8)
    raws.append(None if raw is None else images.to_uint8(raw))
    previous[t] = out8.astype(np.float32) / 255.0
    previous.pop(t - producer.history, None)
  return np.stack(outs), (None if raws[0] is None else np.stack(raws)), times
