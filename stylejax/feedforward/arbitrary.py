"""Any painting in one forward pass: `stylejax apply --style-image` with the pretrained Magenta model.

The model (Ghiasi et al. 2017, stylejax.networks.magenta_arbitrary) maps a painting to a style
embedding and a photo plus an embedding to the stylized photo. The inference controls:
- several paintings with weights: their embeddings are mixed (the paper's style interpolation);
- alpha: mixes the painting's embedding with the photo's own (1: the painting, 0: the photo's own
  style), the paper's content/style trade-off for this model;
- a mask: regions of the photo get different styles. The model's conditional norms are spatially
  uniform, so the regions are stylized separately and composited by the (resized, soft) mask.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from stylejax.errors import StylejaxError
from stylejax.io import images
from stylejax.networks import magenta_arbitrary
from stylejax.pixel import color


@functools.partial(jax.jit, static_argnames="quantize")
def _embed(params, painting, quantize=True):
  return magenta_arbitrary.style_embedding(params, painting, quantize=quantize)


@functools.partial(jax.jit, static_argnames="quantize")
def _stylize(params, photo, embedding, quantize=True):
  return magenta_arbitrary.stylize(params, photo, embedding, quantize=quantize)


def parse_weights(spec: str, n_styles: int) -> np.ndarray:
  """'0.7,0.3' -> normalised weights, one per style image; empty: equal weights."""
  if not spec:
    return np.full(n_styles, 1.0 / n_styles, np.float32)
  try:
    weights = np.array([float(w) for w in spec.split(",")], np.float32)
  except ValueError:
    raise StylejaxError(f"--style-weights must be numbers separated by commas, got {spec!r}") from None
  if len(weights) != n_styles:
    raise StylejaxError(f"--style-weights has {len(weights)} weight(s) for {n_styles} style image(s)")
  if not np.all(np.isfinite(weights)) or np.any(weights < 0) or weights.sum() <= 0:
    raise StylejaxError(f"--style-weights must be >= 0 with a positive sum, got {spec!r}")
  return weights / weights.sum()


def region_labels(mask: np.ndarray, shape: tuple[int, int], n_regions: int) -> np.ndarray:
  """A mask image (any size; its luminance) as a region index per photo pixel: n equal value bands."""
  gray = images.resize(mask, shape).mean(axis=-1)
  return np.minimum((gray * n_regions).astype(np.int32), n_regions - 1)


class ArbitraryStylizer:
  """The pretrained model with its paintings' embeddings; `apply` stylizes photos."""

  def __init__(self, params=None):
    self.params = params if params is not None else magenta_arbitrary.load_params()

  def embedding(self, painting: np.ndarray) -> jax.Array:
    return _embed(self.params, jnp.asarray(painting))

  def apply(self, photo: np.ndarray, paintings: list[np.ndarray], weights: np.ndarray, alpha: float = 1.0,
            mask: np.ndarray | None = None, preserve_color: bool = False) -> np.ndarray:
    """Without a mask: the paintings' weighted style. With one: painting k on mask band k (bands of
    equal width over the mask's luminance, dark to light); one painting: dark keeps the photo."""
    if not (math.isfinite(alpha) and 0 <= alpha <= 1):
      raise StylejaxError(f"--alpha must be in [0, 1], got {alpha}")
    own = self.embedding(photo)
    styles = [self.embedding(p) for p in paintings]
    if mask is None:
      mixed = magenta_arbitrary.interpolate(jnp.stack(styles), jnp.asarray(weights))
      result = self._one(photo, own, mixed, alpha)
    else:
      layers = [self._one(photo, own, s, alpha) for s in styles]
      if len(layers) == 1:
        layers = [photo] + layers
      labels = region_labels(mask, photo.shape[:2], len(layers))
      result = np.choose(labels[..., None], layers)
    return color.transfer_luminance(result, photo) if preserve_color else result

  def _one(self, photo, own, style, alpha) -> np.ndarray:
    embedding = magenta_arbitrary.interpolate(jnp.stack([own, style]), jnp.asarray([1 - alpha, alpha]))
    return np.clip(np.asarray(_stylize(self.params, jnp.asarray(photo), embedding)), 0, 1)


def apply_to_files(photos: list[Path], style_images: list[str], output: str | Path, *, style_weights: str = "",
                   alpha: float = 1.0, mask: str | None = None, preserve_color: bool = False, size: int = 0,
                   overwrite: bool = False) -> list[Path]:
  """Stylizes photo files into `output`/<photo>_<painting(s)>.png. Every input is read and checked
  before anything is written; an existing output is kept unless `overwrite`."""
  if size < 0:
    raise StylejaxError("--size must be >= 0")
  weights = parse_weights(style_weights, len(style_images))
  if mask is not None and style_weights:
    raise StylejaxError("--mask places each style image on its own region; --style-weights blends them: "
                        "use one or the other")
  if not (math.isfinite(alpha) and 0 <= alpha <= 1):
    raise StylejaxError(f"--alpha must be in [0, 1], got {alpha}")
  tag = "+".join(Path(s).stem for s in style_images)
  targets = [Path(output) / f"{p.stem}_{tag}.png" for p in photos]
  if len(set(targets)) != len(targets):
    raise StylejaxError("two inputs have the same file name; stylize them into separate folders")
  existing = [t for t in targets if t.exists()]
  if existing and not overwrite:
    raise StylejaxError(f"{existing[0]} exists; pass --overwrite to replace it")
  paintings = [images.load_image(s) for s in style_images]
  mask_image = images.load_image(mask) if mask is not None else None
  loaded = [images.load_image(str(p)) for p in photos]
  if size:
    loaded = [images.resize(p, size) for p in loaded]
  stylizer = ArbitraryStylizer()
  results = [stylizer.apply(p, paintings, weights, alpha, mask_image, preserve_color) for p in loaded]
  for target, image in zip(targets, results):
    images.save_png(image, target)
  return targets
