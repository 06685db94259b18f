"""The benchmark's questions as functions of similarity matrices and labels (no networks, no files).

Set A (regions of paintings): relevant = same painting. Protocol "regions": the query's own crop
(its other two variants) is not a candidate, so only other regions can be found; protocol "all":
they are candidates and count as relevant.
Set B (stylized photos): style relevant = same painting, other photo; content relevant = same photo,
other painting; "similar, not identical" share@k = the top k's share of same painting, other photo.
"""

from __future__ import annotations

import numpy as np

import metrics


def masks_a(painting: np.ndarray, crop: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
  """{protocol: (relevant, candidates)} of set A."""
  same_painting = painting[:, None] == painting[None]
  same_crop = crop[:, None] == crop[None]
  everything = np.ones_like(same_painting)
  return {"regions": (same_painting & ~same_crop, ~same_crop), "all": (same_painting, everything)}


def masks_b(painting: np.ndarray, photo: np.ndarray) -> dict[str, np.ndarray]:
  same_painting = painting[:, None] == painting[None]
  same_photo = photo[:, None] == photo[None]
  return {"style": same_painting & ~same_photo, "content": same_photo & ~same_painting,
          "same_photo": same_photo}


def summarize(per_query: dict[str, np.ndarray], resamples: int, seed: int, groups=None) -> dict:
  """{metric: (mean, low, high)} over queries."""
  return {name: metrics.bootstrap(values, resamples, seed, groups) for name, values in per_query.items()}


def retrieval(similarity: np.ndarray, relevant: np.ndarray, candidates: np.ndarray, ks) -> dict[str, np.ndarray]:
  """Per-query AP and R@k of ranking by one similarity."""
  return metrics.evaluate(metrics.rankings(similarity, candidates), relevant, candidates, ks)


def threshold_sweep(style: np.ndarray, content: np.ndarray, painting: np.ndarray, photo: np.ndarray,
                    thresholds, k: int, pool: int | None) -> dict[float, dict[str, np.ndarray]]:
  """Per threshold, per query: share@k of same painting / other photo ("sni"), of the same photo
  ("same_photo"), and style AP / R@k, under the style-not-content order."""
  m = masks_b(painting, photo)
  candidates = np.ones_like(m["style"])
  out = {}
  for t in thresholds:
    orders = metrics.style_not_content_rankings(style, content, candidates, t, pool)
    scores = metrics.evaluate(orders, m["style"], candidates, (k,))
    out[t] = {"sni": metrics.share_at_k(orders, m["style"], k),
              "same_photo": metrics.share_at_k(orders, m["same_photo"] & ~np.eye(len(photo), dtype=bool), k),
              "style AP": scores["AP"], f"style R@{k}": scores[f"R@{k}"]}
  return out


def choose_threshold(sweep: dict[float, dict[str, np.ndarray]], baseline_recall: float, k: int) -> float:
  """Among thresholds whose style R@k is at least the plain style ranking's: the highest mean "sni",
  then the lowest mean "same_photo" share; ties left (a plateau) resolve to the middle one, the
  farthest from both edges."""
  allowed = [t for t, v in sweep.items() if np.nanmean(v[f"style R@{k}"]) >= baseline_recall - 1e-9]
  if not allowed:
    raise ValueError("no threshold keeps the style recall of the plain style ranking")
  key = lambda t: (round(float(np.mean(sweep[t]["sni"])), 9), -round(float(np.mean(sweep[t]["same_photo"])), 9))
  best = max(key(t) for t in allowed)
  plateau = sorted(t for t in allowed if key(t) == best)
  return plateau[(len(plateau) - 1) // 2]


def duplicate_rates(content: np.ndarray, masks: dict[str, np.ndarray], threshold: float) -> dict[str, float]:
  """For each kind of pair (a mask, the diagonal left out): the fraction whose content cosine exceeds
  the threshold, i.e. that style-not-content would push down."""
  off_diagonal = ~np.eye(len(content), dtype=bool)
  return {name: float(np.mean(content[mask & off_diagonal] > threshold)) for name, mask in masks.items()}
