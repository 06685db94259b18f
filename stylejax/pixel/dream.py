"""DeepDream: the canonical loop of google/deepdream (2015) on stylejax's pixel objective.

The objective is the pixel optimizer's weighted sum of named terms (`optimize.loss_terms`): the
dream term (minus a layer's response, `objectives/terms/dream.py`), alone or with content, style
and tv terms. One step, as the notebook's `make_step`:
  roll the image by a random shift of up to +-jitter px (both sides inclusive), take the gradient
  of the objective there, roll it back, step by step_size / mean|g| against it (the TensorFlow
  tutorial's g / std(g) with `normalize="std"`), clip the pixels to [0, 1].
Octaves, as its `deepdream`: the photo at `octaves` sizes, each 1/octave_scale of the next; the
smallest is dreamt first, and each larger octave starts from its own photo plus the detail the
dream added so far, upsampled (bilinear).
Tiles (`tile_size`): the gradient is the sum of the gradients of equal tiles, computed one after
the other (`lax.map`), so memory is that of one tile; as in the TensorFlow tutorial's
`TiledGradients`, the tile grid starts at a random offset each step, so no seam stays in place.
Lucid's transforms (`transforms`): each gradient is taken through a random pad, scale, rotation and
jitter of the image (`stylejax.imaging.transforms`).

The static settings (`DreamLoop`) and the objective's structure (`PixelProblem`) decide the
compiled step; the step size, the terms' weights (layer weights, channel masks) and the key are
arguments, so a sweep over them is one vmapped program (`stylejax.pixel.dream_sweep`).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from tqdm import tqdm

from stylejax import configuration
from stylejax.errors import StylejaxError
from stylejax.imaging import images, transforms
from stylejax.io.rundir import StagedRun
from stylejax.objectives import dream_networks, loss_network, objective
from stylejax.objectives import terms as term_registry
from stylejax.objectives.terms import dream as dream_term
from stylejax.pixel.optimize import PixelProblem, loss_terms

NORMALIZATIONS = configuration.DREAM_NORMALIZATIONS
MIN_OCTAVE_SIDE = configuration.MIN_OCTAVE_SIDE
EPSILON = 1e-8  # the TF tutorial's, added to std(g); also to mean|g| (zero on a blank layer)


@dataclasses.dataclass(frozen=True)
class DreamLoop:
  """What decides the compiled step besides the objective (hashable: a jit static argument)."""
  jitter: int = 32
  normalize: str = "mean_abs"
  clip: bool = True
  tile_size: int = 0  # 0: the whole image at once
  transforms: bool = False

  def __post_init__(self):
    if self.normalize not in NORMALIZATIONS:
      raise StylejaxError(f"dream.normalize must be one of {', '.join(NORMALIZATIONS)}, got {self.normalize!r}")


def loop_from_config(config) -> DreamLoop:
  d = config.dream
  return DreamLoop(jitter=int(d.jitter), normalize=d.normalize, clip=bool(d.clip), tile_size=int(d.tile_size),
                   transforms=bool(d.transforms))


# ---- the gradient -----------------------------------------------------------------------------

def _objective(problem: PixelProblem, loop: DreamLoop, params, targets, weights, key):
  """image -> ({term: value, "total": sum}) through lucid's transforms when asked for."""
  loss_key, transform_key = jax.random.split(key)

  def terms_at(image):
    seen = transforms.lucid(image, transform_key) if loop.transforms else image
    return loss_terms(problem, seen, params, targets, weights, loss_key)
  return terms_at


def tile_grid(height: int, width: int, tile: int) -> tuple[int, int, int, int]:
  """(rows, cols, tile height, tile width): the fewest tiles of at most `tile` px that cover the image,
  all of one size (their grid covers at most rows - 1 and cols - 1 px more than the image)."""
  rows, cols = math.ceil(height / tile), math.ceil(width / tile)
  return rows, cols, math.ceil(height / rows), math.ceil(width / cols)


def gradient(problem: PixelProblem, loop: DreamLoop, image, params, targets, weights, key):
  """(terms, d total / d image) of one (H, W, 3) image, tiled when `loop.tile_size` is set.

  Tiled, the objective is the sum of the tiles' objectives weighted by each tile's share of the
  pixels (the terms are means over pixels), so where a pixel is farther from its tile's border
  than the network sees, its gradient is the untiled one. The grid starts at
  a random offset (a roll), padded at the bottom/right by reflection to whole tiles.
  """
  height, width = image.shape[:2]
  objective_key, offset_key = jax.random.split(key)
  terms_at = _objective(problem, loop, params, targets, weights, objective_key)
  value_and_grad = jax.value_and_grad(lambda x: (lambda t: (t["total"], t))(terms_at(x)), has_aux=True)
  if not loop.tile_size or (height <= loop.tile_size and width <= loop.tile_size):
    (_, values), grad = value_and_grad(image)
    return values, grad
  rows, cols, th, tw = tile_grid(height, width, loop.tile_size)
  offset = tile_offset(offset_key, th, tw)
  x = jnp.roll(image, offset, axis=(0, 1))
  x = jnp.pad(x, ((0, rows * th - height), (0, cols * tw - width), (0, 0)), mode="reflect")
  tiles = x.reshape(rows, th, cols, tw, 3).transpose(0, 2, 1, 3, 4).reshape(rows * cols, th, tw, 3)
  (_, values), grads = jax.lax.map(value_and_grad, tiles)
  share = th * tw / (height * width)  # a tile's pixels over the image's: the terms are means over pixels
  grad = grads.reshape(rows, cols, th, tw, 3).transpose(0, 2, 1, 3, 4).reshape(rows * th, cols * tw, 3) * share
  grad = jnp.roll(grad[:height, :width], -offset, axis=(0, 1))
  return jax.tree.map(lambda v: jnp.sum(v, axis=0) * share, values), grad


def tile_offset(key, tile_height: int, tile_width: int):
  """Where the tile grid starts this step: uniform over one tile (the TF tutorial rolls by up to a tile)."""
  return jax.random.randint(key, (2,), 0, jnp.asarray([tile_height, tile_width]))


def normalized(grad, how: str):
  scale = jnp.std(grad) if how == "std" else jnp.mean(jnp.abs(grad))
  return grad / (scale + EPSILON)


@functools.partial(jax.jit, static_argnames=("problem", "loop"))
def step(problem: PixelProblem, loop: DreamLoop, image, params, targets, weights, step_size, key):
  """One dream step of one (H, W, 3) image; returns (the new image, the terms before the step)."""
  roll_key, grad_key = jax.random.split(key)
  shift = jax.random.randint(roll_key, (2,), -loop.jitter, loop.jitter + 1)
  values, grad = gradient(problem, loop, jnp.roll(image, shift, axis=(0, 1)), params, targets, weights, grad_key)
  grad = jnp.roll(grad, -shift, axis=(0, 1))
  image = image - step_size * normalized(grad, loop.normalize)  # the dream term is minus the response
  return (jnp.clip(image, 0.0, 1.0) if loop.clip else image), values


def step_key(key, octave: int, index: int):
  return jax.random.fold_in(jax.random.fold_in(key, octave), index)


# ---- octaves ----------------------------------------------------------------------------------

def octave_sizes(height: int, width: int, octaves: int, scale: float) -> list[tuple[int, int]]:
  """Sizes from the smallest to (height, width), each about 1/scale of the next, rounded one after
  the other as the notebook's repeated `nd.zoom(octave, 1/octave_scale)` does."""
  sizes = [(height, width)]
  for _ in range(octaves - 1):
    h, w = sizes[-1]
    sizes.append((max(1, round(h / scale)), max(1, round(w / scale))))
  return sizes[::-1]


def upsample(detail: jax.Array, size: tuple[int, int]) -> jax.Array:
  """The dream's detail at the next octave's size (bilinear, as the notebook's `nd.zoom(order=1)`)."""
  return jax.image.resize(detail, (*size, detail.shape[-1]), "linear")


def octave_images(photo: np.ndarray, sizes) -> list[np.ndarray]:
  return [images.resize(photo, size) for size in sizes]


# ---- a run from a config ----------------------------------------------------------------------

@dataclasses.dataclass
class DreamResult:
  image: np.ndarray  # (H, W, 3) float32 in [0, 1]
  metrics: list[dict]
  workdir: Path | None


def network_and_params(config):
  """(the dream network, its parameters): the loss block's VGG, or alexnet / mobilenet_v2."""
  if config.dream.network == "vgg":
    loaded = loss_network.load_weights(config.loss)
    return loss_network.from_config(config.loss, loaded), loaded.params
  return dream_networks.load(config.dream.network)


def problem_from_config(config, net, dream_layers: tuple[str, ...] = ()) -> PixelProblem:
  """The objective's structure; `dream_layers` adds layers to the dream term's (a sweep's union)."""
  terms = list(objective.terms_from_config(config, net))
  for i, term in enumerate(terms):
    if isinstance(term, dream_term.Dream) and dream_layers:
      terms[i] = dataclasses.replace(term, layers=tuple(sorted({*term.layers, *dream_layers})))
  return PixelProblem(loss=net, terms=tuple(terms))


def weights_from_config(config, problem: PixelProblem) -> dict:
  """{term: its weights}; the dream term's cover every layer of the problem's dream term."""
  arch = config.loss.network.arch
  out = {}
  for term in problem.terms:
    if isinstance(term, dream_term.Dream):
      out[term.name] = dream_term.Dream.weights(config, arch, term.layers)
    else:
      out[term.name] = term_registry.lookup(term.name).weights(config, arch)
  return out


def load_inputs(config) -> dict:
  """The photo and whatever the terms read: paintings (style), the guide (guided dream)."""
  photo = images.load_image(config.content, config.max_pixels)
  return {"photo": images.resize(photo, config.image_size), **side_inputs(config)}


def side_inputs(config) -> dict:
  """What the terms read besides the photo (the same for every frame of a video)."""
  inputs = {"styles": [images.load_image(s, config.max_pixels) for s in config.styles]}
  if config.dream.objective == "guided":
    inputs["guide"] = images.resize(images.load_image(config.dream.guide, config.max_pixels),
                                    config.dream.guide_size or config.image_size)
  return inputs


def targets_at(problem, params, inputs, photo_at_size, config):
  """{term: its targets} at one octave: content from the photo at that size, styles scaled with it."""
  size = max(photo_at_size.shape[:2])
  styles = [images.resize(s, max(32, round(config.style_scale * size))) for s in inputs["styles"]]
  return objective.targets_of(problem.terms, problem.loss, params,
                              {"content": photo_at_size, "styles": styles, "guide": inputs.get("guide")})


def run(config: ml_collections.ConfigDict, workdir: str | Path | None = None, overwrite: bool = False,
        quiet: bool = False) -> DreamResult:
  """Validates everything and reads every input, then dreams; writes the workdir only at the end."""
  staged = StagedRun(workdir, overwrite, "dream") if workdir is not None else None
  validate(config)
  inputs = load_inputs(config)
  net, params = network_and_params(config)
  problem = problem_from_config(config, net)
  weights = weights_from_config(config, problem)
  loop = loop_from_config(config)
  sizes = octave_sizes(*inputs["photo"].shape[:2], config.dream.octaves, config.dream.octave_scale)
  check_sizes(sizes)
  run_dir = staged.open() if staged is not None else None
  try:
    image, metrics = dream(problem, loop, inputs, params, weights, config, sizes, run_dir, quiet)
    workdir_path = None
    if run_dir is not None:
      run_dir.write_json("config.json", json.loads(config.to_json_best_effort()))
      images.save_png(image, run_dir.path("final.png"))
      run_dir.write_json("summary.json", {"status": "finished", "octaves": [list(s) for s in sizes],
                                          "final": metrics[-1] if metrics else None})
      workdir_path = run_dir.commit()
  except BaseException:
    if run_dir is not None:
      run_dir.abort()
    raise
  return DreamResult(image=image, metrics=metrics, workdir=workdir_path)


def dream(problem, loop, inputs, params, weights, config, sizes, run_dir=None, quiet=True):
  """The octave loop of one photo; returns (the dream, one metrics record per octave)."""
  key = jax.random.key(config.seed)
  step_size = jnp.float32(config.dream.step_size)
  bases = octave_images(inputs["photo"], sizes)
  detail = jnp.zeros_like(jnp.asarray(bases[0]))
  metrics, start = [], time.perf_counter()
  progress = tqdm(total=len(sizes) * config.dream.steps, disable=quiet, desc="dream", unit="step")
  for octave, base in enumerate(bases):
    base = jnp.asarray(base)
    targets = targets_at(problem, params, inputs, np.asarray(base), config)
    image = base + upsample(detail, base.shape[:2])
    if loop.clip:
      image = jnp.clip(image, 0.0, 1.0)
    values = None
    for i in range(config.dream.steps):
      image, values = step(problem, loop, image, params, targets, weights, step_size, step_key(key, octave, i))
      progress.update(1)
    detail = image - base
    record = {"octave": octave, "height": int(base.shape[0]), "width": int(base.shape[1]),
              "elapsed_s": round(time.perf_counter() - start, 3), **{k: float(v) for k, v in values.items()}}
    metrics.append(record)
    if run_dir is not None:
      run_dir.append_jsonl("metrics.jsonl", record)
  progress.close()
  return np.asarray(image, np.float32), metrics


def check_sizes(sizes) -> None:
  if min(sizes[0]) < MIN_OCTAVE_SIDE:
    raise StylejaxError(f"the smallest octave would be {sizes[0][1]}x{sizes[0][0]} px (under {MIN_OCTAVE_SIDE}); "
                        "use fewer dream.octaves, a smaller dream.octave_scale or a larger image_size")


def validate(config) -> None:
  """Every value a dream reads (`configuration.validate_dream`), one line for the first bad one."""
  configuration.validate_dream(config)
