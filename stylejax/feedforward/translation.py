"""Inference with CycleGAN generators: open one (the pretrained vintagify, a reference .pth file or
a training workdir), translate photos at full resolution, write files.

  translator = Translator.open("vintagify")
  out = translator.apply([photo], "AtoB")   # (H, W, 3) in [0, 1], any size

Any aspect ratio and odd size: each image is reflect-padded to a multiple of 4 and cropped back
(`stylejax.networks.cyclegan.translate`). Images of the same size run in batches.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

from stylejax.errors import StylejaxError
from stylejax.feedforward.transfer import image_files
from stylejax.imaging import grids, images
from stylejax.io import checkpoints, cyclegan_weights, outputs
from stylejax.networks import cyclegan

DIRECTIONS = ("AtoB", "BtoA")
KIND = "cyclegan"  # the network.kind of a CycleGAN training workdir
GENERATOR_OF = {"AtoB": "G_A", "BtoA": "G_B"}  # the reference's names: G_A maps A to B


@functools.partial(jax.jit, static_argnums=0)
def _translate(spec, params, batch):
  return cyclegan.translate(spec, params, batch)


def generator_spec(network: dict) -> cyclegan.GeneratorSpec:
  """The generator of a workdir's config.json `network` block."""
  return cyclegan.GeneratorSpec(n_blocks=network["n_blocks"], ngf=network["ngf"], affine=network["affine"],
                                upsample=network.get("upsample", "transpose"))  # workdirs before it: transpose


@dataclasses.dataclass
class Translator:
  spec: cyclegan.GeneratorSpec
  generators: dict  # direction -> params; a weight file holds one generator, its own "AtoB"
  source: str
  step: int | None = None

  @classmethod
  def open(cls, checkpoint: str | Path, step: int | None = None) -> "Translator":
    """`vintagify`, a reference-layout generator .pth, or a CycleGAN training workdir."""
    name = str(checkpoint)
    if name == cyclegan_weights.VINTAGIFY or Path(name).is_file():
      if step is not None:
        raise StylejaxError(f"{name} is one set of weights; drop --step")
      path = cyclegan_weights.vintagify_path() if name == cyclegan_weights.VINTAGIFY else Path(name)
      spec, params = cyclegan_weights.read_generator(path)
      return cls(spec=spec, generators={"AtoB": params}, source=name)
    return cls.load_workdir(checkpoint, step)

  @classmethod
  def load_workdir(cls, checkpoint: str | Path, step: int | None = None) -> "Translator":
    try:
      workdir = checkpoints.find_workdir(checkpoint)
    except StylejaxError:
      raise StylejaxError(f"no CycleGAN generator at {checkpoint}: --checkpoint takes vintagify, a generator "
                          ".pth in the reference's layout, or a CycleGAN training workdir") from None
    kind = checkpoints.network_kind(workdir)
    if kind != KIND:
      raise StylejaxError(f"{workdir} trained a {kind!r} network, not a CycleGAN one")
    try:
      spec = generator_spec(checkpoints.read_json(workdir, "config.json")["network"])
    except (KeyError, TypeError) as e:
      raise StylejaxError(f"{workdir}: unreadable config.json ({type(e).__name__}: {e})") from None
    one = cyclegan.param_shapes(spec)
    params, step = checkpoints.restore_params(workdir, {"G_A": one, "G_B": one}, step)
    return cls(spec=spec, generators={d: params[GENERATOR_OF[d]] for d in DIRECTIONS}, source=str(workdir),
               step=step)

  def params(self, direction: str):
    if direction not in DIRECTIONS:
      raise StylejaxError(f"--direction must be AtoB or BtoA, got {direction!r}")
    if direction not in self.generators:
      raise StylejaxError(f"{self.source} holds one generator; it translates in its own direction: "
                          "use --direction AtoB (a training workdir holds both)")
    return self.generators[direction]

  def apply(self, photos: list[np.ndarray], direction: str = "AtoB", batch_size: int = 4,
            progress: bool = False) -> list[np.ndarray]:
    """Translates (H, W, 3) [0, 1] images of any sizes; same-size images run in batches."""
    params = self.params(direction)
    out: list[np.ndarray | None] = [None] * len(photos)
    by_shape: dict[tuple, list[int]] = {}
    for i, photo in enumerate(photos):
      by_shape.setdefault(photo.shape, []).append(i)
    chunks = [indices[s:s + batch_size] for indices in by_shape.values() for s in range(0, len(indices), batch_size)]
    for chunk in tqdm(chunks, disable=not progress, desc="translate", unit="batch"):
      result = np.asarray(_translate(self.spec, params, jnp.asarray(np.stack([photos[i] for i in chunk]))))
      for i, image in zip(chunk, result):
        out[i] = image
    return out

  def cycle(self, photo: np.ndarray, direction: str = "AtoB") -> list[np.ndarray]:
    """[photo, translated, translated back]: the cycle the training loss closes."""
    back = "BtoA" if direction == "AtoB" else "AtoB"
    self.params(back)
    there = self.apply([photo], direction)[0]
    return [photo, there, self.apply([there], back)[0]]


def cycle_grid(translator: Translator, photos: list[np.ndarray], direction: str = "AtoB") -> np.ndarray:
  """One row per photo: photo, translated, translated back."""
  return grids.tile([translator.cycle(p, direction) for p in photos])


def translate_files(inputs: list[str], checkpoint: str | Path, output: str | Path, *, direction: str = "AtoB",
                    size: int = 0, batch_size: int = 4, step: int | None = None, cycle: bool = False,
                    overwrite: bool = False, progress: bool = False) -> list[Path]:
  """Translates image files/folders into `output`/<name>_<direction>.png (or the one image file
  `output`). Outputs are checked and every input read before anything is written."""
  if batch_size <= 0 or size < 0:
    raise StylejaxError("--batch-size must be positive and --size >= 0")
  if direction not in DIRECTIONS:
    raise StylejaxError(f"--direction must be AtoB or BtoA, got {direction!r}")
  files = image_files(inputs)
  tag = f"{direction}_cycle" if cycle else direction
  targets = outputs.check_images(output, [f"{f.stem}_{tag}" for f in files], overwrite, "translate")
  translator = Translator.open(checkpoint, step)
  translator.params(direction)
  photos = [images.load_image(str(f)) for f in files]
  if size:
    photos = [images.resize(p, size) for p in photos]
  if cycle:
    results = [grids.tile([translator.cycle(p, direction)]) for p in tqdm(photos, disable=not progress)]
  else:
    results = translator.apply(photos, direction, batch_size, progress)
  for target, image in zip(targets, results):
    outputs.save_image(image, target)
  return targets
