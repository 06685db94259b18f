"""Two unpaired image collections (domains A and B) for CycleGAN, read like the content photos
(`stylejax.feedforward.data`: tfds data sources through grain; batch s a pure function of (seed, s)).

`data.content` names both:
  "folder:PATH"     PATH/A and PATH/B (or PATH/trainA and PATH/trainB, the reference's layout);
  "tfds:NAME"       a prepared tfds dataset with splits `<split>A` and `<split>B`, e.g.
                    "tfds:cycle_gan/horse2zebra" with data.split "train" (trainA, trainB).

A training image's shorter side is resized to `load_size` (aspect kept), a random crop_size square is
cut from it and mirrored with probability 1/2. (The reference's default `resize_and_crop` squashes
the image to load_size x load_size first; keeping the aspect distorts nothing.) Each domain is
shuffled with its own seed, so A and B are never paired.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from stylejax.errors import StylejaxError
from stylejax.feedforward import data


def domain_folders(spec: str) -> tuple[Path, Path]:
  root = Path(spec[len("folder:"):])
  for a, b in (("A", "B"), ("trainA", "trainB")):
    if (root / a).is_dir() and (root / b).is_dir():
      return root / a, root / b
  raise StylejaxError(f"data.content={spec!r}: CycleGAN needs two folders of images, {root}/A and {root}/B "
                      "(or trainA and trainB)")


def open_domains(spec: str, tfds_data_dir: str = "", split: str = "train", max_side: int = 512):
  """(source A, source B) as tfds data sources."""
  if spec.startswith("folder:"):
    a, b = domain_folders(spec)
    return data.prepare_folder(a, max_side), data.prepare_folder(b, max_side)
  if spec.startswith("tfds:"):
    return tuple(data.open_source(spec, tfds_data_dir, f"{split}{d}", max_side) for d in "AB")
  raise StylejaxError(f"data.content must be 'folder:PATH' (with A/ and B/) or 'tfds:NAME' (splits "
                      f"{split}A, {split}B) for CycleGAN, got {spec!r}")


def training_crops(source, crop: int, load_size: int, seed: int):
  """Endless seeded (crop, crop, 3) float32 crops in [0, 1]: shorter side to load_size, crop, flip."""
  scale = load_size / crop
  return data.training_images(source, crop, seed, flip=True, scale_range=(scale, scale))


def unpaired_batches(sources, crop: int, load_size: int, seed: int, batch_size: int, prefetch: int):
  """(start, total, process_index, process_count) -> {"A": rows, "B": rows} batches."""
  streams = [training_crops(source, crop, load_size, seed + i) for i, source in enumerate(sources)]

  def batches(start: int, total: int, process_index: int, process_count: int):
    a, b = (data.batches(s, batch_size, start, total, process_index, process_count, prefetch) for s in streams)
    return ({"A": np.asarray(x), "B": np.asarray(y)} for x, y in zip(a, b))
  return batches
