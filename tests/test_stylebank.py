"""StyleBank: the (T+1) alternation, bit-identical resume, no recompilation, new banks on a frozen
encoder/decoder, linear and region fusion, and bad input in one line.

One 6-step training run (module fixture) serves every test that needs a trained network.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import pytest
from PIL import Image

from stylejax import cli, configuration, devices
from stylejax.errors import StylejaxError
from stylejax.feedforward import stylebank_stylizer
from stylejax.networks import stylebank
from stylejax.training import loop


def _config(**values):
  base = {"checkpoint_every": 1, "keep_checkpoints": 10, "log_every": 1}
  return configuration.apply_values(configuration.load_config("stylebank_testing"), {**base, **values})


def _params_at(workdir: Path, step: int):
  manager = ocp.CheckpointManager((workdir / "checkpoints").absolute(), item_names=("params", "train"))
  restored = manager.restore(step, args=ocp.args.Composite(params=ocp.args.StandardRestore()))
  manager.close()
  return jax.tree.map(np.asarray, restored["params"])


def _equal(a, b) -> bool:
  return all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def _metrics(workdir: Path) -> list[dict]:
  return [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  workdir = tmp_path_factory.mktemp("stylebank") / "base"
  loop.run(_config(), workdir, quiet=True)
  return workdir


def test_stylising_and_autoencoder_steps_alternate_t_plus_1(trained):
  lines = _metrics(trained)
  assert [l["step"] for l in lines] == [1, 2, 3, 4, 5, 6]
  assert [l["autoencoder_step"] for l in lines] == [0, 0, 1, 0, 0, 1]  # T = 2: steps 2 and 5 (0-based)
  for l in lines:
    branch = "reconstruction" if l["autoencoder_step"] else "style"
    other = "style" if l["autoencoder_step"] else "reconstruction"
    assert l[branch] > 0 and l[other] == 0 and np.isfinite(l["total"])
  before_ae, after_ae, after_style = (_params_at(trained, s) for s in (2, 3, 4))
  # The auto-encoder step moves the encoder and decoder only; a stylising step moves the banks too.
  assert _equal(before_ae["banks"], after_ae["banks"])
  assert not _equal(before_ae["encoder"], after_ae["encoder"]) and not _equal(before_ae["decoder"], after_ae["decoder"])
  assert not _equal(after_ae["banks"], after_style["banks"]) and not _equal(after_ae["encoder"], after_style["encoder"])


def test_resume_is_bit_identical_and_does_not_recompile(trained, tmp_path):
  step_fn = loop.compiled_step(devices.data_mesh())
  compiled = step_fn._cache_size()
  cut = tmp_path / "cut"
  shutil.copytree(trained, cut)
  for step in (4, 5, 6):  # back to step 3, after the first auto-encoder step
    shutil.rmtree(cut / "checkpoints" / str(step))
  loop.run(_config(), cut, quiet=True)
  assert _equal(_params_at(cut, 6), _params_at(trained, 6))
  assert [(l["step"], l["total"]) for l in _metrics(cut)] == [(l["step"], l["total"]) for l in _metrics(trained)]
  assert step_fn._cache_size() == compiled  # both branches live in one compiled step, reused on resume


def test_a_new_bank_trains_with_encoder_decoder_and_old_banks_frozen(trained, tmp_path):
  config = _config(**{"network.base": str(trained), "styles": ("the_scream",), "optim.steps": 2})
  loop.run(config, tmp_path / "new", quiet=True)
  base, one, two = _params_at(trained, 6), _params_at(tmp_path / "new", 1), _params_at(tmp_path / "new", 2)
  for params in (one, two):
    assert _equal(params["encoder"], base["encoder"]) and _equal(params["decoder"], base["decoder"])
    assert _equal(jax.tree.map(lambda b: b[:2], params["banks"]), base["banks"])
  assert not _equal(jax.tree.map(lambda b: b[2:], one["banks"]), jax.tree.map(lambda b: b[2:], two["banks"]))
  assert json.loads((tmp_path / "new" / "styles.json").read_text()) == ["starry_night", "great_wave", "the_scream"]
  assert all(l["autoencoder_step"] == 0 for l in _metrics(tmp_path / "new"))  # no auto-encoder branch
  # The result is a 3-style StyleBank; its new style applies like the others.
  stylizer = stylebank_stylizer.StyleBankStylizer.load(tmp_path / "new")
  assert stylizer.n_styles == 3 and stylizer.apply([np.full((12, 12, 3), 0.5, np.float32)], "2")[0].shape == (12, 12, 3)


def test_a_base_of_another_structure_is_refused_before_anything_is_written(trained, tmp_path):
  config = _config(**{"network.base": str(trained), "styles": ("the_scream",), "network.bank_layers": 2})
  with pytest.raises(StylejaxError, match="network.bank_layers=2 differs from the base's 1"):
    loop.run(config, tmp_path / "new", quiet=True)
  with pytest.raises(StylejaxError, match="no trained network"):
    loop.run(_config(**{"network.base": str(tmp_path / "nothing")}), tmp_path / "new", quiet=True)
  assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("key,value,needle", [("network.stylize_steps", 0, "stylize_steps"),
                                              ("network.bank_kernel", 2, "odd"),
                                              ("network.bank_layers", 0, "bank_layers"),
                                              ("data.image_size", 34, "multiple of 4")])
def test_bad_network_values_are_one_line_errors(key, value, needle):
  with pytest.raises(StylejaxError, match=needle):
    loop.validate(_config(**{key: value}))


# --- fusion (the network alone, no training) ------------------------------------------------------

def _tiny():
  spec = stylebank.StyleBankSpec(n_styles=2, width_multiplier=0.125, bank_layers=1)
  return spec, stylebank.init_params(spec, jax.random.key(3))


_fuse = jax.jit(stylebank.fuse_banks)
_per_example = jax.jit(stylebank.per_example_banks)
_bank = jax.jit(stylebank.apply_bank)


def test_linear_and_region_fusion_of_banks():
  spec, params = _tiny()
  rng = np.random.default_rng(0)
  z = jnp.asarray(rng.standard_normal((1, 4, 6, spec.channels[2])).astype(np.float32))
  b0, b1 = (np.asarray(_bank(jax.tree.map(lambda b: b[k], params["banks"]), z)) for k in (0, 1))
  linear = _fuse(params["banks"], z, jnp.array([[0.3, 0.7]]))
  np.testing.assert_allclose(linear, 0.3 * b0 + 0.7 * b1, rtol=1e-5, atol=1e-6)
  left = np.zeros((1, 4, 6, 2), np.float32)
  left[:, :, :3, 0], left[:, :, 3:, 1] = 1, 1  # style 0 on the left half, style 1 on the right
  regions = np.asarray(_fuse(params["banks"], z, jnp.asarray(left)))
  np.testing.assert_allclose(regions[:, :, :3], b0[:, :, :3], rtol=1e-6, atol=1e-6)
  np.testing.assert_allclose(regions[:, :, 3:], b1[:, :, 3:], rtol=1e-6, atol=1e-6)
  none = _fuse(params["banks"], z, jnp.zeros((1, 2)))  # no style: the auto-encoder's features
  np.testing.assert_array_equal(none, z)
  # The training path (one bank per example) equals one-hot fusion.
  z2 = jnp.concatenate([z, 2 * z])
  np.testing.assert_allclose(_per_example(params["banks"], z2, jnp.array([1, 0])),
                             _fuse(params["banks"], z2, jnp.eye(2)[jnp.array([1, 0])]), rtol=1e-5, atol=1e-6)


def test_region_weights_put_each_style_on_its_band():
  mask = np.zeros((4, 8, 3), np.float32)
  mask[:, 4:] = 1.0  # dark left, light right
  w = stylebank_stylizer.region_weights(mask, (4, 8), [1, 0], n_styles=3)
  assert w.shape == (4, 8, 3) and (w[:, :4, 1] == 1).all() and (w[:, 4:, 0] == 1).all() and w.sum() == 32
  one = stylebank_stylizer.region_weights(mask, (4, 8), [2], n_styles=3)
  assert (one[:, :4] == 0).all() and (one[:, 4:, 2] == 1).all()  # one style: the dark band keeps the photo
  with pytest.raises(StylejaxError, match="one style per region"):
    stylebank_stylizer.parse_region_styles("0:0.5,1:0.5", 3)


def test_masked_apply_equals_plain_apply_where_the_mask_is_uniform():
  spec, params = _tiny()
  stylizer = stylebank_stylizer.StyleBankStylizer(spec=spec, params=params, style_names=["a", "b"], step=0)
  photo = np.random.default_rng(1).random((34, 38, 3)).astype(np.float32)  # padded to 36 x 40 and back
  dark = np.zeros((5, 5, 3), np.float32)
  np.testing.assert_allclose(stylizer.apply_regions(photo, [1, 0], dark), stylizer.apply([photo], "1")[0], atol=1e-6)
  half = stylizer.apply([photo], "0:0.5,1:0.5")[0]
  assert half.shape == photo.shape and not np.allclose(half, stylizer.apply([photo], "0")[0])


# --- the CLI ---------------------------------------------------------------------------------------

def _cli(capsys, *argv):
  code = cli.main(list(argv))
  return code, capsys.readouterr()


def test_apply_fuses_banks_and_masks_regions_through_the_cli(trained, tmp_path, capsys):
  photo, mask = tmp_path / "photo.png", tmp_path / "mask.png"
  Image.fromarray(np.random.default_rng(2).integers(0, 255, (34, 38, 3), np.uint8)).save(photo)  # as above: compiled once
  m = np.zeros((34, 38, 3), np.uint8)
  m[:, 19:] = 255
  Image.fromarray(m).save(mask)
  code, out = _cli(capsys, "apply", str(photo), "--checkpoint", str(trained), "--style", "0:0.5,1:0.5",
                   "-o", str(tmp_path / "blend.png"))
  assert code == 0 and (tmp_path / "blend.png").exists(), out.err
  code, out = _cli(capsys, "apply", str(photo), "--checkpoint", str(trained), "--style", "0,1", "--mask", str(mask),
                   "-o", str(tmp_path / "regions.png"))
  assert code == 0 and (tmp_path / "regions.png").exists(), out.err
  for argv, needle in [(["--style", "0:0.5,1:0.5", "--mask", str(mask)], "one style per region"),
                       (["--style", "7"], "out of range"),
                       (["--style", "0", "--mask", str(tmp_path / "missing.png")], "missing.png"),
                       (["--style-image", "starry_night"], "StyleBank network of fixed styles"),
                       (["--alpha", "0.5"], "--alpha goes with --style-image")]:
    code, out = _cli(capsys, "apply", str(photo), "--checkpoint", str(trained), *argv, "-o", str(tmp_path / "x.png"))
    lines = [l for l in out.err.splitlines() if l.strip()]
    assert code == 2 and len(lines) == 1 and needle in lines[0], out.err
  assert not (tmp_path / "x.png").exists()


# --- the torch twin ----------------------------------------------------------------------------------

def test_torch_twin_matches_the_network_and_one_step_of_each_branch(trained):
  """The product's compiled step (the fixture's program: no new compilation) against the twin's
  steps from the same parameters: a stylising step (step 0) and an auto-encoder step (step 2)."""
  import torch  # pylint: disable=import-outside-toplevel
  from stylejax.feedforward import data  # pylint: disable=import-outside-toplevel
  from stylejax.methods import registry  # pylint: disable=import-outside-toplevel
  from stylejax.reference import stylebank_twin, torch_twin  # pylint: disable=import-outside-toplevel

  from stylejax.methods import stylebank as method  # pylint: disable=import-outside-toplevel
  from stylejax.objectives import loss_network  # pylint: disable=import-outside-toplevel

  config = _config()
  loaded = loss_network.load_weights(config.loss)
  style_images = data.load_style_images(config.styles, config.style_size)
  problem = registry.get("stylebank").problem(config, loaded, 2)
  frozen = {"vgg": loaded.params, "targets": method.style_targets(problem, loaded.params, jnp.asarray(style_images)),
            "weights": loss_network.loss_weights(config.loss, loaded.arch)}
  mesh = devices.data_mesh()
  step_fn = loop.compiled_step(mesh)
  compiled = step_fn._cache_size()
  replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
  rows = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(devices.DATA_AXIS))
  frozen = jax.device_put(frozen, replicated)  # as the loop places them
  state0 = jax.device_put(loop.initial_state(problem, config.seed), replicated)
  content = np.random.default_rng(4).random((2, 32, 32, 3)).astype(np.float32)
  base_key = jax.random.key(5)

  loaded_vgg = torch_twin.TorchVGG.from_hwio("vgg16", jax.device_get(frozen["vgg"]),
                                             preprocess=torch_twin.Preprocess.of(problem.loss.preprocessing))
  w = jax.device_get(frozen["weights"])
  twin_loss = torch_twin.PerceptualLoss(loaded_vgg, w["content_layers"], w["style_layers"], content_weight=w["content"],
                                        style_weight=w["style"], tv_weight=w["tv"])
  targets = twin_loss.style_targets(torch_twin.to_nchw(style_images))
  params0 = jax.device_get(state0["params"])
  with torch.no_grad():  # the network, linearly fused (one photo, as the run's eval grid: compiled there)
    fused = stylebank_twin.TorchStyleBank(params0).fused(torch_twin.to_nchw(content[:1]), torch.tensor([[0.3, 0.7]]))
  ours = stylebank_stylizer._stylize(problem.spec, params0, jnp.asarray(content[:1]), jnp.array([0.3, 0.7]))
  np.testing.assert_allclose(torch_twin.to_nhwc(fused), ours, atol=2e-5)

  def both(step: int, twin_step):
    state = {**state0, "step": jax.device_put(jnp.int32(step), replicated)}
    new, terms = step_fn(problem, state, {"content": jax.device_put(content, rows)}, frozen, base_key)
    trainer = stylebank_twin.TorchStyleBankTrainer(params0, twin_loss, targets, torch_twin.to_nchw(content),
                                                   config.optim.learning_rate)
    ids = np.asarray(jax.random.randint(jax.random.fold_in(jax.random.fold_in(base_key, step), 0), (2,), 0, 2))
    twin_terms = twin_step(trainer, ids)
    moved_ours = jax.tree.map(lambda a, b: np.asarray(a) - b, jax.device_get(new["params"]), params0)
    moved_twin = jax.tree.map(lambda a, b: a - b, trainer.net.flax_tree(), params0)
    for a, b in zip(jax.tree.leaves(moved_ours), jax.tree.leaves(moved_twin)):
      # The first Adam step is about -lr * sign(g): a float32-sized difference in a near-zero gradient
      # may move an entry the other way. Allowed for 1% of the entries; the rest agree.
      near = np.isclose(a, b, rtol=1e-3, atol=1e-6)
      assert near.mean() > 0.99, (near.mean(), np.abs(a - b).max())
    return {k: float(v) for k, v in terms.items()}, twin_terms

  ours, twin = both(0, lambda t, ids: t.stylising_step(ids))
  for key in ("content", "style", "tv", "total"):
    assert abs(ours[key] - twin[key]) <= 1e-4 * abs(twin[key]) + 1e-7, (key, ours[key], twin[key])
  ours, twin = both(2, lambda t, ids: t.autoencoder_step())
  assert ours["autoencoder_step"] == 1 and abs(ours["reconstruction"] - twin) <= 1e-5 * twin
  assert step_fn._cache_size() == compiled
