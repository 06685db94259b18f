"""The style retrieval benchmark's pure pieces (experiments/style_retrieval), on tiny made-up images."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "experiments" / "style_retrieval"))

import evaluation  # noqa: E402
import groundtruth  # noqa: E402
import metrics  # noqa: E402
import variants  # noqa: E402


def test_crop_boxes_span_the_painting_edge_to_edge():
  boxes = groundtruth.crop_boxes(100, 200, grid=3, fraction=0.4)
  assert boxes == [(top, left, 40) for top in (0, 30, 60) for left in (0, 80, 160)]
  assert groundtruth.crop_boxes(50, 50, grid=1, fraction=0.5) == [(12, 12, 25)]


def test_region_set_has_every_crop_in_three_variants_with_their_labels():
  rng = np.random.default_rng(0)
  paintings = {"b": rng.uniform(size=(40, 60, 3)).astype(np.float32),
               "a": rng.uniform(size=(50, 30, 3)).astype(np.float32)}
  pictures, items = groundtruth.region_set(paintings, grid=2, fraction=0.5, size=16, seed=3,
                                           hue_range=(0.2, 0.8), saturation_range=(0.5, 1.5))
  assert pictures.shape == (2 * 4 * 3, 16, 16, 3) and pictures.dtype == np.float32
  assert [i.painting for i in items[:12]] == ["b"] * 12  # the given order, not sorted
  assert [i.variant for i in items[:3]] == list(groundtruth.VARIANTS)
  crop = groundtruth.labels(items, "crop")
  assert list(crop[:6]) == [0, 0, 0, 1, 1, 1] and len(set(crop)) == 8
  assert list(groundtruth.labels(items, "painting")) == [0] * 12 + [1] * 12
  original, jittered, gray = pictures[0], pictures[1], pictures[2]
  luma = original @ np.float32([0.299, 0.587, 0.114])
  np.testing.assert_allclose(gray, np.repeat(luma[..., None], 3, -1), atol=1e-6)
  assert np.abs(jittered - original).max() > 0.05
  again, _ = groundtruth.region_set(paintings, 2, 0.5, 16, 3, (0.2, 0.8), (0.5, 1.5))
  np.testing.assert_array_equal(pictures, again)  # seeded


def test_jitter_rotates_hue_and_scales_saturation():
  red = np.zeros((2, 2, 3), np.float32)
  red[..., 0] = 1.0
  np.testing.assert_allclose(groundtruth.jitter(red, 0.0, 1.0), red, atol=1e-6)
  np.testing.assert_allclose(groundtruth.jitter(red, 1 / 3, 1.0)[0, 0], [0, 1, 0], atol=1e-6)  # red -> green
  np.testing.assert_allclose(groundtruth.jitter(red, 0.0, 0.0)[0, 0], [1, 1, 1], atol=1e-6)  # no saturation
  params = {groundtruth.jitter_parameters(0, 0, r, (0.2, 0.8), (0.5, 1.5)) for r in range(5)}
  assert len(params) == 5 and all(0.2 <= h <= 0.8 and 0.5 <= s <= 1.5 for h, s in params)


def test_stylized_items_label_every_photo_painting_pair():
  items = groundtruth.stylized_items(["p", "q"], ["x", "y", "z"])
  assert [i.name for i in items[:3]] == ["p__x", "p__y", "p__z"] and len(items) == 6
  assert list(groundtruth.labels(items, "photo")) == [0, 0, 0, 1, 1, 1]


def test_average_precision_and_capped_recall_match_a_hand_computed_example():
  # Query 0's ranking over items 1..4 is 2, 1, 4, 3; items 2 and 3 are relevant:
  # hits at ranks 1 and 4 -> AP = (1/1 + 2/4) / 2 = 0.75; R@1 = 1/1, R@2 = 1/2, R@5 = 2/2.
  similarity = np.array([[1.0, 0.8, 0.9, 0.1, 0.5],
                         [0.8, 1.0, 0.2, 0.3, 0.4],
                         [0.9, 0.2, 1.0, 0.7, 0.6],
                         [0.1, 0.3, 0.7, 1.0, 0.0],
                         [0.5, 0.4, 0.6, 0.0, 1.0]], np.float32)
  relevant = np.zeros((5, 5), bool)
  relevant[0, [2, 3]] = True
  relevant[1, [4]] = True  # query 1: ranking 0, 4, 3, 2 -> hit at rank 2: AP 0.5, R@1 0, R@2 1
  everything = np.ones((5, 5), bool)
  orders = metrics.rankings(similarity, everything)
  assert list(orders[0]) == [2, 1, 4, 3] and all(q not in o for q, o in enumerate(orders))
  scores = metrics.evaluate(orders, relevant, everything, ks=(1, 2, 5))
  np.testing.assert_allclose(scores["AP"][:2], [0.75, 0.5])
  np.testing.assert_allclose(scores["R@1"][:2], [1.0, 0.0])
  np.testing.assert_allclose(scores["R@2"][:2], [0.5, 1.0])
  np.testing.assert_allclose(scores["R@5"][:2], [1.0, 1.0])
  assert np.isnan(scores["AP"][2])  # no relevant item: left out of the means
  # Excluding item 2 from query 0's candidates: ranking 1, 4, 3, one relevant at rank 3 -> AP 1/3.
  candidates = everything.copy()
  candidates[0, 2] = False
  scores = metrics.evaluate(metrics.rankings(similarity, candidates), relevant, candidates, ks=(1,))
  assert scores["AP"][0] == pytest.approx(1 / 3)
  assert metrics.average_precision(np.array([1, 0, 1], bool), 3) == pytest.approx((1 + 2 / 3) / 3)
  assert metrics.capped_recall(np.array([0, 1, 1, 1], bool), 10, 4) == pytest.approx(3 / 4)


def test_style_not_content_moves_same_content_items_below_the_rest_in_style_order():
  style = np.array([[1.0, 0.9, 0.8, 0.7, 0.6]] * 5, np.float32)
  content = np.zeros((5, 5), np.float32)
  content[0, [1, 3]] = 0.9  # items 1 and 3 show the query's scene
  orders = metrics.style_not_content_rankings(style, content, np.ones((5, 5), bool), threshold=0.5)
  assert list(orders[0]) == [2, 4, 1, 3]
  pooled = metrics.style_not_content_rankings(style, content, np.ones((5, 5), bool), 0.5, pool=3)
  assert list(pooled[0]) == [2, 1]  # the pool counts the query, as the index search does
  share = metrics.share_at_k(orders, np.eye(5, k=1, dtype=bool) | np.eye(5, k=2, dtype=bool), k=2)
  assert share[0] == pytest.approx(0.5)  # top 2 of query 0 are 2, 4: only 2 is marked


def test_bootstrap_is_reproducible_and_resamples_groups_whole():
  values = np.random.default_rng(1).uniform(size=40)
  first = metrics.bootstrap(values, 500, seed=7)
  assert first == metrics.bootstrap(values, 500, seed=7)
  assert first != metrics.bootstrap(values, 500, seed=8)
  mean, low, high = first
  assert low < mean < high and mean == pytest.approx(values.mean())
  assert metrics.bootstrap(np.full(10, 0.3), 100, 0) == pytest.approx((0.3, 0.3, 0.3))
  # Two groups of constant values: a group resample can only give 0, 1 or the pooled mean.
  grouped = np.array([0.0] * 5 + [1.0] * 5)
  _, low, high = metrics.bootstrap(grouped, 200, 0, groups=np.array([0] * 5 + [1] * 5))
  assert (low, high) == (0.0, 1.0)
  assert metrics.bootstrap(np.array([np.nan, 1.0, 1.0]), 50, 0)[0] == 1.0


def test_set_a_protocols_and_the_threshold_choice():
  painting = np.array([0, 0, 0, 1, 1, 1])
  crop = np.array([0, 0, 1, 2, 2, 3])
  relevant, candidates = evaluation.masks_a(painting, crop)["regions"]
  assert list(relevant[0]) == [False, False, True, False, False, False]
  assert list(candidates[0]) == [False, False, True, True, True, True]
  relevant_all, _ = evaluation.masks_a(painting, crop)["all"]
  assert list(relevant_all[0]) == [True, True, True, False, False, False]
  flat = lambda v: np.full(4, v)
  sweep = {t: {"sni": flat(s), "same_photo": flat(d), "style R@10": flat(r)}
           for t, s, d, r in [(0.1, 0.4, 0.0, 0.5), (0.2, 0.4, 0.1, 1.0), (0.3, 0.4, 0.1, 1.0),
                              (0.4, 0.4, 0.1, 1.0), (0.5, 0.3, 0.2, 1.0)]}
  assert evaluation.choose_threshold(sweep, baseline_recall=1.0, k=10) == 0.3  # 0.1 loses recall
  sweep[0.4]["same_photo"] = flat(0.0)
  assert evaluation.choose_threshold(sweep, baseline_recall=1.0, k=10) == 0.4


def test_histogram_baseline_is_a_unit_hellinger_vector():
  image = np.zeros((1, 4, 4, 3), np.float32)
  image[0, :2, :, 0] = 1.0  # half red, half black
  h = variants.histogram(image)
  assert h.shape == (1, 512)
  red_bin = (7 * 8 + 0) * 8 + 0
  np.testing.assert_allclose(h[0, [0, red_bin]], [np.sqrt(0.5)] * 2, atol=1e-6)
  assert np.linalg.norm(h[0]) == pytest.approx(1.0)
  v = np.array([[3.0, 4.0], [0.0, 1.0]], np.float32)
  np.testing.assert_allclose(variants.similarity(v, "euclidean")[0, 1], -np.sqrt(9 + 9), rtol=1e-6)
  np.testing.assert_allclose(variants.similarity(v)[0, 1], 0.8, rtol=1e-6)
