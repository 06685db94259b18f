"""What a trained method is: the `Method` interface the kind-agnostic loop (`stylejax.training.loop`)
drives, and the pieces most methods share (the Adam schedule, one gradient step).

A method owns everything that differs between methods: its `network` config block and its checks,
the inputs it prepares once (loss-network weights, style targets, frozen feature networks), its
parameters and optimizer state, its train step (losses, any alternation between networks, any extra
state), its eval grid, and how a trained run loads for `apply`/`grid`. The loop owns the rest: data
parallelism, checkpoints and resume, metrics, the NaN guard, progress.
"""

from __future__ import annotations

import abc
import dataclasses
import math
from typing import Any, Callable, Iterator

import jax
import ml_collections
import numpy as np
import optax

from stylejax import devices
from stylejax.errors import StylejaxError
from stylejax.objectives.loss_network import LossNetwork
from stylejax.objectives.temporal_pairs import TemporalSettings


@dataclasses.dataclass(frozen=True)
class AdamSettings:
  """The `optim` block's Adam with schedule, warm-up and clipping (hashable: part of a static problem)."""
  learning_rate: float
  schedule: str  # constant | cosine
  warmup_steps: int
  total_steps: int
  grad_clip: float

  @classmethod
  def from_config(cls, optim: ml_collections.ConfigDict) -> "AdamSettings":
    return cls(learning_rate=optim.learning_rate, schedule=optim.schedule, warmup_steps=optim.warmup_steps,
               total_steps=optim.steps, grad_clip=optim.grad_clip)

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

  def optimizer(self, wrap: Callable[[optax.GradientTransformation], optax.GradientTransformation] | None = None
                ) -> optax.GradientTransformation:
    """Adam on the schedule (`wrap`ped, e.g. to rescale some parameters), after clipping if set."""
    adam = optax.adam(self.learning_rate_at())
    if wrap is not None:
      adam = wrap(adam)
    return optax.chain(optax.clip_by_global_norm(self.grad_clip), adam) if self.grad_clip else adam


@dataclasses.dataclass(frozen=True)
class Problem:
  """What decides a method's compiled train step (hashable: a jit static argument)."""
  method: str  # the method's name in stylejax.methods.registry
  spec: Any  # the trained network's structure
  loss: LossNetwork  # the frozen loss network and its terms
  adam: AdamSettings
  temporal: TemporalSettings = TemporalSettings()  # the temporal term (methods with `temporal = True`)

  def optimizer(self) -> optax.GradientTransformation:
    return self.adam.optimizer()


def gradient_step(state: dict, loss_and_grad: Callable, optimizer: optax.GradientTransformation,
                  schedule: Callable, axis: str | None) -> tuple[dict, dict]:
  """One optimizer step of a single-network method. `state` = {"params", "opt_state", "step"};
  `loss_and_grad(params) -> ((total, terms), grads)` on this device's rows. With `axis` (inside
  shard_map) the terms and gradients are averaged over the devices in device order."""
  (_, terms), grads = loss_and_grad(state["params"])
  if axis:
    grads, terms = devices.device_mean((grads, terms), axis)
  updates, opt_state = optimizer.update(grads, state["opt_state"], state["params"])
  params = optax.apply_updates(state["params"], updates)
  terms["grad_norm"] = optax.tree.norm(grads)
  terms["learning_rate"] = schedule(state["step"])
  return {"params": params, "opt_state": opt_state, "step": state["step"] + 1}, terms


def mean_over_examples(one_example: Callable, key: jax.Array, first_example, *rows) -> tuple[jax.Array, dict]:
  """(mean total, mean terms) of `one_example(*row_i, key_i)` vmapped over the batch's rows. Example
  i's key is folded from its index in the global batch, `first_example + i`, so the same example
  draws the same randomness on any device layout."""
  n = jax.tree.leaves(rows)[0].shape[0]
  keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(first_example + jax.numpy.arange(n))
  terms = jax.vmap(one_example)(*rows, keys)
  terms = jax.tree.map(jax.numpy.mean, terms)
  return terms["total"], terms


def initial_adam_state(params, optimizer: optax.GradientTransformation) -> dict:
  return {"params": params, "opt_state": optimizer.init(params), "step": jax.numpy.int32(0)}


@dataclasses.dataclass
class Prepared:
  """What a method prepares once per run (on process 0 first: it may fill caches).

  problem:     hashable; decides the compiled train step (a jit static argument)
  frozen:      pytree of arrays every step reads and never changes (loss-network weights, style
               targets, loss weights); replicated over the devices
  style_files: the run's styles, written to the workdir's styles.json
  batches:     (start_step, total_steps, process_index, process_count) -> iterator of host batches,
               each a dict of (process-local rows, ...) arrays; batch s is a pure function of (seed, s)
  eval_grid:   params on the host -> an image (H, W, 3) in [0, 1], written to eval/grid_*.png
  """
  problem: Any
  frozen: Any
  style_files: list[str]
  batches: Callable[[int, int, int, int], Iterator[dict]]
  eval_grid: Callable[[Any], np.ndarray]


class Method(abc.ABC):
  """A trained method. Subclasses are registered by name in `stylejax.methods.registry`."""

  name: str  # the config's network.kind
  arbitrary: bool  # True: styles are paintings drawn each step, and given at apply time (--style-image)
  watched_terms: tuple[str, ...] = ("total", "grad_norm")  # a non-finite value stops the run
  temporal: bool = False  # True: its loss takes the config's `temporal` block (objectives.temporal_pairs)

  @abc.abstractmethod
  def network_config(self) -> ml_collections.ConfigDict:
    """The method's `network` block, every field commented (the config files start from it)."""

  @abc.abstractmethod
  def validate(self, config: ml_collections.ConfigDict) -> None:
    """One-line StylejaxError for the first bad value specific to this method."""

  @abc.abstractmethod
  def prepare(self, config: ml_collections.ConfigDict) -> Prepared:
    """Loads and computes what the run needs before its first step."""

  @abc.abstractmethod
  def init_state(self, problem, key: jax.Array) -> dict:
    """The train state at step 0: {"params", "opt_state", "step", ...}; "params" is what inference
    restores, the rest is checkpointed beside it."""

  @abc.abstractmethod
  def train_step(self, problem, state: dict, batch: dict, frozen, key: jax.Array,
                 axis: str | None) -> tuple[dict, dict]:
    """(next state, {term: scalar}) for this device's rows of the global batch. `key` is already
    folded with the step. With `axis` (inside shard_map) the result must agree across devices."""

  @abc.abstractmethod
  def load(self, path, step: int | None, encoder: str | None):
    """A trained run (its workdir) loaded for inference: what `stylejax apply` and `grid` use."""


def check_stylenet_block(network: ml_collections.ConfigDict) -> None:
  """The fields of a `stylejax.networks.stylenet` transformer (cin, and ghiasi's transformer)."""
  if not isinstance(network.n_residual, int) or network.n_residual <= 0:
    raise StylejaxError(f"network.n_residual must be a positive integer, got {network.n_residual!r}")
  check_width_multiplier(network)
  if len(network.widths) != 3 or any(not isinstance(w, int) or w <= 0 for w in network.widths):
    raise StylejaxError(f"network.widths must be three positive integers, got {network.widths}")
  up = network.get("up_widths", ())
  if len(up) not in (0, 2) or any(not isinstance(w, int) or w <= 0 for w in up):
    raise StylejaxError(f"network.up_widths must be two positive integers, or () to mirror widths; got {up}")


def check_width_multiplier(network: ml_collections.ConfigDict) -> None:
  if not (math.isfinite(network.width_multiplier) and network.width_multiplier > 0):
    raise StylejaxError(f"network.width_multiplier must be > 0, got {network.width_multiplier}")


def refuse_encoder(encoder: str | None, kind: str) -> None:
  """`--encoder` belongs to the AdaIN release's decoder.pth; a workdir names its own."""
  if encoder is not None:
    raise StylejaxError(f"--encoder goes with the AdaIN release's decoder.pth; a {kind} workdir names its "
                        "own encoder in config.json")
