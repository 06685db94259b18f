"""`stylejax apply --style-image`: any painting through the pretrained arbitrary-style model."""

import os
import subprocess
import sys

import numpy as np
import pytest

from stylejax.errors import StylejaxError
from stylejax.feedforward import arbitrary
from stylejax.io import images


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


def _cli(*args):
  return subprocess.run([sys.executable, "-m", "stylejax.cli", *args], capture_output=True, text=True,
                        env={**os.environ, "JAX_PLATFORMS": "cpu"}, check=False)


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


def test_cli_applies_any_painting_and_never_overwrites(files, tmp_path):
  folder, _ = files
  out = tmp_path / "out"
  args = ["apply", str(folder / "photo.png"), "--style-image", str(folder / "noise_painting.png"), "great_wave",
          "--style-weights", "0.3,0.7", "--alpha", "0.8", "-o", str(out)]
  done = _cli(*args)
  assert done.returncode == 0, done.stderr
  target = out / "photo_noise_painting+great_wave.png"
  first = target.read_bytes()
  assert images.load_image(str(target)).shape == (64, 64, 3)
  again = _cli(*args)
  assert again.returncode == 2 and "--overwrite" in again.stderr and target.read_bytes() == first
  masked = _cli("apply", str(folder / "photo.png"), "--style-image", "great_wave", "--mask", str(folder / "mask.png"),
                "-o", str(tmp_path / "masked"))
  assert masked.returncode == 0, masked.stderr


@pytest.mark.parametrize("extra,needle", [
    (["--style-image", "missing.jpg"], "missing.jpg"),
    (["--style-image", "BROKEN"], "broken.jpg"),
    (["--style-image", "great_wave", "--alpha", "1.5"], "--alpha"),
    (["--style-image", "great_wave", "the_scream", "--style-weights", "1"], "--style-weights"),
    (["--style-image", "great_wave", "--mask", "missing_mask.png"], "missing_mask.png"),
    (["--style-image", "great_wave", "--checkpoint", "somewhere"], "--checkpoint"),
    ([], "--checkpoint"),
])
def test_cli_bad_input_is_one_line_and_exit_2(files, tmp_path, extra, needle):
  folder, _ = files
  extra = [str(folder / "broken.jpg") if e == "BROKEN" else e for e in extra]
  done = _cli("apply", str(folder / "photo.png"), *extra, "-o", str(tmp_path / "out"))
  assert done.returncode == 2, done.stderr
  assert needle in done.stderr and len(done.stderr.strip().splitlines()) == 1
  assert not (tmp_path / "out").exists()  # nothing half-written
