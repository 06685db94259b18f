"""Summaries of the arbitrary-style comparison: means with bootstrap intervals over pairs, and tables.

Pure functions over the per-result rows run.py writes (one row per method x photo x painting).
"""

from __future__ import annotations

import numpy as np

METRICS = ("content_lpips", "content_ssim", "style_gram", "style_mean_std", "style_swd")
LOWER_IS_STYLIZED = {"content_ssim"}  # the rest: lower = closer (style) or less changed (content LPIPS)
RESAMPLES = 10_000


def bootstrap_mean(values, seed: int = 0, resamples: int = RESAMPLES, level: float = 0.95):
  """(mean, low, high): the mean and its percentile-bootstrap interval over the values."""
  values = np.asarray(values, np.float64)
  rng = np.random.default_rng(seed)
  means = values[rng.integers(0, len(values), size=(resamples, len(values)))].mean(axis=1)
  tail = (1 - level) / 2 * 100
  return float(values.mean()), float(np.percentile(means, tail)), float(np.percentile(means, 100 - tail))


def paired_difference(rows, method_a: str, method_b: str, metric: str, group: str, seed: int = 0):
  """Mean of (a - b) over the pairs both methods ran in `group`, with its bootstrap interval, or None."""
  by_pair = lambda m: {(r["photo"], r["painting"]): r[metric] for r in rows if r["method"] == m and r["group"] == group}
  a, b = by_pair(method_a), by_pair(method_b)
  shared = sorted(set(a) & set(b))
  if len(shared) < 2:
    return None
  return bootstrap_mean([a[k] - b[k] for k in shared], seed)


def summary_table(rows, methods, groups=("seen", "unseen")) -> str:
  """Markdown: per method and painting group, every metric as mean [95% CI] over its pairs."""
  lines = ["| method | paintings | pairs | " + " | ".join(METRICS) + " |",
           "|---|---|---|" + "---|" * len(METRICS)]
  for method in methods:
    for group in groups:
      mine = [r for r in rows if r["method"] == method and r["group"] == group]
      if not mine:
        lines.append(f"| {method} | {group} | 0 | " + " | ".join("n/a" for _ in METRICS) + " |")
        continue
      cells = []
      for metric in METRICS:
        mean, low, high = bootstrap_mean([r[metric] for r in mine])
        cells.append(f"{mean:.3f} [{low:.3f}, {high:.3f}]")
      lines.append(f"| {method} | {group} | {len(mine)} | " + " | ".join(cells) + " |")
  return "\n".join(lines)


def generalisation_table(rows, methods) -> str:
  """Markdown: per method, unseen minus seen paintings' mean for every metric (positive style
  distance = further from the painting on unseen ones), with the seen and unseen means."""
  lines = ["| method | " + " | ".join(f"{m} seen → unseen" for m in METRICS) + " |", "|---|" + "---|" * len(METRICS)]
  for method in methods:
    cells = []
    for metric in METRICS:
      means = [np.mean([r[metric] for r in rows if r["method"] == method and r["group"] == g] or [np.nan])
               for g in ("seen", "unseen")]
      cells.append("n/a" if np.isnan(means).any() else f"{means[0]:.3f} → {means[1]:.3f}")
    lines.append(f"| {method} | " + " | ".join(cells) + " |")
  return "\n".join(lines)


def versus_table(rows, methods, reference: str, group: str) -> str:
  """Markdown: each method minus `reference` on the same pairs of `group`, mean [95% CI]; an
  interval that excludes 0 is marked with *."""
  lines = [f"| method − {reference} ({group} paintings) | " + " | ".join(METRICS) + " |",
           "|---|" + "---|" * len(METRICS)]
  for method in methods:
    if method == reference:
      continue
    cells = []
    for metric in METRICS:
      diff = paired_difference(rows, method, reference, metric, group)
      if diff is None:
        cells.append("n/a")
      else:
        mean, low, high = diff
        mark = "*" if low > 0 or high < 0 else ""
        cells.append(f"{mean:+.3f} [{low:+.3f}, {high:+.3f}]{mark}")
    lines.append(f"| {method} | " + " | ".join(cells) + " |")
  return "\n".join(lines)
