"""The arbitrary-style comparison's summaries (experiments/arbitrary_style/comparison.py), on made-up rows."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

_PATH = Path(__file__).resolve().parent.parent / "experiments" / "arbitrary_style" / "comparison.py"
_spec = importlib.util.spec_from_file_location("arbitrary_style_comparison", _PATH)
comparison = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(comparison)


def _rows():
  rows = []
  for method, shift in (("gatys", 0.0), ("adain", 0.3)):
    for group, extra in (("seen", 0.0), ("unseen", 0.1)):
      for i, photo in enumerate(("a", "b", "c")):
        base = {m: 1.0 + 0.01 * i for m in comparison.METRICS}
        if method == "adain":
          base = {m: v + shift + extra for m, v in base.items()}
        rows.append({"method": method, "group": group, "photo": photo, "painting": f"p_{group}", "seconds": 1.0,
                     **base})
  return rows


def test_bootstrap_interval_contains_the_mean_and_is_seeded():
  values = np.random.default_rng(0).normal(size=40)
  mean, low, high = comparison.bootstrap_mean(values, seed=3)
  assert np.isclose(mean, values.mean()) and low < mean < high
  assert comparison.bootstrap_mean(values, seed=3) == (mean, low, high)
  constant = comparison.bootstrap_mean([2.0] * 5)
  assert constant == (2.0, 2.0, 2.0)


def test_paired_difference_uses_only_shared_pairs():
  rows = _rows()
  mean, low, high = comparison.paired_difference(rows, "adain", "gatys", "style_gram", "unseen")
  assert np.isclose(mean, 0.4) and np.isclose(low, 0.4) and np.isclose(high, 0.4)
  rows = [r for r in rows if not (r["method"] == "gatys" and r["photo"] != "a")]
  assert comparison.paired_difference(rows, "adain", "gatys", "style_gram", "unseen") is None  # one shared pair


def test_tables_mark_intervals_that_exclude_zero_and_missing_groups():
  rows = [r for r in _rows() if not (r["method"] == "adain" and r["group"] == "seen")]
  versus = comparison.versus_table(rows, ["gatys", "adain"], "gatys", "unseen")
  assert "| adain | +0.400 [+0.400, +0.400]*" in versus
  assert "n/a" in comparison.versus_table(rows, ["gatys", "adain"], "gatys", "seen")
  summary = comparison.summary_table(rows, ["adain"])
  assert "| adain | seen | 0 |" in summary and "| adain | unseen | 3 |" in summary
  assert "n/a" in comparison.generalisation_table(rows, ["adain"])
  both = comparison.generalisation_table(_rows(), ["gatys", "adain"])
  assert "| gatys | 1.010 → 1.010" in both and "| adain | 1.310 → 1.410" in both
