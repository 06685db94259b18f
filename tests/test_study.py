"""The Gram vs mean/variance study's design and analysis (experiments/gram_vs_meanvar), on made-up runs."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "experiments" / "gram_vs_meanvar"))

import analysis  # noqa: E402
import protocol  # noqa: E402
from stylejax.errors import StylejaxError  # noqa: E402


def _folder(tmp_path, photos, paintings):
  for sub, names in (("content", photos), ("style", paintings)):
    (tmp_path / sub).mkdir()
    for name in names:
      (tmp_path / sub / name).write_bytes(b"")
  (tmp_path / "content" / "notes.txt").write_text("not an image")
  return tmp_path


def test_every_image_of_the_folder_is_used_and_the_sets_are_disjoint_halves(tmp_path):
  data = _folder(tmp_path, ["p1.jpg", "p2.png", "p3.JPG"], [f"s{i}.jpg" for i in range(5)])
  photos, paintings = protocol.image_lists(data, bundled=False)
  assert [Path(p).name for p in photos] == ["p1.jpg", "p2.png", "p3.JPG"]
  pairs = protocol.pairs(photos, paintings, photos_per_painting=2, paintings_per_set=0)
  by_set = {s: {p.style for p in pairs if p.image_set == s} for s in "AB"}
  assert by_set["A"].isdisjoint(by_set["B"]) and by_set["A"] | by_set["B"] == set(paintings)
  assert len(pairs) == 10 and all(sum(p.style == s for p in pairs) == 2 for s in paintings)
  uses = [sum(p.content == photo for p in pairs) for photo in photos]
  assert max(uses) - min(uses) <= 1  # the rotation spreads the photos evenly


def test_bundled_images_are_added_only_when_their_stem_is_missing(tmp_path):
  data = _folder(tmp_path, ["astronaut.jpg"], ["starry_night.jpg", "x.jpg"])
  photos, paintings = protocol.image_lists(data, bundled=True)
  assert sorted(protocol.stem(p) for p in photos) == ["astronaut", "chelsea", "coffee", "rocket"]
  assert sum(protocol.stem(p) == "starry_night" for p in paintings) == 1
  assert "great_wave" in paintings


def test_a_folder_without_images_is_a_clear_error(tmp_path):
  with pytest.raises(StylejaxError, match="no such folder"):
    protocol.image_lists(tmp_path / "missing", bundled=False)
  data = _folder(tmp_path, ["a.jpg"], ["only.jpg"])
  with pytest.raises(StylejaxError, match="2 paintings"):
    protocol.image_lists(data, bundled=False)


def test_grid_runs_keep_one_statistics_curve_adjacent():
  pairs = [protocol.Pair("A", "p.jpg", "s.jpg"), protocol.Pair("B", "q.jpg", "t.jpg")]
  runs = protocol.grid_runs(pairs, ("gram", "mean_var"), {"gram": 10.0, "mean_var": 2.0}, (0.5, 1.0, 2.0), seeds=2)
  assert len(runs) == 2 * 2 * 2 * 3
  first = runs[:3]
  assert {r["meta"]["statistic"] for r in first} == {"gram"} and [r["overrides"]["loss.style_weight"]
                                                                   for r in first] == [5.0, 10.0, 20.0]
  assert runs[3]["meta"]["statistic"] == "mean_var" and runs[3]["overrides"]["loss.style_weight"] == 1.0


def _record(photo, painting, seed, statistic, multiplier, content, style):
  return {"set": "A", "photo": photo, "painting": painting, "seed": seed, "statistic": statistic,
          "multiplier": multiplier, "init": "content_noise", "content_lpips": content, "style_gram": style}


def test_matched_levels_interpolate_inside_the_shared_range_only():
  records = [_record("p", "s", 0, "gram", m, c, y) for m, c, y in ((0.5, 0.2, 1.0), (1, 0.4, 0.6), (2, 0.6, 0.2))]
  records += [_record("p", "s", 0, "mean_var", m, c, y) for m, c, y in ((0.5, 0.3, 0.9), (1, 0.5, 0.5), (2, 0.8, 0.1))]
  rows, left_out = analysis.matched(records, ("gram", "mean_var"), (0.0, 0.5, 1.0), ("style_gram",))
  assert not left_out
  levels = sorted({r["level"] for r in rows})
  np.testing.assert_allclose(levels, [0.3, 0.45, 0.6])  # the shared range is [0.3, 0.6]
  at = {(r["statistic"], round(r["level"], 6)): r["style_gram"] for r in rows}
  np.testing.assert_allclose(at[("gram", 0.45)], 0.6 + (0.45 - 0.4) / 0.2 * (0.2 - 0.6))
  np.testing.assert_allclose(at[("mean_var", 0.6)], 0.5 + (0.6 - 0.5) / 0.3 * (0.1 - 0.5))
  diffs = analysis.differences(rows, "style_gram", "mean_var")
  np.testing.assert_allclose([d["value"] for d in diffs], [0.9 - 0.8, 0.6 - 0.5, (0.5 - 0.4 / 3) - 0.2])


def test_curves_that_share_no_content_range_are_left_out():
  records = [_record("p", "s", 0, "gram", m, c, 1.0) for m, c in ((1, 0.1), (2, 0.2))]
  records += [_record("p", "s", 0, "mean_var", m, c, 1.0) for m, c in ((1, 0.5), (2, 0.6))]
  rows, left_out = analysis.matched(records, ("gram", "mean_var"), (0.5,), ("style_gram",))
  assert rows == [] and left_out == [("A", "p", "s", 0)]


def test_the_bootstrap_resamples_pairs_not_seeds():
  # Two pairs, many seeds each: the seeds agree inside a pair, the pairs disagree. An interval over
  # runs would be narrow; over pairs it must span both pairs' values.
  values = [{"photo": "p", "painting": "a", "seed": s, "value": 1.0 + 1e-3 * s} for s in range(20)]
  values += [{"photo": "p", "painting": "b", "seed": s, "value": -1.0 + 1e-3 * s} for s in range(20)]
  estimate, low, high = analysis.nested_bootstrap(values, resamples=500)
  assert abs(estimate - 0.0095) < 1e-9
  assert low < -0.9 and high > 0.9
  assert analysis.verdict((estimate, low, high)) == "tie"
  assert analysis.verdict((-0.5, -0.6, -0.1)) == "better"
  assert analysis.verdict((0.5, 0.1, 0.6), lower_is_better=False) == "better"
  again = analysis.nested_bootstrap(values, resamples=500)
  assert again == (estimate, low, high)  # seeded: the report is reproducible
