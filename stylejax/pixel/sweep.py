"""Sweeps: many pixel-optimization runs as one program, vmapped and sharded over the local devices.

A sweep is data next to a config: a module with `get_config(arg)` and `get_sweep(arg)`, where
`get_sweep` returns a list of `{"dotted.key": value}` overrides built with `product`, `zipped` and
`cross`. Runs whose structure matches (statistic, layers, optimizer, image shapes) share one
compiled program: their numbers (weights, seeds, images, learning rates) are stacked on a leading
run axis, the step is `vmap`ped over it, and that axis is sharded over a `Mesh` of all local
devices. A group larger than `sweep_chunk_size` runs in equal chunks (the last one padded), so the
program compiles once per group. Inside the program, `sweep_runs_in_parallel` runs at a time are
vmapped and the groups of them follow one another (`lax.map`): on CPU, and for L-BFGS with the zoom
line search, one at a time (`runs_in_parallel_for`). Each run gets its own sub-workdir, exactly as
if run alone.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import time
from pathlib import Path
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from tqdm import tqdm

from stylejax import configuration
from stylejax.evaluation import metrics
from stylejax.imaging import images
from stylejax.objectives import loss_network
from stylejax.objectives.terms import style as style_term
from stylejax.pixel import optimize, stylize
from stylejax.atomic_io import atomic_write_text
from stylejax.errors import StylejaxError
from stylejax.io.rundir import StagedRun

Overrides = dict[str, Any]


def product(axes: dict[str, Sequence]) -> list[Overrides]:
  """Every combination of the values: product({"a": [1, 2], "b": [3, 4]}) has 4 runs."""
  keys = list(axes)
  return [dict(zip(keys, values)) for values in itertools.product(*(axes[k] for k in keys))]


def zipped(axes: dict[str, Sequence]) -> list[Overrides]:
  """Values taken together: zipped({"content": [a, b], "styles": [x, y]}) has 2 runs."""
  lengths = {len(v) for v in axes.values()}
  if len(lengths) != 1:
    raise StylejaxError(f"zipped sweep axes have different lengths: { {k: len(v) for k, v in axes.items()} }")
  return [dict(zip(axes, values)) for values in zip(*axes.values())]


def cross(*sweeps: list[Overrides]) -> list[Overrides]:
  """The product of several sweeps: each run of the first with each run of the second, ..."""
  runs = [{}]
  for sweep in sweeps:
    runs = [{**a, **b} for a in runs for b in sweep]
  return runs


def load_sweep(spec: str) -> tuple[ml_collections.ConfigDict, list[Overrides]]:
  """`PATH.py[:ARG]` with get_config(arg) and get_sweep(arg)."""
  config = configuration.load_config(spec)
  path, _, arg = spec.partition(":")
  module = configuration.load_module(path)
  if not hasattr(module, "get_sweep"):
    raise StylejaxError(f"{path} has no get_sweep(arg); a sweep file defines get_config and get_sweep")
  return config, list(module.get_sweep(arg))


def _batched_step(problem, in_parallel, state, total_steps, vgg_params, targets, weights_tree, learning_rate, key):
  """`optimize.step` over the leading run axis of everything but the VGG parameters, as one program:
  `in_parallel` runs at a time are vmapped together, and groups of them follow one another inside the
  program (`lax.map`). One at a time is a scan over the runs, with no vmap at all: under vmap every
  lax.cond computes both of its branches (see `runs_in_parallel_for`)."""
  one = lambda s, n, t, w, lr, k: optimize.step(problem, s, n, vgg_params, t, w, lr, k)
  per_run = (state, total_steps, targets, weights_tree, learning_rate, key)
  n_runs = total_steps.shape[0]
  if n_runs == 1:
    return jax.tree.map(lambda x: x[None], one(*jax.tree.map(lambda x: x[0], per_run)))
  if in_parallel >= n_runs:
    return jax.vmap(one)(*per_run)
  return jax.lax.map(lambda args: one(*args), per_run, batch_size=None if in_parallel == 1 else in_parallel)


def chunk_size_for(problem: optimize.PixelProblem, n_runs: int) -> int:
  """How many of a group's runs share one program call when the config leaves it open: all of them
  (how many of those are vmapped together is `runs_in_parallel_for`'s)."""
  del problem
  return n_runs


def runs_in_parallel_for(problem: optimize.PixelProblem, n_runs: int) -> int:
  """How many runs of one program are vmapped together (`sweep_runs_in_parallel` when set); the rest
  follow one another inside the same program. One at a time on CPU, where batching buys nothing (8
  vmapped 256 px L-BFGS runs took 1.06x the time of 8 separate runs, BENCHMARKS.md), and for L-BFGS
  with the zoom line search anywhere: vmapped, optax's zoom evaluates the loss in both branches of its
  lax.cond and every run's search lasts as long as the slowest one's (a 4-run sweep took 7x the time
  of the 4 runs one by one). Otherwise all of them; the `parallel` line search does the same work in
  every run (no lax.cond), so it vmaps on accelerators."""
  if jax.default_backend() == "cpu" or (problem.optimizer == "lbfgs" and problem.line_search == "zoom"):
    return 1
  return n_runs


def _batched_evaluate(problem, param, vgg_params, targets, weights_tree, key):
  one = lambda p, t, w, k: optimize.evaluate(problem, p, vgg_params, t, w, k)
  return jax.vmap(one)(param, targets, weights_tree, key)


@functools.cache
def programs(mesh: Mesh):
  """The jitted batched step and evaluation for a mesh. Outputs are pinned to the run-axis
  sharding, so feeding a step's output back in never changes the input shardings (which would
  compile a second program)."""
  along_runs = NamedSharding(mesh, PartitionSpec("runs"))
  step = jax.jit(_batched_step, static_argnames=("problem", "in_parallel"), out_shardings=along_runs)
  evaluate = jax.jit(_batched_evaluate, static_argnames=("problem",), out_shardings=along_runs)
  return step, evaluate


class _Run:
  """One expanded run: its config and everything prepared on the host."""

  def __init__(self, index: int, config, overrides, image_cache, vgg_cache):
    self.index, self.config, self.overrides = index, config, overrides
    key = (config.content, tuple(config.styles), config.max_pixels)
    if key not in image_cache:
      image_cache[key] = (images.load_image(config.content, config.max_pixels),
                          [images.load_image(s, config.max_pixels) for s in config.styles])
    self.content_full, self.styles_full = image_cache[key]
    vgg_key = (config.loss.network.weights, config.loss.network.arch, config.loss.network.format)
    if vgg_key not in vgg_cache:
      vgg_cache[vgg_key] = loss_network.load_weights(config.loss)
    self.loaded = vgg_cache[vgg_key]
    self.problem = stylize.problem_from_config(config, self.loaded)
    self.weights = stylize.loss_weights(config, self.loaded.arch)
    self.content, self.styles = stylize.images_at_scale(config, self.content_full, self.styles_full, 1.0)
    self.init_key, self.loss_key = stylize.run_keys(config.seed)
    self.init = stylize.initial_image(config, self.content, self.styles, style_term.config_blend(config),
                                      self.init_key)

  @property
  def group(self):
    """Runs with equal groups share one compiled program."""
    return (self.problem, id(self.loaded), self.content.shape, tuple(s.shape for s in self.styles),
            self.config.log_every)


def _stack(trees):
  return jax.tree.map(lambda *xs: jnp.stack(xs), *trees)


def _mesh(devices) -> Mesh:
  return Mesh(np.asarray(devices if devices is not None else jax.local_devices()), ("runs",))


def run_sweep(base: ml_collections.ConfigDict, sweep: list[Overrides], workdir: str | Path,
              overwrite: bool = False, quiet: bool = False, devices=None,
              chunk_size: int | None = None, evaluate: str | None = None) -> list[Path]:
  """Runs every override of `sweep` on `base`; returns the run folders, in sweep order.

  `evaluate` ("alexnet" or "vgg16") also writes each run's metrics (stylejax.evaluation.metrics) to eval.json.
  """
  staged = StagedRun(workdir, overwrite, "sweep")  # refused before any work
  if not sweep:
    raise StylejaxError("the sweep is empty")
  configs = [configuration.apply_values(base, o) for o in sweep]
  for config in configs:
    configuration.validate(config)
    if tuple(config.multiscale.scales) != (1.0,):
      raise StylejaxError("sweeps run at a single scale; set multiscale.scales=(1.0,)")
  image_cache, vgg_cache = {}, {}
  runs = [_Run(i, c, o, image_cache, vgg_cache) for i, (c, o) in enumerate(zip(configs, sweep))]
  root = staged.open()
  try:
    atomic_write_text(root.path("sweep.json"), json.dumps(
        {"base": json.loads(base.to_json_best_effort()), "runs": sweep}, indent=2, default=str) + "\n")
    mesh = _mesh(devices)
    evaluator = metrics.Evaluator(evaluate) if evaluate else None
    groups: dict[Any, list[_Run]] = {}
    for run in runs:
      groups.setdefault(run.group, []).append(run)
    progress = tqdm(total=len(runs), disable=quiet, desc="sweep", unit="run")
    for members in groups.values():
      size = min(chunk_size or members[0].config.sweep_chunk_size
                 or chunk_size_for(members[0].problem, len(members)), len(members))
      size = math.ceil(size / mesh.size) * mesh.size  # the run axis must split evenly over devices
      for start in range(0, len(members), size):
        chunk = members[start:start + size]
        _run_chunk_of_runs(chunk, size, mesh, root, evaluator)
        progress.update(len(chunk))
    progress.close()
    root.commit()
  except BaseException:
    root.abort()
    raise
  return [Path(workdir) / _run_name(r.index) for r in runs]


def _run_name(index: int) -> str:
  return f"run_{index:04d}"


def _run_chunk_of_runs(chunk: list[_Run], size: int, mesh: Mesh, root: StagedRun, evaluator) -> None:
  padded = chunk + [chunk[-1]] * (size - len(chunk))  # padding runs repeat the last; discarded
  problem, loaded = chunk[0].problem, chunk[0].loaded
  along_runs = NamedSharding(mesh, PartitionSpec("runs"))
  replicated = NamedSharding(mesh, PartitionSpec())
  put = lambda tree: jax.device_put(tree, along_runs)
  vgg_params = jax.device_put(loaded.params, replicated)
  targets = put(_stack([stylize.targets(problem, loaded.params, r.content, r.styles) for r in padded]))
  weights_tree = put(_stack([r.weights for r in padded]))
  learning_rate = put(jnp.asarray([r.config.optim.learning_rate for r in padded], jnp.float32))
  total_steps = put(jnp.asarray([r.config.optim.steps for r in padded], jnp.int32))
  keys = put(jnp.stack([r.loss_key for r in padded]))
  state = put(_stack([optimize.init_state(problem, r.init, r.config.optim.learning_rate) for r in padded]))
  batched_step, batched_evaluate = programs(mesh)
  in_parallel = chunk[0].config.sweep_runs_in_parallel or runs_in_parallel_for(problem, size)
  log_every = chunk[0].config.log_every
  metrics = [[] for _ in chunk]
  start = time.perf_counter()
  while bool(jnp.any((state.step < total_steps) & (state.bad_step < 0))):
    for _ in range(log_every):  # queued without a host sync, as in optimize.run_chunk
      state, _ = batched_step(problem, in_parallel, state, total_steps, vgg_params, targets, weights_tree,
                              learning_rate, keys)
    terms = jax.device_get(batched_evaluate(problem, state.param, vgg_params, targets, weights_tree, keys))
    steps = np.asarray(state.step)
    elapsed = round(time.perf_counter() - start, 3)
    for i, run in enumerate(chunk):
      if metrics[i] and metrics[i][-1]["step"] == int(steps[i]):
        continue  # this run had already finished; log each step once, as a run alone does
      metrics[i].append({"scale": 1.0, "height": run.content.shape[0], "width": run.content.shape[1],
                         "step": int(steps[i]), "elapsed_s": elapsed,
                         **{k: float(v[i]) for k, v in terms.items()}})
  params = np.asarray(state.param)
  bad = np.asarray(state.bad_step)
  for i, run in enumerate(chunk):
    image = stylize.finish_image(run.config, np.asarray(problem.to_image(params[i])), run.content_full)
    run_dir = StagedRun(root.path(_run_name(run.index))).open()
    for record in metrics[i]:
      run_dir.append_jsonl("metrics.jsonl", record)
    stylize.write_outputs(run_dir, run.config, image, run.content_full, run.styles_full, metrics[i],
                          int(bad[i]), int(np.asarray(state.step)[i]), loaded.source)
    run_dir.write_json("overrides.json", {k: v for k, v in run.overrides.items()})
    if evaluator is not None:
      run_dir.write_json("eval.json", {**evaluator(image, run.content_full, run.styles_full[0]),
                                       "wall_s_chunk": elapsed, "runs_in_chunk": len(chunk),
                                       "steps": int(np.asarray(state.step)[i])})
    run_dir.commit()
