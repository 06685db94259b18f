"""Inference with a trained style network: load a checkpoint, stylize photos, blend, render grids.

  stylizer = Stylizer.load("workdirs/cin_tiny")        # the training workdir (latest checkpoint)
  stylizer = Stylizer.load("multistyle26")             # a pretrained network (stylejax.io.cin_release)
  out = stylizer.apply([photo], style="1:0.5,3:0.5", strength=0.8, preserve_color=True)

A style is an index ("2"), or a blend "i:w,j:w,..." whose non-negative weights are normalised to sum
to 1 (a convex combination of the styles' conditional-norm rows, Dumoulin et al. Fig. 7).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from stylejax.io import checkpoints, cin_release, outputs
from stylejax.imaging import color, grids, images
from stylejax.imaging.crops import square
from stylejax.networks import stylenet
from stylejax.errors import StylejaxError


def parse_style(spec: str | int, n_styles: int, owner: str = "this network") -> np.ndarray:
  """"3" or 3 -> one-hot; "3:0.5,7:0.5" -> normalised blend weights, (n_styles,) float32.
  `owner` names what holds the styles in the error messages."""
  weights = np.zeros(n_styles, np.float32)
  for item in str(spec).split(","):
    index, _, weight = item.strip().partition(":")
    try:
      i, w = int(index), float(weight) if weight else 1.0
    except ValueError:
      raise StylejaxError(f"bad style {spec!r}: use an index like 3 or a blend like 3:0.5,7:0.5") from None
    if not 0 <= i < n_styles:
      raise StylejaxError(f"style index {i} is out of range: {owner} has {n_styles} styles (0..{n_styles - 1})")
    if not math.isfinite(w) or w < 0:
      raise StylejaxError(f"blend weights must be finite and >= 0, got {w} for style {i}")
    weights[i] += w
  if not weights.sum() > 0:
    raise StylejaxError(f"blend weights in {spec!r} must sum to a positive number")
  return weights / weights.sum()


@functools.partial(jax.jit, static_argnums=0)
def _stylize(spec, params, batch, style_weights):
  return stylenet.stylize(spec, params, batch, style_weights)


def style_grid(spec: stylenet.NetworkSpec, params, photos: list[np.ndarray], styles=None) -> np.ndarray:
  """Rows: photos (same shape); columns: the photo, then every style (or those of `styles`)."""
  batch = jnp.asarray(np.stack(photos))
  return grids.photo_grid(photos, [
      np.asarray(_stylize(spec, params, batch, stylenet.one_hot(jnp.int32(s), spec.n_styles)))
      for s in (range(spec.n_styles) if styles is None else styles)])


CIN_KINDS = ("cin", "cin_newstyle")  # the network.kind of workdirs holding a stylenet (stylejax.methods)
DEFAULT_GRID_PHOTOS = ("astronaut", "coffee", "chelsea")  # a pretrained network's grid rows


def network_spec(checkpoint: str | Path) -> tuple[stylenet.NetworkSpec, list[str]]:
  """(structure, style names) of a CIN network, read without its weights: a training workdir of a
  stylenet kind, or a pretrained network's name."""
  if cin_release.is_release(checkpoint):
    release = cin_release.get(str(checkpoint))
    return release.spec, cin_release.style_names(release)
  workdir = checkpoints.find_workdir(checkpoint)
  kind = checkpoints.network_kind(workdir)
  if kind not in CIN_KINDS:
    raise StylejaxError(f"{workdir} trained an {kind} network, not a CIN one (stylejax.methods.registry "
                        "loads every kind)")
  try:
    net = checkpoints.read_json(workdir, "config.json")["network"]
    style_names = checkpoints.read_json(workdir, "styles.json")
    spec = stylenet.NetworkSpec(n_styles=len(style_names), widths=tuple(net["widths"]),
                                width_multiplier=net["width_multiplier"], n_residual=net["n_residual"],
                                conditional=net["conditional"], up_widths=tuple(net.get("up_widths", ())))
  except (KeyError, TypeError) as e:
    raise StylejaxError(f"{workdir}: unreadable config.json/styles.json ({type(e).__name__}: {e})") from None
  return spec, style_names


@dataclasses.dataclass
class Stylizer:
  spec: stylenet.NetworkSpec
  params: dict
  style_names: list[str]
  step: int

  @classmethod
  def load(cls, checkpoint: str | Path, step: int | None = None) -> "Stylizer":
    """From a training workdir (or its checkpoints/ folder), the latest checkpoint by default; or a
    pretrained network by name (stylejax.io.cin_release: multistyle26)."""
    if cin_release.is_release(checkpoint):
      if step is not None:
        raise StylejaxError(f"{checkpoint} is a pretrained network with one set of weights; drop --step")
      spec, params, style_names = cin_release.load(str(checkpoint))
      return cls(spec=spec, params=params, style_names=style_names, step=0)
    workdir = checkpoints.find_workdir(checkpoint)
    spec, style_names = network_spec(workdir)
    like = jax.eval_shape(lambda: stylenet.init_params(spec, jax.random.key(0)))
    params, step = checkpoints.restore_params(workdir, like, step)
    return cls(spec=spec, params=params, style_names=style_names, step=step)

  @property
  def n_styles(self) -> int:
    return self.spec.n_styles

  def apply(self, photos: list[np.ndarray], style: str | int | np.ndarray = 0, strength: float = 1.0,
            preserve_color: bool = False, batch_size: int = 4) -> list[np.ndarray]:
    """Stylizes (H, W, 3) [0, 1] photos of any sizes; same-size photos run in batches."""
    if not (math.isfinite(strength) and 0 <= strength <= 1):
      raise StylejaxError(f"strength must be in [0, 1], got {strength}")
    weights = style if isinstance(style, np.ndarray) else parse_style(style, self.n_styles)
    out: list[np.ndarray | None] = [None] * len(photos)
    by_shape: dict[tuple, list[int]] = {}
    for i, photo in enumerate(photos):
      by_shape.setdefault(photo.shape, []).append(i)
    for indices in by_shape.values():
      for start in range(0, len(indices), batch_size):
        chunk = indices[start:start + batch_size]
        batch = np.stack([photos[i] for i in chunk])
        result = np.asarray(_stylize(self.spec, self.params, jnp.asarray(batch), jnp.asarray(weights)))
        for i, image in zip(chunk, result):
          image = strength * image + (1 - strength) * photos[i]
          out[i] = color.transfer_luminance(image, photos[i]) if preserve_color else image
    return out

  def grid(self, photos: list[np.ndarray], size: int = 256) -> np.ndarray:
    return style_grid(self.spec, self.params, [square(p, size) for p in photos])

  def interpolation(self, photo: np.ndarray, start: str, end: str, steps: int = 5) -> np.ndarray:
    """A strip: the photo, then `steps` blends going linearly from style `start` to style `end`."""
    return grids.tile([self.interpolation_cells(photo, start, end, steps)])

  def interpolation_cells(self, photo: np.ndarray, start: str, end: str, steps: int = 5) -> list[np.ndarray]:
    """The cells of `interpolation`'s strip."""
    if steps < 2:
      raise StylejaxError(f"an interpolation needs at least 2 steps, got {steps}")
    a, b = parse_style(start, self.n_styles), parse_style(end, self.n_styles)
    return [photo] + [self.apply([photo], (1 - t) * a + t * b)[0] for t in np.linspace(0, 1, steps)]


def image_files(inputs: list[str]) -> list[Path]:
  """Files as given, folders expanded to their images (sorted), named photos (astronaut...) kept;
  missing paths are errors."""
  files = []
  for item in inputs:
    path = Path(item)
    if item in images.NAMED_IMAGES and not path.exists():
      files.append(path)
    elif path.is_dir():
      found = sorted(p for p in path.iterdir() if p.suffix.lower() in images.IMAGE_EXTENSIONS and p.is_file())
      if not found:
        raise StylejaxError(f"no images in folder {path}")
      files += found
    elif path.is_file():
      files.append(path)
    else:
      raise StylejaxError(f"{item}: no such image file or folder")
  return files


def _style_tag(style: str) -> str:
  return "style" + str(style).replace(":", "-").replace(",", "_")


def apply_to_files(inputs: list[str], checkpoint: str | Path, output: str | Path, *, style: str = "0",
                   strength: float = 1.0, preserve_color: bool = False, size: int = 0, batch_size: int = 4,
                   step: int | None = None, overwrite: bool = False, mask: str | None = None,
                   load=None) -> list[Path]:
  """Stylizes image files/folders into `output`/<name>_<style>.png, or into the image file `output`
  (one photo; its extension gives the format). The outputs are checked (stylejax.io.outputs) and
  every input read before anything is written; an existing output file is kept unless `overwrite`.
  `load(checkpoint, step)` gives the model (default: `Stylizer.load`, CIN); with `mask` (an image
  file) the model's `apply_regions` puts the listed styles on its bands (StyleBank)."""
  if batch_size <= 0 or size < 0:
    raise StylejaxError("--batch-size must be positive and --size >= 0")
  files = image_files(inputs)
  tag = _style_tag(style) + ("_mask" if mask is not None else "")
  targets = outputs.check_images(output, [f"{f.stem}_{tag}" for f in files], overwrite, "apply")
  mask_image = images.load_image(mask) if mask is not None else None
  stylizer = (load or Stylizer.load)(checkpoint, step)
  photos = [images.load_image(str(f)) for f in files]
  if size:
    photos = [images.resize(p, size) for p in photos]
  if mask_image is not None:
    if not hasattr(stylizer, "apply_regions"):
      raise StylejaxError(f"--mask places styles on regions of a StyleBank; {checkpoint} cannot")
    regions = stylizer.parse_regions(style)
    results = [stylizer.apply_regions(p, regions, mask_image, strength=strength, preserve_color=preserve_color)
               for p in photos]
  else:
    results = stylizer.apply(photos, parse_style(style, stylizer.n_styles), strength=strength,
                             preserve_color=preserve_color, batch_size=batch_size)
  for target, image in zip(targets, results):
    outputs.save_image(image, target)
  return targets


def grid_to_file(inputs: list[str], checkpoint: str | Path, output: str | Path, *, size: int = 256,
                 interpolate: tuple[str, str] | None = None, steps: int = 5, step: int | None = None,
                 overwrite: bool = False, load=None) -> np.ndarray:
  """Photos x all styles (default photos: the run's eval_images), or an interpolation strip per photo, as
  the image file `output` (its extension gives the format). `load` as `apply_to_files`'s."""
  output = outputs.check_file(output, outputs.IMAGES, overwrite, "grid")
  if size < 16:
    raise StylejaxError(f"--size must be at least 16, got {size}")
  stylizer = (load or Stylizer.load)(checkpoint, step)
  if inputs:
    photos = [images.load_image(str(f)) for f in image_files(inputs)]
  elif cin_release.is_release(checkpoint):  # no training run: the default eval photos
    photos = [images.load_image(p) for p in DEFAULT_GRID_PHOTOS]
  else:
    config = checkpoints.read_json(checkpoints.find_workdir(checkpoint), "config.json")
    photos = [images.load_image(p) for p in config["eval_images"]]
  photos = [square(p, size) for p in photos]
  if interpolate is None:
    grid = stylizer.grid(photos, size)
  else:
    grid = grids.tile([stylizer.interpolation_cells(p, *interpolate, steps=steps) for p in photos])
  outputs.save_image(grid, output)
  return grid
