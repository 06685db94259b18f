"""The one rule for what a command writes, checked before any work starts.

- A path whose extension is a file format (an image: .png .jpg .jpeg .webp .bmp .tif .tiff; an
  archive: .npz; a video: .mp4 .gif .webm, reserved for the video commands) names a file; any other
  path names a folder.
- A command writes the format its extension says, or refuses the path in one line (`features -o
  x.png`: features writes .npz).
- An existing output is replaced only with `--overwrite`; a folder where a file is wanted (or a
  file where a folder is wanted) is refused even then: nothing is deleted to make room.

Every write is atomic (stylejax.atomic_io): a reader, or a later run after a crash, sees the old file
or the whole new one.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from stylejax.atomic_io import atomic_write_bytes
from stylejax.errors import StylejaxError
from stylejax.imaging import images

IMAGE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP",
                 ".tif": "TIFF", ".tiff": "TIFF"}  # extension -> PIL format
VIDEO_EXTENSIONS = (".mp4", ".gif", ".webm")  # files; no command writes them yet
ARCHIVE_EXTENSIONS = (".npz",)
FILE_EXTENSIONS = (*IMAGE_FORMATS, *VIDEO_EXTENSIONS, *ARCHIVE_EXTENSIONS)
IMAGES = tuple(IMAGE_FORMATS)


def names_file(path: str | Path) -> bool:
  """True when `path` names a file by the rule above (its extension), False for a folder."""
  return Path(path).suffix.lower() in FILE_EXTENSIONS


def _described(extensions: tuple[str, ...]) -> str:
  return ", ".join(extensions)


def check_file(path: str | Path, extensions: tuple[str, ...], overwrite: bool, what: str,
               option: str = "-o") -> Path:
  """`path` as the file `what` writes (one of `extensions`), refused in one line if it names
  something else or exists without `overwrite`."""
  path = Path(path)
  suffix = path.suffix.lower()
  if suffix not in extensions:
    named = f"a {suffix[1:]} file" if suffix in FILE_EXTENSIONS else "a folder (no file extension)"
    raise StylejaxError(f"{option} {path} names {named}, but {what} writes one {_described(extensions)} file: "
                        "give a path ending in one of those")
  if path.is_dir():
    raise StylejaxError(f"{option} {path} is an existing folder; {what} writes a file there: choose another path")
  if path.exists() and not overwrite:
    raise StylejaxError(f"{path} exists; pass --overwrite to replace it")
  if path.parent.exists() and not path.parent.is_dir():
    raise StylejaxError(f"{option} {path}: {path.parent} is a file, not a folder")
  return path


def check_folder(path: str | Path, what: str, option: str = "--workdir") -> Path:
  """`path` as the folder `what` writes into: refused in one line if it names a file."""
  path = Path(path)
  if names_file(path):
    raise StylejaxError(f"{option} {path} names a {path.suffix[1:]} file, but {what} writes a folder: "
                        "give a path without a file extension")
  if path.exists() and not path.is_dir():
    raise StylejaxError(f"{option} {path} is an existing file; {what} writes a folder: choose another path")
  return path


def check_images(output: str | Path, names: list[str], overwrite: bool, what: str) -> list[Path]:
  """Where `what` writes one image per name: the file `output` itself when it names an image (one
  name only), else `output`/<name>.png. Refused in one line when a target exists without
  `overwrite`, or two names collide."""
  output = Path(output)
  if names_file(output):
    if len(names) != 1:
      raise StylejaxError(f"-o {output} names one file, but {what} writes {len(names)} images: give a folder")
    return [check_file(output, IMAGES, overwrite, what)]
  check_folder(output, what, option="-o")
  targets = [output / f"{name}.png" for name in names]
  if len(set(targets)) != len(targets):
    raise StylejaxError("two inputs have the same file name; stylize them into separate folders")
  existing = [t for t in targets if t.exists()]
  if existing and not overwrite:
    raise StylejaxError(f"{existing[0]} exists; pass --overwrite to replace it")
  return targets


def image_bytes(image: np.ndarray | Image.Image, path: str | Path) -> bytes:
  """The (H, W, 3) [0, 1] image (or a PIL image) encoded in the format of `path`'s extension."""
  fmt = IMAGE_FORMATS.get(Path(path).suffix.lower())
  if fmt is None:
    raise StylejaxError(f"{path}: not an image file name ({_described(IMAGES)})")
  if fmt == "PNG" and not isinstance(image, Image.Image):
    return images.png_bytes(image)  # the bytes every run has written so far
  picture = image if isinstance(image, Image.Image) else Image.fromarray(images.to_uint8(image))
  buffer = io.BytesIO()
  picture.save(buffer, format=fmt, **({"quality": 95} if fmt in ("JPEG", "WEBP") else {}))
  return buffer.getvalue()


def save_image(image: np.ndarray | Image.Image, path: str | Path) -> None:
  """Writes `image` atomically, in the format of `path`'s extension."""
  atomic_write_bytes(path, image_bytes(image, path))
