"""Training the multi-style network: data, mock_data smoke run, resume after SIGKILL, sharding, NaN."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import pytest
import tensorflow_datasets as tfds

from stylejax import configuration
from stylejax.errors import NonFiniteLoss
from stylejax.feedforward import data
from stylejax.methods import cin, registry
from stylejax.objectives import loss_network
from stylejax.training import loop
from stylejax.imaging import images
from stylejax.io import weights
from stylejax.errors import StylejaxError

REPO = Path(__file__).resolve().parent.parent


def write_photos(folder: Path, n: int = 3, corrupt: int = 0) -> Path:
  folder.mkdir(parents=True, exist_ok=True)
  rng = np.random.default_rng(0)
  for i in range(n):
    images.save_png(rng.uniform(size=(40 + 7 * i, 50, 3)).astype(np.float32), folder / f"photo{i}.png")
  for i in range(corrupt):
    (folder / f"broken{i}.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
  return folder


def cin_testing_config(**values):
  return configuration.apply_values(configuration.load_config("cin_testing"), values)


# --- data ---------------------------------------------------------------------------------------

def test_folder_dataset_skips_corrupt_images_and_logs_once(tmp_path, caplog):
  folder = write_photos(tmp_path / "photos", n=3, corrupt=2)
  with caplog.at_level(logging.WARNING, logger="stylejax.feedforward.data"):
    source = data.prepare_folder(folder, max_side=64)
    again = data.prepare_folder(folder, max_side=64)  # cached: not rebuilt, not logged again
  assert len(source) == 3 and len(again) == 3
  skipped = [r for r in caplog.records if "skipped" in r.getMessage()]
  assert len(skipped) == 1 and "2 unreadable" in skipped[0].getMessage()
  assert max(np.asarray(source[0]["image"]).shape[:2]) <= 64


def test_empty_or_missing_content_is_a_clear_error(tmp_path):
  (tmp_path / "empty").mkdir()
  write_photos(tmp_path / "bad", n=0, corrupt=1)
  for spec, needle in [(f"folder:{tmp_path}/empty", "no readable images"),
                       (f"folder:{tmp_path}/bad", "no readable images"),
                       (f"folder:{tmp_path}/missing", "does not exist"),
                       (f"tfds:not_a_dataset/1", "not prepared"), ("imagenet", "must be")]:
    with pytest.raises(StylejaxError, match=needle):
      data.open_source(spec, tfds_data_dir=str(tmp_path / "tfds"))


def test_prepared_tfds_dataset_reads_without_its_code(tmp_path):
  """The `tfds:NAME` path (how coco/2014 is read) opens a prepared array_record dataset by name."""
  folder = write_photos(tmp_path / "photos", n=2)
  data.prepare_folder(folder, max_side=64)
  prepared = next(weights.cache_dir().glob("tfds/photos-*"))
  source = data.open_source("tfds:content_folder", tfds_data_dir=str(prepared))
  assert len(source) == 2 and np.asarray(source[1]["image"]).shape[-1] == 3


def test_training_stream_is_a_pure_function_of_seed_and_index(tmp_path):
  source = data.prepare_folder(write_photos(tmp_path / "photos", n=3), max_side=64)
  a, b = data.training_images(source, 24, seed=1), data.training_images(source, 24, seed=1)
  c = data.training_images(source, 24, seed=2)
  assert a[5].shape == (24, 24, 3) and a[5].dtype == np.float32
  np.testing.assert_array_equal(a[5], b[5])
  np.testing.assert_array_equal(a[7], a[7])
  assert any(not np.array_equal(a[i], c[i]) for i in range(4))
  stream = data.batches(a, batch_size=4, start_step=2, num_steps=4)
  first = next(stream)
  np.testing.assert_array_equal(first, np.stack([a[8 + i] for i in range(4)]))  # step 2, rows 8..11
  half = next(data.batches(a, batch_size=4, start_step=2, num_steps=3, process_index=1, process_count=2))
  np.testing.assert_array_equal(half, first[2:])  # host 1 of 2 reads the second half of the rows


def test_style_images_from_a_folder(tmp_path):
  write_photos(tmp_path / "styles", n=2)
  styles = data.load_style_images(str(tmp_path / "styles"), 32)
  assert styles.shape == (2, 32, 32, 3)
  with pytest.raises(StylejaxError):
    data.load_style_images([str(tmp_path / "nope.jpg")], 32)


def test_paintings_from_a_prepared_tfds_dataset(tmp_path, isolated_cache):
  # A folder prepared once is an array_record tfds dataset: the form a large painting collection takes.
  data.prepare_folder(write_photos(tmp_path / "paintings", n=3), max_side=64)
  (prepared,) = (isolated_cache / "tfds").iterdir()
  assert data.style_image_list("tfds:content_folder") == ["tfds:content_folder"]
  source = data.open_style_source(("tfds:content_folder",), max_side=64, tfds_data_dir=str(prepared))
  folder = data.open_style_source(f"folder:{tmp_path / 'paintings'}", max_side=64)
  assert len(source) == len(folder) == 3
  np.testing.assert_array_equal(source[1]["image"], folder[1]["image"])
  with pytest.raises(StylejaxError, match="not prepared"):
    data.open_style_source("tfds:no_such_paintings", tfds_data_dir=str(tmp_path))
  config = cin_testing_config(**{"styles": "tfds:content_folder"})
  with pytest.raises(StylejaxError, match="arbitrary-style methods"):
    loop.run(config, tmp_path / "run", quiet=True)
  assert not (tmp_path / "run").exists()


# --- training -----------------------------------------------------------------------------------

def test_two_steps_on_mock_data_lower_the_loss_and_write_the_workdir(tmp_path):
  config = cin_testing_config(**{"optim.steps": 2, "checkpoint_every": 1, "log_every": 1,
                             "optim.learning_rate": 0.01, "data.content": f"folder:{write_photos(tmp_path / 'p', 1)}",
                             "eval_every": 2})
  with tfds.testing.mock_data(num_examples=8, policy=tfds.testing.MockPolicy.USE_CODE):
    result = loop.run(config, tmp_path / "run", quiet=True)
    source = data.open_source(config.data.content, max_side=96)
  work = tmp_path / "run"
  assert json.loads((work / "config.json").read_text())["optim"]["steps"] == 2
  lines = [json.loads(l) for l in (work / "metrics.jsonl").read_text().splitlines()]
  assert [l["step"] for l in lines] == [1, 2] and all(np.isfinite(l["total"]) for l in lines)
  assert sorted(p.name for p in (work / "checkpoints").iterdir() if p.name.isdigit()) == ["1", "2"]
  assert (work / "eval" / "grid_000002.png").exists() and list((work / "tensorboard").glob("events.*"))
  # the loss on one fixed batch, before and after the two steps
  loaded = weights.load_vgg("vgg16-lpips")
  problem = registry.get(config.network.kind).problem(config, loaded, 2)
  batch = jnp.asarray(np.stack([data.training_images(source, 32, 0)[i] for i in range(4)]))
  targets = cin.style_targets(problem, loaded.params, jnp.asarray(data.load_style_images(config.styles, 48)))
  batch_loss = jax.jit(cin.batch_loss, static_argnums=0)  # eager, the two calls took ~15 s
  loss = lambda params: float(batch_loss(problem, params, loaded.params, batch, jnp.array([0, 1, 0, 1]),
                                         targets, loss_network.loss_weights(config.loss, "vgg16"), jax.random.key(0))[0])
  assert loss(result.state["params"]) < loss(loop.initial_state(problem, config.seed)["params"])


def test_tensorboard_files_hold_scalars_and_the_eval_grid(tmp_path):
  from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

  config = cin_testing_config(**{"optim.steps": 2, "log_every": 1, "checkpoint_every": 2})
  loop.run(config, tmp_path / "run", quiet=True)
  events = EventAccumulator(str(tmp_path / "run" / "tensorboard"), size_guidance={"images": 0})
  events.Reload()
  assert [e.step for e in events.Scalars("total")] == [1, 2]
  grid = events.Images("eval/photos_x_styles")[-1]
  assert grid.step == 2 and (grid.height, grid.width) == (32, 32 * 3)  # 1 photo x (itself + 2 styles)


def test_train_step_does_not_recompile(tmp_path):
  config = cin_testing_config()
  loaded = weights.load_vgg("vgg16-lpips")
  problem = registry.get(config.network.kind).problem(config, loaded, 2)
  mesh = jax.sharding.Mesh(np.asarray(jax.devices()[:1]), ("data",))
  step = loop.compiled_step(mesh)
  state = jax.device_put(loop.initial_state(problem, 0), jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec()))
  targets = cin.style_targets(problem, loaded.params, jnp.asarray(data.load_style_images(config.styles, 48)))
  w = loss_network.loss_weights(config.loss, "vgg16")
  rng = np.random.default_rng(0)
  for i in range(3):
    batch = jnp.asarray(rng.uniform(size=(4, 32, 32, 3)).astype(np.float32))
    state, _ = step(problem, state, {"content": batch}, {"vgg": loaded.params, "targets": targets, "weights": w},
                    jax.random.key(0))
    if i == 0:
      compiled = step._cache_size()
  w = loss_network.loss_weights(cin_testing_config(**{"loss.style_weight": 7.0}).loss, "vgg16")  # weights are arrays
  step(problem, state, {"content": batch}, {"vgg": loaded.params, "targets": targets, "weights": w}, jax.random.key(0))
  assert step._cache_size() == compiled and int(state["step"]) == 3


def test_nan_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
  real_batches = data.batches

  def poisoned(*args, **kwargs):  # the batch of step 3 (the fourth) is NaN
    for i, batch in enumerate(real_batches(*args, **kwargs)):
      yield np.full_like(batch, np.nan) if i == 3 else batch
  monkeypatch.setattr(data, "batches", poisoned)
  with pytest.raises(NonFiniteLoss, match=r"at step 4.*last good checkpoint is step 2"):
    loop.run(cin_testing_config(), tmp_path / "run", quiet=True)
  steps = sorted(int(p.name) for p in (tmp_path / "run" / "checkpoints").iterdir() if p.name.isdigit())
  assert steps == [2]


def test_workdir_with_another_config_is_refused(tmp_path):
  loop.run(cin_testing_config(**{"optim.steps": 2}), tmp_path / "run", quiet=True)
  before = (tmp_path / "run" / "config.json").read_text()
  with pytest.raises(StylejaxError, match="another config.*loss.style_weight"):
    loop.run(cin_testing_config(**{"optim.steps": 2, "loss.style_weight": 5.0}), tmp_path / "run", quiet=True)
  assert (tmp_path / "run" / "config.json").read_text() == before
  again = loop.run(cin_testing_config(**{"optim.steps": 2}), tmp_path / "run", quiet=True)  # same config: resumes
  assert int(again.state["step"]) == 2


def test_a_workdir_from_before_a_new_base_field_still_resumes(tmp_path):
  loop.run(cin_testing_config(**{"optim.steps": 2}), tmp_path / "run", quiet=True)
  saved = json.loads((tmp_path / "run" / "config.json").read_text())
  del saved["network"]["kind"]  # as written before network.kind existed
  (tmp_path / "run" / "config.json").write_text(json.dumps(saved))
  again = loop.run(cin_testing_config(**{"optim.steps": 2}), tmp_path / "run", quiet=True)
  assert int(again.state["step"]) == 2
  with pytest.raises(StylejaxError, match="another config.*data.crop_scale"):  # a non-default value is a change
    loop.run(cin_testing_config(**{"optim.steps": 2, "data.crop_scale": (1.0, 2.0)}), tmp_path / "run", quiet=True)


def _params_at(workdir: Path, step: int):
  manager = ocp.CheckpointManager((workdir / "checkpoints").absolute(), item_names=("params", "train"))
  restored = manager.restore(step, args=ocp.args.Composite(params=ocp.args.StandardRestore()))
  manager.close()
  return restored["params"]


_SIGKILL_RUN = {"optim.steps": 8, "checkpoint_every": 2}  # the SIGKILL test's runs, in and out of process


def _train_command(workdir: Path):
  sets = [arg for key, value in _SIGKILL_RUN.items() for arg in ("--set", f"{key}={value}")]
  return [sys.executable, "-m", "stylejax.cli", "train", "--config", "cin_testing", "--workdir", str(workdir),
          "--quiet", *sets]


@pytest.mark.slow
def test_resume_after_sigkill_is_bit_identical(tmp_path):
  env = {**os.environ, "JAX_PLATFORMS": "cpu"}
  # The uninterrupted reference runs in this process, whose XLA flags the training processes inherit
  # (so the programs compile alike); the killed and the resumed runs are real `stylejax train` processes.
  loop.run(cin_testing_config(**_SIGKILL_RUN), tmp_path / "ref", quiet=True)

  killed = subprocess.Popen(_train_command(tmp_path / "run"), env=env, cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  deadline = time.time() + 600
  while not (tmp_path / "run" / "checkpoints" / "4").exists() and killed.poll() is None and time.time() < deadline:
    time.sleep(0.05)
  killed.send_signal(signal.SIGKILL)  # mid-run: after checkpoint 4 appeared, maybe while writing 6
  killed.wait()
  assert killed.returncode == -signal.SIGKILL
  resumed = subprocess.run(_train_command(tmp_path / "run"), env=env, capture_output=True, text=True,
                           timeout=600, cwd=REPO)
  assert resumed.returncode == 0, resumed.stderr[-2000:]

  a, b = _params_at(tmp_path / "ref", 8), _params_at(tmp_path / "run", 8)
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
  metrics = lambda d: [(l["step"], l["total"]) for l in map(json.loads, (d / "metrics.jsonl").read_text().splitlines())]
  assert metrics(tmp_path / "run") == metrics(tmp_path / "ref")  # no duplicated or missing lines


@pytest.mark.slow
def test_data_parallel_over_4_devices_equals_one_device():
  script = textwrap.dedent("""
      import jax, jax.numpy as jnp, numpy as np
      from jax.sharding import Mesh, NamedSharding, PartitionSpec
      from stylejax import configuration
      from stylejax.feedforward import data
      from stylejax.io import weights
      from stylejax.methods import cin, registry
      from stylejax.objectives import loss_network
      from stylejax.training import loop
      assert len(jax.devices()) == 4
      config = configuration.load_config("cin_testing")
      loaded = weights.load_vgg("vgg16-lpips")
      problem = registry.get(config.network.kind).problem(config, loaded, 2)
      targets = cin.style_targets(problem, loaded.params, jnp.asarray(data.load_style_images(config.styles, 48)))
      w = loss_network.loss_weights(config.loss, "vgg16")
      batch = np.random.default_rng(0).uniform(size=(4, 32, 32, 3)).astype(np.float32)
      results = []
      for devices in (jax.devices()[:1], jax.devices()):
        mesh = Mesh(np.asarray(devices), ("data",))
        state = jax.device_put(loop.initial_state(problem, 0), NamedSharding(mesh, PartitionSpec()))
        sharded = jax.device_put(batch, NamedSharding(mesh, PartitionSpec("data")))
        assert len(sharded.sharding.device_set) == len(devices)
        terms = []
        for _ in range(3):
          state, step_terms = loop.compiled_step(mesh)(problem, state, {"content": sharded},
                                                       {"vgg": loaded.params, "targets": targets, "weights": w}, jax.random.key(0))
          terms.append({k: float(v) for k, v in step_terms.items()})
        results.append(terms)
      one, four = results
      # the first step: the loss and the gradient's norm at the same initial parameters, up to float
      # reduction order; an un-averaged gradient (a quarter batch) is off by percents
      np.testing.assert_allclose(four[0]["total"], one[0]["total"], rtol=1e-5)
      np.testing.assert_allclose(four[0]["grad_norm"], one[0]["grad_norm"], rtol=1e-5)
      np.testing.assert_allclose([t["total"] for t in four], [t["total"] for t in one], rtol=1e-4)  # 3 steps
      print("OK", one[0]["total"], four[0]["total"])
  """)
  # conftest's fast-compile flags, all of them. With XLA:CPU's newer fusion emitters at
  # --xla_backend_optimization_level=0, the 4-device gradients drifted 8e-4 from the 1-device ones on
  # an AMD EPYC; with the loop emitters conftest now picks, they agree to float reduction order at
  # every level (total 2.9e4 both, rel. 3e-7), and this test takes 16 s alone instead of 50 s.
  env = {**os.environ, "XLA_FLAGS": f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count=4",
         "JAX_PLATFORMS": "cpu"}
  result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600, cwd=REPO)
  assert result.returncode == 0 and "OK" in result.stdout, result.stderr[-3000:]


def test_batch_must_split_over_devices_and_bad_values_are_errors(tmp_path):
  with pytest.raises(StylejaxError, match="data.image_size"):
    loop.validate(cin_testing_config(**{"data.image_size": 30}))
  with pytest.raises(StylejaxError, match="optim.schedule"):
    loop.validate(cin_testing_config(**{"optim.schedule": "linear"}))
  with pytest.raises(StylejaxError, match="one style"):
    loop.validate(cin_testing_config(**{"network.conditional": False}))
  assert not (tmp_path / "run").exists()
