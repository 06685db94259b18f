"""Every embedding the benchmark compares, computed with the product's own functions.

- `histogram`: the baseline, a joint RGB histogram (8 bins per channel = 512), compared as the
  Hellinger kernel (cosine of the square-rooted, normalised counts).
- the product's style vectors (`stylejax.retrieval.embeddings.style_vector`, network and spec from
  `stylejax.retrieval.embedder.load_network`) for each statistic and compression: `sketch<D>` (the
  product's count sketch to D numbers; D = embed.style_dim is the default), `pca<D>` (the product's
  reduction = "pca": a sketch of pca_input_dim numbers, then `stylejax.retrieval.index.pca_fit` on
  the collection) and `raw` (no compression: the per-layer unit statistics the sketch adds up,
  concatenated, so the cosine is the mean of the per-layer cosines the sketch approximates);
- the product's content vectors of the same network;
- `magenta`: the 100-d style embedding of the pretrained Magenta style-prediction network
  (`stylejax.networks.magenta_arbitrary.style_embedding`; not an `embed.network` of the product yet).
One feature pass per network computes every statistic and compression.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from stylejax.configs import retrieval as retrieval_config
from stylejax import configuration
from stylejax.networks import magenta_arbitrary
from stylejax.retrieval import embedder, embeddings
from stylejax.retrieval import index as faiss_index
from stylejax.io import magenta_release


def unit(vectors: np.ndarray) -> np.ndarray:
  vectors = np.asarray(vectors, np.float32)
  return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def histogram(images: np.ndarray, bins: int = 8) -> np.ndarray:
  """(N, bins^3) unit rows: sqrt of each image's joint RGB histogram (Hellinger)."""
  q = np.clip((np.asarray(images) * bins).astype(np.int64), 0, bins - 1)
  codes = (q[..., 0] * bins + q[..., 1]) * bins + q[..., 2]
  counts = np.stack([np.bincount(c.ravel(), minlength=bins**3) for c in codes]).astype(np.float32)
  return unit(np.sqrt(counts / counts.sum(axis=1, keepdims=True)))


def product_config(network: str, image_size: int, overrides: dict | None = None):
  """The retrieval config the product would use (stylejax/configs/retrieval.py), at this image size."""
  config = retrieval_config.get_config("alexnet" if network == "alexnet" else "")
  return configuration.apply_values(config, {"embed.image_size": image_size, **(overrides or {})})


def product_embeddings(network: str, images: np.ndarray, statistics: tuple[str, ...], sketch_dims: tuple[int, ...],
                       pca_dim: int, seed: int, batch_size: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
  """({f"{label} {statistic} {compression}": (N, d) unit rows}, content (N, c) unit rows); label is
  vgg16 for the loss network (the retrieval default) and alexnet for AlexNet."""
  config = product_config(network, images.shape[1])
  backbone, params, base, _ = embedder.load_network(config)
  pca_input = config.embed.pca_input_dim
  specs = {(s, d): dataclasses.replace(base, statistic=s, dim=d)
           for s in statistics for d in sorted(set(sketch_dims) | {pca_input})}
  layers = tuple(sorted(set(base.style_layers) | set(base.content_layers)))
  probe = jax.eval_shape(lambda x: backbone.features(params, x, layers),
                         jax.ShapeDtypeStruct((1,) + images.shape[1:], jnp.float32))
  channels = {layer: int(f.shape[-1]) for layer, f in probe.items()}
  tables = {key: embeddings.sketch_tables(spec, channels, seed) for key, spec in specs.items()}
  default_dim = config.embed.style_dim  # raw statistics use the default sketch's SW directions

  def one(features):
    out = {f"{s} sketch{d}": embeddings.style_vector(spec, tables[(s, d)], features)
           for (s, d), spec in specs.items()}
    for s in statistics:
      spec = specs[(s, default_dim)] if (s, default_dim) in specs else specs[(s, pca_input)]
      table = tables[(s, spec.dim)]
      parts = [embeddings.layer_statistic(spec, features[layer], table[layer]) for layer in spec.style_layers]
      out[f"{s} raw"] = jnp.concatenate(parts) / np.sqrt(len(parts))
    out["content"] = embeddings.content_vector(base, features)
    return out

  @jax.jit
  def step(params, batch):
    return jax.vmap(one)(backbone.features(params, batch, layers))

  chunks = []
  for start in range(0, len(images), batch_size):
    batch = np.asarray(images[start:start + batch_size], np.float32)
    padded = np.zeros((batch_size,) + batch.shape[1:], np.float32)
    padded[:len(batch)] = batch
    chunks.append({k: np.asarray(v)[:len(batch)] for k, v in step(params, padded).items()})
  merged = {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}
  content = merged.pop("content")
  label = "vgg16" if network == "loss" else network
  out = {}
  for s in statistics:
    for d in sketch_dims:
      out[f"{label} {s} sketch{d}"] = merged[f"{s} sketch{d}"]
    pca = faiss_index.pca_fit(merged[f"{s} sketch{pca_input}"], pca_dim)
    out[f"{label} {s} pca{pca_dim}"] = faiss_index.pca_apply(pca, merged[f"{s} sketch{pca_input}"])
    out[f"{label} {s} raw"] = unit(merged[f"{s} raw"])
  return out, content


@functools.partial(jax.jit, static_argnames="quantize")
def _magenta(params, batch, quantize=True):
  return magenta_arbitrary.style_embedding(params, batch, quantize=quantize)


def magenta(images: np.ndarray, batch_size: int, params=None) -> np.ndarray:
  """(N, 100) raw style-prediction embeddings (not normalised)."""
  params = params if params is not None else magenta_release.load_params()
  out = []
  for start in range(0, len(images), batch_size):
    batch = np.asarray(images[start:start + batch_size], np.float32)
    padded = np.zeros((batch_size,) + batch.shape[1:], np.float32)
    padded[:len(batch)] = batch
    out.append(np.asarray(_magenta(params, padded))[:len(batch)])
  return np.concatenate(out)


def similarity(vectors: np.ndarray, metric: str = "cosine") -> np.ndarray:
  """(N, N) similarity: cosine of unit rows, or minus the Euclidean distance."""
  if metric == "cosine":
    v = unit(vectors)
    return v @ v.T
  v = np.asarray(vectors, np.float64)
  squared = np.sum(v * v, axis=1)
  return -np.sqrt(np.maximum(squared[:, None] + squared[None] - 2 * v @ v.T, 0)).astype(np.float32)
