"""Training the multi-style network (Dumoulin et al. 2017): data -> jitted step -> checkpoints, metrics.

`run(config, workdir)` trains, or resumes from the workdir's latest checkpoint. Everything that
varies per step comes from (seed, step): the batch (see `stylejax.feedforward.data`), the style of each example
and the sliced-Wasserstein projections. So a run killed at any point and resumed ends with parameters
bit-identical (on CPU) to an uninterrupted run.

Data parallel: the global batch is split over every device (and host) with a `NamedSharding` over a
one-axis mesh ("data"); parameters, VGG weights and style targets are replicated. XLA inserts the
gradient all-reduce. For several hosts set `multihost=True` (see README, "Multi-host training").
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import shutil
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import orbax.checkpoint as ocp
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from tqdm import tqdm

from stylejax import configuration
from stylejax.feedforward import data, transfer
from stylejax.io import images, weights
from stylejax.networks import stylenet, vgg
from stylejax.objectives import losses
from stylejax.io.atomic_io import atomic_write_text
from stylejax.errors import StylejaxError
from stylejax.io.metric_writer import MetricWriter
from stylejax.objectives.preprocessing import Preprocessing


class NonFiniteLoss(StylejaxError):
  pass


@dataclasses.dataclass(frozen=True)
class TrainProblem:
  """What decides the compiled train step (hashable: a jit static argument)."""
  spec: stylenet.NetworkSpec
  arch: str
  preprocessing: Preprocessing
  pooling: str
  padding: str
  content_layers: tuple[str, ...]
  style_layers: tuple[str, ...]
  statistic: str
  gram_norm: str
  n_projections: int
  learning_rate: float
  schedule: str
  warmup_steps: int
  total_steps: int
  grad_clip: float

  def features(self, vgg_params, images_, layers):
    return vgg.features(vgg_params, images_, layers, arch=self.arch, preprocessing=self.preprocessing,
                        pooling=self.pooling, padding=self.padding)

  def learning_rate_at(self):
    decay = max(1, self.total_steps - self.warmup_steps)
    if self.schedule == "cosine":
      main = optax.cosine_decay_schedule(self.learning_rate, decay)
    else:
      main = optax.constant_schedule(self.learning_rate)
    if not self.warmup_steps:
      return main
    warmup = optax.linear_schedule(0.0, self.learning_rate, self.warmup_steps)
    return optax.join_schedules([warmup, main], [self.warmup_steps])

  def optimizer(self) -> optax.GradientTransformation:
    adam = optax.adam(self.learning_rate_at())
    return optax.chain(optax.clip_by_global_norm(self.grad_clip), adam) if self.grad_clip else adam


def problem_from_config(config: ml_collections.ConfigDict, loaded: weights.LoadedVGG,
                        n_styles: int) -> TrainProblem:
  net = config.network
  return TrainProblem(
      spec=stylenet.NetworkSpec(n_styles=n_styles, widths=tuple(net.widths),
                                width_multiplier=net.width_multiplier, n_residual=net.n_residual,
                                conditional=net.conditional),
      arch=loaded.arch, preprocessing=loaded.preprocessing, pooling=config.vgg.pooling,
      padding=config.vgg.padding,
      content_layers=tuple(configuration.parse_layer_weights(config.loss.content_layers, loaded.arch, "")),
      style_layers=tuple(configuration.parse_layer_weights(config.loss.style_layers, loaded.arch, "")),
      statistic=config.loss.statistic, gram_norm=config.loss.gram_norm,
      n_projections=config.loss.n_projections, learning_rate=config.optim.learning_rate,
      schedule=config.optim.schedule, warmup_steps=config.optim.warmup_steps,
      total_steps=config.optim.steps, grad_clip=config.optim.grad_clip)


def loss_weights(config: ml_collections.ConfigDict, arch: str) -> dict:
  """Numeric loss weights as float32 arrays, so changing one never retraces the step."""
  as_arrays = lambda d: {k: jnp.float32(v) for k, v in d.items()}
  return {"content": jnp.float32(config.loss.content_weight),
          "style": jnp.float32(config.loss.style_weight),
          "tv": jnp.float32(config.loss.tv_weight),
          "content_layers": as_arrays(configuration.parse_layer_weights(config.loss.content_layers, arch, "")),
          "style_layers": as_arrays(configuration.parse_layer_weights(config.loss.style_layers, arch, ""))}


@functools.partial(jax.jit, static_argnums=0)
def style_targets(problem: TrainProblem, vgg_params, style_images):
  """The style statistic of every style image, stacked: each leaf has a leading n_styles axis."""
  per_style = lambda image: losses.style_targets(problem.features(vgg_params, image, problem.style_layers),
                                                 problem.statistic)
  return jax.lax.map(per_style, style_images)


def example_terms(problem: TrainProblem, weights_, output_features, content_features, output, target, key):
  """Loss terms of ONE example: its output's features against its content and its style's target."""
  content = losses.content_loss(output_features, content_features, weights_["content_layers"])
  style = losses.style_loss(output_features, target, weights_["style_layers"], problem.statistic,
                            gram_norm=problem.gram_norm, key=key, n_projections=problem.n_projections)
  tv = losses.total_variation(output)
  total = weights_["content"] * content + weights_["style"] * style + weights_["tv"] * tv
  return {"content": content, "style": style, "tv": tv, "total": total}


def batch_loss(problem: TrainProblem, params, vgg_params, content, style_ids, targets, weights_, key):
  """Mean over the batch of the vmapped per-example loss; each example has its own style id."""
  outputs = stylenet.stylize(problem.spec, params, content, stylenet.one_hot(style_ids, problem.spec.n_styles))
  layers = tuple(sorted(set(problem.content_layers) | set(problem.style_layers)))
  output_features = problem.features(vgg_params, outputs, layers)
  content_features = jax.lax.stop_gradient(problem.features(vgg_params, content, problem.content_layers))
  example_targets = jax.tree.map(lambda t: t[style_ids], targets)
  keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(content.shape[0]))
  terms = jax.vmap(functools.partial(example_terms, problem, weights_))(
      output_features, content_features, outputs, example_targets, keys)
  terms = jax.tree.map(jnp.mean, terms)
  return terms["total"], terms


def style_ids_for(problem: TrainProblem, key, batch_size: int):
  return jax.random.randint(key, (batch_size,), 0, problem.spec.n_styles)


def train_step(problem: TrainProblem, state, content, vgg_params, targets, weights_, base_key):
  """One Adam step. `state` = {"params", "opt_state", "step"}; randomness is folded from the step."""
  key = jax.random.fold_in(base_key, state["step"])
  style_ids = style_ids_for(problem, jax.random.fold_in(key, 0), content.shape[0])
  grad_fn = jax.value_and_grad(batch_loss, argnums=1, has_aux=True)
  (_, terms), grads = grad_fn(problem, state["params"], vgg_params, content, style_ids, targets, weights_,
                              jax.random.fold_in(key, 1))
  updates, opt_state = problem.optimizer().update(grads, state["opt_state"], state["params"])
  params = optax.apply_updates(state["params"], updates)
  terms["grad_norm"] = optax.tree.norm(grads)
  terms["learning_rate"] = problem.learning_rate_at()(state["step"])
  return {"params": params, "opt_state": opt_state, "step": state["step"] + 1}, terms


@functools.lru_cache(maxsize=None)
def compiled_step(mesh: Mesh):
  """The jitted train step for a mesh: batch sharded over "data", everything else replicated."""
  replicated = NamedSharding(mesh, PartitionSpec())
  return jax.jit(train_step, static_argnums=0, out_shardings=(replicated, replicated))


def initial_state(problem: TrainProblem, seed: int) -> dict:
  params = stylenet.init_params(problem.spec, jax.random.fold_in(jax.random.key(seed), 1))
  return {"params": params, "opt_state": problem.optimizer().init(params), "step": jnp.int32(0)}


def checkpoint_manager(directory: Path, keep: int) -> ocp.CheckpointManager:
  options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True)
  return ocp.CheckpointManager(directory.absolute(), options=options, item_names=("params", "train"))


def save_checkpoint(manager: ocp.CheckpointManager, state: dict) -> None:
  step = int(state["step"])
  manager.save(step, args=ocp.args.Composite(
      params=ocp.args.StandardSave(state["params"]),
      train=ocp.args.StandardSave({"opt_state": state["opt_state"], "step": state["step"]})))


def restore_checkpoint(manager: ocp.CheckpointManager, like: dict, step: int | None = None) -> dict:
  step = manager.latest_step() if step is None else step
  abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
  restored = manager.restore(step, args=ocp.args.Composite(
      params=ocp.args.StandardRestore(abstract["params"]),
      train=ocp.args.StandardRestore({"opt_state": abstract["opt_state"], "step": abstract["step"]})))
  return {"params": restored["params"], **restored["train"]}


def _config_json(config: ml_collections.ConfigDict) -> dict:
  return json.loads(config.to_json_best_effort(sort_keys=True))


def _flat(d: dict, prefix: str = "") -> dict:
  out = {}
  for k, v in d.items():
    out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
  return out


def open_workdir(workdir: Path, config: ml_collections.ConfigDict, style_files: list[str],
                 overwrite: bool) -> None:
  """Resumes a workdir that holds this config; refuses any other non-empty folder unless overwrite."""
  saved = workdir / "config.json"
  wanted = _config_json(config)
  if saved.exists() and not overwrite:
    old = json.loads(saved.read_text())
    if old != wanted:
      changed = sorted(k for k in set(_flat(old)) | set(_flat(wanted)) if _flat(old).get(k) != _flat(wanted).get(k))
      raise StylejaxError(f"workdir {workdir} holds a run with another config (differs in: "
                          f"{', '.join(changed[:6])}); pass --overwrite to replace it, or choose another --workdir")
    return
  if workdir.exists() and any(workdir.iterdir()):
    if not overwrite:
      raise StylejaxError(f"workdir {workdir} already holds files that are not a training run; pass "
                          "--overwrite to replace them, or choose another --workdir")
    shutil.rmtree(workdir)
  workdir.mkdir(parents=True, exist_ok=True)
  atomic_write_text(workdir / "styles.json", json.dumps(style_files, indent=1) + "\n")
  atomic_write_text(saved, json.dumps(wanted, indent=2, sort_keys=True) + "\n")


@dataclasses.dataclass
class TrainResult:
  workdir: Path
  state: dict
  last_terms: dict


def _check_finite(step_terms: list[tuple[int, dict]], manager, checkpoints: Path) -> None:
  for step, terms in step_terms:
    bad = [k for k in ("total", "grad_norm") if not np.isfinite(terms[k])]
    if bad:
      manager.wait_until_finished()
      last = manager.latest_step()
      kept = f"the last good checkpoint is step {last} in {checkpoints}" if last is not None else "no checkpoint was saved yet"
      raise NonFiniteLoss(f"the {bad[0]} became {terms[bad[0]]} at step {step}; training stopped and {kept} "
                          "(lower optim.learning_rate or set optim.grad_clip)")


def _initialize_distributed() -> None:
  """jax.distributed with the cluster's auto-detection (TPU, SLURM, ...); on a hand-made cluster,
  JAX_COORDINATOR_ADDRESS (read by JAX), JAX_NUM_PROCESSES and JAX_PROCESS_ID (read here)."""
  kwargs = {k: int(os.environ[v]) for k, v in (("num_processes", "JAX_NUM_PROCESSES"),
                                                 ("process_id", "JAX_PROCESS_ID")) if v in os.environ}
  jax.distributed.initialize(**kwargs)


def run(config: ml_collections.ConfigDict, workdir: str | Path, overwrite: bool = False,
        quiet: bool = False) -> TrainResult:
  """Trains (or resumes) the network of `config` in `workdir`. All inputs are checked first."""
  configuration.validate(config)
  if config.multihost:
    _initialize_distributed()
  mesh = Mesh(np.asarray(jax.devices()), ("data",))
  if config.optim.batch_size % mesh.size:
    raise StylejaxError(f"optim.batch_size {config.optim.batch_size} must be a multiple of the "
                        f"{mesh.size} devices")
  style_files = data.style_image_list(config.styles)
  if not config.network.conditional and len(style_files) != 1:
    raise StylejaxError(f"network.conditional=False trains one style; got {len(style_files)}")
  style_images = data.load_style_images(style_files, config.style_size)
  eval_photos = [transfer.square(images.load_image(p), config.eval_size) for p in config.eval_images]
  loaded = weights.load_vgg(config.vgg.weights, arch=config.vgg.arch, fmt=config.vgg.format or None)
  source = data.open_source(config.data.content, config.data.tfds_data_dir, config.data.split,
                            config.data.max_side)
  workdir = Path(workdir)
  open_workdir(workdir, config, style_files, overwrite)

  problem = problem_from_config(config, loaded, len(style_files))
  replicated = NamedSharding(mesh, PartitionSpec())
  batch_sharding = NamedSharding(mesh, PartitionSpec("data"))
  vgg_params = jax.device_put(loaded.params, replicated)
  targets = jax.device_put(style_targets(problem, loaded.params, jnp.asarray(style_images)), replicated)
  weights_ = jax.device_put(loss_weights(config, loaded.arch), replicated)
  base_key = jax.random.fold_in(jax.random.key(config.seed), 2)

  checkpoints = workdir / "checkpoints"
  manager = checkpoint_manager(checkpoints, config.keep_checkpoints)
  state = jax.device_put(initial_state(problem, config.seed), replicated)
  if manager.latest_step() is not None:
    state = restore_checkpoint(manager, state)
  start = int(state["step"])
  total = config.optim.steps
  writer = MetricWriter(workdir, enabled=jax.process_index() == 0)
  writer.truncate_after(start)
  step_fn = compiled_step(mesh)
  stream = data.batches(data.training_images(source, config.data.image_size, config.seed),
                        config.optim.batch_size, start, total, jax.process_index(), jax.process_count(),
                        config.data.prefetch)
  progress = tqdm(total=total, initial=start, disable=quiet, desc="train", unit="step")
  pending, terms_host = [], {}
  last_log, images_since = time.perf_counter(), 0
  try:
    for step in range(start, total):
      content = jax.make_array_from_process_local_data(batch_sharding, next(stream))
      state, terms = step_fn(problem, state, content, vgg_params, targets, weights_, base_key)
      pending.append((step + 1, terms))
      images_since += config.optim.batch_size
      done = step + 1
      log_now = done % config.log_every == 0 or done == total
      save_now = done % config.checkpoint_every == 0 or done == total
      eval_now = (config.eval_every and done % config.eval_every == 0) or done == total
      if log_now or save_now:
        fetched = [(s, {k: float(v) for k, v in jax.device_get(t).items()}) for s, t in pending]
        pending = []
        _check_finite(fetched, manager, checkpoints)
        terms_host = fetched[-1][1]
        if log_now:
          now = time.perf_counter()
          means = {k: float(np.mean([t[k] for _, t in fetched])) for k in terms_host}
          writer.write_scalars(done, {**means, "images_per_s": images_since / (now - last_log)})
          progress.set_postfix(loss=f"{terms_host['total']:.4g}")
          last_log, images_since = now, 0
      if save_now:
        save_checkpoint(manager, state)
      if eval_now:
        grid = transfer.style_grid(problem.spec, state["params"], eval_photos)
        writer.write_image(done, "eval/photos_x_styles", grid)
        if jax.process_index() == 0:
          images.save_png(grid, workdir / "eval" / f"grid_{done:06d}.png")
      progress.update(1)
    manager.wait_until_finished()
  finally:
    progress.close()
    writer.close()
    manager.close()
  return TrainResult(workdir=workdir, state=state, last_terms=terms_host)
