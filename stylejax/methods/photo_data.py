"""The training data of the methods trained with a VGG loss on photos (cin, adain, ghiasi): the photo
stream, photo + painting pairs, and the fixed eval photos.

Batch s is a pure function of (seed, s) (`stylejax.feedforward.data`), so a resumed run reads the
batches an uninterrupted one would have read.
"""

from __future__ import annotations

import ml_collections
import numpy as np

from stylejax.feedforward import data
from stylejax.imaging import crops, images


def eval_photos(config: ml_collections.ConfigDict) -> list[np.ndarray]:
  """The config's eval_images, centre squares of eval_size: the rows of every eval grid."""
  return [crops.square(images.load_image(p), config.eval_size) for p in config.eval_images]


def open_photos(config: ml_collections.ConfigDict):
  return data.open_source(config.data.content, config.data.tfds_data_dir, config.data.split, config.data.max_side)


def photo_batches(config: ml_collections.ConfigDict, photos):
  """(start, total, process_index, process_count) -> {"content": rows} batches of random photo crops."""
  def batches(start: int, total: int, process_index: int, process_count: int):
    stream = data.batches(data.training_images(photos, config.data.image_size, config.seed,
                                               scale_range=tuple(config.data.crop_scale)),
                          config.optim.batch_size, start, total, process_index, process_count, config.data.prefetch)
    return ({"content": c} for c in stream)
  return batches


def photo_painting_batches(config: ml_collections.ConfigDict, photos, paintings):
  """As `photo_batches`, with a painting per photo: random crops and flips of the style images,
  seeded apart from the photos ({"content", "style"})."""
  def batches(start: int, total: int, process_index: int, process_count: int):
    scale_range = tuple(config.data.crop_scale)
    photo_rows = data.batches(data.training_images(photos, config.data.image_size, config.seed,
                                                   scale_range=scale_range),
                              config.optim.batch_size, start, total, process_index, process_count,
                              config.data.prefetch)
    painting_rows = data.batches(data.training_images(paintings, config.style_size, config.seed + 1, flip=True,
                                                      scale_range=scale_range),
                                 config.optim.batch_size, start, total, process_index, process_count,
                                 config.data.prefetch)
    return ({"content": c, "style": s} for c, s in zip(photo_rows, painting_rows))
  return batches


def eval_paintings(config: ml_collections.ConfigDict, paintings) -> list[np.ndarray]:
  """The first (up to 3) paintings of the source, centre squares of eval_size: the eval grid's columns."""
  return [crops.square(np.asarray(paintings[i]["image"], np.float32) / 255.0, config.eval_size)
          for i in range(min(3, len(paintings)))]
