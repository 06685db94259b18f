"""Ranked retrieval from an index folder: by style, by content, or by style but not the same content.

  style              nearest style vectors (cosine);
  content            nearest content vectors (cosine);
  style-not-content  ranked by style, but items whose content similarity to the query exceeds
                     `content_threshold` (near-duplicates: recoloured or grayscale copies, crops
                     of the same region) go below all the others. With the default content vectors
                     another stylization of the query's photo is mostly *not* caught
                     (experiments/style_retrieval).

A query is an image file (a folder or list file gives one query per image). A query already in the
index is not embedded again, and never returns itself. Results come as `QueryResult`s, as JSON
(`to_json`) or as a contact sheet PNG (`contact_sheet`: one row per query, labelled by file stem).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import ml_collections
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from stylejax.errors import StylejaxError
from stylejax.imaging import images
from stylejax.imaging.crops import square
from stylejax.io import outputs
from stylejax.retrieval import index as faiss_index
from stylejax.retrieval import sources
from stylejax.retrieval.embedder import Embedder
from stylejax.retrieval.store import Store

MODES = ("style", "content", "style-not-content")
# Content cosine above which an item counts as the query's scene. Set by experiments/style_retrieval
# (README, "style-not-content threshold"): on 50 stylized photos at the default config, 0.75 kept
# the most same-painting/other-photo results in the top 10 without losing style recall; 0.5 pushed
# down a third of the true style matches (style R@10 0.98 -> 0.69). With these content vectors it
# acts as a near-duplicate filter, not a same-scene-in-another-style one.
CONTENT_THRESHOLD = 0.75
_LABEL = 28  # contact sheet: pixels of text under each cell
_POOL = 8  # style-not-content looks at the best _POOL * k + 32 style matches for k results


@dataclasses.dataclass(frozen=True)
class Hit:
  rank: int
  path: str
  sha256: str
  style: float  # cosine similarity of the style vectors (after the index's PCA, if any)
  content: float  # cosine similarity of the content vectors
  pushed_down: bool = False  # style-not-content: same scene as the query, ranked after the others


@dataclasses.dataclass(frozen=True)
class QueryResult:
  query: str
  by: str
  hits: tuple[Hit, ...]


def check_request(by: str, k: int, content_threshold: float) -> None:
  if by not in MODES:
    raise StylejaxError(f"--by must be one of {', '.join(MODES)}, got {by!r}")
  if not isinstance(k, int) or k < 1:
    raise StylejaxError(f"--k must be at least 1, got {k}")
  if not (math.isfinite(content_threshold) and -1 <= content_threshold <= 1):
    raise StylejaxError(f"--content-threshold is a cosine similarity in [-1, 1], got {content_threshold}")


class Searcher:
  """An opened index folder; embeds queries with the network the index was built with."""

  def __init__(self, index_dir: str | Path):
    self.store = Store.open(index_dir)
    self.indexes = faiss_index.load_or_build(self.store)
    self.entries = self.indexes.entries
    if not self.entries:
      unreadable = len(self.store.unreadable())
      seen = f" ({unreadable} unreadable, listed in {self.store.root / 'unreadable.jsonl'})" if unreadable else ""
      raise StylejaxError(f"{self.store.root} holds no images yet{seen}; add some with "
                          f"`stylejax embed SOURCE --index {self.store.root}`")
    self.row_of = {e["sha256"]: i for i, e in enumerate(self.entries)}
    self.config = ml_collections.ConfigDict(self.store.info["config"])
    self._content = None
    self._embedder = None

  @property
  def content_vectors(self) -> np.ndarray:
    if self._content is None:
      self._content = self.store.vectors("content", self.entries)
    return self._content

  def _embed(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if self._embedder is None:
      self._embedder, model = Embedder.from_config(self.config)
      if model != self.store.info["identity"]["model"]:
        raise StylejaxError(f"{self.store.root} was built with {self.store.info['identity']['model']}, "
                            f"but the weights found now are {model}")
    style, content = self._embedder(square(image, self.config.embed.image_size)[None])
    return style[0], content[0]

  def query_vectors(self, sha256: str, image_loader) -> tuple[np.ndarray, np.ndarray]:
    """Stored vectors when the image is in the index, else freshly embedded ones."""
    row = self.row_of.get(sha256)
    if row is not None:
      entry = [self.entries[row]]
      return self.store.vectors("style", entry)[0], self.store.vectors("content", entry)[0]
    return self._embed(image_loader())

  def rank(self, style: np.ndarray, content: np.ndarray, sha256: str, by: str, k: int,
           content_threshold: float = CONTENT_THRESHOLD) -> tuple[Hit, ...]:
    """The best k entries for one query's vectors (its own entry left out)."""
    check_request(by, k, content_threshold)
    n = len(self.entries)
    style_q = self.indexes.style_queries(style[None])
    content_q = faiss_index.normalized(content[None])
    own = 1 if sha256 in self.row_of else 0
    if by == "content":
      _, ids = faiss_index.search(self.indexes.content, content_q, k + own, self.indexes.options)
    else:
      pool = k + own if by == "style" else min(n, _POOL * k + 32)
      _, ids = faiss_index.search(self.indexes.style, style_q, pool, self.indexes.options)
    ids = [int(i) for i in ids[0] if i >= 0 and self.entries[i]["sha256"] != sha256]
    style_sims = self.indexes.style_queries(self.store.vectors("style", [self.entries[i] for i in ids])) @ style_q[0]
    content_sims = self.content_vectors[ids] @ content_q[0] if ids else np.zeros(0, np.float32)
    order = list(range(len(ids)))
    if by == "style-not-content":  # stable: style order within each group
      order.sort(key=lambda j: content_sims[j] > content_threshold)
    return tuple(Hit(rank=r + 1, path=self.entries[ids[j]]["path"], sha256=self.entries[ids[j]]["sha256"],
                     style=float(style_sims[j]), content=float(content_sims[j]),
                     pushed_down=bool(by == "style-not-content" and content_sims[j] > content_threshold))
                 for r, j in enumerate(order[:k]))

  def search(self, queries: list[str], by: str = "style", k: int = 10,
             content_threshold: float = CONTENT_THRESHOLD) -> list[QueryResult]:
    check_request(by, k, content_threshold)
    if not queries:
      raise StylejaxError("no query images given")
    tfds_dir = self.config.embed.tfds_data_dir
    results = []
    for spec in queries:
      source = sources.Source(spec, tfds_dir)
      for i, path in enumerate(source.paths):
        digest = source.digest(i)
        style, content = self.query_vectors(digest, lambda i=i: source.load(i))
        results.append(QueryResult(path, by, self.rank(style, content, digest, by, k, content_threshold)))
    return results


def search(index_dir: str | Path, queries: list[str], by: str = "style", k: int = 10,
           content_threshold: float = CONTENT_THRESHOLD) -> list[QueryResult]:
  """Ranked results for every query image (see the module docstring)."""
  check_request(by, k, content_threshold)
  return Searcher(index_dir).search(queries, by, k, content_threshold)


def to_json(results: list[QueryResult]) -> list[dict]:
  return [{"query": r.query, "by": r.by, "results": [dataclasses.asdict(h) for h in r.hits]} for r in results]


def label(path: str) -> str:
  """A file's stem, or NAME:SPLIT#INDEX for a tfds record."""
  return path[len("tfds:"):] if path.startswith("tfds:") else Path(path).stem


def _cell(path: str, lines: tuple[str, str], size: int, tfds_data_dir: str, font) -> Image.Image:
  """The image, square, with two lines of text under it: its stem, then its rank and similarity."""
  cell = Image.new("RGB", (size, size + _LABEL), "white")
  try:
    picture = images.to_uint8(square(sources.load_any(path, tfds_data_dir), size))
    cell.paste(Image.fromarray(picture), (0, 0))
  except StylejaxError:  # moved or deleted since it was embedded: a grey cell says so
    cell.paste(Image.new("RGB", (size, size), "lightgrey"), (0, 0))
    lines = (lines[0], "missing")
  draw = ImageDraw.Draw(cell)
  for i, text in enumerate(lines):
    draw.text((2, size + 2 + 12 * i), text[:size // 6], fill="black", font=font)
  return cell


def contact_sheet(results: list[QueryResult], path: str | Path, cell: int = 128,
                  tfds_data_dir: str = "", overwrite: bool = False) -> None:
  """One row per query: the query, then its hits, each labelled by file stem and similarity; written
  in the image format of `path`'s extension (an existing file is kept unless `overwrite`)."""
  path = outputs.check_file(path, outputs.IMAGES, overwrite, "a contact sheet", "--sheet")
  font = ImageFont.load_default()
  columns = 1 + max((len(r.hits) for r in results), default=0)
  sheet = Image.new("RGB", (columns * (cell + 4), len(results) * (cell + _LABEL + 4)), "white")
  for row, result in enumerate(results):
    score = "content" if result.by == "content" else "style"
    cells = [(result.query, (label(result.query), "query"))] + [
        (h.path, (label(h.path), f"{h.rank}. {score} {getattr(h, score):.3f}")) for h in result.hits]
    for column, (image_path, lines) in enumerate(cells):
      sheet.paste(_cell(image_path, lines, cell, tfds_data_dir, font),
                  (column * (cell + 4), row * (cell + _LABEL + 4)))
  outputs.save_image(sheet, path)
