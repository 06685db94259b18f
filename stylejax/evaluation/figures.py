"""Summary figures: content | style(s) | result, with loss curves underneath."""

from __future__ import annotations

import io

import numpy as np
from matplotlib import ticker
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from stylejax.atomic_io import atomic_write_bytes


def summary_figure(content: np.ndarray, styles: list[np.ndarray], result: np.ndarray,
                   metrics: list[dict], path) -> None:
  panels = [("content", content)] + [(f"style {i + 1}", s) for i, s in enumerate(styles)] + [
      ("result", result)]
  fig = Figure(figsize=(3 * len(panels), 5.6))  # no pyplot: the user's matplotlib backend is left alone
  FigureCanvasAgg(fig)
  grid = fig.add_gridspec(2, len(panels), height_ratios=[3, 2])
  for i, (title, image) in enumerate(panels):
    ax = fig.add_subplot(grid[0, i])
    ax.imshow(np.clip(image, 0, 1))
    ax.set_title(title)
    ax.axis("off")
  ax = fig.add_subplot(grid[1, :])
  steps = [m["step"] for m in metrics]
  for term in ("total", "content", "style", "tv"):
    values = [m.get(term, 0.0) for m in metrics]  # a term objective.terms leaves out is not logged
    if any(v > 0 for v in values):
      ax.plot(steps, values, label=term)
  ax.set_yscale("log")
  # Plain tick labels ("1000": mathtext's $10^{3}$ is parsed on every draw) and fixed margins instead
  # of tight_layout (which draws the figure once more): 0.6 s -> 0.3 s a figure; a sweep writes one per run.
  ax.yaxis.set_major_formatter(ticker.LogFormatter())
  ax.yaxis.set_minor_formatter(ticker.LogFormatter(labelOnlyBase=False))  # labels within a decade, as default
  ax.set_xlabel("step (cumulative over scales)")
  ax.legend()
  inch = 1 / fig.get_figwidth()  # margins in inches: the tick labels ("1e-01") need the same room at any width
  fig.subplots_adjust(left=0.75 * inch, right=1 - 0.15 * inch, top=0.95, bottom=0.09, wspace=0.05, hspace=0.15)
  buffer = io.BytesIO()
  fig.savefig(buffer, format="png", dpi=80)
  atomic_write_bytes(path, buffer.getvalue())


def labelled_grid(path, rows: list[tuple[str, list[np.ndarray]]], column_titles: list[str],
                  inches: float = 1.3) -> None:
  """Image rows, each with its label on the left and a title over each column: the experiments'
  photo x painting figures."""
  fig = Figure(figsize=(inches * len(column_titles) + 1.2, inches * len(rows)))
  FigureCanvasAgg(fig)
  axes = fig.subplots(len(rows), len(column_titles), squeeze=False)
  for r, (label, cells) in enumerate(rows):
    for c, image in enumerate(cells):
      ax = axes[r, c]
      ax.imshow(np.clip(image, 0, 1))
      ax.set_xticks([])
      ax.set_yticks([])
      if r == 0:
        ax.set_title(column_titles[c], fontsize=7)
      if c == 0:
        ax.set_ylabel(label, fontsize=7)
  fig.tight_layout()
  buffer = io.BytesIO()
  fig.savefig(buffer, format="png", dpi=77)
  atomic_write_bytes(path, buffer.getvalue())
