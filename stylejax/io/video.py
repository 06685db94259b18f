"""Video in and out: a video file (PyAV, FFmpeg inside its wheel) or a folder of frames, to frames
and a frame rate; frames to an MP4 (H.264, yuv420p), a GIF or a folder of PNG frames.

Frames travel as one uint8 array (T, H, W, 3): a 300-frame clip at 512 px is 0.2 GB instead of 0.9
as float32. A video that cannot be decoded, or that ends before the frame count its header declares
(truncated), is one line naming it. Every file is written atomically (stylejax.atomic_io): a reader,
or a later run after a kill, sees no half-written video.
"""

from __future__ import annotations

import dataclasses
import fractions
import io
import math
import re
from pathlib import Path

import av
import numpy as np
from PIL import Image

from stylejax.atomic_io import atomic_write, atomic_write_bytes
from stylejax.errors import StylejaxError
from stylejax.imaging import images

VIDEO_FILES = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".gif")  # what `read_video` decodes
WRITES = (".mp4", ".gif")  # what `write_video` encodes
DEFAULT_FPS = 24.0  # a folder of frames has no rate of its own
CRF = 18  # x264 quality: visually lossless for stylized frames, ~10x smaller than PNGs


@dataclasses.dataclass
class Video:
  frames: np.ndarray  # (T, H, W, 3) uint8
  fps: float
  source: str

  def __len__(self) -> int:
    return len(self.frames)

  def frame(self, t: int) -> np.ndarray:
    """Frame t as (H, W, 3) float32 in [0, 1]."""
    return self.frames[t].astype(np.float32) / 255.0


def _natural_key(path: Path):
  return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def read_video(source: str | Path, *, size: int = 0, max_frames: int = 0, fps: float | None = None) -> Video:
  """A video file or a folder of frames (sorted by name, numbers in order), optionally resized so
  the longer side is `size` and cut to the first `max_frames` (0: all). `fps` overrides the rate
  (a folder's default: 24)."""
  path = Path(source)
  if size < 0 or max_frames < 0 or (fps is not None and not (math.isfinite(fps) and fps > 0)):
    raise StylejaxError(f"size and max frames must be >= 0 and fps > 0 (got {size}, {max_frames}, {fps})")
  if path.is_dir():
    files = sorted((p for p in path.iterdir() if p.is_file() and p.suffix.lower() in images.IMAGE_EXTENSIONS),
                   key=_natural_key)
    if not files:
      raise StylejaxError(f"{path}: no frames in this folder (image files {', '.join(images.IMAGE_EXTENSIONS)})")
    files = files[:max_frames] if max_frames else files
    frames, rate = [images.load_image(str(f)) for f in files], fps or DEFAULT_FPS
  elif path.is_file():
    if path.suffix.lower() not in VIDEO_FILES:
      raise StylejaxError(f"{path}: not a video file name ({', '.join(VIDEO_FILES)}) nor a folder of frames")
    frames, rate = _decode(path, max_frames)
    rate = fps or rate
  else:
    raise StylejaxError(f"{path}: no such video file or folder of frames")
  shapes = {f.shape for f in frames}
  if len(shapes) != 1:
    raise StylejaxError(f"{path}: frames of different sizes {sorted(shapes)[:2]}; a video's frames share one size")
  if size:
    frames = [images.resize(f.astype(np.float32) / 255 if f.dtype == np.uint8 else f, size) for f in frames]
  stacked = np.stack([f if f.dtype == np.uint8 else images.to_uint8(f) for f in frames])
  return Video(frames=stacked, fps=float(rate), source=str(path))


def _decode(path: Path, max_frames: int) -> tuple[list[np.ndarray], float]:
  frames: list[np.ndarray] = []
  try:
    with av.open(str(path), mode="r") as container:
      if not container.streams.video:
        raise StylejaxError(f"{path}: the file holds no video stream")
      stream = container.streams.video[0]
      declared = stream.frames  # 0 when the container does not say
      rate = float(stream.average_rate or stream.guessed_rate or DEFAULT_FPS)
      for frame in container.decode(stream):
        frames.append(frame.to_ndarray(format="rgb24"))
        if max_frames and len(frames) >= max_frames:
          break
  except StylejaxError:
    raise
  except (av.FFmpegError, OSError, ValueError, EOFError) as e:
    raise StylejaxError(f"{path}: not a readable video (corrupt or truncated?): {_reason(e)}") from None
  if not frames:
    raise StylejaxError(f"{path}: no decodable video frames (corrupt or truncated?)")
  if declared and len(frames) < declared and not (max_frames and len(frames) >= max_frames):
    raise StylejaxError(f"{path}: decoded {len(frames)} of the {declared} frames its header declares "
                        "(truncated?)")
  if not math.isfinite(rate) or rate <= 0:
    rate = DEFAULT_FPS
  return frames, rate


def _reason(error: Exception) -> str:
  return " ".join(str(getattr(error, "strerror", None) or error).split()) or type(error).__name__


def _even(frames: np.ndarray) -> np.ndarray:
  """H.264 in yuv420p wants even sides: an odd side loses its last row or column."""
  _, h, w, _ = frames.shape
  return frames[:, :h - h % 2, :w - w % 2]


def mp4_writer(frames: np.ndarray, fps: float):
  """A `write(tmp_path)` that encodes (T, H, W, 3) uint8 frames as H.264 MP4 at `fps`."""
  frames = _even(np.asarray(frames, np.uint8))
  rate = fractions.Fraction(fps).limit_denominator(1001)

  def write(tmp: str) -> None:
    with av.open(tmp, mode="w", format="mp4") as container:
      stream = container.add_stream("libx264", rate=rate)
      stream.width, stream.height = frames.shape[2], frames.shape[1]
      stream.pix_fmt = "yuv420p"
      stream.options = {"crf": str(CRF)}
      for array in frames:
        for packet in stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")):
          container.mux(packet)
      for packet in stream.encode(None):
        container.mux(packet)
  return write


def gif_bytes(frames: np.ndarray, fps: float) -> bytes:
  pictures = [Image.fromarray(f) for f in np.asarray(frames, np.uint8)]
  buffer = io.BytesIO()
  pictures[0].save(buffer, format="GIF", save_all=True, append_images=pictures[1:],
                   duration=max(20, round(1000 / fps)), loop=0)
  return buffer.getvalue()


def write_video(path: str | Path, frames: np.ndarray, fps: float) -> Path:
  """Writes (T, H, W, 3) uint8 frames as `path`'s format (.mp4 or .gif), atomically."""
  path = Path(path)
  suffix = path.suffix.lower()
  if suffix == ".mp4":
    atomic_write(path, mp4_writer(frames, fps))
  elif suffix == ".gif":
    atomic_write_bytes(path, gif_bytes(frames, fps))
  else:
    raise StylejaxError(f"{path}: writes {', '.join(WRITES)} videos, or a folder of frames")
  return path


def frame_name(t: int) -> str:
  """The file name of frame t (0-based) in a frame folder: frame_000001.png for t = 0."""
  return f"frame_{t + 1:06d}.png"


def write_frames(folder: str | Path, frames: np.ndarray) -> Path:
  """One PNG per frame (`frame_name`), each written atomically."""
  folder = Path(folder)
  for t, frame in enumerate(np.asarray(frames, np.uint8)):
    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, format="PNG")
    atomic_write_bytes(folder / frame_name(t), buffer.getvalue())
  return folder
