"""From per-run metrics to the study's numbers: trade-off curves, matched content levels, intervals.

A *unit* is one photo x painting x seed: the statistics' curves of one unit are comparable (same
images, same noise). Statistics are compared at content levels that every statistic's curve of that
unit reaches, by linear interpolation along the curve, never by extrapolation. Intervals are a
bootstrap over pairs (photo x painting) with the seeds of a pair resampled inside it: seeds of one
pair are not independent draws of images.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

CONTENT = "content_lpips"


def units(records: list[dict], init: str = "content_noise") -> dict[tuple, dict[str, list[dict]]]:
  """{(set, photo, painting, seed): {statistic: its grid runs sorted by multiplier}}."""
  grouped: dict[tuple, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
  for r in records:
    if r["init"] == init:
      grouped[(r["set"], r["photo"], r["painting"], r["seed"])][r["statistic"]].append(r)
  return {u: {s: sorted(rs, key=lambda r: r["multiplier"]) for s, rs in by_stat.items()}
          for u, by_stat in grouped.items()}


def interpolate(curve: list[dict], metric: str, level: float) -> float:
  """`metric` at content LPIPS `level`, linear between the curve's neighbouring runs.

  Content LPIPS normally grows with the style weight; where noise makes a curve non-monotone, its
  points are read in content order (`non_monotone` counts such curves for the report)."""
  content = np.array([r[CONTENT] for r in curve])
  values = np.array([r[metric] for r in curve])
  order = np.argsort(content)
  return float(np.interp(level, content[order], values[order]))


def non_monotone(records: list[dict]) -> int:
  """How many curves (unit x statistic) have content LPIPS not increasing with the style weight."""
  return sum(any(np.diff([r[CONTENT] for r in curve]) < 0)
             for by_stat in units(records).values() for curve in by_stat.values())


def shared_range(by_stat: dict[str, list[dict]]) -> tuple[float, float] | None:
  """The content-LPIPS interval every statistic's curve covers, or None if they do not overlap."""
  low = max(min(r[CONTENT] for r in curve) for curve in by_stat.values())
  high = min(max(r[CONTENT] for r in curve) for curve in by_stat.values())
  return (low, high) if high > low else None


def matched(records: list[dict], statistics, levels, metrics) -> tuple[list[dict], list[tuple]]:
  """One row per unit x level x statistic with every metric read off the curve at that level.

  Returns the rows and the units left out because their curves share no content range."""
  rows, left_out = [], []
  for unit, by_stat in units(records).items():
    if set(by_stat) != set(statistics):
      raise ValueError(f"unit {unit} lacks runs of {set(statistics) - set(by_stat)}")
    span = shared_range(by_stat)
    if span is None:
      left_out.append(unit)
      continue
    for fraction in levels:
      level = span[0] + fraction * (span[1] - span[0])
      for statistic in statistics:
        rows.append({"set": unit[0], "photo": unit[1], "painting": unit[2], "seed": unit[3],
                     "fraction": fraction, "level": level, "statistic": statistic,
                     **{m: interpolate(by_stat[statistic], m, level) for m in metrics}})
  return rows, left_out


def differences(rows: list[dict], metric: str, statistic: str, reference: str = "gram") -> list[dict]:
  """Paired differences statistic - reference at the same unit and level."""
  key = lambda r: (r["set"], r["photo"], r["painting"], r["seed"], r["fraction"])
  ref = {key(r): r[metric] for r in rows if r["statistic"] == reference}
  return [{**{k: r[k] for k in ("set", "photo", "painting", "seed", "fraction")},
           "value": r[metric] - ref[key(r)]} for r in rows if r["statistic"] == statistic]


def nested_bootstrap(values: list[dict], resamples: int, seed: int = 0) -> tuple[float, float, float]:
  """Mean over pairs of each pair's seed mean, and its 95% percentile interval.

  `values`: dicts with photo, painting, seed and value. Pairs are resampled with replacement, then
  the seeds inside each drawn pair, so the interval is over the population of images."""
  by_pair: dict[tuple, list[float]] = defaultdict(list)
  for v in values:
    by_pair[(v["photo"], v["painting"])].append(v["value"])
  groups = [np.asarray(by_pair[k], np.float64) for k in sorted(by_pair)]
  estimate = float(np.mean([g.mean() for g in groups]))
  if len(groups) < 2:
    return estimate, float("nan"), float("nan")
  rng = np.random.default_rng(seed)
  draws = np.empty(resamples)
  for i in range(resamples):
    chosen = rng.integers(len(groups), size=len(groups))
    draws[i] = np.mean([groups[j][rng.integers(len(groups[j]), size=len(groups[j]))].mean() for j in chosen])
  low, high = np.percentile(draws, [2.5, 97.5])
  return estimate, float(low), float(high)


def verdict(estimate_and_interval: tuple[float, float, float], lower_is_better: bool = True) -> str:
  """better / worse / tie for a difference statistic - gram, from its interval."""
  _, low, high = estimate_and_interval
  if np.isnan(low):
    return "n/a"
  if high < 0:
    return "better" if lower_is_better else "worse"
  if low > 0:
    return "worse" if lower_is_better else "better"
  return "tie"


def mean_curve(records: list[dict], statistic: str, metric: str, image_set: str | None) -> tuple[np.ndarray, ...]:
  """Per multiplier: mean content LPIPS and mean `metric` over the units of `image_set` (None: all)."""
  chosen = [r for r in records if r["statistic"] == statistic and r["init"] == "content_noise"
            and (image_set is None or r["set"] == image_set)]
  multipliers = sorted({r["multiplier"] for r in chosen})
  content = np.array([np.mean([r[CONTENT] for r in chosen if r["multiplier"] == m]) for m in multipliers])
  values = np.array([np.mean([r[metric] for r in chosen if r["multiplier"] == m]) for m in multipliers])
  return np.array(multipliers), content, values
