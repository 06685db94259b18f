"""StyleBank (Chen et al. 2017): a shared encoder/decoder and one filter bank per style
(`stylejax.networks.stylebank`), trained by the paper's (T+1)-step alternation:

- T steps of the stylising branch: each photo through the bank of a random style of the run, the VGG
  content + style + TV loss of `stylejax.objectives.loss_network` (as cin's); encoder, banks and
  decoder all learn;
- then 1 step of the auto-encoder branch: D(E(I)) against I (mean squared error), encoder and decoder
  only, so that they carry content and the banks carry style.
Which branch a step takes is a function of its index alone (step % (T+1) == T: auto-encoder), so a
resumed run alternates as an uninterrupted one. Three Adam states: the banks' and the encoder/decoder's
for the stylising branch, and the encoder/decoder's for the auto-encoder branch. The branches' gradients
differ by orders of magnitude (a perceptual loss in the hundreds, a pixel MSE below 0.1): one shared
second-moment estimate would shrink every auto-encoder step to nothing, and the auto-encoder would
never learn to reconstruct (a first stylebank_tiny run with one shared state: the auto-encoder's MSE
stayed ~0.085 from step 20 to 180; with its own state, ~0.02 by step 100). An
auto-encoder step leaves every bank and the stylising states untouched. All follow the `optim`
schedule by the global step.

Incremental learning (`network.base`: a StyleBank workdir): the base's encoder, decoder and banks are
loaded and kept bit-identical; only new banks, one per style of `config.styles`, are trained, by the
stylising branch alone. The result is a StyleBank of the base's styles followed by the new ones.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import optax

from stylejax import devices
from stylejax.errors import StylejaxError
from stylejax.feedforward import data, stylebank_stylizer
from stylejax.io import checkpoints
from stylejax.methods import base, photo_data
from stylejax.networks import stylebank
from stylejax.objectives import loss_network

STRUCTURE = ("widths", "width_multiplier", "bank_layers", "bank_kernel")  # what a base must share


@dataclasses.dataclass(frozen=True)
class StyleBankProblem(base.Problem):
  stylize_steps: int = 2  # T: stylising steps before each auto-encoder step
  base: str = ""  # incremental learning: the StyleBank workdir whose networks and banks stay frozen
  n_base: int = 0  # its styles (the first n_base banks)

  def is_autoencoder_step(self, step: jax.Array) -> jax.Array:
    return step % (self.stylize_steps + 1) == self.stylize_steps


def _direction(adam: base.AdamSettings) -> optax.GradientTransformation:
  """Adam's step direction (after clipping, if set); the learning rate is applied by `_adam_update`."""
  scale = optax.scale_by_adam()
  return optax.chain(optax.clip_by_global_norm(adam.grad_clip), scale) if adam.grad_clip else scale


def _adam_update(adam: base.AdamSettings, params, grads, opt_state, step):
  """(params, opt_state) after one Adam step at the schedule's rate for the global `step`."""
  updates, opt_state = _direction(adam).update(grads, opt_state, params)
  lr = adam.learning_rate_at()(step)
  return jax.tree.map(lambda p, u: p - lr * u, params, updates), opt_state


def batch_loss(problem: StyleBankProblem, params, vgg_params, content, style_ids, targets, weights, key,
               first_example=0):
  """The stylising branch: mean over the batch of the per-example perceptual loss; example i goes
  through bank style_ids[i] and is scored against targets[style_ids[i] - problem.n_base] (the run's
  own styles: a new-bank run holds targets for its new styles only)."""
  net = problem.loss
  outputs = stylebank.stylize_ids(problem.spec, params, content, style_ids)
  output_features = net.features(vgg_params, outputs, net.layers)
  content_features = jax.lax.stop_gradient(net.features(vgg_params, content, net.content_layers))
  example_targets = jax.tree.map(lambda t: t[style_ids - problem.n_base], targets)
  one_example = lambda feats, content_feats, output, target, k: loss_network.loss_terms(
      net, weights, feats, content_feats, (target,), output, k)
  return base.mean_over_examples(one_example, key, first_example, output_features, content_features, outputs,
                                 example_targets)


@functools.partial(jax.jit, static_argnums=0)
def style_targets(problem: StyleBankProblem, vgg_params, style_images):
  """The style statistic of every trained style's image, stacked along a leading style axis."""
  return jax.lax.map(lambda image: problem.loss.style_targets(vgg_params, image), style_images)


def reconstruction_loss(spec: stylebank.StyleBankSpec, autoencoder, content):
  """The auto-encoder branch: mean squared error of D(E(I)) against I."""
  out = stylebank.reconstruct(spec, {**autoencoder}, content)
  return jnp.mean((out - content) ** 2)


class StyleBank(base.Method):
  name = "stylebank"
  arbitrary = False

  def network_config(self) -> ml_collections.ConfigDict:
    n = ml_collections.ConfigDict()
    n.kind = self.name  # the method (stylejax.methods.registry); chosen by the config file
    # Encoder 9x9 s1, 3x3 s2, 3x3 s2 with instance norm + ReLU, the decoder its mirror, 9x9 first and
    # last (Chen et al. 2017, Sec. 3.1); channels as Johnson et al.'s network.
    n.widths = (32, 64, 128)  # encoder channels at full, 1/2 and 1/4 resolution; the banks work at the last
    n.width_multiplier = 1.0  # scales every width
    n.bank_layers = 2  # conv + IN + ReLU layers per style bank (jxcodetw/Stylebank networks.py: 2)
    n.bank_kernel = 3  # bank kernel size (jxcodetw/Stylebank: 3x3; the paper's Fig. 7 compares sizes)
    n.stylize_steps = 2  # T: stylising steps per auto-encoder step (the paper's T=2; jxcodetw args.T=2)
    n.base = ""  # a StyleBank workdir: train new banks for config.styles with its encoder/decoder frozen
    return n

  def validate(self, config: ml_collections.ConfigDict) -> None:
    net = config.network
    base.check_width_multiplier(net)
    if len(net.widths) != 3 or any(not isinstance(w, int) or w <= 0 for w in net.widths):
      raise StylejaxError(f"network.widths must be three positive integers, got {net.widths}")
    if not isinstance(net.bank_layers, int) or net.bank_layers < 1:
      raise StylejaxError(f"network.bank_layers must be a positive integer, got {net.bank_layers!r}")
    if not isinstance(net.bank_kernel, int) or net.bank_kernel < 1 or net.bank_kernel % 2 == 0:
      raise StylejaxError(f"network.bank_kernel must be an odd positive integer, got {net.bank_kernel!r}")
    if not isinstance(net.stylize_steps, int) or net.stylize_steps < 1:
      raise StylejaxError(f"network.stylize_steps (T) must be an integer >= 1, got {net.stylize_steps!r}")
    if config.data.image_size % stylebank.DOWNSAMPLING:
      raise StylejaxError(f"network.kind=stylebank: data.image_size must be a multiple of 4, got "
                          f"{config.data.image_size}")
    styles = data.style_image_list(config.styles)
    if styles[0].startswith("tfds:"):
      raise StylejaxError(f"styles={styles[0]!r}: a painting dataset trains the arbitrary-style methods; a "
                          "StyleBank trains one bank per listed style")
    if not isinstance(net.base, str):
      raise StylejaxError(f"network.base must be a StyleBank workdir path or empty, got {net.base!r}")
    # The base itself is read (and checked) by `prepare`: a config names it before it is trained.

  def base_styles(self, config: ml_collections.ConfigDict) -> list[str]:
    """The styles of `network.base`, after checking it is a StyleBank of the same structure."""
    workdir = checkpoints.find_workdir(config.network.base)
    kind = checkpoints.network_kind(workdir)
    if kind != self.name:
      raise StylejaxError(f"network.base={config.network.base}: a {kind} workdir; new banks train on a "
                          "StyleBank workdir")
    theirs = checkpoints.read_json(workdir, "config.json")["network"]
    for key in STRUCTURE:
      ours = list(config.network[key]) if key == "widths" else config.network[key]
      if theirs.get(key) != ours:
        raise StylejaxError(f"network.{key}={ours!r} differs from the base's {theirs.get(key)!r} "
                            f"({workdir}); a new bank needs the base's structure")
    styles = checkpoints.read_json(workdir, "styles.json")
    if not isinstance(styles, list) or not styles:
      raise StylejaxError(f"{workdir}: styles.json lists no styles")
    return [str(s) for s in styles]

  def problem(self, config: ml_collections.ConfigDict, loaded, n_styles: int) -> StyleBankProblem:
    """The static problem of `config` with the loss network's `loaded` weights and `n_styles` styles
    trained here (a new-bank run adds the base's)."""
    net = config.network
    n_base = len(self.base_styles(config)) if net.base else 0
    spec = stylebank.StyleBankSpec(n_styles=n_base + n_styles, widths=tuple(net.widths),
                                   width_multiplier=net.width_multiplier, bank_layers=net.bank_layers,
                                   bank_kernel=net.bank_kernel)
    base_dir = str(checkpoints.find_workdir(net.base).resolve()) if net.base else ""
    return StyleBankProblem(method=self.name, spec=spec, loss=loss_network.from_config(config.loss, loaded),
                            adam=base.AdamSettings.from_config(config.optim), stylize_steps=net.stylize_steps,
                            base=base_dir, n_base=n_base)

  def prepare(self, config: ml_collections.ConfigDict) -> base.Prepared:
    new_styles = data.style_image_list(config.styles)
    style_images = data.load_style_images(new_styles, config.style_size)
    eval_photos = photo_data.eval_photos(config)
    loaded = loss_network.load_weights(config.loss)
    photos = photo_data.open_photos(config)
    problem = self.problem(config, loaded, len(new_styles))
    old_styles = self.base_styles(config) if config.network.base else []
    frozen = {"vgg": loaded.params, "targets": style_targets(problem, loaded.params, jnp.asarray(style_images)),
              "weights": loss_network.loss_weights(config.loss, loaded.arch)}
    return base.Prepared(problem=problem, frozen=frozen, style_files=old_styles + new_styles,
                         batches=photo_data.photo_batches(config, photos),
                         eval_grid=lambda params: stylebank_stylizer.style_grid(problem.spec, params, eval_photos))

  def init_state(self, problem: StyleBankProblem, key: jax.Array) -> dict:
    spec = problem.spec
    if not problem.base:
      params = stylebank.init_params(spec, key)
      autoencoder = {"encoder": params["encoder"], "decoder": params["decoder"]}
      opt_state = {"banks": _direction(problem.adam).init(params["banks"]),
                   "autoencoder": _direction(problem.adam).init(autoencoder),  # the stylising branch's
                   "reconstruction": _direction(problem.adam).init(autoencoder)}  # the auto-encoder branch's
      return {"params": params, "opt_state": opt_state, "step": jnp.int32(0)}
    base_spec = dataclasses.replace(spec, n_styles=problem.n_base)
    like = stylebank.param_shapes(base_spec)
    params, _ = checkpoints.restore_params(Path(problem.base), like)
    new = stylebank.init_banks(spec, key, spec.n_styles - problem.n_base)
    banks = jax.tree.map(lambda old, fresh: jnp.concatenate([old, fresh]), params["banks"], new)
    return {"params": {**params, "banks": banks}, "opt_state": {"banks": _direction(problem.adam).init(new)},
            "step": jnp.int32(0)}

  def train_step(self, problem: StyleBankProblem, state, batch, frozen, key, axis):
    content = batch["content"]
    rows = content.shape[0]
    n_devices, device = (jax.lax.axis_size(axis), jax.lax.axis_index(axis)) if axis else (1, 0)
    # Styles are drawn for the global batch, so any device layout trains on the same examples.
    ids = jax.random.randint(jax.random.fold_in(key, 0), (rows * n_devices,), problem.n_base,
                             problem.spec.n_styles)
    own_ids = jax.lax.dynamic_slice_in_dim(ids, device * rows, rows)
    mean = (lambda tree: devices.device_mean(tree, axis)) if axis else (lambda tree: tree)

    def stylising_grads(trainable, join=lambda p: p):
      """Gradients of the stylising loss w.r.t. `trainable`, the network being `join(trainable)`."""
      loss = lambda t: batch_loss(problem, join(t), frozen["vgg"], content, own_ids, frozen["targets"],
                                  frozen["weights"], jax.random.fold_in(key, 1), device * rows)
      (_, terms), grads = jax.value_and_grad(loss, has_aux=True)(trainable)
      return mean((grads, terms))

    step = state["step"]
    lr = problem.adam.learning_rate_at()(step)
    if problem.base:
      return self._new_bank_step(problem, state, stylising_grads, lr)

    def stylising(state):
      grads, terms = stylising_grads(state["params"])
      params, opt = state["params"], state["opt_state"]
      banks, bank_opt = _adam_update(problem.adam, params["banks"], grads["banks"], opt["banks"], step)
      autoencoder = {"encoder": params["encoder"], "decoder": params["decoder"]}
      autoencoder, ae_opt = _adam_update(problem.adam, autoencoder, {"encoder": grads["encoder"],
                                                                     "decoder": grads["decoder"]},
                                         opt["autoencoder"], step)
      terms = {**terms, "reconstruction": jnp.float32(0), "autoencoder_step": jnp.float32(0),
               "grad_norm": optax.tree.norm(grads), "learning_rate": lr}
      return {"params": {**autoencoder, "banks": banks},
              "opt_state": {**opt, "autoencoder": ae_opt, "banks": bank_opt}, "step": step + 1}, terms

    term_shapes = jax.eval_shape(stylising, state)[1]

    def autoencoding(state):
      params = state["params"]
      autoencoder = {"encoder": params["encoder"], "decoder": params["decoder"]}
      loss, grads = jax.value_and_grad(reconstruction_loss, argnums=1)(problem.spec, autoencoder, content)
      grads, loss = mean((grads, loss))
      autoencoder, ae_opt = _adam_update(problem.adam, autoencoder, grads, state["opt_state"]["reconstruction"],
                                         step)
      terms = {k: jnp.zeros(s.shape, s.dtype) for k, s in term_shapes.items()}
      terms.update(total=loss, reconstruction=loss, autoencoder_step=jnp.float32(1),
                   grad_norm=optax.tree.norm(grads), learning_rate=lr)
      return {"params": {**autoencoder, "banks": params["banks"]},
              "opt_state": {**state["opt_state"], "reconstruction": ae_opt}, "step": step + 1}, terms

    return jax.lax.cond(problem.is_autoencoder_step(step), autoencoding, stylising, state)

  @staticmethod
  def _new_bank_step(problem: StyleBankProblem, state, stylising_grads, lr):
    """Only the new banks (after the base's n_base) learn; everything else passes through unchanged."""
    params, n = state["params"], problem.n_base
    old = jax.tree.map(lambda b: b[:n], params["banks"])
    join = lambda new: {**params, "banks": jax.tree.map(lambda o, b: jnp.concatenate([o, b]), old, new)}
    new = jax.tree.map(lambda b: b[n:], params["banks"])
    new_grads, terms = stylising_grads(new, join)
    new, bank_opt = _adam_update(problem.adam, new, new_grads, state["opt_state"]["banks"], state["step"])
    terms = {**terms, "reconstruction": jnp.float32(0), "autoencoder_step": jnp.float32(0),
             "grad_norm": optax.tree.norm(new_grads), "learning_rate": lr}
    return {"params": join(new), "opt_state": {"banks": bank_opt}, "step": state["step"] + 1}, terms

  def load(self, path, step, encoder):
    base.refuse_encoder(encoder, self.name)
    return stylebank_stylizer.StyleBankStylizer.load(path, step)


METHOD = StyleBank()
