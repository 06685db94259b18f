"""Image input: every bad file is one clear error; every odd mode converts correctly."""

import numpy as np
import pytest
from PIL import Image

from stylejax.imaging import images
from stylejax.errors import StylejaxError


def _gradient_rgb(h=40, w=50):
  y, x = np.mgrid[0:h, 0:w]
  return np.stack([x * 255 // (w - 1), y * 255 // (h - 1), np.full_like(x, 128)], -1).astype(np.uint8)


def test_missing_file(tmp_path):
  with pytest.raises(StylejaxError, match="image not found"):
    images.load_image(str(tmp_path / "nope.jpg"))


def test_not_an_image_names_the_file_not_a_stream(tmp_path):
  path = tmp_path / "notes.jpg"
  path.write_text("this is not a JPEG")
  with pytest.raises(StylejaxError, match="not a readable image") as error:
    images.load_image(str(path))
  assert str(error.value).startswith(str(path)) and "BytesIO" not in str(error.value)


def test_truncated_jpeg(tmp_path):
  path = tmp_path / "cut.jpg"
  Image.fromarray(np.random.default_rng(0).integers(0, 255, (200, 200, 3), np.uint8)).save(path, quality=95)
  data = path.read_bytes()
  path.write_bytes(data[: len(data) // 2])
  with pytest.raises(StylejaxError, match="truncated"):
    images.load_image(str(path))


def test_decompression_bomb_limit(tmp_path):
  path = tmp_path / "big.png"
  Image.new("1", (4000, 3000)).save(path)  # 12 Mpx, tiny file
  with pytest.raises(StylejaxError, match="pixel limit"):
    images.load_image(str(path), max_pixels=10_000_000)


def test_image_under_32_px(tmp_path):
  path = tmp_path / "small.png"
  Image.fromarray(_gradient_rgb(20, 64)).save(path)
  with pytest.raises(StylejaxError, match="at least 32 px"):
    images.load_image(str(path))


def test_rgb_png_round_trip(tmp_path):
  path = tmp_path / "rgb.png"
  rgb = _gradient_rgb()
  Image.fromarray(rgb).save(path)
  np.testing.assert_allclose(images.load_image(str(path)), rgb / 255.0, atol=1e-6)


@pytest.mark.parametrize("mode", ["L", "P", "CMYK", "RGBA", "LA"])
def test_modes_convert_to_rgb(tmp_path, mode):
  rgb = _gradient_rgb()
  source = Image.fromarray(rgb)
  if mode == "L":
    image, expected = source.convert("L"), np.repeat(np.asarray(source.convert("L"))[..., None], 3, -1)
  elif mode == "P":
    image = source.convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    expected = np.asarray(image.convert("RGB"))
  elif mode == "CMYK":
    image = source.convert("CMYK")
    expected = np.asarray(image.convert("RGB"))
  elif mode == "RGBA":  # half-transparent: composited on white
    alpha = np.full(rgb.shape[:2], 128, np.uint8)
    image = Image.fromarray(np.dstack([rgb, alpha]), "RGBA")
    expected = rgb * (128 / 255) + 255 * (1 - 128 / 255)
  else:
    gray = np.asarray(source.convert("L"))
    image = Image.fromarray(np.dstack([gray, np.full_like(gray, 255)]), "LA")
    expected = np.repeat(gray[..., None], 3, -1)
  path = tmp_path / f"img_{mode}.{'jpg' if mode == 'CMYK' else 'png'}"
  image.save(path)
  if mode == "CMYK":
    expected = np.asarray(Image.open(path).convert("RGB"))
  loaded = images.load_image(str(path))
  assert loaded.shape == rgb.shape and loaded.dtype == np.float32
  np.testing.assert_allclose(loaded * 255, expected, atol=1.01)


def test_16_bit_grayscale_keeps_its_range(tmp_path):
  path = tmp_path / "deep.png"
  values = (np.linspace(0, 65535, 40 * 50).reshape(40, 50)).astype(np.uint16)
  Image.fromarray(values).save(path)
  loaded = images.load_image(str(path))
  assert loaded.shape == (40, 50, 3)
  np.testing.assert_allclose(loaded[..., 0], values / 65535.0, atol=1e-4)
  assert loaded.max() > 0.99  # not clipped to an 8-bit reading of 16-bit data


def test_exif_orientation_is_honoured(tmp_path):
  path = tmp_path / "rotated.jpg"
  rgb = _gradient_rgb(40, 60)  # landscape as stored
  exif = Image.Exif()
  exif[0x0112] = 6  # "rotate 90 CW to display"
  Image.fromarray(rgb).save(path, exif=exif, quality=100)
  loaded = images.load_image(str(path))
  assert loaded.shape == (60, 40, 3)  # displayed as portrait
  expected = np.rot90(rgb, k=-1) / 255.0
  assert np.abs(loaded - expected).mean() < 0.02


@pytest.mark.parametrize("name", images.NAMED_IMAGES)
def test_named_images_need_no_files(name):
  image = images.load_image(name)
  assert image.ndim == 3 and image.shape[-1] == 3 and min(image.shape[:2]) >= 32
  assert 0 <= image.min() and image.max() <= 1


def test_resize_longer_side_and_range():
  image = np.random.default_rng(0).random((100, 50, 3)).astype(np.float32)
  out = images.resize(image, 64)
  assert out.shape == (64, 32, 3) and out.min() >= 0 and out.max() <= 1


def test_save_png_writes_no_temporary_files(tmp_path):
  images.save_png(np.zeros((40, 40, 3)), tmp_path / "a.png")
  assert [p.name for p in tmp_path.iterdir()] == ["a.png"]
