"""The faiss indexes over the stored vectors: exact up to a size threshold, approximate above it.

Stored vectors are unit rows, so an inner product is a cosine similarity. Exact search is IndexFlatIP;
above `approximate_above` vectors the index is HNSW (IndexHNSWFlat) or IVF (IndexIVFFlat on k-means
lists), both with inner product. With `reduction = "pca"` the stored style vectors (`pca_input_dim`
long) are mapped to `style_dim` by a PCA fitted on the whole collection, refitted at every rebuild.

The files under DIR/index/ are a cache: index/built.json records the options and the digests of the
shards and manifest lines they were built from (`checksums.json`'s), and their own sizes and sha256.
`load_or_build` checks the shards' digests, then rebuilds the cache when it is missing or was built
from other vectors or options (silently), or when a cache file is damaged (saying so in one line). A
rebuild from the same vectors gives the same index (exact and IVF; HNSW inserts in parallel, so its
graph, not its quality, may differ).
"""

from __future__ import annotations

import dataclasses
import fcntl
import io
import logging
import math
from pathlib import Path

import faiss
import numpy as np

from stylejax.errors import StylejaxError
from stylejax.atomic_io import atomic_write_bytes, atomic_write_text
from stylejax.retrieval import integrity
from stylejax.retrieval.store import KINDS, Store

METHODS = ("hnsw", "ivf")
REDUCTIONS = ("sketch", "pca")
BUILT = "built.json"

log = logging.getLogger(__name__)


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


def _built(snapshot: integrity.Snapshot, options: IndexOptions) -> dict:
  """What a cache built now from `snapshot` records, less its own files."""
  record = snapshot.record
  return {"entries": len(snapshot.entries), "options": dataclasses.asdict(options),
          "source": {"manifest": record["manifest"], "shards": {k: v[1] for k, v in record["files"].items()}}}


def _cache_names(options: IndexOptions) -> list[str]:
  return [f"{kind}.faiss" for kind in KINDS] + (["style_pca.npz"] if options.reduction == "pca" else [])


def _npz_bytes(arrays: dict) -> bytes:
  buffer = io.BytesIO()
  np.savez(buffer, **arrays)
  return buffer.getvalue()


def rebuild(store: Store | str | Path, options: IndexOptions | None = None,
            snapshot: integrity.Snapshot | None = None) -> Indexes:
  """Builds both indexes from the stored vectors (a Store or its folder), checked against their sha256
  first (or given as `snapshot`, checked), and writes them under DIR/index/."""
  store = store if isinstance(store, Store) else Store.open(store)
  snapshot = snapshot or store.snapshot(deep=True)
  options = options or IndexOptions.from_config(store.info["config"])
  entries = snapshot.entries
  style = store.vectors("style", entries)
  pca = None
  if options.reduction == "pca":
    pca = pca_fit(style, options.style_dim)
    style = pca_apply(pca, style)
  built = {"style": build(style, options), "content": build(store.vectors("content", entries), options)}
  folder = store.root / "index"
  payloads = {f"{kind}.faiss": faiss.serialize_index(built[kind]).tobytes() for kind in KINDS}
  if pca is not None:
    payloads["style_pca.npz"] = _npz_bytes(pca)
  files = {name: [len(data), integrity.sha256(data)] for name, data in payloads.items()}
  folder.mkdir(exist_ok=True)
  with open(folder / ".lock", "w") as lock:  # a search and an embed rebuilding at once: one set of files wins
    fcntl.flock(lock, fcntl.LOCK_EX)
    for name, data in payloads.items():
      atomic_write_bytes(folder / name, data)
    atomic_write_text(folder / BUILT, integrity.seal({**_built(snapshot, options), "files": files}))
  return Indexes(built["style"], built["content"], pca, entries, options)


def read_cache(store: Store, snapshot: integrity.Snapshot,
               options: IndexOptions) -> tuple[dict | None, integrity.Problem | None]:
  """({"style", "content", "pca"}, None) when the saved cache was built from this snapshot with these
  options and its files are intact; (None, None) when it is missing or stale; (None, what is damaged)."""
  folder = store.root / "index"
  built, what, sealed = integrity.unseal(folder / BUILT)
  if what == "missing" or (what is None and not sealed):  # none yet, or written by an older stylejax
    return None, None
  if what is not None:
    return None, integrity.Problem(folder / BUILT, what)
  files = built.pop("files", None)
  if built != _built(snapshot, options):
    return None, None
  if not isinstance(files, dict) or sorted(files) != sorted(_cache_names(options)):
    return None, integrity.Problem(folder / BUILT, "does not list the cache's files")
  loaded = {"pca": None}
  for name, (size, digest) in sorted(files.items()):
    path = folder / name
    try:
      data = path.read_bytes()
    except FileNotFoundError:
      return None, integrity.Problem(path, "missing")
    if len(data) != size:
      what = "empty (0 bytes)" if not data else ("truncated: " if len(data) < size else "") + f"{len(data)} bytes"
      return None, integrity.Problem(path, f"{what}, {size} recorded")
    if integrity.sha256(data) != digest:
      return None, integrity.Problem(path, "does not match its recorded sha256 (changed or damaged)")
    try:
      if name.endswith(".npz"):
        loaded["pca"] = dict(np.load(io.BytesIO(data)))
      else:
        loaded[name[:-len(".faiss")]] = faiss.deserialize_index(np.frombuffer(data, np.uint8))
    except Exception as e:  # noqa: BLE001  faiss raises RuntimeError, numpy several kinds
      first = (str(e).splitlines() or [""])[0]
      return None, integrity.Problem(path, f"unreadable ({type(e).__name__}: {first})")
  return loaded, None


def load_or_build(store: Store) -> Indexes:
  """The saved indexes when they were built from the current (checked) shards with the stored options;
  else a rebuild, announced in one line when a cache file was damaged."""
  options = IndexOptions.from_config(store.info["config"])
  snapshot = store.snapshot(deep=True)
  loaded, damage = read_cache(store, snapshot, options)
  if loaded is None:
    if damage is not None:
      log.warning("%s; rebuilding the faiss cache from the verified shards", damage)
    return rebuild(store, options, snapshot)
  return Indexes(loaded["style"], loaded["content"], loaded["pca"], snapshot.entries, options)
