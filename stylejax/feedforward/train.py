"""Training the multi-style network (Dumoulin et al. 2017): data -> jitted step -> checkpoints, metrics.

`network.kind = "adain"` trains AdaIN's decoder instead (Huang & Belongie 2017, any painting at test
time): each step pairs every photo with a random crop of a random painting (stylejax.networks.adain).
`network.kind = "ghiasi"` trains Ghiasi et al.'s style-prediction network jointly with the multi-style
transformer, on the same (photo, painting) pairs (stylejax.networks.style_prediction).

`run(config, workdir)` trains, or resumes from the workdir's latest checkpoint. Everything that
varies per step comes from (seed, step): the batch (see `stylejax.feedforward.data`), the style of each example
and the sliced-Wasserstein projections. So a run killed at any point and resumed ends with parameters
bit-identical (on CPU) to an uninterrupted run.

Data parallel: the global batch is split over every device (and host) with a `NamedSharding` over a
one-axis mesh ("data"); parameters, VGG weights and style targets are replicated. Each device
computes the gradient of its rows and `device_mean` averages them in device order, so the same
devices spread over one or several processes train to the same bits (on CPU: with the same number
of XLA threads per process, see README). For several processes set `multihost=True` (see
`_initialize_distributed`, `stylejax.feedforward.launch_local` and README, "Many devices and hosts").
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
from jax.experimental import multihost_utils
from jax.flatten_util import ravel_pytree
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from tqdm import tqdm

from stylejax import configuration
from stylejax.feedforward import data, transfer
from stylejax.io import images, weights
from stylejax.networks import adain, style_prediction, stylenet
from stylejax.objectives import loss_network
from stylejax.objectives.loss_network import LossNetwork
from stylejax.io.atomic_io import atomic_write_text
from stylejax.errors import NonFiniteLoss, StylejaxError
from stylejax.io.metric_writer import MetricWriter


@dataclasses.dataclass(frozen=True)
class TrainProblem:
  """What decides the compiled train step (hashable: a jit static argument)."""
  spec: stylenet.NetworkSpec | adain.DecoderSpec | style_prediction.GhiasiSpec  # CIN, AdaIN, Ghiasi
  loss: LossNetwork
  learning_rate: float
  schedule: str
  warmup_steps: int
  total_steps: int
  grad_clip: float
  style_lr_scale: float = 1.0  # ghiasi: the style network's and head's rate, a fraction of the rest's

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
    if isinstance(self.spec, style_prediction.GhiasiSpec):
      # No norm follows the head: a step moves every gamma/beta by about lr x the embedding's L1 norm,
      # where the transformer's convs (each followed by a norm) and CIN's own rows move by lr.
      slower = lambda params: {name: name != "transformer" for name in params}
      adam = optax.chain(adam, optax.masked(optax.scale(self.style_lr_scale), slower))
    return optax.chain(optax.clip_by_global_norm(self.grad_clip), adam) if self.grad_clip else adam


def problem_from_config(config: ml_collections.ConfigDict, loaded: weights.LoadedVGG,
                        n_styles: int) -> TrainProblem:
  net = config.network
  if net.kind == "adain":
    spec = adain.DecoderSpec(width_multiplier=net.width_multiplier)
  elif net.kind == "ghiasi":
    spec = style_prediction.spec_from_config(net)
  else:
    spec = stylenet.NetworkSpec(n_styles=n_styles, widths=tuple(net.widths),
                                width_multiplier=net.width_multiplier, n_residual=net.n_residual,
                                conditional=net.conditional)
  return TrainProblem(
      spec=spec,
      loss=loss_network.from_config(config.loss, loaded), learning_rate=config.optim.learning_rate,
      schedule=config.optim.schedule, warmup_steps=config.optim.warmup_steps,
      total_steps=config.optim.steps, grad_clip=config.optim.grad_clip,
      style_lr_scale=config.optim.style_lr_scale)


def loss_weights(config: ml_collections.ConfigDict, arch: str) -> dict:
  """Numeric loss weights as float32 arrays, so changing one never retraces the step."""
  return loss_network.loss_weights(config.loss, arch)


@functools.partial(jax.jit, static_argnums=0)
def style_targets(problem: TrainProblem, vgg_params, style_images):
  """The style statistic of every style image, stacked: each leaf has a leading n_styles axis."""
  return jax.lax.map(lambda image: problem.loss.style_targets(vgg_params, image), style_images)


def batch_loss(problem: TrainProblem, params, vgg_params, content, style_ids, targets, weights_, key,
               first_example=0):
  """Mean over the batch of the vmapped per-example loss; each example has its own style id.
  Example i's key is folded from its index in the global batch, `first_example + i`."""
  net = problem.loss
  outputs = stylenet.stylize(problem.spec, params, content, stylenet.one_hot(style_ids, problem.spec.n_styles))
  output_features = net.features(vgg_params, outputs, net.layers)
  content_features = jax.lax.stop_gradient(net.features(vgg_params, content, net.content_layers))
  example_targets = jax.tree.map(lambda t: t[style_ids], targets)
  keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(first_example + jnp.arange(content.shape[0]))
  one_example = lambda feats, content_feats, output, target, k: loss_network.loss_terms(
      net, weights_, feats, content_feats, (target,), output, k)
  terms = jax.vmap(one_example)(output_features, content_features, outputs, example_targets, keys)
  terms = jax.tree.map(jnp.mean, terms)
  return terms["total"], terms


def style_ids_for(problem: TrainProblem, key, batch_size: int):
  return jax.random.randint(key, (batch_size,), 0, problem.spec.n_styles)


def device_mean(tree, axis: str):
  """The mean over the devices of `axis` (inside shard_map), added in device order on any layout.

  A psum adds in an order of the collective implementation's choosing (XLA's in-process one on one
  host, gloo across CPU processes), so the same global batch on 1x4 and 2x2 devices would give
  gradients that differ in the last bit, and Adam's first steps magnify that to ~learning_rate.
  Here only exact data movement crosses devices: each device receives one slice of every device's
  vector (all_to_all), adds them in device order, and the sums are all-gathered: the traffic of a
  ring all-reduce.
  """
  flat, unravel = ravel_pytree(tree)
  n = jax.lax.axis_size(axis)
  slices = jnp.pad(flat, (0, -flat.size % n)).reshape(n, -1)
  from_each_device = jax.lax.all_to_all(slices, axis, 0, 0, tiled=True)
  summed = jax.lax.all_gather(from_each_device.sum(0), axis, tiled=True)
  return unravel(summed[:flat.size] / n)


def train_step(problem: TrainProblem, state, content, vgg_params, targets, weights_, base_key,
               axis: str | None = None):
  """One Adam step. `state` = {"params", "opt_state", "step"}; randomness is folded from the step.

  With `axis` (inside shard_map, see `compiled_step`) `content` holds this device's rows of the
  global batch, and their loss terms and gradient are averaged over the devices by `device_mean`.
  For AdaIN `content` is {"content", "style"}: a painting per photo, and `targets` is unused; so for
  Ghiasi et al., where `targets` holds the style network's frozen feature-network parameters.
  """
  key = jax.random.fold_in(base_key, state["step"])
  rows = jax.tree.leaves(content)[0].shape[0]
  devices, device = (jax.lax.axis_size(axis), jax.lax.axis_index(axis)) if axis else (1, 0)
  if isinstance(problem.spec, adain.DecoderSpec):
    grad_fn = jax.value_and_grad(adain.batch_loss, argnums=2, has_aux=True)
    (_, terms), grads = grad_fn(problem.loss, problem.spec, state["params"], vgg_params, content["content"],
                                content["style"], weights_, jax.random.fold_in(key, 1), device * rows)
  elif isinstance(problem.spec, style_prediction.GhiasiSpec):
    grad_fn = jax.value_and_grad(style_prediction.batch_loss, argnums=2, has_aux=True)
    (_, terms), grads = grad_fn(problem.loss, problem.spec, state["params"], vgg_params, targets,
                                content["content"], content["style"], weights_, jax.random.fold_in(key, 1),
                                device * rows)
  else:
    style_ids = style_ids_for(problem, jax.random.fold_in(key, 0), rows * devices)  # the global batch's
    grad_fn = jax.value_and_grad(batch_loss, argnums=1, has_aux=True)
    (_, terms), grads = grad_fn(problem, state["params"], vgg_params, content,
                                jax.lax.dynamic_slice_in_dim(style_ids, device * rows, rows), targets,
                                weights_, jax.random.fold_in(key, 1), device * rows)
  if axis:
    grads, terms = device_mean((grads, terms), axis)
  updates, opt_state = problem.optimizer().update(grads, state["opt_state"], state["params"])
  params = optax.apply_updates(state["params"], updates)
  terms["grad_norm"] = optax.tree.norm(grads)
  terms["learning_rate"] = problem.learning_rate_at()(state["step"])
  return {"params": params, "opt_state": opt_state, "step": state["step"] + 1}, terms


@functools.lru_cache(maxsize=None)
def compiled_step(mesh: Mesh):
  """The jitted train step for a mesh: batch sharded over "data", everything else replicated."""
  replicated = PartitionSpec()

  def step(problem, state, content, vgg_params, targets, weights_, base_key):
    # check_vma=False: the outputs are the same on every device (they follow `device_mean`'s
    # all_gather), which shard_map's type check cannot infer.
    per_device = jax.shard_map(functools.partial(train_step, problem, axis="data"), mesh=mesh,
                               in_specs=(replicated, PartitionSpec("data"), replicated, replicated,
                                         replicated, replicated),
                               out_specs=(replicated, replicated), check_vma=False)
    return per_device(state, content, vgg_params, targets, weights_, base_key)

  return jax.jit(step, static_argnums=0)


def initial_state(problem: TrainProblem, seed: int) -> dict:
  key = jax.random.fold_in(jax.random.key(seed), 1)
  if isinstance(problem.spec, adain.DecoderSpec):
    params = adain.init_params(problem.spec, key)
  elif isinstance(problem.spec, style_prediction.GhiasiSpec):
    params = style_prediction.init_params(problem.spec, key)
  else:
    params = stylenet.init_params(problem.spec, key)
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


# How a run is started, not what it computes: a run may resume with other values.
LAUNCH_KEYS = ("multihost",)


def open_workdir(workdir: Path, config: ml_collections.ConfigDict, style_files: list[str],
                 overwrite: bool) -> None:
  """Resumes a workdir that holds this config; refuses any other non-empty folder unless overwrite."""
  saved = workdir / "config.json"
  wanted = _config_json(config)
  if saved.exists() and not overwrite:
    without_launch_keys = lambda d: {k: v for k, v in d.items() if k not in LAUNCH_KEYS}
    old, wanted = without_launch_keys(json.loads(saved.read_text())), without_launch_keys(wanted)
    # A field added to the base config after the run was written, left at its default, is no change.
    defaults = _flat(_config_json(configuration.load_module(
        str(configuration.CONFIG_DIR / "train_base.py")).get_train_base_config()))
    flat_old, flat_wanted = _flat(old), _flat(wanted)
    changed = sorted(k for k in set(flat_old) | set(flat_wanted) if flat_old.get(k) != flat_wanted.get(k)
                     and not (k not in flat_old and k in defaults and flat_wanted[k] == defaults[k]))
    if changed:
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
  """Joins the other processes of the run (`multihost=True`) through jax.distributed.

  SLURM, Open MPI and Cloud TPU are detected by jax, which then finds the coordinator, the process
  count and this process's id itself. Elsewhere every process needs JAX_COORDINATOR_ADDRESS=host:port
  (read by jax), JAX_NUM_PROCESSES and JAX_PROCESS_ID (read here); `launch_local` sets them. CPU
  devices of different processes talk through gloo, the CPU collectives jax ships.
  """
  if jax.distributed.is_initialized():  # a second run() in the same process
    return
  names = {"num_processes": "JAX_NUM_PROCESSES", "process_id": "JAX_PROCESS_ID"}
  try:
    kwargs = {k: int(os.environ[v]) for k, v in names.items() if v in os.environ}
  except ValueError:
    raise StylejaxError(f"{' and '.join(names.values())} must be integers") from None
  if jax.config.jax_cpu_collectives_implementation is None:  # jax 0.10 defaults to gloo already
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
  try:
    jax.distributed.initialize(**kwargs)
  except ValueError as e:  # no cluster detected and settings missing
    raise StylejaxError(f"multihost=True, but jax.distributed could not start: {e} Outside SLURM, Open "
                        "MPI and Cloud TPU set JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES and "
                        "JAX_PROCESS_ID on every process (README, 'Many devices and hosts')") from None


def _first_process_first(work):
  """`work()` on process 0, then on the others, so that what it writes to a shared cache or the
  workdir is written once. A StylejaxError of process 0 is raised on every process: they would
  otherwise wait for it at the next collective."""
  if jax.process_count() == 1:
    return work()
  first, result, error = jax.process_index() == 0, None, None
  if first:
    try:
      result = work()
    except StylejaxError as e:
      error = e
  failed = multihost_utils.broadcast_one_to_all(np.int32(error is not None))
  if error is not None:
    raise error
  if failed:
    raise StylejaxError("process 0 could not prepare the run (see its error)")
  return result if first else work()


def _on_host(tree):
  """Numpy copies of (replicated or sharded) global arrays; every process must call it."""
  if jax.process_count() == 1:
    return jax.device_get(tree)
  return multihost_utils.process_allgather(tree, tiled=True)


def run(config: ml_collections.ConfigDict, workdir: str | Path, overwrite: bool = False,
        quiet: bool = False) -> TrainResult:
  """Trains (or resumes) the network of `config` in `workdir`. All inputs are checked first."""
  configuration.validate(config)
  if config.multihost:
    _initialize_distributed()
  # Each process's devices side by side: process p's rows of the batch are one block (`data.batches`).
  mesh = Mesh(np.asarray(sorted(jax.devices(), key=lambda d: (d.process_index, d.id))), ("data",))
  if config.optim.batch_size % mesh.size:
    raise StylejaxError(f"optim.batch_size {config.optim.batch_size} must be a multiple of the "
                        f"{mesh.size} devices")
  style_files = data.style_image_list(config.styles)
  is_adain = config.network.kind == "adain"
  is_ghiasi = config.network.kind == "ghiasi"
  paintings_per_step = is_adain or is_ghiasi  # any painting: drawn at random each step
  if config.network.kind == "cin" and style_files[0].startswith("tfds:"):
    raise StylejaxError(f"styles={style_files[0]!r}: a painting dataset trains the arbitrary-style kinds "
                        "(network.kind=adain or ghiasi); the cin network takes a list or folder of styles")
  if config.network.kind == "cin" and not config.network.conditional and len(style_files) != 1:
    raise StylejaxError(f"network.conditional=False trains one style; got {len(style_files)}")

  def load_inputs():  # may fill the cache (downloads, the prepared dataset): process 0 first
    if paintings_per_step:  # paintings are drawn at random each step; the first few make the eval grid
      style_images = data.open_style_source(config.styles, config.data.max_side, config.data.tfds_data_dir)
    else:
      style_images = data.load_style_images(style_files, config.style_size)
    eval_photos = [transfer.square(images.load_image(p), config.eval_size) for p in config.eval_images]
    loaded = loss_network.load_weights(config.loss)
    source = data.open_source(config.data.content, config.data.tfds_data_dir, config.data.split,
                              config.data.max_side)
    features_params = (style_prediction.load_features_params(style_prediction.spec_from_config(config.network))
                       if is_ghiasi else {})
    return style_images, eval_photos, loaded, source, features_params

  style_images, eval_photos, loaded, source, features_params = _first_process_first(load_inputs)
  workdir = Path(workdir)
  # Process 0 prepares (maybe replaces) the workdir; the others then find their config in it.
  _first_process_first(lambda: open_workdir(workdir, config, style_files,
                                            overwrite and jax.process_index() == 0))

  problem = problem_from_config(config, loaded, len(style_files))
  replicated = NamedSharding(mesh, PartitionSpec())
  batch_sharding = NamedSharding(mesh, PartitionSpec("data"))
  vgg_params = jax.device_put(loaded.params, replicated)
  if paintings_per_step:
    # Ghiasi: the style network's frozen feature network rides in the `targets` slot of the step.
    style_source, targets = style_images, jax.device_put(features_params, replicated)
    eval_styles = [transfer.square(np.asarray(style_source[i]["image"], np.float32) / 255.0, config.eval_size)
                   for i in range(min(3, len(style_source)))]
  else:
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
  scale_range = tuple(config.data.crop_scale)
  stream = data.batches(data.training_images(source, config.data.image_size, config.seed, scale_range=scale_range),
                        config.optim.batch_size, start, total, jax.process_index(), jax.process_count(),
                        config.data.prefetch)
  if paintings_per_step:  # a painting per photo: random crops and flips of the style images, seeded apart
    paintings = data.batches(data.training_images(style_source, config.style_size, config.seed + 1, flip=True,
                                                  scale_range=scale_range),
                             config.optim.batch_size, start, total, jax.process_index(), jax.process_count(),
                             config.data.prefetch)
    stream = ({"content": c, "style": s} for c, s in zip(stream, paintings))
  progress = tqdm(total=total, initial=start, disable=quiet or jax.process_index() != 0, desc="train",
                  unit="step")
  pending, terms_host = [], {}
  last_log, images_since = time.perf_counter(), 0
  try:
    for step in range(start, total):
      content = jax.tree.map(lambda rows: jax.make_array_from_process_local_data(batch_sharding, rows),
                             next(stream))
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
        params = _on_host(state["params"])
        if jax.process_index() == 0:  # the grid runs on this process's own device and is written once
          if is_adain:
            grid = adain.style_grid(problem.loss, problem.spec, params, loaded.params, eval_photos, eval_styles)
          elif is_ghiasi:
            grid = style_prediction.style_grid(problem.spec, params, features_params, eval_photos, eval_styles)
          else:
            grid = transfer.style_grid(problem.spec, params, eval_photos)
          writer.write_image(done, "eval/photos_x_styles", grid)
          images.save_png(grid, workdir / "eval" / f"grid_{done:06d}.png")
      progress.update(1)
    manager.wait_until_finished()
  finally:
    progress.close()
    writer.close()
    manager.close()
  return TrainResult(workdir=workdir, state=state, last_terms=terms_host)
