"""The pure helpers bench_retrieval measures with: recall@k, the synthetic clustered vectors, the
exact-search crossover size."""

import numpy as np
import pytest

from benchmarks.ann_recall import ClusteredVectors, crossover_size, recall_at_k


def test_recall_counts_shared_ids_per_query_and_ignores_missing_results():
  truth = np.array([[1, 2, 3], [4, 5, 6]])
  found = np.array([[3, 9, 1], [-1, -1, 6]])  # 2 of 3, then 1 of 3 (faiss pads with -1)
  assert recall_at_k(found, truth, 3) == pytest.approx(3 / 6)
  assert recall_at_k(truth, truth, 2) == 1.0
  assert recall_at_k(found[:, :2], truth, 2) == 0.0  # only the top 2 of each count
  with pytest.raises(ValueError):
    recall_at_k(found, truth[:, :2], 3)


def test_clustered_vectors_are_unit_seeded_prefix_stable_and_clustered():
  data = ClusteredVectors(dim=16, n_clusters=4, spread=0.3, seed=0, rank=3, rows_per_cluster_chunk=2)
  rows = data.rows(21)  # several chunks of 8, the last one cut short
  assert rows.shape == (21, 16) and rows.dtype == np.float32
  np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, rtol=1e-6)
  np.testing.assert_array_equal(data.rows(5), rows[:5])
  np.testing.assert_array_equal(ClusteredVectors(16, 4, 0.3, 0, rank=3, rows_per_cluster_chunk=2).rows(21), rows)
  assert not np.allclose(data.rows(8, stream=1), rows[:8])
  nearest_centre = np.argmax(rows @ data.centres.T, axis=1)
  np.testing.assert_array_equal(nearest_centre, np.arange(21) % 4)


def test_crossover_scales_the_largest_measurement_linearly():
  assert crossover_size([10, 1000], [0.5, 0.02], 0.05) == pytest.approx(2500.0)
  with pytest.raises(ValueError):
    crossover_size([10], [0.1, 0.2], 1.0)


def test_interleave_rotates_the_order_and_settle_calls_untimed_before_each_timed_call():
  from benchmarks import timing  # pylint: disable=import-outside-toplevel
  calls = []
  timing.interleave({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, repeats=2, warmup=1)
  assert calls == ["a", "b", "a", "b", "b", "a"]  # warm-up, round 0, round 1 rotated

  calls.clear()
  times = timing.time_interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")},
                                  repeats=2, warmup=0, settle=1)
  assert calls == ["a", "a", "b", "b", "b", "b", "a", "a"]  # each timed call right after its own untimed one
  assert {k: len(v) for k, v in times.items()} == {"a": 2, "b": 2}
