"""The faiss indexes over the stored vectors: exact up to a size threshold, approximate above it.

Stored vectors are unit rows, so an inner product is a cosine similarity. Exact search is IndexFlatIP;
above `approximate_above` vectors the index is HNSW (IndexHNSWFlat) or IVF (IndexIVFFlat on k-means
lists), both with inner product. With `reduction = "pca"` the stored style vectors (`pca_input_dim`
long) are mapped to `style_dim` by a PCA fitted on the whole collection, refitted at every rebuild.

The files under DIR/index/ are a cache: `load_or_build` rebuilds them from the store when they are
missing or cover another number of images or other options, and a rebuild from the same vectors gives
the same index (exact and IVF; HNSW inserts in parallel, so its graph, not its quality, may differ).
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import faiss
import numpy as np

from stylejax.errors import StylejaxError
from stylejax.io.atomic_io import atomic_write, atomic_write_text
from stylejax.retrieval.store import KINDS, Store

METHODS = ("hnsw", "ivf")
REDUCTIONS = ("sketch", "pca")


@dataclasses.dataclass(frozen=True)
class IndexOptions:
  approximate_above: int = 300_000  # stylejax/configs/retrieval.py says why
  method: str = "hnsw"
  hnsw_m: int = 32
  ef_search: int = 128
  ivf_lists: int = 0  # 0: 4 sqrt(n)
  nprobe: int = 16
  reduction: str = "sketch"
  style_dim: int = 512

  @classmethod
  def from_config(cls, config: dict) -> "IndexOptions":
    """From the stored config dict (embedding.json) or a ConfigDict's to_dict()."""
    index = config["index"]
    return cls(approximate_above=index["approximate_above"], method=index["method"], hnsw_m=index["hnsw_m"],
               ef_search=index["ef_search"], ivf_lists=index["ivf_lists"], nprobe=index["nprobe"],
               reduction=config["embed"]["reduction"], style_dim=config["embed"]["style_dim"])


def normalized(vectors: np.ndarray) -> np.ndarray:
  out = np.array(vectors, np.float32, order="C", copy=True)
  faiss.normalize_L2(out)
  return out


def pca_fit(vectors: np.ndarray, dim: int) -> dict[str, np.ndarray]:
  """Mean and the top `dim` principal axes (rows) of a collection, in float64 for stability."""
  x = np.asarray(vectors, np.float64)
  mean = x.mean(axis=0)
  centred = x - mean
  if len(x) < x.shape[1]:
    _, _, axes = np.linalg.svd(centred, full_matrices=False)
  else:
    values, vectors_ = np.linalg.eigh(centred.T @ centred)
    axes = vectors_[:, np.argsort(values)[::-1]].T
  return {"mean": mean.astype(np.float32), "components": axes[:min(dim, len(axes))].astype(np.float32)}


def pca_apply(pca: dict[str, np.ndarray], vectors: np.ndarray) -> np.ndarray:
  return normalized((np.asarray(vectors, np.float32) - pca["mean"]) @ pca["components"].T)


def build(vectors: np.ndarray, options: IndexOptions) -> faiss.Index:
  """An index holding `vectors` (unit rows) as ids 0..n-1."""
  n, dim = vectors.shape
  vectors = normalized(vectors)
  if n <= options.approximate_above:
    index = faiss.IndexFlatIP(dim)
  elif options.method == "hnsw":
    index = faiss.IndexHNSWFlat(dim, options.hnsw_m, faiss.METRIC_INNER_PRODUCT)
  elif options.method == "ivf":
    lists = options.ivf_lists or max(1, int(4 * math.sqrt(n)))
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, min(lists, n), faiss.METRIC_INNER_PRODUCT)
    index.train(vectors)
  else:
    raise StylejaxError(f"index.method must be one of {METHODS}, got {options.method!r}")
  index.add(vectors)
  return index


def search(index: faiss.Index, queries: np.ndarray, k: int, options: IndexOptions):
  """(similarities, ids), each (n_queries, min(k, size)), best first."""
  if isinstance(index, faiss.IndexHNSW):
    index.hnsw.efSearch = max(options.ef_search, k)
  elif isinstance(index, faiss.IndexIVF):
    index.nprobe = options.nprobe
  k = min(k, index.ntotal)
  if k == 0:
    return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
  return index.search(normalized(queries), k)


@dataclasses.dataclass
class Indexes:
  """The searchable state of a store: one index per kind, the style PCA (or None), the manifest."""
  style: faiss.Index
  content: faiss.Index
  pca: dict | None
  entries: list[dict]
  options: IndexOptions

  def style_queries(self, style_vectors: np.ndarray) -> np.ndarray:
    return normalized(style_vectors) if self.pca is None else pca_apply(self.pca, style_vectors)


def _built_record(n: int, options: IndexOptions) -> dict:
  return {"entries": n, "options": dataclasses.asdict(options)}


def _save_npz(path: str, arrays: dict) -> None:
  with open(path, "wb") as f:  # a file object: np.savez would add ".npz" to a name
    np.savez(f, **arrays)


def rebuild(store: Store | str | Path, options: IndexOptions | None = None) -> Indexes:
  """Builds both indexes from the stored vectors (a Store or its folder), writes them under DIR/index/."""
  store = store if isinstance(store, Store) else Store.open(store)
  options = options or IndexOptions.from_config(store.info["config"])
  entries = store.entries()
  style = store.vectors("style", entries)
  pca = None
  if options.reduction == "pca":
    pca = pca_fit(style, options.style_dim)
    style = pca_apply(pca, style)
  built = {"style": build(style, options), "content": build(store.vectors("content", entries), options)}
  folder = store.root / "index"
  for kind in KINDS:
    atomic_write(folder / f"{kind}.faiss", lambda tmp, i=built[kind]: faiss.write_index(i, tmp))
  if pca is not None:
    atomic_write(folder / "style_pca.npz", lambda tmp: _save_npz(tmp, pca))
  atomic_write_text(folder / "built.json", json.dumps(_built_record(len(entries), options), sort_keys=True))
  return Indexes(built["style"], built["content"], pca, entries, options)


def load_or_build(store: Store) -> Indexes:
  """The saved indexes when they cover the manifest with the stored options; else a rebuild."""
  options = IndexOptions.from_config(store.info["config"])
  folder: Path = store.root / "index"
  entries = store.entries()
  try:
    current = json.loads((folder / "built.json").read_text()) == _built_record(len(entries), options)
  except (OSError, ValueError):
    current = False
  if not current:
    return rebuild(store, options)
  pca = dict(np.load(folder / "style_pca.npz")) if options.reduction == "pca" else None
  return Indexes(faiss.read_index(str(folder / "style.faiss")), faiss.read_index(str(folder / "content.faiss")),
                 pca, entries, options)
