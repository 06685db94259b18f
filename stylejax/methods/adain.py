"""AdaIN (Huang & Belongie 2017): a frozen VGG encoder, adaptive instance norm at relu4_1, and a
trained decoder; any painting at test time. Each step pairs every photo with a random crop of a
random painting (`stylejax.networks.adain`).
"""

from __future__ import annotations

from typing import Mapping

import jax
import ml_collections

from stylejax.errors import StylejaxError
from stylejax.feedforward import adain_stylizer, data
from stylejax.methods import base, photo_data
from stylejax.networks import adain
from stylejax.objectives import loss_network, losses, temporal_pairs
from stylejax.objectives.loss_network import LossNetwork
from stylejax.objectives.temporal_pairs import TemporalSettings


def batch_loss(net: LossNetwork, spec: adain.DecoderSpec, decoder_params, vgg_params, content: jax.Array,
               style: jax.Array, weights: Mapping, key: jax.Array, first_example=0,
               temporal: TemporalSettings = TemporalSettings()):
  """(mean total loss, mean terms) of a batch of (content, style) pairs, (N, H, W, 3) each.

  The paper's objective through the shared `loss_network.loss_terms`: the content target is
  t = AdaIN(f_c, f_s) at relu4_1 (the config's content layer), the style targets the painting's own
  statistics at the style layers (relu1_1..relu4_1, `mean_var`, summed), weighted by
  weights["style"] (lambda). Example i's key is folded from its index in the global batch,
  `first_example + i`. With `temporal` on, each photo also gets a moved second frame and the
  warped-output term (stylejax.objectives.temporal_pairs).
  """
  content_features = net.features(vgg_params, content, (adain.CONTENT_LAYER,))[adain.CONTENT_LAYER]
  style_features = net.features(vgg_params, style, sorted(set(net.style_layers) | {adain.CONTENT_LAYER}))
  painting_features = style_features[adain.CONTENT_LAYER]
  t = adain.adain(content_features, painting_features)
  style_features = {layer: style_features[layer] for layer in net.style_layers}
  outputs = adain.decode(spec, decoder_params, t)
  output_features = net.features(vgg_params, outputs, net.layers)

  def one_example(feats, t_i, style_feats, output, k):
    # The encoder is frozen: only the decoder learns, so the targets carry no gradient.
    style_targets = jax.lax.stop_gradient(losses.style_targets(style_feats, net.statistic))
    return loss_network.loss_terms(net, weights, feats, {adain.CONTENT_LAYER: jax.lax.stop_gradient(t_i)},
                                   (style_targets,), output, k)

  total, terms = base.mean_over_examples(one_example, key, first_example, output_features, t, style_features,
                                         outputs)
  stylize = lambda frames: adain.decode(spec, decoder_params, adain.adain(
      net.features(vgg_params, frames, (adain.CONTENT_LAYER,))[adain.CONTENT_LAYER], painting_features))
  return temporal_pairs.add_term(temporal, stylize, content, outputs, key, first_example, total, terms)


class Adain(base.Method):
  name = "adain"
  temporal = True
  arbitrary = True

  def network_config(self) -> ml_collections.ConfigDict:
    n = ml_collections.ConfigDict()
    n.kind = self.name  # the method (stylejax.methods.registry); chosen by the config file
    n.width_multiplier = 1.0  # scales the decoder's inner widths (256, 128, 64); 1.0 is the paper's
    return n

  def validate(self, config: ml_collections.ConfigDict) -> None:
    """AdaIN's content target is at relu4_1 and its decoder upsamples x8, back to the photo's size."""
    base.check_width_multiplier(config.network)
    content_layers = loss_network.layer_weights(config.loss.content_layers, config.loss.network.arch,
                                                "loss.content_layers")
    if list(content_layers) != ["relu4_1"]:
      raise StylejaxError(f"network.kind=adain: loss.content_layers must be relu4_1 (where AdaIN's target "
                          f"is), got {config.loss.content_layers!r}")
    for key, value in (("data.image_size", config.data.image_size), ("style_size", config.style_size),
                       ("eval_size", config.eval_size)):
      if value % 8 or value < 16:
        raise StylejaxError(f"network.kind=adain: {key} must be a multiple of 8 and at least 16, got {value}")

  def problem(self, config: ml_collections.ConfigDict, loaded, n_styles: int = 0) -> base.Problem:
    """The static problem of `config` with the loss network's `loaded` weights (any number of styles)."""
    del n_styles
    return base.Problem(method=self.name, spec=adain.DecoderSpec(width_multiplier=config.network.width_multiplier),
                        loss=loss_network.from_config(config.loss, loaded), adam=base.AdamSettings.from_config(config.optim),
                        temporal=temporal_pairs.TemporalSettings.from_config(config.temporal))

  def prepare(self, config: ml_collections.ConfigDict) -> base.Prepared:
    style_files = data.style_image_list(config.styles)
    paintings = data.open_style_source(config.styles, config.data.max_side, config.data.tfds_data_dir)
    eval_photos = photo_data.eval_photos(config)
    loaded = loss_network.load_weights(config.loss)
    photos = photo_data.open_photos(config)
    problem = self.problem(config, loaded)
    eval_styles = photo_data.eval_paintings(config, paintings)
    frozen = {"vgg": loaded.params, "weights": loss_network.loss_weights(config.loss, loaded.arch)}
    return base.Prepared(
        problem=problem, frozen=frozen, style_files=style_files,
        batches=photo_data.photo_painting_batches(config, photos, paintings),
        eval_grid=lambda params: adain.style_grid(problem.loss, problem.spec, params, loaded.params, eval_photos,
                                                  eval_styles))

  def init_state(self, problem: base.Problem, key: jax.Array) -> dict:
    return base.initial_adam_state(adain.init_params(problem.spec, key), problem.optimizer())

  def train_step(self, problem: base.Problem, state, batch, frozen, key, axis):
    rows = batch["content"].shape[0]
    device = jax.lax.axis_index(axis) if axis else 0
    loss_and_grad = lambda params: jax.value_and_grad(batch_loss, argnums=2, has_aux=True)(
        problem.loss, problem.spec, params, frozen["vgg"], batch["content"], batch["style"], frozen["weights"],
        jax.random.fold_in(key, 1), device * rows, problem.temporal)
    return base.gradient_step(state, loss_and_grad, problem.optimizer(), problem.adam.learning_rate_at(), axis)

  def load(self, path, step, encoder):
    base.refuse_encoder(encoder, self.name)
    return adain_stylizer.AdainStylizer.from_workdir(path, step)


METHOD = Adain()
