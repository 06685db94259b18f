"""Retrieval metrics from similarity matrices, per query, and bootstrap intervals over queries.

A query's ranking is its candidates (never itself) by descending similarity, ties by index (stable).
  AP        mean over the query's relevant items of the precision at each one's rank (the mean of
            these over queries is mAP);
  R@k       capped recall, |relevant in the top k| / min(k, |relevant|) (BEIR's R_cap@k, Thakur et
            al. 2021): recall when k >= |relevant|, precision otherwise, so 1 is always reachable;
  share@k   the fraction of the top k inside a mask (e.g. "same painting, other photo").
Queries without a relevant candidate have AP and R@k nan and are left out of the means.
"""

from __future__ import annotations

import numpy as np


def ranking(similarity_row: np.ndarray, candidates: np.ndarray) -> np.ndarray:
  """Indices of the candidate items (a bool mask), best first; ties keep index order."""
  ids = np.flatnonzero(candidates)
  return ids[np.argsort(-similarity_row[ids], kind="stable")]


def rankings(similarity: np.ndarray, candidates: np.ndarray) -> list[np.ndarray]:
  """One ranking per query (row); the query itself is never a candidate."""
  candidates = candidates & ~np.eye(len(similarity), dtype=bool)
  return [ranking(similarity[q], candidates[q]) for q in range(len(similarity))]


def style_not_content_rankings(style: np.ndarray, content: np.ndarray, candidates: np.ndarray,
                               threshold: float, pool: int | None = None) -> list[np.ndarray]:
  """The product's style-not-content order (stylejax.retrieval.search): the best `pool` by style
  (counting the query, as the index search does), then those whose content similarity to the query
  exceeds `threshold` moved below the others, each group keeping its style order."""
  out = []
  for q, order in enumerate(rankings(style, candidates)):
    if pool is not None:
      order = order[:max(pool - 1, 0)]
    pushed = content[q, order] > threshold
    out.append(np.concatenate([order[~pushed], order[pushed]]))
  return out


def average_precision(hits: np.ndarray, n_relevant: int) -> float:
  """`hits`: relevance of a ranking, best first (may be truncated); `n_relevant`: all relevant items."""
  if n_relevant == 0:
    return float("nan")
  hits = np.asarray(hits, bool)
  precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
  return float(precision[hits].sum() / n_relevant)


def capped_recall(hits: np.ndarray, n_relevant: int, k: int) -> float:
  if n_relevant == 0:
    return float("nan")
  return float(np.sum(np.asarray(hits, bool)[:k]) / min(k, n_relevant))


def evaluate(orders: list[np.ndarray], relevant: np.ndarray, candidates: np.ndarray,
             ks=(1, 5, 10)) -> dict[str, np.ndarray]:
  """Per-query AP and R@k of rankings; `relevant` and `candidates`: (N, N) bool masks."""
  candidates = candidates & ~np.eye(len(relevant), dtype=bool)
  per_query = {"AP": [], **{f"R@{k}": [] for k in ks}}
  for q, order in enumerate(orders):
    hits = relevant[q, order]
    n_relevant = int(np.sum(relevant[q] & candidates[q]))
    per_query["AP"].append(average_precision(hits, n_relevant))
    for k in ks:
      per_query[f"R@{k}"].append(capped_recall(hits, n_relevant, k))
  return {name: np.asarray(values) for name, values in per_query.items()}


def share_at_k(orders: list[np.ndarray], mask: np.ndarray, k: int) -> np.ndarray:
  """Per query: the fraction of its top k (k, not fewer) that `mask[q]` marks."""
  return np.array([np.sum(mask[q, order[:k]]) / k for q, order in enumerate(orders)])


def bootstrap(values: np.ndarray, resamples: int, seed: int, groups: np.ndarray | None = None,
              level: float = 0.95) -> tuple[float, float, float]:
  """(mean, low, high): the mean of the non-nan values and its percentile bootstrap interval.

  Without `groups`, queries are resampled; with them, whole groups (e.g. every query of one
  painting) are, for when queries of a group are not independent. Seeded: same input, same interval.
  """
  values = np.asarray(values, np.float64)
  keep = ~np.isnan(values)
  values = values[keep]
  rng = np.random.default_rng(seed)
  if groups is None:
    draws = rng.integers(0, len(values), (resamples, len(values)))
    means = values[draws].mean(axis=1)
  else:
    groups = np.asarray(groups)[keep]
    names = np.unique(groups)
    sums = np.array([values[groups == g].sum() for g in names])
    counts = np.array([np.sum(groups == g) for g in names])
    draws = rng.integers(0, len(names), (resamples, len(names)))
    means = sums[draws].sum(axis=1) / counts[draws].sum(axis=1)
  tail = (1 - level) / 2 * 100
  low, high = np.percentile(means, [tail, 100 - tail])
  return float(values.mean()), float(low), float(high)
