"""Synthetic vectors and recall for bench_retrieval's approximate-index measurements (numpy only)."""

from __future__ import annotations

import numpy as np


def recall_at_k(found: np.ndarray, truth: np.ndarray, k: int) -> float:
  """Mean over queries of |found[:k] ∩ truth[:k]| / k: the share of the true k nearest neighbours an
  approximate search returns. Rows are queries; ids of -1 (faiss's "no result") never count."""
  found, truth = np.asarray(found)[:, :k], np.asarray(truth)[:, :k]
  if found.shape[0] != truth.shape[0] or truth.shape[1] < k:
    raise ValueError(f"need {k} true neighbours for each of the {found.shape[0]} queries, got {truth.shape}")
  hits = sum(len(set(f[f >= 0].tolist()) & set(t.tolist())) for f, t in zip(found, truth))
  return hits / (k * found.shape[0])


class ClusteredVectors:
  """Unit vectors in `n_clusters` clusters, each spread along its own random `rank`-dimensional subspace
  (lower intrinsic dimension than the ambient `dim`, as real embeddings have) plus a little isotropic
  noise: x = c_k + spread (z B_k + isotropic e), normalised; c_k unit, z B_k and e of unit expected
  norm. Row i belongs to cluster i % n_clusters. `rows(n, stream)` is seeded by (seed, stream) and
  prefix-stable: the first m rows of rows(n) are rows(m), so a smaller collection is part of a larger.
  """

  def __init__(self, dim: int, n_clusters: int, spread: float, seed: int, rank: int = 32,
               isotropic: float = 0.2, rows_per_cluster_chunk: int = 64):
    rng = np.random.default_rng([seed, 0])
    centres = rng.standard_normal((n_clusters, dim)).astype(np.float32)
    self.centres = centres / np.linalg.norm(centres, axis=1, keepdims=True)
    self.bases = (rng.standard_normal((n_clusters, rank, dim)) / np.sqrt(dim * rank)).astype(np.float32)
    self.dim, self.n_clusters, self.spread, self.seed, self.rank = dim, n_clusters, spread, seed, rank
    self.isotropic, self.per_chunk = isotropic, rows_per_cluster_chunk

  def rows(self, n: int, stream: int = 0) -> np.ndarray:
    """(n, dim) float32 unit rows, made a chunk (per_chunk rows of every cluster) at a time."""
    out = np.empty((n, self.dim), np.float32)
    k, m = self.n_clusters, self.per_chunk
    for c, start in enumerate(range(0, n, k * m)):
      rng = np.random.default_rng([self.seed, 1 + stream, c])
      z = rng.standard_normal((m, k, self.rank), dtype=np.float32)
      noise = np.einsum("mkr,krd->mkd", z, self.bases)
      noise += self.isotropic / np.sqrt(self.dim) * rng.standard_normal((m, k, self.dim), dtype=np.float32)
      x = (self.centres[None] + self.spread * noise).reshape(m * k, self.dim)
      x /= np.linalg.norm(x, axis=1, keepdims=True)
      stop = min(n, start + k * m)
      out[start:stop] = x[:stop - start]
    return out


def crossover_size(sizes, latencies_s, budget_s: float) -> float:
  """The collection size at which exact search's single-query latency reaches `budget_s`, from
  measured (size, latency) pairs: exact search scans every vector, so latency ~ size; the per-vector
  cost is taken from the largest measured size (the least dominated by fixed overheads)."""
  sizes, latencies_s = list(sizes), list(latencies_s)
  if not sizes or len(sizes) != len(latencies_s):
    raise ValueError("need one latency per size")
  largest = max(range(len(sizes)), key=lambda i: sizes[i])
  return budget_s * sizes[largest] / latencies_s[largest]
