"""`stylejax apply --style-image`: any painting through the pretrained arbitrary-style model."""


import jax.numpy as jnp
import numpy as np
import pytest

from stylejax.errors import StylejaxError
from stylejax.feedforward import arbitrary
from stylejax.imaging import images


@pytest.fixture(scope="module")
def stylizer():
  return arbitrary.ArbitraryStylizer()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
  folder = tmp_path_factory.mktemp("arbitrary")
  rng = np.random.default_rng(0)
  photo = images.resize(images.load_image("astronaut"), 64)
  images.save_png(photo, folder / "photo.png")
  images.save_png(rng.uniform(size=(48, 40, 3)).astype(np.float32), folder / "noise_painting.png")
  mask = np.zeros((32, 32, 3), np.float32)
  mask[:, 16:] = 1.0  # right half light
  images.save_png(mask, folder / "mask.png")
  (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff not a jpeg")
  return folder, photo


def test_weights_blend_is_the_interpolated_style(stylizer, files):
  _, photo = files
  wave, scream = images.load_image("great_wave"), images.load_image("the_scream")
  single = stylizer.apply(photo, [wave], np.ones(1, np.float32))
  assert single.shape == photo.shape and np.all((single >= 0) & (single <= 1))
  one_hot = stylizer.apply(photo, [wave, scream], np.array([1.0, 0.0], np.float32))
  np.testing.assert_allclose(one_hot, single, atol=1e-6)  # weight 0 on the second painting: no trace of it
  blend = stylizer.apply(photo, [wave, scream], np.array([0.5, 0.5], np.float32))
  assert np.abs(blend - single).mean() > 0.01


def test_alpha_moves_from_the_photos_own_style_to_the_paintings(stylizer, files):
  _, photo = files
  wave = images.load_image("great_wave")
  full = stylizer.apply(photo, [wave], np.ones(1, np.float32), alpha=1.0)
  own = stylizer.apply(photo, [stylizer_photo := photo], np.ones(1, np.float32), alpha=1.0)
  np.testing.assert_allclose(stylizer.apply(photo, [wave], np.ones(1, np.float32), alpha=0.0), own, atol=1e-5)
  half = stylizer.apply(photo, [wave], np.ones(1, np.float32), alpha=0.5)
  assert 0 < np.abs(half - own).mean() < np.abs(full - own).mean()
  del stylizer_photo


class _CountingStylizer(arbitrary.EmbeddingStylizer):
  """A stand-in model (embedding: mean colour; stylize: photo shifted by it) that counts embeddings."""

  def __init__(self):
    self.embedded = []

  def embedding(self, painting):
    self.embedded.append(painting.shape)
    return jnp.asarray(painting.reshape(-1, 3).mean(axis=0))

  def stylize(self, photo, embedding):
    return np.asarray(photo * 0.5 + np.asarray(embedding) * 0.5)


def test_each_painting_is_embedded_once_and_alpha_1_skips_the_photos_own_embedding():
  rng = np.random.default_rng(0)
  photos = [rng.uniform(size=(8, 12, 3)).astype(np.float32) for _ in range(3)]
  painting = rng.uniform(size=(10, 10, 3)).astype(np.float32)
  model, one = _CountingStylizer(), np.ones(1, np.float32)
  outs = [model.apply(photo, [painting.copy()], one) for photo in photos]  # a new array, same pixels
  assert model.embedded == [(10, 10, 3)]  # the painting once; no photo (alpha 1)
  for photo, out in zip(photos, outs):  # the same bits as mixing in the photo's own embedding at weight 0
    mixed = arbitrary._mix([model.embedding(photo), model.embedding(painting)], [0.0, 1.0])
    np.testing.assert_array_equal(out, np.clip(model.stylize(photo, mixed), 0, 1))
  model.embedded.clear()
  model.apply(photos[0], [painting], one, alpha=0.5)
  assert model.embedded == [(8, 12, 3)]  # alpha < 1 needs the photo's own; the painting is remembered
  painting[0, 0] = 1 - painting[0, 0]  # changed in place: embedded anew
  model.apply(photos[0], [painting], one)
  assert model.embedded == [(8, 12, 3), (10, 10, 3)]


def test_a_mask_puts_each_style_on_its_region(stylizer, files):
  folder, photo = files
  mask = images.load_image(str(folder / "mask.png"))
  wave, scream = images.load_image("great_wave"), images.load_image("the_scream")
  ones = np.ones(1, np.float32)
  a, b = stylizer.apply(photo, [wave], ones), stylizer.apply(photo, [scream], ones)
  both = stylizer.apply(photo, [wave, scream], np.array([0.5, 0.5], np.float32), mask=mask)
  half = photo.shape[1] // 2
  np.testing.assert_allclose(both[:, :half - 2], a[:, :half - 2], atol=1e-6)  # dark band: style 1
  np.testing.assert_allclose(both[:, half + 2:], b[:, half + 2:], atol=1e-6)  # light band: style 2
  only = stylizer.apply(photo, [wave], ones, mask=mask)
  np.testing.assert_allclose(only[:, :half - 2], photo[:, :half - 2], atol=1e-6)  # one style: dark keeps the photo


def test_bad_weights_are_clear_errors():
  assert np.allclose(arbitrary.parse_weights("3,1", 2), [0.75, 0.25])
  for spec, n in (("1", 2), ("a,b", 2), ("-1,2", 2), ("0,0", 2)):
    with pytest.raises(StylejaxError):
      arbitrary.parse_weights(spec, n)


@pytest.mark.slow
def test_cli_applies_any_painting_and_never_overwrites(files, tmp_path, cli_in_process):
  folder, _ = files
  out = tmp_path / "out"
  args = ["apply", str(folder / "photo.png"), "--style-image", str(folder / "noise_painting.png"), "--style-image", "great_wave",
          "--style-weights", "0.3,0.7", "--alpha", "0.8", "-o", str(out)]
  done = cli_in_process(*args)
  assert done.returncode == 0, done.stderr
  target = out / "photo_noise_painting+great_wave.png"
  first = target.read_bytes()
  assert images.load_image(str(target)).shape == (64, 64, 3)
  again = cli_in_process(*args)
  assert again.returncode == 2 and "--overwrite" in again.stderr and target.read_bytes() == first
  masked = cli_in_process("apply", str(folder / "photo.png"), "--style-image", "great_wave", "--mask", str(folder / "mask.png"),
                "-o", str(tmp_path / "masked"))
  assert masked.returncode == 0, masked.stderr


@pytest.mark.parametrize("extra,needle", [
    (["--style-image", "missing.jpg"], "missing.jpg"),
    (["--style-image", "BROKEN"], "broken.jpg"),
    (["--style-image", "great_wave", "--alpha", "1.5"], "--alpha"),
    (["--style-image", "great_wave", "--style-image", "the_scream", "--style-weights", "1"], "--style-weights"),
    (["--style-image", "great_wave", "--mask", "missing_mask.png"], "missing_mask.png"),
    (["--style-image", "great_wave", "--checkpoint", "somewhere"], "--checkpoint"),
    ([], "--checkpoint"),
])
def test_cli_bad_input_is_one_line_and_exit_2(files, tmp_path, extra, needle, cli_in_process):
  folder, _ = files
  extra = [str(folder / "broken.jpg") if e == "BROKEN" else e for e in extra]
  done = cli_in_process("apply", str(folder / "photo.png"), *extra, "-o", str(tmp_path / "out"))
  assert done.returncode == 2, done.stderr
  assert needle in done.stderr and len(done.stderr.strip().splitlines()) == 1
  assert not (tmp_path / "out").exists()  # nothing half-written


# --- a trained style-prediction (ghiasi) run through the same commands ---------------------------

@pytest.fixture(scope="module")
def ghiasi_run(tmp_path_factory):
  """A tiny ghiasi_tiny workdir with one checkpoint of random parameters (Flax's init of the whole
  network compiles for ~30 s on busy CPUs; the commands only need some parameters)."""
  import jax  # pylint: disable=import-outside-toplevel
  import jax.numpy as jnp
  from stylejax import configuration
  from stylejax.feedforward import data
  from stylejax.io import checkpoints
  from stylejax.methods import registry
  from stylejax.training import loop, run_config
  from stylejax.io import weights
  from stylejax.networks import style_prediction

  root = tmp_path_factory.mktemp("ghiasi") / "run"
  config = configuration.apply_values(configuration.load_config("ghiasi_tiny"), {
      "style_size": 32, "network.width_multiplier": 0.125, "network.n_residual": 1,
      "network.style_features": "alexnet", "network.embedding_dim": 8, "styles": ("great_wave", "the_scream"),
      "eval_images": ("astronaut",), "eval_size": 32})
  loop.validate(config)
  problem = registry.get(config.network.kind).problem(config, weights.load_vgg("vgg16-lpips"), 2)
  run_config.open_workdir(root, config, data.style_image_list(config.styles), overwrite=False)
  rng = np.random.default_rng(0)
  draw = lambda s: (rng.normal(0, np.sqrt(2 / np.prod(s.shape[:-1])), s.shape) if len(s.shape) > 1
                    else rng.normal(0.5, 0.5, s.shape))  # biases, the head's among them: gammas of order 1
  params = jax.tree.map(lambda s: jnp.asarray(draw(s), jnp.float32),
                        jax.eval_shape(lambda: style_prediction.init_params(problem.spec, jax.random.key(0))))
  manager = checkpoints.manager(root, keep=2, create=True)
  checkpoints.save(manager, {"params": params, "opt_state": problem.optimizer().init(params),
                                  "step": jnp.int32(2)})
  manager.wait_until_finished()
  manager.close()
  return root


def test_a_ghiasi_run_applies_any_painting_with_the_same_controls(ghiasi_run, files, tmp_path, monkeypatch, capsys):
  from stylejax import cli  # pylint: disable=import-outside-toplevel
  from stylejax.methods import registry

  folder, photo = files
  opened = registry.open_checkpoint(ghiasi_run / "checkpoints")
  assert opened.kind == "ghiasi" and opened.arbitrary and opened.paintings == ("great_wave", "the_scream")
  model = opened.load()
  wave, noise = images.load_image("great_wave"), images.load_image(str(folder / "noise_painting.png"))
  one = np.ones(1, np.float32)
  single = model.apply(photo, [wave], one)
  assert single.shape == photo.shape and single.std() > 1e-3
  tol = 1e-4  # paintings embedded one or two at a time: differently fused programs
  np.testing.assert_allclose(model.apply(photo, [wave, noise], np.array([1.0, 0.0], np.float32)), single, atol=tol)
  assert np.abs(model.apply(photo, [noise], one) - single).mean() > 1e-4
  own = model.apply(photo, [wave], one, alpha=0.0)  # alpha 0: the photo's own embedding
  np.testing.assert_allclose(model.apply(photo, [noise], one, alpha=0.0), own, atol=tol)
  masked = model.apply(photo, [wave], one, mask=images.load_image(str(folder / "mask.png")))
  np.testing.assert_array_equal(masked[:, :30], photo[:, :30])  # one painting: the dark band keeps the photo

  monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")  # what runtime.configure would set
  out = tmp_path / "out"
  code = cli.main(["apply", str(folder / "photo.png"), "--checkpoint", str(ghiasi_run), "--style-image", "great_wave",
                   "--style-image", str(folder / "noise_painting.png"), "--style-weights", "1,3", "--alpha", "0.7", "-o", str(out)])
  assert code == 0, capsys.readouterr().err
  assert images.load_image(str(out / "photo_great_wave+noise_painting.png")).shape == photo.shape
  code = cli.main(["grid", "--checkpoint", str(ghiasi_run), "--size", "32", "-o", str(tmp_path / "g.png")])
  assert code == 0, capsys.readouterr().err
  assert images.load_image(str(tmp_path / "g.png")).shape == (32 * 2, 32 * 3, 3)  # paintings' row + astronaut
  code = cli.main(["apply", str(folder / "photo.png"), "--checkpoint", str(ghiasi_run), "-o", str(tmp_path / "none")])
  err = capsys.readouterr().err
  assert code == 2 and "--style-image" in err and len(err.strip().splitlines()) == 1
