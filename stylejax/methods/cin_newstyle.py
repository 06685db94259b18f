"""New styles for a trained CIN network, learning only their (gamma, beta) rows (Dumoulin et al.
2017, Sec. 4.3: a new painting costs a few thousand numbers, the rest of the network frozen).

`network.base` is the trained network: a pretrained one by name (`multistyle26`,
stylejax.io.cin_release) or a `cin` / `cin_newstyle` training workdir. The run's `styles` are the k
new paintings; the result is a network of N + k styles whose first N (the base's) are the base's own
rows, copied bit for bit, and whose convolutions are the base's. Only the new rows are
differentiated and updated (the optimizer state covers them alone), so the convolution kernels'
gradients are never computed. Each example draws one of the new styles. `network.trainable=all`
instead fine-tunes every parameter from the base (the base's styles then change): the start of a
temporal fine-tune of a pretrained network (`temporal.weight`, stylejax.objectives.temporal_pairs).

The `network` block repeats the base's structure (widths, up_widths, n_residual, width_multiplier),
so that the workdir describes its own network; a mismatch with the base is refused in one line.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import ml_collections

from stylejax.errors import StylejaxError
from stylejax.feedforward import data, transfer
from stylejax.io import cin_release
from stylejax.methods import base, cin, photo_data
from stylejax.networks import stylenet
from stylejax.objectives import loss_network

INITS = ("mean", "identity")  # the new rows at step 0: the base's styles averaged | gamma 1, beta 0
TRAINABLE = ("new_styles", "all")  # what learns: the new rows alone (Dumoulin et al.) | every parameter
_STRUCTURE = ("widths", "up_widths", "n_residual", "width_multiplier", "conditional")


@dataclasses.dataclass(frozen=True)
class NewStyleProblem(base.Problem):
  """A CIN problem whose first `n_base` styles come from the trained network `base_network`."""
  base_network: str = ""
  n_base: int = 0
  init: str = "mean"
  train_all: bool = False  # network.trainable=all: every parameter learns (the base's styles change too)


def _structure(widths, up_widths, n_residual, width_multiplier, conditional) -> dict:
  """A stylenet's structure as the config spells it, with up_widths () written out."""
  widths, up_widths = tuple(widths), tuple(up_widths)
  return {"widths": widths, "up_widths": up_widths or (widths[1], widths[0]), "n_residual": n_residual,
          "width_multiplier": width_multiplier, "conditional": conditional}


def load_base(name: str) -> tuple[stylenet.NetworkSpec, dict, list[str]]:
  """(spec, params, style names) of `network.base`: a pretrained name or a CIN workdir (latest step)."""
  if cin_release.is_release(name):
    return cin_release.load(name)
  stylizer = transfer.Stylizer.load(name)
  return stylizer.spec, stylizer.params, stylizer.style_names


def initial_rows(params: dict, n_base: int, n_new: int, init: str) -> dict:
  """Every norm's rows for `n_new` new styles: the mean of the first `n_base` rows, or identity."""
  def rows(name, leaf):
    if init == "mean":
      row = leaf[:n_base].mean(axis=0)
    else:
      row = jnp.ones_like(leaf[0]) if name == "gamma" else jnp.zeros_like(leaf[0])
    return jnp.broadcast_to(row, (n_new, leaf.shape[1]))
  return {layer: {name: rows(name, leaf) for name, leaf in values.items()}
          for layer, values in stylenet.style_rows(params, 0).items()}


class CinNewStyle(cin.Cin):
  name = "cin_newstyle"
  arbitrary = False

  def network_config(self) -> ml_collections.ConfigDict:
    n = super().network_config()
    n.base = "multistyle26"  # the trained network: a pretrained name (multistyle26) or a cin/cin_newstyle workdir
    n.init = "mean"  # the new styles' rows at step 0: mean (of the base's styles) | identity (gamma 1, beta 0)
    # all: e.g. a fine-tune of the whole pretrained network with the temporal term (temporal.weight)
    n.trainable = "new_styles"  # new_styles: only the new rows learn (the base's styles stay bit for bit) | all
    return n

  def validate(self, config: ml_collections.ConfigDict) -> None:
    net = config.network
    base.check_stylenet_block(net)
    if net.trainable not in TRAINABLE:
      raise StylejaxError(f"network.trainable must be one of {', '.join(TRAINABLE)}, got {net.trainable!r}")
    if net.init not in INITS:
      raise StylejaxError(f"network.init must be one of {', '.join(INITS)}, got {net.init!r}")
    if not net.base:
      raise StylejaxError("network.base must name the trained network: multistyle26 or a cin training workdir")
    try:
      spec, _ = transfer.network_spec(net.base)
    except StylejaxError as e:
      raise StylejaxError(f"network.base: {e}") from None
    if not spec.conditional:
      raise StylejaxError(f"network.base {net.base} has plain instance norms (conditional=False): no style rows to add")
    wanted = _structure(spec.widths, spec.up_widths, spec.n_residual, spec.width_multiplier, spec.conditional)
    given = _structure(*(net[key] for key in _STRUCTURE))
    differ = [key for key in _STRUCTURE if given[key] != wanted[key]]
    if differ:
      raise StylejaxError(f"network.base {net.base} has " + ", ".join(f"{k}={wanted[k]}" for k in differ)
                          + "; set the network block to match (--set network." + f"{differ[0]}=...)")

  def problem(self, config: ml_collections.ConfigDict, loaded, n_styles: int) -> NewStyleProblem:
    """The static problem: `n_styles` new styles after the base's."""
    base_spec, _ = transfer.network_spec(config.network.base)
    plain = super().problem(config, loaded, base_spec.n_styles + n_styles)
    return NewStyleProblem(**{f.name: getattr(plain, f.name) for f in dataclasses.fields(plain)},
                           base_network=config.network.base, n_base=base_spec.n_styles, init=config.network.init,
                           train_all=config.network.trainable == "all")

  def prepare(self, config: ml_collections.ConfigDict) -> base.Prepared:
    new_files = cin.fixed_style_files(config)
    base_names = transfer.network_spec(config.network.base)[1]
    style_images = data.load_style_images(new_files, config.style_size)
    eval_photos = photo_data.eval_photos(config)
    loaded = loss_network.load_weights(config.loss)
    photos = photo_data.open_photos(config)
    problem = self.problem(config, loaded, len(new_files))
    frozen = {"vgg": loaded.params, "targets": cin.style_targets(problem, loaded.params, jnp.asarray(style_images)),
              "weights": loss_network.loss_weights(config.loss, loaded.arch)}
    new = range(problem.n_base, problem.spec.n_styles)
    return base.Prepared(problem=problem, frozen=frozen, style_files=[str(n) for n in base_names] + new_files,
                         batches=photo_data.photo_batches(config, photos),
                         eval_grid=lambda params: transfer.style_grid(problem.spec, params, eval_photos, new))

  def init_state(self, problem: NewStyleProblem, key: jax.Array) -> dict:
    del key  # nothing is random: the base's weights and deterministic new rows
    spec, params, _ = load_base(problem.base_network)
    if spec.n_styles != problem.n_base:
      raise StylejaxError(f"network.base {problem.base_network} now has {spec.n_styles} styles, "
                          f"not {problem.n_base}")
    params = stylenet.with_style_rows(
        params, initial_rows(params, problem.n_base, problem.spec.n_styles - problem.n_base, problem.init),
        problem.n_base)
    trainable = params if problem.train_all else stylenet.style_rows(params, problem.n_base)
    return {"params": params, "opt_state": problem.optimizer().init(trainable), "step": jnp.int32(0)}

  def train_step(self, problem: NewStyleProblem, state, batch, frozen, key, axis):
    content = batch["content"]
    rows, n_base = content.shape[0], problem.n_base
    devices, device = (jax.lax.axis_size(axis), jax.lax.axis_index(axis)) if axis else (1, 0)
    style_ids = n_base + jax.random.randint(jax.random.fold_in(key, 0), (rows * devices,), 0,
                                            problem.spec.n_styles - n_base)
    own_ids = jax.lax.dynamic_slice_in_dim(style_ids, device * rows, rows)
    params = state["params"]
    loss = lambda p: cin.batch_loss(problem, p, frozen["vgg"], content, own_ids, frozen["targets"], frozen["weights"],
                                    jax.random.fold_in(key, 1), device * rows, first_target_style=n_base)
    if problem.train_all:
      return base.gradient_step(state, jax.value_and_grad(loss, has_aux=True), problem.optimizer(),
                                problem.adam.learning_rate_at(), axis)

    def loss_and_grad(new_rows):  # the new rows alone are differentiated
      return jax.value_and_grad(lambda r: loss(stylenet.with_style_rows(params, r, n_base)), has_aux=True)(new_rows)
    trainable = {"params": stylenet.style_rows(params, n_base), "opt_state": state["opt_state"],
                 "step": state["step"]}
    trained, terms = base.gradient_step(trainable, loss_and_grad, problem.optimizer(),
                                        problem.adam.learning_rate_at(), axis)
    return {**trained, "params": stylenet.with_style_rows(params, trained["params"], n_base)}, terms


METHOD = CinNewStyle()
