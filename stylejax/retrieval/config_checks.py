"""The checks of an embedding config (stylejax/configs/retrieval.py): the shared loss block
(`stylejax.configuration`) and the embedding's own fields, one line for the first bad value."""

from __future__ import annotations

import ml_collections

from stylejax import configuration
from stylejax.errors import StylejaxError
from stylejax.retrieval import embedder, embeddings, index


def validate(c: ml_collections.ConfigDict) -> None:
  """Every check of an embedding config (stylejax/configs/retrieval.py), one line for the first bad value."""
  configuration.validate(c)
  configuration.choice(c.embed.network, embedder.NETWORKS, "embed.network")
  configuration.choice(c.loss.statistic, embeddings.STATISTICS, "loss.statistic (of an embedding)")
  configuration.choice(c.embed.reduction, index.REDUCTIONS, "embed.reduction")
  configuration.choice(c.index.method, index.METHODS, "index.method")
  for key in ("image_size", "batch_size", "style_dim", "pca_input_dim", "n_quantiles", "content_grid",
              "flush_every", "workers"):
    configuration.positive_int(c.embed[key], f"embed.{key}")
  for key in ("hnsw_m", "ef_search", "nprobe"):
    configuration.positive_int(c.index[key], f"index.{key}")
  for key in ("approximate_above", "ivf_lists"):
    if not isinstance(c.index[key], int) or c.index[key] < 0:
      raise StylejaxError(f"index.{key} must be an integer >= 0, got {c.index[key]!r}")
  if c.embed.image_size < 32:
    raise StylejaxError(f"embed.image_size must be at least 32 px, got {c.embed.image_size}")
  if c.embed.reduction == "pca" and c.embed.network == "ghiasi":
    raise StylejaxError("embed.reduction=pca compresses style statistics; embed.network=ghiasi stores the "
                        "style-prediction embedding as it is (use the default embed.reduction=sketch)")
  if c.embed.reduction == "pca" and c.embed.pca_input_dim < c.embed.style_dim:
    raise StylejaxError(f"embed.pca_input_dim ({c.embed.pca_input_dim}) must be >= embed.style_dim "
                        f"({c.embed.style_dim}): PCA reduces the stored vectors to style_dim")
