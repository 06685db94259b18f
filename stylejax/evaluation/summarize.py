"""Turns a sweep's run folders into one table (markdown and CSV) and a grid of result images."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from stylejax.atomic_io import atomic_write_bytes, atomic_write_text
from stylejax.errors import StylejaxError

LOSS_COLUMNS = ("total", "content", "style", "tv")


def read_runs(sweep_dir: str | Path) -> list[dict]:
  """One record per run folder: its overrides, final losses, steps and eval metrics (if any)."""
  sweep_dir = Path(sweep_dir)
  runs = sorted(p for p in sweep_dir.glob("run_*") if p.is_dir())
  if not runs:
    raise StylejaxError(f"{sweep_dir}: no run_* folders; is this a sweep workdir?")
  records = []
  for run in runs:
    summary = _read_object(run / "summary.json")
    if not isinstance(summary.get("steps"), int) or not isinstance(summary.get("status"), str):
      raise StylejaxError(f"{run / 'summary.json'} lacks steps or status; {_RERUN}")
    record = {"run": run.name, **_read_object(run / "overrides.json"),
              "steps": summary["steps"], "status": summary["status"]}
    final = summary.get("final_loss") or {}
    record.update({f"loss_{k}": final.get(k) for k in LOSS_COLUMNS} if isinstance(final, dict) else {})
    if (run / "eval.json").exists():
      record.update(_read_object(run / "eval.json"))
    records.append(record)
  return records


_RERUN = "run the sweep again (with --overwrite) to rewrite it"


def _read_object(path: Path) -> dict:
  """A run's JSON file; a missing or damaged one is a StylejaxError naming it."""
  try:
    value = json.loads(path.read_text())
  except (OSError, ValueError) as e:
    raise StylejaxError(f"{path} is missing or damaged ({type(e).__name__}); {_RERUN}") from None
  if not isinstance(value, dict):
    raise StylejaxError(f"{path} is damaged (not a JSON object); {_RERUN}")
  return value


def _read_image(path: Path) -> np.ndarray:
  try:
    with Image.open(path) as image:
      return np.asarray(image.convert("RGB"))
  except (OSError, ValueError, SyntaxError) as e:  # PIL's errors for a cut or corrupt file
    raise StylejaxError(f"{path} is missing or damaged ({type(e).__name__}); {_RERUN}") from None


def _columns(records: list[dict]) -> list[str]:
  columns = []
  for record in records:
    columns += [k for k in record if k not in columns]
  return columns


def _text(value) -> str:
  if isinstance(value, float):
    return f"{value:.4g}"
  if isinstance(value, (list, tuple)):
    return "+".join(map(str, value))
  return str(value)


def write_table(records: list[dict], sweep_dir: Path) -> None:
  columns = _columns(records)
  lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
  lines += ["| " + " | ".join(_text(r.get(c, "")) for c in columns) + " |" for r in records]
  atomic_write_text(sweep_dir / "summary.md", "\n".join(lines) + "\n")
  buffer = io.StringIO()
  writer = csv.DictWriter(buffer, fieldnames=columns)
  writer.writeheader()
  for record in records:
    writer.writerow({c: _text(record.get(c, "")) for c in columns})
  atomic_write_text(sweep_dir / "summary.csv", buffer.getvalue())


def _label(value) -> str:
  """A grid caption: file names shortened to their stems (a full path is unreadable at image size)."""
  if isinstance(value, str) and ("/" in value or "." in Path(value).name):
    return Path(value).stem
  if isinstance(value, (list, tuple)):
    return "+".join(_label(v) for v in value)
  return _text(value)


def write_grid(records: list[dict], sweep_dir: Path, columns_per_row: int = 6) -> None:
  varying = [k for k in _columns(records) if k not in ("run", "steps", "status") and not k.startswith(
      ("loss_", "content_", "style_", "wall", "runs_"))]
  n = len(records)
  cols = min(columns_per_row, n)
  rows = (n + cols - 1) // cols
  # No pyplot: the user's matplotlib backend is left alone.
  fig = Figure(figsize=(3.0 * cols, (2.6 + 0.25 * len(varying)) * rows))
  FigureCanvasAgg(fig)
  axes = fig.subplots(rows, cols, squeeze=False)
  for ax in axes.flat:
    ax.axis("off")
  pictures = [_read_image(sweep_dir / record["run"] / "final.png") for record in records]  # all, before drawing
  for ax, record, picture in zip(axes.flat, records, pictures):
    ax.imshow(picture)
    label = "\n".join(f"{k.split('.')[-1]}={_label(record[k])}" for k in varying if k in record)
    ax.set_title(label, fontsize=10)
  fig.tight_layout()
  buffer = io.BytesIO()
  fig.savefig(buffer, format="png", dpi=80)
  atomic_write_bytes(sweep_dir / "grid.png", buffer.getvalue())


def summarize(sweep_dir: str | Path) -> list[dict]:
  """Writes summary.md, summary.csv and grid.png into the sweep folder; returns the records."""
  records = read_runs(sweep_dir)
  write_grid(records, Path(sweep_dir))  # first: it reads every final.png, and a damaged one leaves no half summary
  write_table(records, Path(sweep_dir))
  return records
