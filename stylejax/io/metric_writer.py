"""Training metrics: one JSON line per log step, and TensorBoard event files (scalars and images).

TensorBoard files are written with the `tensorboard` package's own event writer and protos, so
TensorFlow is not needed. On resume, `truncate_after(step)` drops the JSONL lines a killed run wrote
after its last checkpoint, so the file reads as one uninterrupted run.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from tensorboard.compat.proto.event_pb2 import Event
from tensorboard.compat.proto.summary_pb2 import Summary
from tensorboard.summary.writer.event_file_writer import EventFileWriter

from stylejax.atomic_io import atomic_write_text
from stylejax.errors import StylejaxError
from stylejax.imaging.images import png_bytes


_FIX = "move the file aside (the run resumes and logs from its checkpoint on), or pass --overwrite to start again"


class MetricWriter:

  def __init__(self, workdir: str | Path, enabled: bool = True):
    self.jsonl = Path(workdir) / "metrics.jsonl"
    self.enabled = enabled  # False on all but the first host of a multi-host run
    self._events = EventFileWriter(str(Path(workdir) / "tensorboard")) if enabled else None

  def truncate_after(self, step: int) -> None:
    if not self.enabled or not self.jsonl.exists():
      return
    try:
      text = self.jsonl.read_text()
    except (OSError, UnicodeDecodeError) as e:
      raise StylejaxError(f"{self.jsonl} is unreadable ({type(e).__name__}); {_FIX}") from None
    lines = text.split("\n")
    if lines[-1]:  # a last line without its newline: a killed run stopped writing it; dropped
      lines.pop()
    kept = []
    for number, line in enumerate(lines, 1):
      if not line.strip():
        continue
      try:
        record = json.loads(line)
        keep = record["step"] <= step
      except (ValueError, KeyError, TypeError):
        raise StylejaxError(f"{self.jsonl}, line {number}: not a metrics record (damaged); fix or delete "
                            f"that line, or {_FIX}") from None
      if keep:
        kept.append(line)
    atomic_write_text(self.jsonl, "".join(f"{line}\n" for line in kept))

  def write_scalars(self, step: int, scalars: dict) -> None:
    if not self.enabled:
      return
    with open(self.jsonl, "a") as f:
      f.write(json.dumps({"step": step, **scalars}, sort_keys=True) + "\n")
    values = [Summary.Value(tag=k, simple_value=float(v)) for k, v in scalars.items()
              if isinstance(v, (int, float, np.floating, np.integer))]
    self._events.add_event(Event(wall_time=time.time(), step=step, summary=Summary(value=values)))

  def write_image(self, step: int, tag: str, image: np.ndarray) -> None:
    """`image` is (H, W, 3) float in [0, 1]."""
    if not self.enabled:
      return
    summary = Summary.Image(height=image.shape[0], width=image.shape[1], colorspace=3,
                            encoded_image_string=png_bytes(image))
    self._events.add_event(Event(wall_time=time.time(), step=step,
                                 summary=Summary(value=[Summary.Value(tag=tag, image=summary)])))

  def flush(self) -> None:
    if self._events is not None:
      self._events.flush()

  def close(self) -> None:
    if self._events is not None:
      self._events.close()
