"""Image files in and out: decode, validate, convert to RGB float [0, 1], resize, save atomically.

Every image that enters stylejax passes through `load_image`, so every bad file gets the same
one-line `StylejaxError` naming the file (missing, not an image, truncated, too large, too small).
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from stylejax.atomic_io import atomic_write_bytes
from stylejax.errors import StylejaxError

MIN_SIDE = 32
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif")  # what a folder of images holds
MAX_PIXELS = 100_000_000  # decompression-bomb guard: about 10k x 10k
SKIMAGE_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")
BUNDLED_PAINTINGS = ("starry_night", "great_wave", "composition_vii", "the_scream")  # public domain, in stylejax/assets
NAMED_IMAGES = SKIMAGE_PHOTOS + BUNDLED_PAINTINGS


def _skimage_photo(name: str) -> Image.Image:
  from skimage import data  # pylint: disable=import-outside-toplevel

  return Image.fromarray(getattr(data, name)())


def _to_rgb(image: Image.Image) -> np.ndarray:
  """Any PIL mode (L, LA, P, RGBA, CMYK, I;16, I, F) to RGB float32 in [0, 1].

  Alpha is composited on white, as a viewer shows it; 16-bit and float images keep their range.
  """
  if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
    gray = np.asarray(image, dtype=np.float64)
    top = 65535.0 if image.mode.startswith("I;16") or gray.max() > 255 else 255.0
    gray = np.clip(gray / top, 0, 1).astype(np.float32)
    return np.repeat(gray[..., None], 3, axis=-1)
  if image.mode == "F":
    gray = np.clip(np.asarray(image, dtype=np.float32), 0, 1)
    return np.repeat(gray[..., None], 3, axis=-1)
  if image.mode in ("P", "PA"):
    image = image.convert("RGBA")
  if image.mode in ("RGBA", "LA"):
    background = Image.new("RGBA", image.size, (255, 255, 255, 255))
    image = Image.alpha_composite(background, image.convert("RGBA"))
  return np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0


def load_image(spec: str, max_pixels: int = MAX_PIXELS) -> np.ndarray:
  """An image file (or a scikit-image photo name) as an RGB float32 (H, W, 3) array in [0, 1]."""
  if spec in SKIMAGE_PHOTOS and not os.path.exists(spec):
    return _to_rgb(_skimage_photo(spec))
  if spec in BUNDLED_PAINTINGS and not os.path.exists(spec):
    spec = str(Path(__file__).parent.parent / "assets" / f"{spec}.jpg")
  if not os.path.isfile(spec):
    raise StylejaxError(f"{spec}: image not found (give a file, or one of {', '.join(NAMED_IMAGES)})")
  stream = None
  try:
    with open(spec, "rb") as f:
      stream = io.BytesIO(f.read())
    with warnings.catch_warnings():
      warnings.simplefilter("error", Image.DecompressionBombWarning)
      with Image.open(stream) as image:
        width, height = image.size
        if width * height > max_pixels:
          raise StylejaxError(f"{spec}: {width}x{height} is over the {max_pixels:,}-pixel limit")
        image.load()  # decode fully now, so a truncated file fails here
        image = ImageOps.exif_transpose(image)
        array = _to_rgb(image)
  except StylejaxError:
    raise
  except (Image.DecompressionBombError, Image.DecompressionBombWarning):
    raise StylejaxError(f"{spec}: image is too large (decompression-bomb guard)") from None
  except Exception as e:  # PIL raises UnidentifiedImageError, OSError, SyntaxError, ValueError...
    # PIL names the stream it read ("cannot identify image file <_io.BytesIO object at 0x...>"); the
    # message already starts with the file's name.
    detail = str(e) if stream is None else str(e).replace(f" {stream!r}", "")
    raise StylejaxError(f"{spec}: not a readable image (corrupt or truncated?): {detail}") from None
  if min(array.shape[:2]) < MIN_SIDE:
    raise StylejaxError(f"{spec}: image is {array.shape[1]}x{array.shape[0]}; each side must be at "
                        f"least {MIN_SIDE} px")
  return array


def resize(image: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
  """Resizes so the longer side is `size` (int) or to exactly (height, width); Lanczos, float."""
  h, w = image.shape[:2]
  if isinstance(size, int):
    scale = size / max(h, w)
    target = (max(1, round(h * scale)), max(1, round(w * scale)))
  else:
    target = tuple(size)
  if target == (h, w):
    return image.astype(np.float32)
  channels = [Image.fromarray(image[..., c].astype(np.float32), mode="F").resize(
      (target[1], target[0]), Image.Resampling.LANCZOS) for c in range(image.shape[-1])]
  return np.clip(np.stack([np.asarray(c) for c in channels], -1), 0, 1).astype(np.float32)


def to_uint8(image: np.ndarray) -> np.ndarray:
  return np.round(np.clip(np.asarray(image, dtype=np.float32), 0, 1) * 255).astype(np.uint8)


def png_bytes(image: np.ndarray) -> bytes:
  """An (H, W, 3) float [0, 1] image as the bytes of an 8-bit PNG."""
  buffer = io.BytesIO()
  Image.fromarray(to_uint8(image)).save(buffer, format="PNG")
  return buffer.getvalue()


def save_png(image: np.ndarray, path: str | Path) -> None:
  atomic_write_bytes(path, png_bytes(image))
