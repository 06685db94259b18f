"""The two ground truths, as pure functions of the images and the config.

A: regions of the same painting. Each painting is cut into a grid x grid of square crops (centres
   spread evenly, so neighbours overlap little), each resized to `size` and kept in three variants:
   the original, a colour-jittered copy (a seeded hue rotation and saturation scale) and a grayscale
   copy, so that a query's palette does not name its painting.
B: stylized photos. Every photo stylized with every painting; labels photo and painting.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from matplotlib import colors

from stylejax.imaging import images

VARIANTS = ("original", "jitter", "gray")
_LUMA = np.float32([0.299, 0.587, 0.114])  # Rec. 601


@dataclasses.dataclass(frozen=True)
class Item:
  """One image of a ground truth. Set A: photo is "" and region/variant are set; set B: the reverse."""
  painting: str
  photo: str = ""
  region: int = -1
  variant: str = ""

  @property
  def name(self) -> str:
    if self.photo:
      return f"{self.photo}__{self.painting}"
    return f"{self.painting}__r{self.region}_{self.variant}"


def crop_boxes(height: int, width: int, grid: int, fraction: float) -> list[tuple[int, int, int]]:
  """(top, left, side) of grid x grid square crops, row-major; side = fraction of the short side.

  The first crop of each axis touches the top/left edge and the last the bottom/right edge."""
  side = max(1, int(round(fraction * min(height, width))))
  starts = lambda length: [round(i * (length - side) / (grid - 1)) if grid > 1 else (length - side) // 2
                           for i in range(grid)]
  return [(top, left, side) for top in starts(height) for left in starts(width)]


def grayscale(image: np.ndarray) -> np.ndarray:
  luma = image[..., :3] @ _LUMA
  return np.repeat(luma[..., None], 3, axis=-1).astype(np.float32)


def jitter(image: np.ndarray, hue_shift: float, saturation_scale: float) -> np.ndarray:
  """Hue rotated by `hue_shift` turns, saturation multiplied by `saturation_scale` (clipped to 1)."""
  hsv = colors.rgb_to_hsv(np.clip(image, 0, 1))
  hsv[..., 0] = (hsv[..., 0] + hue_shift) % 1.0
  hsv[..., 1] = np.clip(hsv[..., 1] * saturation_scale, 0, 1)
  return colors.hsv_to_rgb(hsv).astype(np.float32)


def jitter_parameters(seed: int, painting_index: int, region: int, hue_range: tuple[float, float],
                      saturation_range: tuple[float, float]) -> tuple[float, float]:
  """(hue shift, saturation scale) of one crop: a pure function of its position in the set."""
  rng = np.random.default_rng([seed, painting_index, region])
  return float(rng.uniform(*hue_range)), float(rng.uniform(*saturation_range))


def region_set(paintings: dict[str, np.ndarray], grid: int, fraction: float, size: int, seed: int,
               hue_range: tuple[float, float], saturation_range: tuple[float, float]):
  """(images (N, size, size, 3) float32, items) of ground truth A; paintings in the given order."""
  out, items = [], []
  for p, (name, painting) in enumerate(paintings.items()):
    h, w = painting.shape[:2]
    for r, (top, left, side) in enumerate(crop_boxes(h, w, grid, fraction)):
      crop = images.resize(painting[top:top + side, left:left + side], (size, size))
      hue, saturation = jitter_parameters(seed, p, r, hue_range, saturation_range)
      for variant, image in zip(VARIANTS, (crop, jitter(crop, hue, saturation), grayscale(crop))):
        out.append(image)
        items.append(Item(painting=name, region=r, variant=variant))
  return np.stack(out).astype(np.float32), items


def stylized_items(photos: list[str], paintings: list[str]) -> list[Item]:
  """Ground truth B's labels: photo-major, every photo x painting."""
  return [Item(painting=painting, photo=photo) for photo in photos for painting in paintings]


def labels(items: list[Item], field: str) -> np.ndarray:
  """An integer label per item for one field (painting, photo, region key), in first-seen order."""
  if field == "crop":  # a region of one painting: the three variants share it
    keys = [(i.painting, i.region) for i in items]
  else:
    keys = [getattr(i, field) for i in items]
  codes = {}
  return np.array([codes.setdefault(k, len(codes)) for k in keys], np.int64)
