"""Cells laid out into one image. Pure: the callers compute the cells (a network's stylizations, a
model's blends), so this layer needs no network.

  tile(rows)                          rows of cells, each row one image wide
  photo_grid(photos, columns, header) photos x styles: each photo, then its cell in every column
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def tile(rows: Sequence[Sequence[np.ndarray]]) -> np.ndarray:
  """Rows of (h, w, 3) cells as one image: the cells of a row share a height, the rows a width."""
  return np.concatenate([np.concatenate(list(row), axis=1) for row in rows], axis=0)


def photo_grid(photos: Sequence[np.ndarray], columns: Sequence[Sequence[np.ndarray]],
               header: Sequence[np.ndarray] | None = None) -> np.ndarray:
  """Row i: photos[i], then columns[k][i] for every column k (photo i in style k); all cells the
  photos' (same) size. With `header` (one cell per column), a first row: a white corner, then the
  header above its column. (H * (rows + header), W * (1 + columns), 3)."""
  rows = [[photo] + [column[i] for column in columns] for i, photo in enumerate(photos)]
  if header is not None:
    h, w = photos[0].shape[:2]
    rows = [[np.ones((h, w, 3), np.float32)] + list(header)] + rows
  return tile(rows)
