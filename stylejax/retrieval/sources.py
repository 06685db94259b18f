"""What `stylejax embed` reads: a folder of images, a list file, one image file, or a tfds dataset.

  folder        every image below it (recursively, sorted), as `stylejax.feedforward.data` finds them;
  list file     a text file, one image path a line (relative to the list's folder; '#' comments);
  tfds:NAME[:SPLIT]  a tfds dataset prepared in array_record format (`data.open_source`), split
                "train" by default; its images are named "tfds:NAME:SPLIT#INDEX".

Each image has an identity, the sha256 of its content (a file's bytes; a tfds record's pixels), which
the store uses to skip images embedded before, wherever they now live.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np

from stylejax.errors import StylejaxError
from stylejax.feedforward import data
from stylejax.imaging import images

_VERSION = re.compile(r"^\d+(\.\d+)*$")


def _parse_tfds(spec: str) -> tuple[str, str]:
  """"tfds:coco/2014:validation" -> ("coco/2014", "validation"); a trailing ":1.0.0" is a version."""
  rest = spec[len("tfds:"):]
  name, sep, split = rest.rpartition(":")
  if not sep or _VERSION.match(split):
    return rest, "train"
  return name, split


def _list_file(path: Path) -> list[str]:
  entries = []
  for line in path.read_text().splitlines():
    line = line.strip()
    if line and not line.startswith("#"):
      entry = Path(line)
      entries.append(str(entry if entry.is_absolute() else (path.parent / entry).resolve()))
  return entries


class Source:
  """The images of one SOURCE spec, by position: `paths[i]`, `digest(i)`, `load(i)`."""

  def __init__(self, spec: str, tfds_data_dir: str = ""):
    self.spec = spec
    self._records = None
    if spec.startswith("tfds:"):
      name, split = _parse_tfds(spec)
      self._records = data.open_source(f"tfds:{name}", tfds_data_dir, split)
      self.paths = [f"tfds:{name}:{split}#{i}" for i in range(len(self._records))]
      return
    path = Path(spec)
    if path.is_dir():
      self.paths = [str(p.resolve()) for p in data._image_files(path)]  # pylint: disable=protected-access
      if not self.paths:
        raise StylejaxError(f"no images in folder {spec} (looked for {', '.join(images.IMAGE_EXTENSIONS)})")
    elif path.is_file() and path.suffix.lower() in images.IMAGE_EXTENSIONS:
      self.paths = [str(path.resolve())]
    elif path.is_file():
      self.paths = _list_file(path)
      if not self.paths:
        raise StylejaxError(f"list file {spec} names no images")
    else:
      raise StylejaxError(f"{spec}: no such folder, image, list file or tfds:NAME dataset")

  def __len__(self) -> int:
    return len(self.paths)

  def digest(self, i: int) -> str:
    """sha256 of image i's content; StylejaxError when it cannot be read."""
    if self._records is not None:
      pixels = self._pixels(i)
      return hashlib.sha256(f"{pixels.shape}".encode() + pixels.tobytes()).hexdigest()
    return _file_sha256(self.paths[i])

  def load(self, i: int) -> np.ndarray:
    """Image i as RGB float32 [0, 1]; StylejaxError when it is not a readable image."""
    if self._records is not None:
      return self._pixels(i).astype(np.float32) / 255.0
    return images.load_image(self.paths[i])

  def _pixels(self, i: int) -> np.ndarray:
    try:
      pixels = np.asarray(self._records[i]["image"])
    except Exception as e:  # noqa: BLE001  tfds raises many types for a damaged record
      raise StylejaxError(f"{self.paths[i]}: undecodable record ({type(e).__name__}: {e})") from None
    if pixels.ndim == 3 and pixels.shape[-1] == 1:
      pixels = np.repeat(pixels, 3, axis=-1)
    if pixels.ndim != 3 or pixels.shape[-1] != 3 or min(pixels.shape[:2]) < images.MIN_SIDE:
      raise StylejaxError(f"{self.paths[i]}: not an RGB image of at least {images.MIN_SIDE} px, "
                          f"shape {pixels.shape}")
    return pixels


def _file_sha256(path: str) -> str:
  try:
    with open(path, "rb") as f:
      return hashlib.file_digest(f, "sha256").hexdigest()
  except OSError as e:
    raise StylejaxError(f"{path}: cannot be read ({e.strerror or e})") from None


class Named:
  """Images named as the manifest names them (files, or tfds:NAME:SPLIT#INDEX), with Source's
  `paths`, `digest(i)` and `load(i)`: what `stylejax index repair` embeds again."""

  def __init__(self, paths: list[str], tfds_data_dir: str = ""):
    self.paths = list(paths)
    self._tfds_data_dir = tfds_data_dir
    self._datasets: dict[str, Source] = {}

  def __len__(self) -> int:
    return len(self.paths)

  def _record(self, i: int) -> tuple[Source, int] | None:
    path = self.paths[i]
    if not (path.startswith("tfds:") and "#" in path):
      return None
    spec, _, index = path.rpartition("#")
    if not index.isdigit():
      raise StylejaxError(f"{path}: not a tfds:NAME:SPLIT#INDEX record")
    if spec not in self._datasets:
      self._datasets[spec] = Source(spec, self._tfds_data_dir)
    if int(index) >= len(self._datasets[spec]):
      raise StylejaxError(f"{path}: {spec} has {len(self._datasets[spec])} records")
    return self._datasets[spec], int(index)

  def digest(self, i: int) -> str:
    record = self._record(i)
    return _file_sha256(self.paths[i]) if record is None else record[0].digest(record[1])

  def load(self, i: int) -> np.ndarray:
    record = self._record(i)
    return images.load_image(self.paths[i]) if record is None else record[0].load(record[1])


def load_any(path: str, tfds_data_dir: str = "") -> np.ndarray:
  """An image named as the manifest names it (a file, or tfds:NAME:SPLIT#INDEX)."""
  if path.startswith("tfds:") and "#" in path:
    spec, _, index = path.rpartition("#")
    return Source(spec, tfds_data_dir).load(int(index))
  return images.load_image(path)

