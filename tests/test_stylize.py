"""End to end on tiny images: losses fall, files exist, reruns are bit-identical, nothing is lost."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from stylejax import configuration
from stylejax.pixel import optimize, stylize
from stylejax.errors import StylejaxError


def _config(**overrides):
  config = configuration.load_config("testing")
  as_text = lambda v: ",".join(map(str, v)) if isinstance(v, (tuple, list)) else str(v)
  configuration.apply_overrides(config, [f"{k}={as_text(v)}" for k, v in overrides.items()])
  with config.unlocked():
    config.content = "chelsea"
    config.styles = ("starry_night",)
  return config


def test_end_to_end_writes_workdir_and_reruns_bit_identically(tmp_path):
  config = _config(**{"optim.steps": 9, "snapshot_every": 3})
  first = stylize.run(config, tmp_path / "a", quiet=True)
  second = stylize.run(config, tmp_path / "b", quiet=True)
  workdir = tmp_path / "a"
  names = {p.name for p in workdir.iterdir()}
  assert {"config.json", "metrics.jsonl", "final.png", "summary.png", "summary.json", "snapshots"} <= names
  assert sorted(p.name for p in (workdir / "snapshots").iterdir()) == [
      "step_000003.png", "step_000006.png", "step_000009.png"]
  metrics = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
  assert [m["step"] for m in metrics] == [3, 6, 9]
  assert {"total", "content", "style", "tv", "elapsed_s"} <= metrics[0].keys()
  assert metrics[-1]["total"] < metrics[0]["total"]
  assert json.loads((workdir / "config.json").read_text())["optim"]["steps"] == 9
  assert np.array_equal(first.image, second.image)
  assert (workdir / "final.png").read_bytes() == (tmp_path / "b" / "final.png").read_bytes()
  assert not list(tmp_path.glob(".*"))  # no staging folders left behind


def test_lbfgs_lowers_the_loss(tmp_path):
  result = stylize.run(_config(**{"optim.name": "lbfgs", "optim.steps": 4, "log_every": 2}), None, quiet=True)
  assert result.metrics[-1]["total"] < result.metrics[0]["total"]


def test_existing_workdir_is_not_overwritten(tmp_path):
  workdir = tmp_path / "run"
  stylize.run(_config(**{"optim.steps": 3}), workdir, quiet=True)
  before = {p.name: p.read_bytes() for p in workdir.iterdir() if p.is_file()}
  with pytest.raises(StylejaxError, match="--overwrite"):
    stylize.run(_config(**{"optim.steps": 3, "seed": 1}), workdir, quiet=True)
  assert {p.name: p.read_bytes() for p in workdir.iterdir() if p.is_file()} == before
  stylize.run(_config(**{"optim.steps": 3, "seed": 1, "optim.init": "noise"}), workdir, overwrite=True,
              quiet=True)
  assert (workdir / "final.png").read_bytes() != before["final.png"]


def test_failed_run_leaves_earlier_workdir_intact(tmp_path):
  workdir = tmp_path / "run"
  stylize.run(_config(**{"optim.steps": 3}), workdir, quiet=True)
  before = (workdir / "final.png").read_bytes()
  config = _config(**{"optim.steps": 3})
  with config.unlocked():
    config.styles = (str(tmp_path / "missing.jpg"),)
  with pytest.raises(StylejaxError, match="image not found"):
    stylize.run(config, workdir, overwrite=True, quiet=True)
  assert (workdir / "final.png").read_bytes() == before
  assert not list(tmp_path.glob(".run.*"))


def test_non_finite_loss_stops_and_keeps_last_finite_image(tmp_path):
  # 1e39 overflows float32 to inf, so the very first loss is not finite.
  config = _config(**{"loss.tv_weight": 1e39, "optim.steps": 6})
  with pytest.raises(stylize.NonFiniteLoss, match="step 0"):
    stylize.run(config, tmp_path / "run", quiet=True)
  final = np.asarray(Image.open(tmp_path / "run" / "final.png"))
  assert np.isfinite(final).all()
  assert "non-finite" in json.loads((tmp_path / "run" / "summary.json").read_text())["status"]


def test_nan_mid_run_freezes_at_the_last_finite_step():
  """The step guard: a loss that turns NaN at step 2 leaves the state at step 2's input."""
  config = _config()
  from stylejax.io import weights
  loaded = weights.load_vgg("vgg16-lpips")
  problem = stylize.problem_from_config(config, loaded)
  w = stylize.loss_weights(config, loaded.arch)
  image = jnp.full((40, 40, 3), 0.5)
  targets = stylize.targets(problem, loaded.params, image, [image + 0.1])
  state = optimize.init_state(problem, image, 0.05)
  args = (jnp.int32(10), loaded.params, targets, w, jnp.float32(0.05), jax.random.key(0))
  state, _ = optimize.run_chunk(problem, 2, state, *args)
  good = np.asarray(state.param)
  poisoned = {**w, "content": {**w["content"], "weight": jnp.float32(jnp.nan)}}
  state, values = optimize.run_chunk(problem, 3, state, args[0], args[1], targets, poisoned, args[4], args[5])
  assert int(state.bad_step) == 2 and int(state.step) == 2
  assert np.array_equal(np.asarray(state.param), good)
  assert np.isnan(np.asarray(values)).all()


def test_step_does_not_recompile_when_weights_or_steps_change():
  config = _config()
  from stylejax.io import weights
  loaded = weights.load_vgg("vgg16-lpips")
  problem = stylize.problem_from_config(config, loaded)
  image = jnp.full((36, 36, 3), 0.5)
  targets = stylize.targets(problem, loaded.params, image, [image * 0.5])
  state = optimize.init_state(problem, image, 0.05)
  before = None
  for i, factor in enumerate([1.0, 10.0, 1e3]):
    # every number of every term: its weight in the sum, its layer weights, the style blend
    w = jax.tree.map(lambda x, factor=factor: x * factor, stylize.loss_weights(config, loaded.arch))
    state, _ = optimize.run_chunk(problem, 2, state, jnp.int32(10 + i), loaded.params, targets, w,
                                  jnp.float32(0.01 * (i + 1)), jax.random.key(0))
    if before is None:
      before = optimize.step._cache_size()
  assert optimize.step._cache_size() == before


@pytest.mark.parametrize("overrides", [
    {"optim.init": "noise", "optim.parametrization": "sigmoid"},
    {"optim.init": "style_mean", "loss.statistic": "mean_var"},
    {"loss.statistic": "mean_cov", "loss.style_layers": "relu1_1,relu2_1"},
    {"loss.statistic": "sliced_wasserstein", "loss.n_projections": 8},
    {"preserve_color": "luminance"},
    {"preserve_color": "histogram", "loss.network.pooling": "avg", "loss.network.padding": "reflect"},
    {"multiscale.scales": (0.7, 1.0), "multiscale.coarse_steps": 3, "style_scale": 0.8},
])
def test_options_run_and_lower_the_loss(overrides):
  result = stylize.run(_config(**overrides), None, quiet=True)
  assert result.image.shape[-1] == 3 and np.isfinite(result.image).all()
  final_scale = [m for m in result.metrics if m["scale"] == 1.0]
  assert final_scale[-1]["total"] <= final_scale[0]["total"]


def test_several_styles_with_blend_weights():
  config = _config(style_blend=(3.0, 1.0))
  with config.unlocked():
    config.styles = ("starry_night", "great_wave")
  blended = stylize.run(config, None, quiet=True)
  with config.unlocked():
    config.style_blend = (1.0, 0.0)
  only_first = stylize.run(config, None, quiet=True)
  with config.unlocked():
    config.styles = ("starry_night",)
    config.style_blend = ()
  single = stylize.run(config, None, quiet=True)
  np.testing.assert_allclose(only_first.image, single.image, atol=1e-5)
  assert not np.allclose(blended.image, single.image, atol=1e-3)


def test_luminance_preservation_keeps_content_chrominance():
  from stylejax.imaging import color, images
  result = stylize.run(_config(preserve_color="luminance"), None, quiet=True)
  content = images.resize(images.load_image("chelsea"), result.image.shape[:2])
  ours, theirs = color.rgb_to_yiq(result.image), color.rgb_to_yiq(content)
  assert np.abs(ours[..., 1:] - theirs[..., 1:]).max() < 0.05  # clipping to [0,1] aside


def test_python_api():
  result = stylize.stylize("coffee", "great_wave", config="testing", **{"optim.steps": 3})
  assert result.image.shape[:2] == (32, 48) or max(result.image.shape[:2]) == 48


def test_content_noise_init_is_the_photo_plus_seeded_noise():
  config = configuration.apply_values(configuration.load_config("testing"),
                                      {"optim.init": "content_noise", "optim.init_noise": 0.1})
  content = np.random.default_rng(0).uniform(0.2, 0.8, size=(8, 9, 3)).astype(np.float32)
  a = stylize.initial_image(config, content, [content], [1.0], jax.random.key(0))
  b = stylize.initial_image(config, content, [content], [1.0], jax.random.key(1))
  assert np.abs(a - content).max() <= 0.1 + 1e-6 and np.abs(a - content).mean() > 0.02
  assert not np.array_equal(a, b)
  np.testing.assert_array_equal(a, stylize.initial_image(config, content, [content], [1.0], jax.random.key(0)))
