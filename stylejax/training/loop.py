"""The kind-agnostic training loop: any method of `stylejax.methods.registry` (the config's
`network.kind`), from data to checkpoints and metrics.

`run(config, workdir)` trains, or resumes from the workdir's newest intact checkpoint. What differs
between methods (networks, losses, optimizers, extra state, eval grid) is the method's; this loop owns
data parallelism, checkpoints and resume, metrics, the NaN guard and progress. Everything that
varies per step comes from (seed, step): the batch (`stylejax.feedforward.data`) and the step's key,
from which each method folds what it draws. So a run killed at any point and resumed ends with
parameters bit-identical (on CPU) to an uninterrupted run.

Data parallel: the global batch is split over every device (and host) with a `NamedSharding` over a
one-axis mesh ("data"); the state and the method's frozen inputs are replicated. Inside the step
each device computes on its rows and the method averages over devices in device order
(`stylejax.devices.device_mean`), so the same devices spread over one or several processes train to
the same bits (on CPU: with the same number of XLA threads per process, see README). For several
processes set `multihost=True` (`stylejax.devices.initialize_distributed`, `launch_local`, README,
"Many devices and hosts").
"""

from __future__ import annotations

import dataclasses
import functools
import sys
import time
from pathlib import Path

import jax
import ml_collections
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from tqdm import tqdm

from stylejax import configuration, devices
from stylejax.errors import NonFiniteLoss, StylejaxError
from stylejax.imaging import images
from stylejax.io import checkpoints
from stylejax.io.metric_writer import MetricWriter
from stylejax.methods import registry
from stylejax.methods.base import Method
from stylejax.objectives import temporal_pairs
from stylejax.training import run_config


@functools.lru_cache(maxsize=None)
def compiled_step(mesh: Mesh):
  """The jitted train step on a mesh: batch sharded over "data", the rest replicated. The problem is
  static (one compilation per run) and names its method (`problem.method`)."""
  replicated = PartitionSpec()

  def step(problem, state, batch, frozen, base_key):
    method = registry.get(problem.method)

    def on_device(state, batch, frozen, base_key):
      key = jax.random.fold_in(base_key, state["step"])
      return method.train_step(problem, state, batch, frozen, key, devices.DATA_AXIS)
    # check_vma=False: the outputs are the same on every device (they follow `device_mean`'s
    # all_gather), which shard_map's type check cannot infer.
    per_device = jax.shard_map(on_device, mesh=mesh,
                               in_specs=(replicated, PartitionSpec(devices.DATA_AXIS), replicated, replicated),
                               out_specs=(replicated, replicated), check_vma=False)
    return per_device(state, batch, frozen, base_key)

  return jax.jit(step, static_argnums=0)


def initial_state(problem, seed: int) -> dict:
  """The method's step-0 state; its key comes from the seed alone."""
  return registry.get(problem.method).init_state(problem, jax.random.fold_in(jax.random.key(seed), 1))


@dataclasses.dataclass
class TrainResult:
  workdir: Path
  state: dict
  last_terms: dict


def _check_finite(method: Method, step_terms: list[tuple[int, dict]], manager, workdir: Path) -> None:
  for step, terms in step_terms:
    bad = [k for k in method.watched_terms if not np.isfinite(terms[k])]
    if bad:
      manager.wait_until_finished()
      last = manager.latest_step()
      kept = (f"the last good checkpoint is step {last} in {workdir / 'checkpoints'}" if last is not None
              else "no checkpoint was saved yet")
      raise NonFiniteLoss(f"the {bad[0]} became {terms[bad[0]]} at step {step}; training stopped and {kept} "
                          "(lower optim.learning_rate or set optim.grad_clip)")


def _warn(message: str) -> None:
  if jax.process_index() == 0:
    print(f"stylejax: {message}", file=sys.stderr)


def validate(config: ml_collections.ConfigDict) -> Method:
  """Every check of a training config, the method's own included; returns the method."""
  configuration.validate(config)
  method = registry.get(config.network.kind)
  expected = set(method.network_config().keys())
  if set(config.network.keys()) != expected:
    raise StylejaxError(f"network.kind={method.name} needs its own network block ({', '.join(sorted(expected))}); "
                        f"start from a {method.name} config (get_train_base_config({method.name!r})) instead of "
                        "changing network.kind")
  method.validate(config)
  temporal_pairs.validate(config.temporal, method.name, method.temporal)
  return method


def run(config: ml_collections.ConfigDict, workdir: str | Path, overwrite: bool = False,
        quiet: bool = False) -> TrainResult:
  """Trains (or resumes) the method of `config` in `workdir`. All inputs are checked first."""
  method = validate(config)
  if config.multihost:
    devices.initialize_distributed()
  mesh = devices.data_mesh()
  if config.optim.batch_size % mesh.size:
    raise StylejaxError(f"optim.batch_size {config.optim.batch_size} must be a multiple of the "
                        f"{mesh.size} devices")
  prepared = devices.first_process_first(lambda: method.prepare(config))  # may fill caches: process 0 first
  workdir = Path(workdir)
  # Process 0 prepares (maybe replaces) the workdir; the others then find their config in it.
  devices.first_process_first(lambda: run_config.open_workdir(workdir, config, prepared.style_files,
                                                              overwrite and jax.process_index() == 0))

  replicated = NamedSharding(mesh, PartitionSpec())
  batch_sharding = NamedSharding(mesh, PartitionSpec(devices.DATA_AXIS))
  frozen = jax.device_put(prepared.frozen, replicated)
  base_key = jax.random.fold_in(jax.random.key(config.seed), 2)

  manager = checkpoints.manager(workdir, keep=config.keep_checkpoints, create=True)
  state = jax.device_put(initial_state(prepared.problem, config.seed), replicated)
  restored = checkpoints.restore_latest_intact(manager, state, _warn)
  if restored is not None:
    state = restored
  start = int(state["step"])
  total = config.optim.steps
  writer = MetricWriter(workdir, enabled=jax.process_index() == 0)
  writer.truncate_after(start)
  step_fn = compiled_step(mesh)
  stream = prepared.batches(start, total, jax.process_index(), jax.process_count())
  progress = tqdm(total=total, initial=start, disable=quiet or jax.process_index() != 0, desc="train",
                  unit="step")
  pending, terms_host = [], {}
  last_log, images_since = time.perf_counter(), 0
  try:
    for step in range(start, total):
      batch = jax.tree.map(lambda rows: jax.make_array_from_process_local_data(batch_sharding, rows), next(stream))
      state, terms = step_fn(prepared.problem, state, batch, frozen, base_key)
      pending.append((step + 1, terms))
      images_since += config.optim.batch_size
      done = step + 1
      log_now = done % config.log_every == 0 or done == total
      save_now = done % config.checkpoint_every == 0 or done == total
      eval_now = (config.eval_every and done % config.eval_every == 0) or done == total
      if log_now or save_now:
        fetched = [(s, {k: float(v) for k, v in jax.device_get(t).items()}) for s, t in pending]
        pending = []
        _check_finite(method, fetched, manager, workdir)
        terms_host = fetched[-1][1]
        if log_now:
          now = time.perf_counter()
          means = {k: float(np.mean([t[k] for _, t in fetched])) for k in terms_host}
          writer.write_scalars(done, {**means, "images_per_s": images_since / (now - last_log)})
          progress.set_postfix(loss=f"{terms_host['total']:.4g}")
          last_log, images_since = now, 0
      if save_now:
        checkpoints.save(manager, state)
      if eval_now:
        params = devices.on_host(state["params"])
        if jax.process_index() == 0:  # the grid runs on this process's own device and is written once
          grid = prepared.eval_grid(params)
          writer.write_image(done, "eval/photos_x_styles", grid)
          images.save_png(grid, workdir / "eval" / f"grid_{done:06d}.png")
      progress.update(1)
    manager.wait_until_finished()
  finally:
    progress.close()
    writer.close()
    manager.close()
  return TrainResult(workdir=workdir, state=state, last_terms=terms_host)
