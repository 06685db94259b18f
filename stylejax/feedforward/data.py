"""Content images for training the style network: tfds data sources, read through grain.

Sources (the config's `data.content`):
  "skimage"        the scikit-image photos (offline; written once as files, then as a folder);
  "folder:PATH"    any local folder of images, turned into a tfds dataset by `ContentFolder`;
  "tfds:NAME"      a tfds dataset already prepared in array_record format under `data.tfds_data_dir`,
                   e.g. "tfds:coco/2014" (how to prepare it: README, "Training data").

Everything is read as a tfds *data source* (random access, no TensorFlow at run time). The training
stream is a grain `MapDataset`: shuffled with the seed, repeated, randomly resized and cropped with a
per-example generator derived from the seed and the example's index. The batch of step `s` is
therefore a pure function of (seed, s): resuming at step s reads exactly the batches an uninterrupted
run would have read.

A folder's unreadable images are skipped when the dataset is prepared, and logged once; a folder
with no readable image, or a missing one, is a `StylejaxError`.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import grain
import numpy as np
import tensorflow_datasets as tfds
from PIL import Image

from stylejax.imaging import crops, images
from stylejax.io import weights
from stylejax.errors import StylejaxError

log = logging.getLogger(__name__)

SCALE_RANGE = (1.0, 1.5)  # a training image's shorter side is resized to crop * U(SCALE_RANGE)


class ContentFolder(tfds.core.GeneratorBasedBuilder):
  """A tfds dataset over a folder of images (RGB, longer side at most `max_side`), split "train"."""

  VERSION = tfds.core.Version("1.0.0")

  def __init__(self, *, files: list[str], max_side: int, **kwargs):
    self._files = files
    self._max_side = max_side
    super().__init__(**kwargs)

  def _info(self):
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
        "image": tfds.features.Image(shape=(None, None, 3), encoding_format="png"),
        "name": tfds.features.Text()}))

  def _split_generators(self, dl_manager):
    del dl_manager
    return {"train": self._generate_examples()}

  def _generate_examples(self):
    for i, path in enumerate(self._files):
      image = images.load_image(path)  # validated already by `prepare_folder`
      if max(image.shape[:2]) > self._max_side:
        image = images.resize(image, self._max_side)
      # A PIL image is encoded by tfds with PIL (a numpy array would need TensorFlow).
      yield i, {"image": Image.fromarray(images.to_uint8(image)), "name": os.path.basename(path)}


def _image_files(folder: Path) -> list[Path]:
  if not folder.is_dir():
    raise StylejaxError(f"content folder {folder} does not exist or is not a folder")
  return sorted(p for p in folder.rglob("*") if p.suffix.lower() in images.IMAGE_EXTENSIONS and p.is_file())


def _fingerprint(files: list[Path], max_side: int) -> str:
  h = hashlib.sha256(f"{ContentFolder.VERSION}:{max_side}".encode())
  for p in files:
    stat = p.stat()
    h.update(f"{p}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
  return h.hexdigest()[:16]


def prepare_folder(folder: str | Path, max_side: int = 512):
  """Builds (once; cached by the folder's names, sizes and times) and opens a folder's dataset."""
  folder = Path(folder).resolve()
  files = _image_files(folder)
  data_dir = weights.cache_dir() / "tfds" / f"{folder.name}-{_fingerprint(files, max_side)}"
  good, bad = [], []
  if not (data_dir / "done").exists():
    for p in files:
      try:
        images.load_image(str(p))
        good.append(str(p))
      except StylejaxError as e:
        bad.append(str(e))
    if bad:  # logged once, when the dataset is built; a long run is not interrupted by them
      log.warning("skipped %d unreadable image(s) in %s: %s", len(bad), folder, "; ".join(bad))
    if not good:
      raise StylejaxError(f"no readable images in {folder} (looked for {', '.join(images.IMAGE_EXTENSIONS)})")
    builder = ContentFolder(files=good, max_side=max_side, data_dir=str(data_dir),
                            file_format="array_record")
    builder.download_and_prepare()
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "done").write_text(f"{len(good)} images, {len(bad)} skipped\n")
  builder = ContentFolder(files=[], max_side=max_side, data_dir=str(data_dir), file_format="array_record")
  return builder.as_data_source(split="train")


def _skimage_folder() -> Path:
  folder = weights.cache_dir() / "skimage_photos"
  if not all((folder / f"{n}.png").exists() for n in images.SKIMAGE_PHOTOS):
    for name in images.SKIMAGE_PHOTOS:
      images.save_png(images.load_image(name), folder / f"{name}.png")
  return folder


def open_source(spec: str, tfds_data_dir: str = "", split: str = "train", max_side: int = 512):
  """The content images named by `spec` as a tfds data source (see the module docstring)."""
  if spec == "skimage":
    return prepare_folder(_skimage_folder(), max_side)
  if spec.startswith("folder:"):
    return prepare_folder(spec[len("folder:"):], max_side)
  if spec.startswith("tfds:"):
    name = spec[len("tfds:"):]
    data_dir = tfds_data_dir or os.environ.get("TFDS_DATA_DIR") or str(Path.home() / "tensorflow_datasets")
    try:
      # Read-only builder from the prepared files: the dataset's own code (which may import
      # TensorFlow) is not needed to read it.
      from tensorflow_datasets.core import read_only_builder  # pylint: disable=import-outside-toplevel
      builder = read_only_builder.builder_from_files(name, data_dir=data_dir)
      source = builder.as_data_source(split=split)
    except Exception as e:  # tfds raises several types for "not prepared" / "wrong format"
      raise StylejaxError(f"tfds dataset {name!r} is not prepared in array_record format under "
                          f"{data_dir} ({type(e).__name__}); see README 'Training data'") from None
    if len(source) == 0:
      raise StylejaxError(f"tfds dataset {name!r} split {split!r} is empty")
    return source
  raise StylejaxError(f"data.content must be 'skimage', 'folder:PATH' or 'tfds:NAME', got {spec!r}")


def random_crop(image: np.ndarray, crop: int, rng: np.random.Generator, flip: bool = False,
                scale_range: tuple[float, float] = SCALE_RANGE) -> np.ndarray:
  """Resizes the shorter side to crop * U(scale_range), then takes a random crop x crop square,
  mirrored left-right with probability 1/2 when `flip`."""
  h, w = image.shape[:2]
  short = crop * rng.uniform(*scale_range)
  scale = short / min(h, w)
  size = (max(crop, round(h * scale)), max(crop, round(w * scale)))
  resized = np.asarray(Image.fromarray(image).resize((size[1], size[0]), Image.Resampling.BILINEAR))
  top = rng.integers(0, size[0] - crop + 1)
  left = rng.integers(0, size[1] - crop + 1)
  out = resized[top:top + crop, left:left + crop]
  if flip and rng.random() < 0.5:  # drawn last, so streams without flips keep their crops
    out = out[:, ::-1]
  return out.astype(np.float32) / 255.0


class _Decoded:
  """Random access to a source's uint8 images; an undecodable record is replaced by the next one."""

  def __init__(self, source):
    self.source = source
    self.warned = False

  def __len__(self):
    return len(self.source)

  def __getitem__(self, index):
    for offset in range(len(self.source)):
      try:
        image = np.asarray(self.source[(index + offset) % len(self.source)]["image"])
        if image.ndim == 3 and image.shape[-1] == 3 and min(image.shape[:2]) > 0:
          return image
      except Exception as e:  # noqa: BLE001  a damaged record must not kill a long run
        if not self.warned:
          log.warning("skipping an undecodable training record (%s: %s); further ones are skipped "
                      "silently", type(e).__name__, e)
          self.warned = True
    raise StylejaxError("no decodable image in the training data")


def training_images(source, crop: int, seed: int, flip: bool = False,
                    scale_range: tuple[float, float] = SCALE_RANGE) -> grain.MapDataset:
  """An endless, seeded, random-access dataset of (crop, crop, 3) float32 training images."""
  return (grain.MapDataset.source(_Decoded(source)).seed(seed).shuffle().repeat()
          .random_map(lambda image, rng: random_crop(image, crop, rng, flip, scale_range)))


def batches(elements: grain.MapDataset, batch_size: int, start_step: int, num_steps: int,
            process_index: int = 0, process_count: int = 1, prefetch: int = 2):
  """Iterator over this process's rows of the global batches of steps start_step..num_steps-1.

  Global batch `s` is elements[s * batch_size : (s + 1) * batch_size]; process p reads its
  contiguous 1/process_count of the rows, so hosts together see exactly one global batch.
  """
  local = batch_size // process_count
  offset = process_index * local

  def load(step):
    first = step * batch_size + offset
    return np.stack([elements[first + i] for i in range(local)])

  steps = grain.MapDataset.range(start_step, num_steps).map(load)
  return iter(steps.to_iter_dataset(grain.ReadOptions(num_threads=prefetch, prefetch_buffer_size=prefetch)))


def style_image_list(styles) -> list[str]:
  """Style specs from a list of files/names, or a single folder of images (sorted by name), given
  as its path or as "folder:PATH"."""
  styles = [styles] if isinstance(styles, str) else list(styles)
  if len(styles) == 1 and styles[0].startswith("tfds:"):
    return styles  # a painting dataset, read by `open_style_source`
  if len(styles) == 1 and styles[0].startswith("folder:"):
    styles = [styles[0][len("folder:"):]]
    if not Path(styles[0]).is_dir():
      raise StylejaxError(f"style folder {styles[0]} does not exist or is not a folder")
  if len(styles) == 1 and Path(styles[0]).is_dir():
    files = _image_files(Path(styles[0]))
    if not files:
      raise StylejaxError(f"no images in style folder {styles[0]}")
    return [str(p) for p in files]
  if not styles:
    raise StylejaxError("no style images given")
  return styles


def load_style_images(styles, size: int) -> np.ndarray:
  """(n_styles, size, size, 3): each style centre-cropped to a square, then resized."""
  return np.stack([crops.square(images.load_image(spec), size) for spec in style_image_list(styles)])


def open_style_source(styles, max_side: int = 512, tfds_data_dir: str = "", split: str = "train"):
  """Style images for training a network on many paintings (AdaIN, Ghiasi), read like content images:
  a tfds data source for "folder:PATH" or "tfds:NAME" (any number of paintings; a prepared dataset
  with an "image" feature), else the listed files/names in memory."""
  styles = [styles] if isinstance(styles, str) else list(styles)
  if len(styles) == 1 and styles[0].startswith("tfds:"):
    return open_source(styles[0], tfds_data_dir, split, max_side)
  if len(styles) == 1 and styles[0].startswith("folder:"):
    return prepare_folder(styles[0][len("folder:"):], max_side)
  loaded = []
  for spec in style_image_list(styles):
    image = images.load_image(spec)
    if max(image.shape[:2]) > max_side:
      image = images.resize(image, max_side)
    loaded.append({"image": images.to_uint8(image)})
  return loaded
