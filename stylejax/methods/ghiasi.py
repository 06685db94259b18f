"""Ghiasi et al. 2017: a style network predicts every conditional instance norm of the multi-style
transformer from a painting; both are trained jointly on (photo, painting) pairs, so any painting
works at test time in one forward pass (`stylejax.networks.style_prediction`).
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar
import math

import jax
import ml_collections
import optax

from stylejax.errors import StylejaxError
from stylejax.feedforward import data
from stylejax.methods import base, photo_data
from stylejax.networks import style_prediction
from stylejax.objectives import loss_network
from stylejax.objectives.loss_network import LossNetwork

STYLE_FEATURES = ("vgg16", "alexnet")  # frozen feature networks under the style network


@dataclasses.dataclass(frozen=True)
class GhiasiProblem:
  """What decides the compiled train step (hashable: a jit static argument)."""
  method: ClassVar[str] = "ghiasi"
  spec: style_prediction.GhiasiSpec
  loss: LossNetwork
  adam: base.AdamSettings
  style_lr_scale: float  # the style network's and head's rate, a fraction of the transformer's

  def optimizer(self):
    # No norm follows the head: a step moves every gamma/beta by about lr x the embedding's L1 norm,
    # where the transformer's convs (each followed by a norm) move by lr.
    slower = lambda params: {name: name != "transformer" for name in params}
    return self.adam.optimizer(lambda adam: optax.chain(adam, optax.masked(optax.scale(self.style_lr_scale), slower)))


class Ghiasi(base.Method):
  name = "ghiasi"
  arbitrary = True

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
    return GhiasiProblem(spec=style_prediction.spec_from_config(config.network),
                         loss=loss_network.from_config(config.loss, loaded),
                         adam=base.AdamSettings.from_config(config.optim), style_lr_scale=config.network.style_lr_scale)

  def prepare(self, config: ml_collections.ConfigDict) -> base.Prepared:
    style_files = data.style_image_list(config.styles)
    paintings = data.open_style_source(config.styles, config.data.max_side, config.data.tfds_data_dir)
    eval_photos = photo_data.eval_photos(config)
    loaded = loss_network.load_weights(config.loss)
    photos = photo_data.open_photos(config)
    problem = self.problem(config, loaded)
    spec = problem.spec
    features_params = style_prediction.load_features_params(spec)
    eval_styles = photo_data.eval_paintings(config, paintings)
    frozen = {"vgg": loaded.params, "features": features_params,
              "weights": loss_network.loss_weights(config.loss, loaded.arch)}
    return base.Prepared(
        problem=problem, frozen=frozen, style_files=style_files,
        batches=photo_data.photo_painting_batches(config, photos, paintings),
        eval_grid=lambda params: style_prediction.style_grid(spec, params, features_params, eval_photos, eval_styles))

  def init_state(self, problem: GhiasiProblem, key: jax.Array) -> dict:
    return base.initial_adam_state(style_prediction.init_params(problem.spec, key), problem.optimizer())

  def train_step(self, problem: GhiasiProblem, state, batch, frozen, key, axis):
    rows = batch["content"].shape[0]
    device = jax.lax.axis_index(axis) if axis else 0
    loss_and_grad = lambda params: jax.value_and_grad(style_prediction.batch_loss, argnums=2, has_aux=True)(
        problem.loss, problem.spec, params, frozen["vgg"], frozen["features"], batch["content"], batch["style"],
        frozen["weights"], jax.random.fold_in(key, 1), device * rows)
    return base.gradient_step(state, loss_and_grad, problem.optimizer(), problem.adam.learning_rate_at(), axis)

  def load(self, path, step, encoder):
    base.refuse_encoder(encoder, self.name)
    return style_prediction.GhiasiModel.load(path, step)


METHOD = Ghiasi()
