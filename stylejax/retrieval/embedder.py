"""The feature network and the compiled, batched, device-sharded embedding step.

The network is the shared loss network (`stylejax.objectives.loss_network`: the config's `loss` block,
offline default the packaged `vgg16-lpips`) or AlexNet with its LPIPS weights (`embed.network`), or a
trained style-prediction run (`embed.network=ghiasi`, `embed.checkpoint=WORKDIR`): its embedding is
the style vector, its frozen feature network gives the content vector.
One program is compiled per `Embedder`: every batch has the same shape (the last one is padded) and
is split over the local devices along the batch axis; weights and sketch tables are replicated.
"""

from __future__ import annotations

import dataclasses
import hashlib

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from stylejax.errors import StylejaxError
from stylejax.io import alexnet_weights, weights as weight_files
from stylejax.networks import alexnet, style_prediction
from stylejax.objectives import loss_network
from stylejax.networks import preprocessing
from stylejax.retrieval import embeddings
from stylejax.methods import ghiasi

NETWORKS = ("loss", "alexnet", "ghiasi")


@dataclasses.dataclass(frozen=True)
class Backbone:
  """Which features: the loss network's spec, or AlexNet (net is None). With `ghiasi`, params are
  {"features", "model"} and the style vector is that style network's embedding at `style_size`."""
  net: loss_network.LossNetwork | None
  ghiasi: style_prediction.GhiasiSpec | None = None
  style_size: int = 0

  def features(self, params, images, layers) -> dict[str, jax.Array]:
    if self.ghiasi is not None:
      params = params["features"]
    if self.net is None:
      return alexnet.features(params, images, layers)
    return self.net.features(params, images, layers)


def load_network(config: ml_collections.ConfigDict) -> tuple[Backbone, dict, embeddings.EmbedSpec, dict]:
  """(backbone, params, spec, model description) of a retrieval config; loads the weights."""
  embed = config.embed
  if embed.network == "alexnet":
    params = alexnet_weights.load_params()
    backbone = Backbone(None)
    style_layers, content_layers = alexnet.LAYERS, ("relu5",)
    model = {"network": "alexnet", "weights": "lpips-alexnet"}
  elif embed.network == "ghiasi":
    return _load_ghiasi(config)
  elif embed.network == "loss":
    loaded = loss_network.load_weights(config.loss)
    params = loaded.params
    backbone = Backbone(loss_network.from_config(config.loss, loaded))
    style_layers, content_layers = backbone.net.style_layers, backbone.net.content_layers
    model = {"network": "loss", "arch": loaded.arch, "weights": loaded.source}
  else:
    raise StylejaxError(f"embed.network must be one of {NETWORKS}, got {embed.network!r}")
  model["params_sha256"] = weight_files.params_sha256(params)
  spec = embeddings.EmbedSpec(style_layers=tuple(style_layers), content_layers=tuple(content_layers),
                              statistic=config.loss.statistic,
                              dim=embed.pca_input_dim if embed.reduction == "pca" else embed.style_dim,
                              n_projections=config.loss.n_projections, n_quantiles=embed.n_quantiles,
                              grid=embed.content_grid)
  return backbone, params, spec, model


def _tree_sha256(tree) -> str:
  h = hashlib.sha256()
  for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
    array = np.ascontiguousarray(leaf, dtype="<f4")
    h.update(f"{jax.tree_util.keystr(path)}:{array.shape}".encode())
    h.update(array.tobytes())
  return h.hexdigest()


def _load_ghiasi(config: ml_collections.ConfigDict):
  """load_network's answer for a trained style-prediction run (`embed.checkpoint`)."""
  if not config.embed.checkpoint:
    raise StylejaxError("embed.network=ghiasi needs embed.checkpoint=WORKDIR (a network.kind=ghiasi training run)")
  model = ghiasi.GhiasiModel.load(config.embed.checkpoint)
  ghiasi_spec = model.spec
  if ghiasi_spec.features == "alexnet":
    net, content_layers = None, ("relu5",)
  else:  # the packaged VGG16 under the style network; the config's content layers
    content_layers = tuple(loss_network.layer_weights(config.loss.content_layers, "vgg16", "loss.content_layers"))
    net = loss_network.LossNetwork(arch="vgg16", preprocessing=preprocessing.LPIPS, pooling="max",
                                   padding="zero", content_layers=content_layers,
                                   style_layers=style_prediction.FEATURE_LAYERS["vgg16"], statistic="mean_var")
  params = {"features": model.features_params, "model": model.params}
  spec = embeddings.EmbedSpec(style_layers=style_prediction.FEATURE_LAYERS[ghiasi_spec.features],
                              content_layers=content_layers, statistic="mean_var", dim=ghiasi_spec.embedding_dim,
                              grid=config.embed.content_grid)
  description = {"network": "ghiasi", "features": ghiasi_spec.features, "step": model.step,
                 "params_sha256": _tree_sha256(params)}
  return Backbone(net, ghiasi_spec, model.style_size), params, spec, description


def _embed_batch(backbone: Backbone, spec: embeddings.EmbedSpec, params, tables, images):
  if backbone.ghiasi is not None:  # the style network's embedding, shown paintings at its training size
    size = backbone.style_size
    resized = jax.image.resize(images, images.shape[:1] + (size, size, 3), "linear", antialias=True)
    style = style_prediction.style_embedding(backbone.ghiasi, params["model"], params["features"], resized)
    features = backbone.features(params, images, spec.content_layers)
    content = jax.vmap(lambda f: embeddings.content_vector(spec, f))(features)
    return style / jnp.maximum(jnp.linalg.norm(style, axis=-1, keepdims=True), 1e-12), content
  layers = tuple(sorted(set(spec.style_layers) | set(spec.content_layers)))
  features = backbone.features(params, images, layers)
  style = jax.vmap(lambda f: embeddings.style_vector(spec, tables, f))(features)
  content = jax.vmap(lambda f: embeddings.content_vector(spec, f))(features)
  return style, content


class Embedder:
  """Embeds (N, S, S, 3) RGB [0, 1] batches; N may be anything, the program sees `batch_size`."""

  def __init__(self, backbone: Backbone, params, spec: embeddings.EmbedSpec, image_size: int,
               batch_size: int, seed: int, devices=None):
    devices = list(devices or jax.local_devices())
    self.mesh = Mesh(np.asarray(devices), ("data",))
    self.batch_size = -(-batch_size // len(devices)) * len(devices)  # a multiple of the devices
    self.image_size = image_size
    self.spec = spec
    self.traces = 0  # how often the step was traced (compiled): once, whatever the batches
    shape = jax.ShapeDtypeStruct((1, image_size, image_size, 3), jnp.float32)
    probe = jax.eval_shape(lambda x: backbone.features(params, x, spec.style_layers + spec.content_layers),
                           shape)
    channels = {layer: int(f.shape[-1]) for layer, f in probe.items()}
    self.content_dim = embeddings.content_size(spec, channels)
    replicated = NamedSharding(self.mesh, PartitionSpec())
    self._batch_sharding = NamedSharding(self.mesh, PartitionSpec("data"))
    self._params = jax.device_put(params, replicated)
    self._tables = jax.device_put(embeddings.sketch_tables(spec, channels, seed), replicated)

    def step(params, tables, images):
      self.traces += 1  # runs only while tracing
      return _embed_batch(backbone, spec, params, tables, images)

    self._step = jax.jit(step, out_shardings=(self._batch_sharding, self._batch_sharding))

  @classmethod
  def from_config(cls, config: ml_collections.ConfigDict) -> tuple["Embedder", dict]:
    backbone, params, spec, model = load_network(config)
    return cls(backbone, params, spec, config.embed.image_size, config.embed.batch_size, config.seed), model

  def __call__(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(style (N, dim), content (N, content_dim)) float32 numpy, unit rows."""
    n = len(images)
    styles, contents = [], []
    for start in range(0, n, self.batch_size):
      chunk = np.asarray(images[start:start + self.batch_size], np.float32)
      padded = np.zeros((self.batch_size,) + chunk.shape[1:], np.float32)
      padded[:len(chunk)] = chunk
      style, content = self._step(self._params, self._tables, jax.device_put(padded, self._batch_sharding))
      styles.append(np.asarray(style)[:len(chunk)])
      contents.append(np.asarray(content)[:len(chunk)])
    if not styles:
      return np.zeros((0, self.spec.dim), np.float32), np.zeros((0, self.content_dim), np.float32)
    return np.concatenate(styles), np.concatenate(contents)
