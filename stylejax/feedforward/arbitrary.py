"""Any painting in one forward pass: `stylejax apply --style-image` and `stylejax grid` for every
arbitrary-style model (`ArbitraryModel`: the pretrained Magenta model here, a trained AdaIN decoder
(`stylejax.feedforward.adain_stylizer`), a trained style-prediction run (`stylejax.networks.
style_prediction.GhiasiModel`); `stylejax.methods.registry` loads the one a checkpoint holds).

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
import hashlib
import math
from pathlib import Path
from typing import Callable, Protocol, Sequence, TypeVar

import jax
import jax.numpy as jnp
import numpy as np

from stylejax.errors import StylejaxError
from stylejax.feedforward import transfer
from stylejax.imaging import crops, grids, images
from stylejax.networks import magenta_arbitrary
from stylejax.imaging import color
from stylejax.io import magenta_release, outputs

T = TypeVar("T")


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


class ArbitraryModel(Protocol):
  """What `apply_to_files` and the grids need of a model that takes any painting."""

  def apply(self, photo: np.ndarray, paintings: list[np.ndarray], weights: np.ndarray, alpha: float = 1.0,
            mask: np.ndarray | None = None, preserve_color: bool = False) -> np.ndarray:
    """The (H, W, 3) [0, 1] photo in the paintings' style, blended by `weights` (normalised), or
    painting k on the k-th luminance band of `mask` (an (h, w, 3) image, any size)."""


class EmbeddingStylizer:
  """The controls of a model that maps a painting to a style embedding and a photo plus an embedding
  to pixels (Ghiasi et al.'s; the pretrained model below). Subclasses give `embedding` and
  `stylize`. Its conditional norms are spatially uniform, so a mask's regions are stylized
  separately and composited."""

  def embedding(self, painting: np.ndarray) -> jax.Array:
    raise NotImplementedError

  def stylize(self, photo: np.ndarray, embedding: jax.Array) -> np.ndarray:
    raise NotImplementedError

  def apply(self, photo: np.ndarray, paintings: list[np.ndarray], weights: np.ndarray, alpha: float = 1.0,
            mask: np.ndarray | None = None, preserve_color: bool = False) -> np.ndarray:
    """Without a mask: the paintings' weighted style. With one: painting k on mask band k (bands of
    equal width over the mask's luminance, dark to light); one painting: dark keeps the photo."""
    _check_alpha(alpha)
    # At alpha 1 the mix below is the paintings' embedding exactly: the style network's pass over the
    # photo is skipped (one of the two or more passes each photo or video frame took).
    own = self.embedding(photo) if alpha < 1 else None
    styles = remembered(self.__dict__.setdefault("_embedded_paintings", {}), paintings,
                        lambda ps: [self.embedding(p) for p in ps])
    if mask is None:
      result = self._one(photo, own, _mix(styles, weights), alpha)
    else:
      layers = [self._one(photo, own, s, alpha) for s in styles]
      if len(layers) == 1:
        layers = [photo] + layers
      labels = region_labels(mask, photo.shape[:2], len(layers))
      result = np.choose(labels[..., None], layers)
    return color.transfer_luminance(result, photo) if preserve_color else result

  def _one(self, photo, own, style, alpha) -> np.ndarray:
    embedding = style if own is None else _mix([own, style], [1 - alpha, alpha])
    return np.clip(np.asarray(self.stylize(photo, embedding)), 0, 1)


def remembered(memo: dict, paintings: Sequence[np.ndarray], embed: Callable[[list[np.ndarray]], T]) -> T:
  """`embed(paintings)`, computed once per list of painting contents and kept in `memo`: apply over
  many photos, a grid and every frame of a video pass the same paintings again. Keyed by digests of
  the pixels (~10 ms for a 1024 px painting), so a painting changed in place is embedded anew."""
  paintings = [np.ascontiguousarray(p) for p in paintings]
  key = tuple((p.shape, p.dtype.str, hashlib.blake2b(p.tobytes(), digest_size=16).digest()) for p in paintings)
  if key not in memo:
    memo[key] = embed(paintings)
  return memo[key]


def _mix(embeddings, weights) -> jax.Array:
  """sum_k w_k e_k / sum_k w_k: interpolating embeddings interpolates styles (both papers' models)."""
  return magenta_arbitrary.interpolate(jnp.stack(embeddings), jnp.asarray(weights, jnp.float32))


class ArbitraryStylizer(EmbeddingStylizer):
  """The pretrained model with its paintings' embeddings; `apply` stylizes photos."""

  def __init__(self, params=None):
    self.params = params if params is not None else magenta_release.load_params()

  def embedding(self, painting: np.ndarray) -> jax.Array:
    return _embed(self.params, jnp.asarray(painting))

  def stylize(self, photo: np.ndarray, embedding: jax.Array) -> np.ndarray:
    return np.asarray(_stylize(self.params, jnp.asarray(photo), embedding))


def apply_to_files(photos: list[Path], style_images: list[str], output: str | Path, *, style_weights: str = "",
                   alpha: float = 1.0, mask: str | None = None, preserve_color: bool = False, size: int = 0,
                   overwrite: bool = False,
                   model: Callable[[], ArbitraryModel] = ArbitraryStylizer) -> list[Path]:
  """Stylizes photo files into `output`/<photo>_<painting(s)>.png, or into the image file `output` (one
  photo; its extension gives the format), with `model()` (default: the pretrained Magenta model). The
  outputs are checked (stylejax.io.outputs), every input read and the model loaded before anything is
  written; an existing output is kept unless `overwrite`."""
  if size < 0:
    raise StylejaxError("--size must be >= 0")
  weights = parse_weights(style_weights, len(style_images))
  if mask is not None and style_weights:
    raise StylejaxError("--mask places each style image on its own region; --style-weights blends them: "
                        "use one or the other")
  _check_alpha(alpha)
  tag = "+".join(Path(s).stem for s in style_images)
  targets = outputs.check_images(output, [f"{p.stem}_{tag}" for p in photos], overwrite, "apply")
  paintings = [images.load_image(s) for s in style_images]
  mask_image = images.load_image(mask) if mask is not None else None
  loaded = [images.load_image(str(p)) for p in photos]
  if size:
    loaded = [images.resize(p, size) for p in loaded]
  stylizer = model()
  results = [stylizer.apply(p, paintings, weights, alpha, mask_image, preserve_color) for p in loaded]
  for target, image in zip(targets, results):
    outputs.save_image(image, target)
  return targets


def _check_alpha(alpha: float) -> None:
  if not (math.isfinite(alpha) and 0 <= alpha <= 1):
    raise StylejaxError(f"--alpha must be in [0, 1], got {alpha}")


def painting_grid(model: ArbitraryModel, photos: list[np.ndarray], paintings: list[np.ndarray]) -> np.ndarray:
  """Photos x paintings, every cell the size of the (same-size) photos: a first row of the paintings
  (cropped to the photos' aspect; white corner), then per photo the photo and its stylizations.
  (H*(1+P), W*(1+K), 3)."""
  h, w, _ = photos[0].shape
  one = np.ones(1, np.float32)
  columns = [[model.apply(photo, [p], one) for photo in photos] for p in paintings]
  return grids.photo_grid(photos, columns, header=[crops.fill(p, h, w) for p in paintings])


def alpha_strip(model: ArbitraryModel, photo: np.ndarray, paintings: list[np.ndarray], weights: np.ndarray,
                steps: int = 5) -> list[np.ndarray]:
  """A strip's cells: the photo, then the paintings' blend at alpha going linearly from 0 to 1 in
  `steps` cells."""
  _check_steps(steps)
  return [photo] + [model.apply(photo, paintings, weights, alpha=float(a)) for a in np.linspace(0, 1, steps)]


def interpolation_strip(model: ArbitraryModel, photo: np.ndarray, paintings: list[np.ndarray], start: str,
                        end: str, steps: int = 5) -> list[np.ndarray]:
  """A strip's cells: the photo, then `steps` blends going linearly from style `start` to style
  `end`: indices of `paintings` or blends of them ("0:0.5,2:0.5"), as `transfer.parse_style` reads them."""
  _check_steps(steps)
  owner = "the list of paintings"
  a, b = transfer.parse_style(start, len(paintings), owner), transfer.parse_style(end, len(paintings), owner)
  return [photo] + [model.apply(photo, paintings, (1 - t) * a + t * b) for t in np.linspace(0, 1, steps)]


def _check_steps(steps: int) -> None:
  if steps < 2:
    raise StylejaxError(f"a strip needs at least 2 steps, got {steps}")


def grid_to_file(photos: Sequence[str], style_images: Sequence[str], output: str | Path, *, size: int = 256,
                 interpolate: tuple[str, str] | None = None, alpha_strip_weights: str | None = None,
                 steps: int = 5, overwrite: bool = False,
                 model: Callable[[], ArbitraryModel] = ArbitraryStylizer) -> np.ndarray:
  """One image file (`output`'s extension gives the format) of `size` px square cells: photos x paintings, or per photo an interpolation strip
  (`interpolate`) or an alpha strip of the paintings blended by `alpha_strip_weights` ("" for equal)."""
  output = outputs.check_file(output, outputs.IMAGES, overwrite, "grid")
  if size < 32:
    raise StylejaxError(f"--size must be at least 32, got {size}")
  if interpolate is not None and alpha_strip_weights is not None:
    raise StylejaxError("one strip at a time: --interpolate or --alpha-strip")
  if not photos:
    raise StylejaxError("give the photos for the grid")
  if not style_images:
    raise StylejaxError("give the paintings for the grid with --style-image")
  if interpolate is not None or alpha_strip_weights is not None:
    _check_steps(steps)
  weights = None if alpha_strip_weights is None else parse_weights(alpha_strip_weights, len(style_images))
  if interpolate is not None:
    for end in interpolate:
      transfer.parse_style(end, len(style_images), "the list of paintings")
  cells = [crops.square(images.load_image(str(p)), size) for p in transfer.image_files(list(photos))]
  paintings = [images.load_image(str(s)) for s in style_images]
  stylizer = model()
  if interpolate is not None:
    grid = grids.tile([interpolation_strip(stylizer, p, paintings, *interpolate, steps=steps) for p in cells])
  elif weights is not None:
    grid = grids.tile([alpha_strip(stylizer, p, paintings, weights, steps) for p in cells])
  else:
    grid = painting_grid(stylizer, cells, paintings)
  outputs.save_image(grid, output)
  return grid
