"""Which images, which pairs, which runs: the study's design, from a data folder and the config.

Pure functions of the file listing and the config, so the same folder and config always give the
same runs in the same order (the bit-reproducibility of --runlocal starts here).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from stylejax.errors import StylejaxError
from stylejax.imaging import images

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass(frozen=True)
class Pair:
  image_set: str  # "A" or "B": disjoint halves of the paintings
  content: str  # a file path or a bundled photo name
  style: str

  @property
  def label(self) -> str:
    return f"{stem(self.content)} x {stem(self.style)}"


def stem(spec: str) -> str:
  return Path(spec).stem


def _files(folder: Path) -> list[str]:
  if not folder.is_dir():
    raise StylejaxError(f"{folder}: no such folder (--data needs content/ and style/ subfolders)")
  return sorted(str(p) for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def image_lists(data: Path | None, bundled: bool) -> tuple[list[str], list[str]]:
  """Photos and paintings: every image of data/content and data/style, plus (if `bundled`) the
  package's scikit-image photos and bundled paintings whose stem is not already there."""
  photos, paintings = ([], []) if data is None else (_files(data / "content"), _files(data / "style"))
  if bundled or data is None:
    photos += [n for n in images.SKIMAGE_PHOTOS if n not in {stem(p) for p in photos}]
    paintings += [n for n in images.BUNDLED_PAINTINGS if n not in {stem(p) for p in paintings}]
  photos.sort(key=stem)
  paintings.sort(key=stem)
  if not photos or len(paintings) < 2:
    raise StylejaxError(f"{data}: need at least 1 photo in content/ and 2 paintings in style/")
  return photos, paintings


def pairs(photos: list[str], paintings: list[str], photos_per_painting: int, paintings_per_set: int) -> list[Pair]:
  """Paintings alternate into set A and set B (sorted by stem), so the two sets are disjoint halves;
  painting i is paired with `photos_per_painting` photos in rotation (0: every photo), so every photo
  appears about equally often and no one photo decides a set."""
  per = len(photos) if photos_per_painting <= 0 else min(photos_per_painting, len(photos))
  sets = {"A": paintings[0::2], "B": paintings[1::2]}
  chosen = []
  for name, members in sets.items():
    if paintings_per_set > 0:
      members = members[:paintings_per_set]
    for painting in members:
      i = paintings.index(painting)
      chosen += [Pair(name, photos[(i * per + k) % len(photos)], painting) for k in range(per)]
  return chosen


def grid_runs(pair_list: list[Pair], statistics, centre_weights: dict, multipliers, seeds: int) -> list[dict]:
  """The weight-grid sweep: one run per pair x seed x statistic x multiplier (content_noise init).

  Runs of one statistic, pair and seed are adjacent, so a chunk of len(multipliers) runs is one
  statistic's curve in one vmapped program."""
  return [_run(p, s, centre_weights[s], m, seed, "content_noise")
          for p in pair_list for seed in range(seeds) for s in statistics for m in multipliers]


def init_runs(pair_list: list[Pair], statistics, centre_weights: dict, inits, init_pairs: int) -> list[dict]:
  """The init check: the first `init_pairs` pairs of each set (0: all), every statistic at its
  centre weight, each init of `inits` (content_noise is the grid's centre run)."""
  chosen = []
  for name in ("A", "B"):
    members = [p for p in pair_list if p.image_set == name]
    chosen += members if init_pairs <= 0 else members[:init_pairs]
  return [_run(p, s, centre_weights[s], 1.0, 0, init) for p in chosen for init in inits for s in statistics]


def _run(pair: Pair, statistic: str, centre_weight: float, multiplier: float, seed: int, init: str) -> dict:
  """{"overrides": what the sweep runs, "meta": what the analysis groups by}."""
  return {"overrides": {"loss.statistic": statistic, "loss.style_weight": centre_weight * multiplier,
                        "content": pair.content, "styles": (pair.style,), "seed": seed, "optim.init": init},
          "meta": {"set": pair.image_set, "photo": stem(pair.content), "painting": stem(pair.style),
                   "photo_spec": pair.content, "painting_spec": pair.style,
                   "statistic": statistic, "multiplier": multiplier, "seed": seed, "init": init}}
