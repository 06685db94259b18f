"""How a training run spreads over devices and processes: the data mesh, reductions in device order,
joining other processes, and work that process 0 does first.

Every trained method (`stylejax.methods`) and the kind-agnostic loop (`stylejax.training.loop`) use
these; nothing here knows a method.
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from jax.flatten_util import ravel_pytree
from jax.sharding import Mesh

from stylejax.errors import StylejaxError

DATA_AXIS = "data"


def data_mesh() -> Mesh:
  """A one-axis mesh over every device; each process's devices side by side, so process p's rows of
  the global batch are one block (`stylejax.feedforward.data.batches`)."""
  return Mesh(np.asarray(sorted(jax.devices(), key=lambda d: (d.process_index, d.id))), (DATA_AXIS,))


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


def initialize_distributed() -> None:
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


def first_process_first(work):
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


def on_host(tree):
  """Numpy copies of (replicated or sharded) global arrays; every process must call it."""
  if jax.process_count() == 1:
    return jax.device_get(tree)
  return multihost_utils.process_allgather(tree, tiled=True)
