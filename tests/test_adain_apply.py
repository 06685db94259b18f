"""`stylejax apply` / `grid` with AdaIN: a training workdir and the published release's files."""

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from stylejax import cli, configuration
from stylejax.errors import StylejaxError
from stylejax.feedforward import adain_stylizer, arbitrary, data, transfer
from stylejax.io import checkpoints
from stylejax.methods import registry
from stylejax.training import loop, run_config
from stylejax.imaging import color, crops, images
from stylejax.io import weights
from stylejax.networks import adain
from stylejax.reference import torch_twin
from stylejax.reference.torch_twin import to_nchw, to_nhwc

STEP = 3
TOL = 1e-4  # two XLA programs for the same sums (eager vs jit, fused differently), outputs of order 1


def _random_decoder(spec):
  """He-normal kernels, small biases: what Flax's init gives, without compiling it (~20 s on busy CPUs)."""
  rng = np.random.default_rng(1)
  like = jax.eval_shape(lambda: adain.init_params(spec, jax.random.key(0)))
  draw = lambda s: (rng.normal(0, np.sqrt(2 / np.prod(s.shape[:-1])), s.shape) if len(s.shape) == 4
                    else rng.normal(0, 0.01, s.shape))
  return jax.tree.map(lambda s: jnp.asarray(draw(s), jnp.float32), like)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
  """An adain_tiny run at a tiny width with one checkpoint (a random decoder, saved as step 3)."""
  root = tmp_path_factory.mktemp("adain") / "run"
  config = configuration.apply_values(configuration.load_config("adain_tiny"), {
      "network.width_multiplier": 0.125, "style_size": 32, "styles": ("great_wave", "the_scream"),
      "eval_images": ("astronaut",), "eval_size": 32})
  loop.validate(config)
  problem = registry.get(config.network.kind).problem(config, weights.load_vgg("vgg16-lpips"), 2)
  run_config.open_workdir(root, config, data.style_image_list(config.styles), overwrite=False)
  params = _random_decoder(problem.spec)
  state = {"params": params, "opt_state": problem.optimizer().init(params), "step": jnp.int32(STEP)}
  manager = checkpoints.manager(root, keep=2, create=True)
  checkpoints.save(manager, state)
  manager.wait_until_finished()
  manager.close()
  return root, state["params"]


@pytest.fixture(scope="module")
def model(workdir):
  return adain_stylizer.AdainStylizer.from_workdir(workdir[0])


@pytest.fixture(scope="module")
def files(tmp_path_factory):
  folder = tmp_path_factory.mktemp("inputs")
  rng = np.random.default_rng(0)
  images.save_png(images.resize(images.load_image("astronaut"), (40, 48)), folder / "photo.png")
  images.save_png(rng.uniform(size=(48, 40, 3)).astype(np.float32), folder / "noise.png")
  stripes = np.zeros((48, 40, 3), np.float32)
  stripes[::8] = (0.9, 0.3, 0.1)  # another painting of the same size: one compiled program for both
  images.save_png(stripes + 0.05, folder / "stripes.png")
  mask = np.zeros((32, 32, 3), np.float32)
  mask[:, 16:] = 1.0  # right half light
  images.save_png(mask, folder / "mask.png")
  (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff not a jpeg")
  (folder / "cin" / "checkpoints").mkdir(parents=True)  # enough for `apply` to know the kind
  (folder / "cin" / "config.json").write_text(json.dumps({"network": {"kind": "cin"}}))
  return folder


@pytest.fixture(scope="module")
def release(tmp_path_factory):
  """The release's two files, as torch.save writes them, with random weights."""
  folder = tmp_path_factory.mktemp("release")
  torch.manual_seed(0)
  encoder, decoder = torch_twin.adain_vgg_sequential().eval(), torch_twin.adain_decoder_sequential().eval()
  with torch.no_grad():  # the release's input conv: RGB [0, 1] -> BGR 0-255 minus the mean pixel
    encoder[0].weight.copy_(torch.eye(3)[[2, 1, 0]].view(3, 3, 1, 1) * 255.0)
    encoder[0].bias.copy_(-torch.tensor([103.939, 116.779, 123.68]))
  torch.save(encoder.state_dict(), str(folder / "vgg_normalised.pth"))
  torch.save(decoder.state_dict(), str(folder / "decoder.pth"), _use_new_zipfile_serialization=False)
  return folder, encoder, decoder


def _photo(files):
  return images.load_image(str(files / "photo.png"))


def _paintings(files):
  return images.load_image(str(files / "noise.png")), images.load_image(str(files / "stripes.png"))


def _cli(monkeypatch, capsys, *args):
  monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")  # what runtime.configure would set, undone after the test
  code = cli.main([str(a) for a in args])
  return code, capsys.readouterr()


# --- the Python API ----------------------------------------------------------------------------

def test_a_workdir_loads_its_checkpoint_and_stylizes_like_adain_stylize(workdir, model, files):
  _, params = workdir
  assert model.source.endswith(f"step {STEP}") and model.net.arch == "vgg16" and model.style_side == 40
  photo, wave = _photo(files), images.load_image("great_wave")
  out = model.apply(photo, [wave], np.ones(1, np.float32))
  assert out.shape == photo.shape and 0 <= out.min() and out.max() <= 1 and out.std() > 1e-3
  painting = model.painting(wave)
  assert min(painting.shape[:2]) == 40 and painting.shape != wave.shape  # style_size 32 x the mean crop scale 1.25
  expected = jax.jit(adain.stylize, static_argnames=("net", "spec"))(  # eager: ~130 small compiles
      params, model.vgg_params, jnp.asarray(photo), jnp.asarray(painting), net=model.net, spec=model.spec)
  np.testing.assert_allclose(out, np.asarray(expected), atol=TOL)


def test_blend_alpha_mask_and_colour_controls(model, files):
  photo, (wave, scream) = _photo(files), _paintings(files)
  one, ends = np.ones(1, np.float32), np.array([1.0, 0.0], np.float32)
  single = model.apply(photo, [wave], one)
  np.testing.assert_allclose(model.apply(photo, [wave, scream], ends), single, atol=TOL)  # no trace of weight 0
  blend = model.apply(photo, [wave, scream], np.array([0.5, 0.5], np.float32))
  assert np.abs(blend - single).mean() > 1e-3
  # alpha 0 decodes the photo's own features: the painting no longer matters
  own = model.apply(photo, [wave], one, alpha=0.0)
  np.testing.assert_allclose(model.apply(photo, [scream], one, alpha=0.0), own, atol=TOL)
  decoded = jax.jit(lambda v, d, x: adain.decode(model.spec, d, adain.encode(v, model.net, x)[adain.CONTENT_LAYER]))(
      model.vgg_params, model.decoder_params, jnp.asarray(photo))
  np.testing.assert_allclose(own, np.clip(np.asarray(decoded), 0, 1), atol=TOL)
  # a mask: all dark -> painting 1 everywhere, all light -> painting 2; one painting: dark keeps the photo's features
  dark, light = np.zeros((8, 8, 3), np.float32), np.ones((8, 8, 3), np.float32)
  np.testing.assert_allclose(model.apply(photo, [wave, scream], ends, mask=dark), single, atol=TOL)
  np.testing.assert_allclose(model.apply(photo, [wave, scream], ends, mask=light),
                             model.apply(photo, [scream], one), atol=TOL)
  np.testing.assert_allclose(model.apply(photo, [wave], one, mask=dark), own, atol=TOL)
  half = model.apply(photo, [wave, scream], ends, mask=images.load_image(str(files / "mask.png")))
  assert np.abs(half - single).mean() > 1e-4 and np.abs(half - model.apply(photo, [scream], one)).mean() > 1e-4
  # colour: the painting takes the photo's colours first (the paper's colour control)
  matched = color.match_histogram(model.painting(wave), photo)
  np.testing.assert_allclose(model.apply(photo, [wave], one, preserve_color=True),
                             model.apply(photo, [matched], one), atol=TOL)
  with pytest.raises(StylejaxError, match="--alpha"):
    model.apply(photo, [wave], one, alpha=-0.1)


def test_grids_photos_x_paintings_and_strips(model, files, tmp_path):
  photo, noise, stripes = (str(files / f) for f in ("photo.png", "noise.png", "stripes.png"))
  grid = arbitrary.grid_to_file([photo, "astronaut"], [noise, stripes], tmp_path / "g.png", size=32,
                                model=lambda: model)
  assert grid.shape == (32 * 3, 32 * 3, 3)  # the paintings' row, then each photo and its stylizations
  assert images.load_image(str(tmp_path / "g.png")).shape == grid.shape
  np.testing.assert_array_equal(grid[:32, :32], 1.0)  # the white corner
  alpha = arbitrary.grid_to_file([photo], [noise, stripes], tmp_path / "a.png", size=32,
                                 alpha_strip_weights="0.5,0.5", steps=3, model=lambda: model)
  assert alpha.shape == (32, 32 * 4, 3)
  cell = crops.square(images.load_image(photo), 32)
  own = model.apply(cell, [_paintings(files)[0]], np.ones(1, np.float32), alpha=0.0)
  np.testing.assert_allclose(alpha[:, 32:64], own, atol=TOL)  # alpha 0: the photo's own features
  strip = arbitrary.grid_to_file([photo], [noise, stripes], tmp_path / "i.png", size=32,
                                 interpolate=("0", "1"), steps=4, model=lambda: model)
  assert strip.shape == (32, 32 * 5, 3)
  with pytest.raises(StylejaxError, match="exists"):
    arbitrary.grid_to_file([photo], [noise], tmp_path / "g.png", size=32, model=lambda: model)
  with pytest.raises(StylejaxError, match="out of range: the list of paintings has 2"):
    arbitrary.grid_to_file([photo], [noise, stripes], tmp_path / "x.png", size=32,
                           interpolate=("0", "2"), model=lambda: model)
  assert not (tmp_path / "x.png").exists()


# --- the release's files -----------------------------------------------------------------------

def test_the_release_files_stylize_as_the_release_does(release):
  folder, encoder, decoder = release
  opened = registry.open_checkpoint(folder / "decoder.pth")
  assert opened.kind == registry.RELEASE and opened.arbitrary
  model = opened.load()
  assert model.style_side == 512 and model.net.arch == "vgg19" and model.net.padding == "reflect"
  model = dataclasses.replace(model, style_side=32)  # small, for the test's sake
  rng = np.random.default_rng(3)
  content, painting = rng.random((32, 48, 3), np.float32), rng.random((40, 80, 3), np.float32)
  style = model.painting(painting)
  assert style.shape == (32, 64, 3)
  out = model.apply(content, [painting], np.ones(1, np.float32))
  with torch.no_grad():  # the release's test.py: decoder(adain(vgg(content), vgg(style))), clipped when saved
    t = torch_twin.adain(encoder[:31](to_nchw(content[None])), encoder[:31](to_nchw(style[None])))
    expected = to_nhwc(decoder(t).clamp(0, 1))[0]
  assert torch_twin.relative_max(out, expected) < 1e-4


def test_the_release_encoder_is_found_beside_the_decoder_or_named(release, files, tmp_path, monkeypatch, capsys):
  folder, _, _ = release
  monkeypatch.setattr(adain_stylizer, "RELEASE_STYLE_SIDE", 32)
  lone = tmp_path / "lone"
  lone.mkdir()
  (lone / "decoder.pth").write_bytes((folder / "decoder.pth").read_bytes())
  args = ["apply", files / "photo.png", "--checkpoint", lone / "decoder.pth", "--style-image", "great_wave"]
  code, out = _cli(monkeypatch, capsys, *args, "-o", tmp_path / "out")
  assert code == 2 and "--encoder" in out.err and len(out.err.strip().splitlines()) == 1
  assert not (tmp_path / "out").exists()
  raw = (folder / "decoder.pth").read_bytes()
  (lone / "decoder.pth").write_bytes(raw[:len(raw) // 2])
  code, out = _cli(monkeypatch, capsys, *args, "--encoder", folder / "vgg_normalised.pth", "-o", tmp_path / "out")
  assert code == 2 and "truncated" in out.err and len(out.err.strip().splitlines()) == 1
  assert not (tmp_path / "out").exists()
  (lone / "decoder.pth").write_bytes(raw)
  code, out = _cli(monkeypatch, capsys, *args, "--encoder", folder / "vgg_normalised.pth", "-o", tmp_path / "out")
  assert code == 0, out.err
  assert images.load_image(str(tmp_path / "out" / "photo_great_wave.png")).shape == (40, 48, 3)


# --- the command line --------------------------------------------------------------------------

def test_cli_applies_blends_and_masks_and_never_overwrites(workdir, files, tmp_path, monkeypatch, capsys):
  run, _ = workdir
  out = tmp_path / "out"
  args = ["apply", files / "photo.png", "--checkpoint", run, "--style-image", files / "noise.png",
          "--style-image", files / "stripes.png", "--style-weights", "0.3,0.7", "--alpha", "0.8", "-o", out]
  code, captured = _cli(monkeypatch, capsys, *args)
  assert code == 0, captured.err
  target = out / "photo_noise+stripes.png"
  first = target.read_bytes()
  assert images.load_image(str(target)).shape == (40, 48, 3)
  code, captured = _cli(monkeypatch, capsys, *args)
  assert code == 2 and "--overwrite" in captured.err and target.read_bytes() == first
  code, captured = _cli(monkeypatch, capsys, *args[:-4], "--alpha", "0", "--overwrite", "-o", out)
  assert code == 0 and target.read_bytes() != first, captured.err
  code, captured = _cli(monkeypatch, capsys, "apply", files / "photo.png", "--checkpoint", run / "checkpoints",
                        "--style-image", files / "noise.png", "--style-image", files / "stripes.png", "--mask", files / "mask.png",
                        "--preserve-color",
                        "--step", STEP, "-o", tmp_path / "masked")
  assert code == 0, captured.err
  assert (tmp_path / "masked" / "photo_noise+stripes.png").exists()


def test_cli_grid_defaults_to_the_runs_photos_and_paintings(workdir, files, tmp_path, monkeypatch, capsys):
  run, _ = workdir
  code, captured = _cli(monkeypatch, capsys, "grid", "--checkpoint", run, "-o", tmp_path / "g.png", "--size", 32)
  assert code == 0, captured.err
  assert images.load_image(str(tmp_path / "g.png")).shape == (32 * 2, 32 * 3, 3)  # astronaut x 2 paintings
  code, captured = _cli(monkeypatch, capsys, "grid", files / "photo.png", "--checkpoint", run, "--alpha-strip",
                        "--steps", 3, "-o", tmp_path / "a.png", "--size", 32)
  assert code == 0 and images.load_image(str(tmp_path / "a.png")).shape == (32, 32 * 4, 3), captured.err


@pytest.mark.parametrize("extra,needle", [
    (["--checkpoint", "RUN"], "--style-image"),
    (["--checkpoint", "CIN", "--style-image", "great_wave"], "CIN network"),
    (["--checkpoint", "CIN", "--alpha", "0"], "--alpha"),
    (["--checkpoint", "RUN", "--style-image", "great_wave", "--style-image", "the_scream", "--style-weights", "1"], "--style-weights"),
    (["--checkpoint", "RUN", "--style-image", "great_wave", "--style-image", "the_scream", "--style-weights", "1,1",
      "--mask", "MASK"], "--mask"),
    (["--checkpoint", "RUN", "--style-image", "missing.jpg"], "missing.jpg"),
    (["--checkpoint", "RUN", "--style-image", "BROKEN"], "broken.jpg"),
    (["--checkpoint", "RUN", "--style-image", "great_wave", "--mask", "BROKEN"], "broken.jpg"),
    (["--checkpoint", "RUN", "--style-image", "great_wave", "--alpha", "1.5"], "--alpha"),
    (["--checkpoint", "RUN", "--style-image", "great_wave", "--style", "1"], "--style"),
    (["--checkpoint", "RUN", "--style-image", "great_wave", "--encoder", "vgg.pth"], "--encoder"),
    (["--checkpoint", "RUN", "--style-image", "great_wave", "--step", "99"], "no checkpoint at step 99"),
    (["--checkpoint", "RUN", "--style-image", "great_wave", "--size", "8"], "16 px"),
])
def test_cli_bad_input_is_one_line_and_exit_2(workdir, files, tmp_path, monkeypatch, capsys, extra, needle):
  names = {"RUN": workdir[0], "CIN": files / "cin", "BROKEN": files / "broken.jpg", "MASK": files / "mask.png"}
  extra = [names.get(e, e) for e in extra]
  code, captured = _cli(monkeypatch, capsys, "apply", files / "photo.png", *extra, "-o", tmp_path / "out")
  assert code == 2, captured.err
  lines = captured.err.strip().splitlines()
  assert len(lines) == 1 and needle in lines[0], captured.err
  assert not (tmp_path / "out").exists()  # nothing half-written
