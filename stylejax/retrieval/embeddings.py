"""Pure functions from an image's features to its two retrieval vectors: style and content.

Style: on each style layer, a statistic from `stylejax.objectives.losses` (the ones the style losses
compare), flattened and L2-normalised per layer so every layer counts the same, then all layers are
compressed into `dim` numbers by a seeded count sketch (feature hashing, Weinberger et al. 2009):
entry i is added with sign s_i into bucket h_i. A count sketch is a random projection that keeps inner
products in expectation without storing a dense matrix (the upper triangle of relu5's Gram alone has
131k entries, a dense projection of every layer to 512 numbers would take 600 MB). Statistics:
  gram                upper triangle of the Gram matrix, signed square root first (power
                      normalisation, as for bilinear CNN features, Lin et al. 2015: a few large
                      entries from strong channels would otherwise dominate every cosine);
  mean_var            per-channel mean and standard deviation;
  sliced_wasserstein  the features projected on `n_projections` seeded unit directions, sorted and
                      resampled to `n_quantiles` quantiles per direction: Euclidean distances between
                      these approximate the sliced 2-Wasserstein distance (Heitz et al. 2021).
Content: each content layer average-pooled to a `grid` x `grid` of cells, each cell L2-normalised,
so where things are counts, but not how strongly the texture drives the channels.

Both vectors are L2-normalised: an inner product is a cosine similarity (faiss IndexFlatIP).
A style-prediction network's embedding is not a statistic of loss-network features; it plugs in as
another `embedder.NETWORKS` entry whose output replaces the style vector.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from stylejax.errors import StylejaxError
from stylejax.objectives import losses

STATISTICS = ("gram", "mean_var", "sliced_wasserstein")  # a subset of losses.STATISTICS
_EPS = 1e-12


@dataclasses.dataclass(frozen=True)
class EmbedSpec:
  """What decides the compiled embedding program (hashable: a jit static argument)."""
  style_layers: tuple[str, ...]
  content_layers: tuple[str, ...]
  statistic: str
  dim: int  # length of the style vector (the sketch's buckets)
  n_projections: int = 64  # sliced_wasserstein: directions per layer
  n_quantiles: int = 16  # sliced_wasserstein: quantiles per direction
  grid: int = 2  # content: cells per side

  def __post_init__(self):
    if self.statistic not in STATISTICS:
      raise StylejaxError(f"style statistic {self.statistic!r} cannot embed; choose one of {STATISTICS}")


def raw_size(spec: EmbedSpec, channels: int) -> int:
  """Length of one layer's flattened statistic, before the sketch."""
  if spec.statistic == "gram":
    return channels * (channels + 1) // 2
  if spec.statistic == "mean_var":
    return 2 * channels
  return spec.n_quantiles * spec.n_projections


def sketch_tables(spec: EmbedSpec, channels: Mapping[str, int], seed: int) -> dict:
  """The frozen random parameters, per style layer: sketch buckets and signs (and SW directions).

  A pure function of (spec, channels, seed): the same index always gets the same tables.
  """
  tables = {}
  for i, layer in enumerate(spec.style_layers):
    rng = np.random.default_rng([seed, i])
    size = raw_size(spec, channels[layer])
    table = {"buckets": rng.integers(0, spec.dim, size).astype(np.int32),
             "signs": rng.choice(np.float32([-1.0, 1.0]), size)}
    if spec.statistic == "sliced_wasserstein":
      directions = rng.standard_normal((channels[layer], spec.n_projections)).astype(np.float32)
      table["directions"] = directions / np.linalg.norm(directions, axis=0, keepdims=True)
    tables[layer] = table
  return tables


def _unit(x: jax.Array, axis=None) -> jax.Array:
  return x / (jnp.linalg.norm(x, axis=axis, keepdims=axis is not None) + _EPS)


def layer_statistic(spec: EmbedSpec, feature: jax.Array, table: Mapping) -> jax.Array:
  """One layer's (H, W, C) features -> its flattened, unit-length statistic."""
  if spec.statistic == "gram":
    rows, cols = np.triu_indices(feature.shape[-1])
    upper = losses.gram(feature)[rows, cols]
    return _unit(jnp.sign(upper) * jnp.sqrt(jnp.abs(upper)))
  if spec.statistic == "mean_var":
    target = losses.style_target(feature, "mean_var")
    return _unit(jnp.concatenate([target["mean"], target["std"]]))
  projected = feature.reshape(-1, feature.shape[-1]) @ table["directions"]  # (M, P)
  levels = (jnp.arange(spec.n_quantiles) + 0.5) / spec.n_quantiles
  return _unit(jnp.quantile(projected, levels, axis=0).reshape(-1))


def style_vector(spec: EmbedSpec, tables: Mapping, features: Mapping[str, jax.Array]) -> jax.Array:
  """(dim,) unit style vector of ONE image's features {layer: (H, W, C)}."""
  sketch = jnp.zeros(spec.dim, jnp.float32)
  for layer in spec.style_layers:
    table = tables[layer]
    values = layer_statistic(spec, features[layer], table) * table["signs"]
    sketch = sketch + jax.ops.segment_sum(values, table["buckets"], num_segments=spec.dim)
  return _unit(sketch)


def grid_pool(feature: jax.Array, grid: int) -> jax.Array:
  """(H, W, C) -> (grid, grid, C) means over cells that split H and W as evenly as they can."""
  h, w = feature.shape[:2]
  if min(h, w) < grid:
    raise StylejaxError(f"content features of {h}x{w} cannot be pooled to a {grid}x{grid} grid; "
                        "use larger images (embed.image_size) or a smaller embed.content_grid")
  edges = lambda n: [(i * n // grid, -(-(i + 1) * n // grid)) for i in range(grid)]
  return jnp.stack([jnp.stack([feature[r0:r1, c0:c1].mean(axis=(0, 1)) for c0, c1 in edges(w)])
                    for r0, r1 in edges(h)])


def content_vector(spec: EmbedSpec, features: Mapping[str, jax.Array]) -> jax.Array:
  """(sum of grid^2 * C,) unit content vector of ONE image's features."""
  cells = [_unit(grid_pool(features[layer], spec.grid), axis=-1).reshape(-1)
           for layer in spec.content_layers]
  return _unit(jnp.concatenate(cells))


def content_size(spec: EmbedSpec, channels: Mapping[str, int]) -> int:
  return sum(spec.grid**2 * channels[layer] for layer in spec.content_layers)
