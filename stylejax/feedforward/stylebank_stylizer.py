"""Inference with a trained StyleBank: its styles one at a time, linearly fused, or one per region.

  stylizer = StyleBankStylizer.load("workdirs/stylebank_tiny")
  out = stylizer.apply([photo], style="0:0.5,2:0.5")              # linear fusion of two banks
  out = stylizer.apply_regions(photo, [0, 2], mask_image)         # style 0 on the mask's dark band, 2 on the light

A style is chosen as for CIN (`transfer.parse_style`: "2", or a blend "0:0.7,1:0.3"); the blend
weights the banks' outputs (`stylejax.networks.stylebank.fuse_banks`). A region mask is an image whose
luminance, cut into as many equal bands as listed styles (dark to light), places style k on band k;
with one style, the dark band keeps the photo (through the auto-encoder alone).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from stylejax.errors import StylejaxError
from stylejax.feedforward import transfer
from stylejax.imaging import color, grids, images
from stylejax.imaging.crops import square
from stylejax.io import checkpoints
from stylejax.networks import stylebank


@functools.partial(jax.jit, static_argnums=0)
def _stylize(spec, params, batch, weights):
  return stylebank.stylize(spec, params, batch, weights)


@functools.partial(jax.jit, static_argnums=0)
def _reconstruct(spec, params, batch):
  return stylebank.stylize(spec, params, batch, jnp.zeros((spec.n_styles,), jnp.float32))


def style_grid(spec: stylebank.StyleBankSpec, params, photos: list[np.ndarray]) -> np.ndarray:
  """Rows: photos (same shape); columns: the photo, every style, then the auto-encoder's reconstruction."""
  batch = jnp.asarray(np.stack(photos))
  columns = [np.asarray(_stylize(spec, params, batch, jax.nn.one_hot(s, spec.n_styles))) for s in range(spec.n_styles)]
  return grids.photo_grid(photos, columns + [np.asarray(_reconstruct(spec, params, batch))])


def region_weights(mask: np.ndarray, shape: tuple[int, int], style_ids: list[int], n_styles: int) -> np.ndarray:
  """(H, W, n_styles) per-pixel bank weights: style_ids[k] on the k-th luminance band of `mask`
  (resized to `shape`); one style: two bands, the dark one without a style."""
  layers = ([None] + list(style_ids)) if len(style_ids) == 1 else list(style_ids)
  gray = images.resize(mask, shape).mean(axis=-1)
  labels = np.minimum((gray * len(layers)).astype(np.int32), len(layers) - 1)
  weights = np.zeros((*shape, n_styles), np.float32)
  for band, style in enumerate(layers):
    if style is not None:
      weights[..., style] += labels == band
  return weights


def parse_region_styles(spec: str, n_styles: int) -> list[int]:
  """"0,2" -> [0, 2]: the styles of a mask's bands, dark to light (no blend weights)."""
  if ":" in str(spec):
    raise StylejaxError(f"with --mask, --style lists one style per region (e.g. 0,2), not blend weights: {spec!r}")
  ids = [int(np.argmax(transfer.parse_style(item, n_styles))) for item in str(spec).split(",")]
  return ids


@dataclasses.dataclass
class StyleBankStylizer:
  spec: stylebank.StyleBankSpec
  params: dict
  style_names: list[str]
  step: int

  @classmethod
  def load(cls, checkpoint: str | Path, step: int | None = None) -> "StyleBankStylizer":
    """From a `network.kind=stylebank` training workdir (or its checkpoints/ folder); latest step by default."""
    workdir = checkpoints.find_workdir(checkpoint)
    kind = checkpoints.network_kind(workdir)
    if kind != "stylebank":
      raise StylejaxError(f"{workdir} trained a {kind} network, not a StyleBank")
    try:
      net = checkpoints.read_json(workdir, "config.json")["network"]
      style_names = [str(s) for s in checkpoints.read_json(workdir, "styles.json")]
      spec = stylebank.StyleBankSpec(n_styles=len(style_names), widths=tuple(net["widths"]),
                                     width_multiplier=net["width_multiplier"], bank_layers=net["bank_layers"],
                                     bank_kernel=net["bank_kernel"])
    except (KeyError, TypeError, ValueError) as e:
      raise StylejaxError(f"{workdir}: unreadable config.json/styles.json ({type(e).__name__}: {e})") from None
    like = stylebank.param_shapes(spec)
    params, step = checkpoints.restore_params(workdir, like, step)
    return cls(spec=spec, params=params, style_names=style_names, step=step)

  @property
  def n_styles(self) -> int:
    return self.spec.n_styles

  def parse_regions(self, spec: str) -> list[int]:
    return parse_region_styles(spec, self.n_styles)

  def _finish(self, image: np.ndarray, photo: np.ndarray, strength: float, preserve_color: bool) -> np.ndarray:
    image = strength * image + (1 - strength) * photo
    return color.transfer_luminance(image, photo) if preserve_color else image

  def apply(self, photos: list[np.ndarray], style: str | int | np.ndarray = 0, strength: float = 1.0,
            preserve_color: bool = False, batch_size: int = 4) -> list[np.ndarray]:
    """(H, W, 3) [0, 1] photos of any sizes in a style or a linear fusion of styles; same-size photos
    run in batches. `strength` fades to the photo, as CIN's."""
    _check_strength(strength)
    weights = style if isinstance(style, np.ndarray) else transfer.parse_style(style, self.n_styles)
    out: list[np.ndarray | None] = [None] * len(photos)
    by_shape: dict[tuple, list[int]] = {}
    for i, photo in enumerate(photos):
      by_shape.setdefault(photo.shape, []).append(i)
    for indices in by_shape.values():
      for start in range(0, len(indices), batch_size):
        chunk = indices[start:start + batch_size]
        result = np.asarray(_stylize(self.spec, self.params, jnp.asarray(np.stack([photos[i] for i in chunk])),
                                     jnp.asarray(weights)))
        for i, image in zip(chunk, result):
          out[i] = self._finish(image, photos[i], strength, preserve_color)
    return out

  def apply_regions(self, photo: np.ndarray, style_ids: list[int], mask: np.ndarray, strength: float = 1.0,
                    preserve_color: bool = False) -> np.ndarray:
    """The photo with style_ids[k] on the k-th luminance band of `mask` (any size), fused on the
    encoder's features (the paper's region-specific fusion)."""
    _check_strength(strength)
    weights = region_weights(mask, photo.shape[:2], style_ids, self.n_styles)
    result = np.asarray(_stylize(self.spec, self.params, jnp.asarray(photo), jnp.asarray(weights)))
    return self._finish(result, photo, strength, preserve_color)

  def grid(self, photos: list[np.ndarray], size: int = 256) -> np.ndarray:
    return style_grid(self.spec, self.params, [square(p, size) for p in photos])

  def interpolation_cells(self, photo: np.ndarray, start: str, end: str, steps: int = 5) -> list[np.ndarray]:
    """The photo, then `steps` linear fusions going from style `start` to style `end`."""
    if steps < 2:
      raise StylejaxError(f"an interpolation needs at least 2 steps, got {steps}")
    a, b = transfer.parse_style(start, self.n_styles), transfer.parse_style(end, self.n_styles)
    return [photo] + [self.apply([photo], (1 - t) * a + t * b)[0] for t in np.linspace(0, 1, steps)]


def _check_strength(strength: float) -> None:
  if not (math.isfinite(strength) and 0 <= strength <= 1):
    raise StylejaxError(f"strength must be in [0, 1], got {strength}")
