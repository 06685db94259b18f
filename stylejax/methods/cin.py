"""Conditional instance norm (Dumoulin et al. 2017): one network, a fixed set of styles, each a row of
(gamma, beta) in every norm; `conditional=False` is Johnson et al.'s single-style network.

Each example of a batch gets a random style of the run; the loss is the VGG content + style + TV of
`stylejax.objectives.loss_network` against that style's precomputed statistic.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import ml_collections

from stylejax.errors import StylejaxError
from stylejax.feedforward import data, transfer
from stylejax.methods import base, photo_data
from stylejax.networks import stylenet
from stylejax.objectives import loss_network, temporal_pairs


@functools.partial(jax.jit, static_argnums=0)
def style_targets(problem: base.Problem, vgg_params, style_images):
  """The style statistic of every style image, stacked: each leaf has a leading n_styles axis."""
  return jax.lax.map(lambda image: problem.loss.style_targets(vgg_params, image), style_images)


def batch_loss(problem: base.Problem, params, vgg_params, content, style_ids, targets, weights, key,
               first_example=0, first_target_style=0):
  """Mean over the batch of the vmapped per-example loss; each example has its own style id.
  Example i's key is folded from its index in the global batch, `first_example + i`. `targets` hold
  the styles from `first_target_style` on (new styles added to a trained network: only theirs)."""
  net = problem.loss
  conditioning = stylenet.one_hot(style_ids, problem.spec.n_styles)
  outputs = stylenet.stylize(problem.spec, params, content, conditioning)
  output_features = net.features(vgg_params, outputs, net.layers)
  content_features = jax.lax.stop_gradient(net.features(vgg_params, content, net.content_layers))
  example_targets = jax.tree.map(lambda t: t[style_ids - first_target_style], targets)
  one_example = lambda feats, content_feats, output, target, k: loss_network.loss_terms(
      net, weights, feats, content_feats, (target,), output, k)
  total, terms = base.mean_over_examples(one_example, key, first_example, output_features, content_features,
                                         outputs, example_targets)
  stylize = lambda frames: stylenet.stylize(problem.spec, params, frames, conditioning)
  return temporal_pairs.add_term(problem.temporal, stylize, content, outputs, key, first_example, total, terms)


def fixed_style_files(config: ml_collections.ConfigDict) -> list[str]:
  """The run's style images; a painting dataset (tfds:) is refused."""
  style_files = data.style_image_list(config.styles)
  if style_files[0].startswith("tfds:"):
    raise StylejaxError(f"styles={style_files[0]!r}: a painting dataset trains the arbitrary-style methods "
                        "(network.kind=adain or ghiasi); the cin network takes a list or folder of styles")
  return style_files


class Cin(base.Method):
  name = "cin"
  arbitrary = False
  temporal = True

  def network_config(self) -> ml_collections.ConfigDict:
    n = ml_collections.ConfigDict()
    n.kind = self.name  # the method (stylejax.methods.registry); chosen by the config file
    n.widths = (32, 64, 128)  # channels at full, 1/2 and 1/4 resolution (the paper's)
    n.width_multiplier = 1.0  # scales every width; 0.5 gives a ~4x cheaper network
    n.n_residual = 5  # residual blocks at 1/4 resolution
    n.conditional = True  # False: plain instance norm, exactly one style (Johnson et al.)
    n.up_widths = ()  # channels of the two upsampling stages; () mirrors widths (multistyle26: (8, 4))
    return n

  def validate(self, config: ml_collections.ConfigDict) -> None:
    base.check_stylenet_block(config.network)
    n_styles = len(data.style_image_list(config.styles))
    if not config.network.conditional and n_styles != 1:
      raise StylejaxError(f"network.conditional=False trains one style; got {n_styles} styles")

  def problem(self, config: ml_collections.ConfigDict, loaded, n_styles: int) -> base.Problem:
    """The static problem of `config` with the loss network's `loaded` weights and `n_styles` styles."""
    net = config.network
    spec = stylenet.NetworkSpec(n_styles=n_styles, widths=tuple(net.widths), width_multiplier=net.width_multiplier,
                                n_residual=net.n_residual, conditional=net.conditional, up_widths=tuple(net.up_widths))
    return base.Problem(method=self.name, spec=spec, loss=loss_network.from_config(config.loss, loaded),
                        adam=base.AdamSettings.from_config(config.optim),
                        temporal=temporal_pairs.TemporalSettings.from_config(config.temporal))

  def prepare(self, config: ml_collections.ConfigDict) -> base.Prepared:
    style_files = fixed_style_files(config)
    style_images = data.load_style_images(style_files, config.style_size)
    eval_photos = photo_data.eval_photos(config)
    loaded = loss_network.load_weights(config.loss)
    photos = photo_data.open_photos(config)
    problem = self.problem(config, loaded, len(style_files))
    frozen = {"vgg": loaded.params, "targets": style_targets(problem, loaded.params, jnp.asarray(style_images)),
              "weights": loss_network.loss_weights(config.loss, loaded.arch)}
    return base.Prepared(problem=problem, frozen=frozen, style_files=style_files,
                         batches=photo_data.photo_batches(config, photos),
                         eval_grid=lambda params: transfer.style_grid(problem.spec, params, eval_photos))

  def init_state(self, problem: base.Problem, key: jax.Array) -> dict:
    return base.initial_adam_state(stylenet.init_params(problem.spec, key), problem.optimizer())

  def train_step(self, problem: base.Problem, state, batch, frozen, key, axis):
    content = batch["content"]
    rows = content.shape[0]
    devices, device = (jax.lax.axis_size(axis), jax.lax.axis_index(axis)) if axis else (1, 0)
    # Styles are drawn for the global batch, so any device layout trains on the same examples.
    style_ids = jax.random.randint(jax.random.fold_in(key, 0), (rows * devices,), 0, problem.spec.n_styles)
    own_ids = jax.lax.dynamic_slice_in_dim(style_ids, device * rows, rows)
    loss_and_grad = lambda params: jax.value_and_grad(batch_loss, argnums=1, has_aux=True)(
        problem, params, frozen["vgg"], content, own_ids, frozen["targets"], frozen["weights"],
        jax.random.fold_in(key, 1), device * rows)
    return base.gradient_step(state, loss_and_grad, problem.optimizer(), problem.adam.learning_rate_at(), axis)

  def load(self, path, step, encoder):
    base.refuse_encoder(encoder, self.name)
    return transfer.Stylizer.load(path, step)


METHOD = Cin()
