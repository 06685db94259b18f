"""The temporal term of feed-forward training (stylejax.objectives.temporal_pairs): the synthetic second
frame and its exact flow, the warped-output loss on networks with a known answer, and a temporal
fine-tune of the whole pretrained CIN network (cin_newstyle, network.trainable=all)."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from stylejax import configuration
from stylejax.errors import StylejaxError
from stylejax.io import cin_release
from stylejax.objectives import temporal_pairs
from stylejax.training import loop
from stylejax.video import stylizers

from checkpoint_helpers import params_at

MOTION = temporal_pairs.TemporalSettings(weight=1.0, max_shift=3.0, max_rotation=2.0, max_zoom=0.05)


def test_the_camera_flow_is_an_affine_motion_and_moves_a_ramp_exactly():
  flow = np.asarray(temporal_pairs.camera_flow(jax.random.key(3), 20, 28, MOTION))
  assert flow.shape == (20, 28, 2)
  # affine in (row, col): every second difference vanishes
  np.testing.assert_allclose(np.diff(flow, 2, axis=0), 0, atol=1e-4)
  np.testing.assert_allclose(np.diff(flow, 2, axis=1), 0, atol=1e-4)
  centre = flow[9:11, 13:15].mean(axis=(0, 1))  # at the centre only the shift (and rounding) remains
  assert np.all(np.abs(centre) <= 3.0 + 0.05) and np.abs(centre).max() > 0
  # bilinear sampling of a linear ramp is exact: frame 2 at x is frame 1 at x + F(x), where shown
  rows, cols = np.mgrid[0:20, 0:28].astype(np.float32)
  ramp = np.stack([cols / 27, rows / 19, (cols + rows) / 46], axis=-1)
  moved, flow, mask = temporal_pairs.second_frame(jax.random.key(3), jnp.asarray(ramp), MOTION)
  flow = np.asarray(flow)
  expected = np.stack([(cols + flow[..., 0]) / 27, (rows + flow[..., 1]) / 19,
                       (cols + flow[..., 0] + rows + flow[..., 1]) / 46], axis=-1)
  inside = np.asarray(mask) > 0
  assert 0.5 < inside.mean() < 1.0  # the motion uncovers a border
  np.testing.assert_allclose(np.asarray(moved)[inside], expected[inside], atol=1e-5)


def test_a_static_camera_gives_the_same_frame_and_no_loss():
  still = temporal_pairs.TemporalSettings(weight=1.0)
  frame = jax.random.uniform(jax.random.key(0), (12, 16, 3))
  moved, flow, mask = temporal_pairs.second_frame(jax.random.key(1), frame, still)
  np.testing.assert_array_equal(np.asarray(flow), 0)
  np.testing.assert_array_equal(np.asarray(mask), 1)
  np.testing.assert_allclose(np.asarray(moved), np.asarray(frame), atol=1e-6)


def test_the_term_is_zero_for_a_network_that_moves_with_the_frame_and_counts_a_fixed_pattern():
  content = jax.random.uniform(jax.random.key(0), (3, 16, 20, 3))
  total, terms = jnp.float32(5.0), {"total": jnp.float32(5.0), "style": jnp.float32(1.0)}
  key = jax.random.key(7)
  identity = lambda frames: frames  # commutes with any motion
  add_term = jax.jit(temporal_pairs.add_term, static_argnums=(0, 1, 5))  # eager: ~110 small compiles
  new_total, new_terms = add_term(MOTION, identity, content, content, key, 0, total, terms)
  assert float(new_terms["temporal"]) < 1e-10 and float(new_total) == pytest.approx(5.0)
  # a pattern fixed to the screen (the flicker of a network that is not equivariant) is counted
  pattern = 0.2 * (jnp.indices((16, 20)).sum(axis=0) % 2)[..., None]
  overlay = lambda frames: frames + pattern
  weighted = temporal_pairs.TemporalSettings(**{**MOTION.__dict__, "weight": 10.0})
  new_total, new_terms = add_term(weighted, overlay, content, overlay(content), key, 0, total, terms)
  assert float(new_terms["temporal"]) > 1e-3
  assert float(new_total) == pytest.approx(5.0 + 10.0 * float(new_terms["temporal"]), rel=1e-6)
  assert float(new_terms["style"]) == float(terms["style"])
  # example i's pair depends on its index in the global batch, not on where the batch was split
  _, whole = add_term(weighted, overlay, content, overlay(content), key, 0, total, terms)
  halves = [add_term(weighted, overlay, content[i:i + 1], overlay(content[i:i + 1]), key, i, total,
                     terms)[1]["temporal"] for i in range(3)]
  assert float(whole["temporal"]) == pytest.approx(float(np.mean(halves)), rel=1e-5)
  # off: nothing added
  off = temporal_pairs.TemporalSettings()
  assert temporal_pairs.add_term(off, overlay, content, content, key, 0, total, terms) == (total, terms)


def newstyle_config(**values):
  return configuration.apply_values(configuration.load_config("cin_newstyle:testing"), {
      "network.trainable": "all", "temporal.weight": 100.0, "optim.steps": 2, "checkpoint_every": 2,
      "log_every": 1, "styles": ("great_wave",), **values})


@pytest.mark.slow
def test_a_temporal_fine_tune_of_the_whole_pretrained_network(tmp_path):
  result = loop.run(newstyle_config(), tmp_path / "run", quiet=True)
  lines = [json.loads(l) for l in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
  assert [l["step"] for l in lines] == [1, 2]
  assert all(np.isfinite(l["temporal"]) and l["temporal"] > 0 for l in lines)
  assert result.last_terms["total"] > result.last_terms["content"]
  _, base, _ = cin_release.load("multistyle26")
  trained = params_at(tmp_path / "run", 2)
  flat_base = dict(jax.tree_util.tree_leaves_with_path(base))
  kernels = [(np.asarray(leaf), np.asarray(flat_base[path])) for path, leaf in jax.tree_util.tree_leaves_with_path(trained)
             if np.shape(leaf) == np.shape(flat_base[path])]
  assert kernels and all(not np.array_equal(a, b) for a, b in kernels)  # every convolution learned
  # the fine-tuned network makes video frames as `stylejax video --checkpoint WORKDIR --style 26` does
  frame = np.random.default_rng(0).uniform(size=(24, 32, 3)).astype(np.float32)
  stylize = stylizers.load(stylizers.NetworkChoice(checkpoint=str(tmp_path / "run"), style="26"))
  out = stylize(frame)
  assert out.shape == frame.shape and np.all(np.isfinite(out))
  with pytest.raises(StylejaxError, match="is a cin_newstyle network of fixed styles"):
    stylizers.load(stylizers.NetworkChoice(checkpoint=str(tmp_path / "run"), style_images=("great_wave",)))


@pytest.mark.parametrize("values, needle", [
    ({"temporal.weight": -1.0}, "temporal.weight must be a finite number >= 0, got -1.0"),
    ({"temporal.noise": float("nan")}, "temporal.noise must be a finite number >= 0"),
    ({"temporal.max_zoom": 0.7}, "temporal.max_zoom must be below 0.5"),
    ({"network.trainable": "some"}, "network.trainable must be one of new_styles, all"),
])
def test_bad_temporal_values_are_one_line(values, needle):
  with pytest.raises(StylejaxError, match=needle) as error:
    loop.validate(newstyle_config(**values))
  assert "\n" not in str(error.value)


def test_a_method_without_the_term_refuses_a_temporal_weight():
  config = configuration.apply_values(configuration.load_config("stylebank_tiny"), {"temporal.weight": 1.0})
  with pytest.raises(StylejaxError, match="network.kind=stylebank has no temporal term yet"):
    loop.validate(config)
