"""CycleGAN (Zhu et al. 2017): unpaired translation between two image collections, trained as the
reference (junyanz/pytorch-CycleGAN-and-pix2pix, models/cycle_gan_model.py) does.

Networks keep the reference's names: G_A maps A to B, G_B maps B to A, D_A judges domain B (real B
against G_A's fakes), D_B judges domain A. Each step (`optimize_parameters`):
  1. generators: LSGAN loss of D_A(G_A(a)) and D_B(G_B(b)) against 1, cycle L1 |G_B(G_A(a)) - a| * lambda_A
     and |G_A(G_B(b)) - b| * lambda_B, identity L1 |G_A(b) - b| * lambda_B * lambda_identity (and
     G_B's); one Adam step over both generators;
  2. discriminators: 0.5 * (MSE(D(real), 1) + MSE(D(pooled fake), 0)) each, on this step's fakes
     (made before the generators' update) passed through each direction's image history
     (`stylejax.feedforward.image_pool`); one Adam step over both.
Adam(lr, beta1 0.5, beta2 0.999); the learning rate is constant for network.constant_steps steps and
then falls linearly (the reference's rule, in steps instead of epochs: lr * (1 - max(0, s + 1 - C) /
(D + 1)) at step s, and 0 after C + D steps).

The state: "params" {G_A, G_B} (what inference restores), "discriminators" {D_A, D_B}, their Adam
states, the two pools and the step. Data parallel like every method: gradients and terms are averaged
over devices in device order; the pools see the global batch's fakes, so they stay replicated.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from stylejax import devices
from stylejax.errors import StylejaxError
from stylejax.feedforward import image_pool, translation, unpaired_data
from stylejax.imaging import crops, grids, images
from stylejax.methods import base
from stylejax.objectives import temporal_pairs
from stylejax.objectives.temporal_pairs import TemporalSettings
from stylejax.networks import cyclegan


@dataclasses.dataclass(frozen=True)
class CycleGanProblem:
  """What decides the compiled train step (hashable: a jit static argument)."""
  method: str
  generator: cyclegan.GeneratorSpec
  discriminator: cyclegan.DiscriminatorSpec
  crop: int  # training crops are crop x crop: the pools' image size
  pool_size: int
  lambda_a: float
  lambda_b: float
  lambda_identity: float
  learning_rate: float
  beta1: float
  constant_steps: int
  decay_steps: int
  temporal: TemporalSettings = TemporalSettings()  # both generators' temporal term (objectives.temporal_pairs)

  def learning_rate_at(self, step):
    """The reference's `linear` policy with steps for epochs (module docstring)."""
    decay = jnp.maximum(0.0, step + 1.0 - self.constant_steps) / (self.decay_steps + 1.0)
    return self.learning_rate * jnp.clip(1.0 - decay, 0.0, 1.0)

  def optimizer(self) -> optax.GradientTransformation:
    return optax.adam(self.learning_rate_at, b1=self.beta1, b2=0.999, eps=1e-8)


def _mse_to(prediction, target: float):
  return jnp.mean(jnp.square(prediction - target))


def _l1(a, b):
  return jnp.mean(jnp.abs(a - b))


def generator_loss(problem: CycleGanProblem, generators, discriminators, real_a, real_b, key=None, first_example=0):
  """(total, (terms, fake_a, fake_b)): the generators' objective on one device's rows in [-1, 1].
  With `problem.temporal` on (and a `key`), each generator also gets the temporal term on moved
  copies of its inputs ("temporal_A", "temporal_B", weighted; images taken in [0, 1]).

  Each generator runs once on its real input and the other domain's (for the identity loss) stacked
  as one batch, then once on the other's fakes: four calls instead of six, the same per-image results
  (instance norm is per image)."""
  g = functools.partial(cyclegan.generate, problem.generator)
  d = functools.partial(cyclegan.discriminate, problem.discriminator)
  rows = real_a.shape[0]
  identity = problem.lambda_identity > 0
  fake_b = g(generators["G_A"], jnp.concatenate([real_a, real_b]) if identity else real_a)
  fake_a = g(generators["G_B"], jnp.concatenate([real_b, real_a]) if identity else real_b)
  if identity:
    (fake_b, idt_a), (fake_a, idt_b) = (fake_b[:rows], fake_b[rows:]), (fake_a[:rows], fake_a[rows:])
  terms = {"G_A": _mse_to(d(discriminators["D_A"], fake_b), 1.0),
           "G_B": _mse_to(d(discriminators["D_B"], fake_a), 1.0),
           "cycle_A": _l1(g(generators["G_B"], fake_b), real_a) * problem.lambda_a,
           "cycle_B": _l1(g(generators["G_A"], fake_a), real_b) * problem.lambda_b}
  if identity:
    terms["idt_A"] = _l1(idt_a, real_b) * problem.lambda_b * problem.lambda_identity
    terms["idt_B"] = _l1(idt_b, real_a) * problem.lambda_a * problem.lambda_identity
  if problem.temporal.enabled:
    to01 = lambda x: (x + 1.0) / 2.0
    for name, params, real, fake, k in (("temporal_A", generators["G_A"], real_a, fake_b, 0),
                                        ("temporal_B", generators["G_B"], real_b, fake_a, 1)):
      stylize = lambda frames, params=params: to01(g(params, frames * 2.0 - 1.0))
      _, temporal = temporal_pairs.add_term(problem.temporal, stylize, to01(real), to01(fake),
                                            jax.random.fold_in(key, k), first_example, 0.0, {})
      terms[name] = problem.temporal.weight * temporal["temporal"]
  total = sum(terms.values())
  return total, (terms, fake_a, fake_b)


def discriminator_loss(problem: CycleGanProblem, discriminators, real_a, real_b, pooled_a, pooled_b):
  """(total, terms): each discriminator scores its real and pooled fake images as one batch."""
  d = functools.partial(cyclegan.discriminate, problem.discriminator)
  rows = real_a.shape[0]

  def one(params, real, fake):
    scores = d(params, jnp.concatenate([real, fake]))
    return 0.5 * (_mse_to(scores[:rows], 1.0) + _mse_to(scores[rows:], 0.0))
  terms = {"D_A": one(discriminators["D_A"], real_b, pooled_b), "D_B": one(discriminators["D_B"], real_a, pooled_a)}
  return terms["D_A"] + terms["D_B"], terms


def _pool_step(pool, fakes, key, axis):
  """The pool after the global batch's fakes, and this device's rows of what it shows."""
  rows = fakes.shape[0]
  if not axis:
    return image_pool.query(pool, fakes, key)
  everyone = jax.lax.all_gather(fakes, axis, tiled=True)
  pool, shown = image_pool.query(pool, everyone, key)
  return pool, jax.lax.dynamic_slice_in_dim(shown, jax.lax.axis_index(axis) * rows, rows)


def train_step(problem: CycleGanProblem, state: dict, batch: dict, key: jax.Array, axis: str | None):
  """One step (module docstring) on this device's rows of {"A", "B"} crops in [0, 1]."""
  real_a, real_b = batch["A"] * 2.0 - 1.0, batch["B"] * 2.0 - 1.0
  optimizer = problem.optimizer()
  first_example = jax.lax.axis_index(axis) * real_a.shape[0] if axis else 0
  (_, (terms, fake_a, fake_b)), g_grads = jax.value_and_grad(generator_loss, argnums=1, has_aux=True)(
      problem, state["params"], state["discriminators"], real_a, real_b, jax.random.fold_in(key, 2), first_example)
  if axis:
    g_grads, terms = devices.device_mean((g_grads, terms), axis)
  updates, opt_g = optimizer.update(g_grads, state["opt_G"], state["params"])
  generators = optax.apply_updates(state["params"], updates)

  fake_a, fake_b = jax.lax.stop_gradient(fake_a), jax.lax.stop_gradient(fake_b)
  pool_b, pooled_b = _pool_step(state["pool_B"], fake_b, jax.random.fold_in(key, 0), axis)
  pool_a, pooled_a = _pool_step(state["pool_A"], fake_a, jax.random.fold_in(key, 1), axis)
  (_, d_terms), d_grads = jax.value_and_grad(discriminator_loss, argnums=1, has_aux=True)(
      problem, state["discriminators"], real_a, real_b, pooled_a, pooled_b)
  if axis:
    d_grads, d_terms = devices.device_mean((d_grads, d_terms), axis)
  updates, opt_d = optimizer.update(d_grads, state["opt_D"], state["discriminators"])
  discriminators = optax.apply_updates(state["discriminators"], updates)

  terms = {**terms, **d_terms, "total": sum(terms.values()), "D": d_terms["D_A"] + d_terms["D_B"],
           "grad_norm": optax.tree.norm(g_grads), "grad_norm_D": optax.tree.norm(d_grads),
           "learning_rate": problem.learning_rate_at(state["step"])}
  new_state = {"params": generators, "discriminators": discriminators, "opt_G": opt_g, "opt_D": opt_d,
               "pool_A": pool_a, "pool_B": pool_b, "step": state["step"] + 1}
  return new_state, terms


def init_state(problem: CycleGanProblem, key: jax.Array) -> dict:
  keys = jax.random.split(key, 4)
  generators = {"G_A": cyclegan.init_generator(problem.generator, keys[0]),
                "G_B": cyclegan.init_generator(problem.generator, keys[1])}
  discriminators = {"D_A": cyclegan.init_discriminator(problem.discriminator, keys[2]),
                    "D_B": cyclegan.init_discriminator(problem.discriminator, keys[3])}
  optimizer = problem.optimizer()
  pool = image_pool.empty(problem.pool_size, problem.crop, problem.crop)
  return {"params": generators, "discriminators": discriminators, "opt_G": optimizer.init(generators),
          "opt_D": optimizer.init(discriminators), "pool_A": pool, "pool_B": jax.tree.map(jnp.copy, pool),
          "step": jnp.int32(0)}


class CycleGan(base.Method):
  name = translation.KIND
  arbitrary = False
  temporal = True
  watched_terms = ("total", "D", "grad_norm", "grad_norm_D")

  def network_config(self) -> ml_collections.ConfigDict:
    n = ml_collections.ConfigDict()
    n.kind = self.name  # the method (stylejax.methods.registry); chosen by the config file
    n.n_blocks = 9  # generator residual blocks: 9 at 256 px (the paper), 6 at 128 px
    n.ngf = 64  # generator channels after the first conv
    n.ndf = 64  # discriminator channels after the first conv (70x70 PatchGAN, 3 strided layers)
    n.n_layers_d = 3  # PatchGAN depth, the reference's --n_layers_D: 3 sees 70x70 patches, 2 sees 34x34, 1 sees 16x16
    n.affine = False  # instance norms with learned scale/bias (the reference's --norm instance has none)
    n.upsample = "transpose"  # generator upsampling: "transpose" (the reference) or "resize" (nearest x2 + 3x3 conv)
    n.load_size = 286  # a training image's shorter side is resized to this, then cropped to data.image_size
    n.pool_size = 50  # generated images kept per direction for the discriminators; 0: none
    n.lambda_a = 10.0  # cycle loss A -> B -> A
    n.lambda_b = 10.0  # cycle loss B -> A -> B
    n.lambda_identity = 0.5  # identity loss, times lambda_a / lambda_b; 0: none
    n.beta1 = 0.5  # Adam beta1 (beta2 0.999); the learning rate is optim.learning_rate
    n.constant_steps = 100_000  # steps at optim.learning_rate before the linear decay
    n.decay_steps = 100_000  # steps of linear decay to 0 (the learning rate is 0 after both)
    return n

  def validate(self, config: ml_collections.ConfigDict) -> None:
    n = config.network
    for key in ("n_blocks", "ngf", "ndf", "n_layers_d", "load_size"):
      if not isinstance(n[key], int) or n[key] <= 0:
        raise StylejaxError(f"network.{key} must be a positive integer, got {n[key]!r}")
    for key in ("pool_size", "constant_steps", "decay_steps"):
      if not isinstance(n[key], int) or n[key] < 0:
        raise StylejaxError(f"network.{key} must be an integer >= 0, got {n[key]!r}")
    for key in ("lambda_a", "lambda_b", "lambda_identity"):
      if not (np.isfinite(n[key]) and n[key] >= 0):
        raise StylejaxError(f"network.{key} must be a finite number >= 0, got {n[key]!r}")
    if n.upsample not in cyclegan.UPSAMPLING:
      raise StylejaxError(f"network.upsample must be one of {', '.join(cyclegan.UPSAMPLING)}, got {n.upsample!r}")
    if not 0 <= n.beta1 < 1:
      raise StylejaxError(f"network.beta1 must be in [0, 1), got {n.beta1}")
    if n.load_size < config.data.image_size:
      raise StylejaxError(f"network.load_size {n.load_size} must be at least data.image_size {config.data.image_size}")
    if config.data.image_size < 32:
      raise StylejaxError(f"data.image_size must be at least 32 for the PatchGAN, got {config.data.image_size}")
    if config.optim.schedule != "constant" or config.optim.warmup_steps or config.optim.grad_clip:
      raise StylejaxError("cyclegan's learning rate follows network.constant_steps and network.decay_steps: "
                          "leave optim.schedule constant, optim.warmup_steps 0 and optim.grad_clip 0")
    if not (config.data.content.startswith("folder:") or config.data.content.startswith("tfds:")):
      raise StylejaxError(f"data.content must be 'folder:PATH' (with A/ and B/) or 'tfds:NAME' for cyclegan, "
                          f"got {config.data.content!r}")

  def problem(self, config: ml_collections.ConfigDict) -> CycleGanProblem:
    n = config.network
    return CycleGanProblem(
        method=self.name, generator=cyclegan.GeneratorSpec(n.n_blocks, n.ngf, n.affine, n.upsample),
        discriminator=cyclegan.DiscriminatorSpec(n.ndf, n.n_layers_d, n.affine), crop=config.data.image_size,
        pool_size=n.pool_size, lambda_a=n.lambda_a, lambda_b=n.lambda_b, lambda_identity=n.lambda_identity,
        learning_rate=config.optim.learning_rate, beta1=n.beta1, constant_steps=n.constant_steps,
        decay_steps=n.decay_steps, temporal=temporal_pairs.TemporalSettings.from_config(config.temporal))

  def prepare(self, config: ml_collections.ConfigDict) -> base.Prepared:
    d = config.data
    sources = unpaired_data.open_domains(d.content, d.tfds_data_dir, d.split, d.max_side)
    problem = self.problem(config)
    photos = [crops.square(images.load_image(p), config.eval_size) for p in config.eval_images]
    return base.Prepared(
        problem=problem, frozen={}, style_files=[],
        batches=unpaired_data.unpaired_batches(sources, d.image_size, config.network.load_size, config.seed,
                                               config.optim.batch_size, d.prefetch),
        eval_grid=lambda params: eval_grid(problem.generator, params, photos))

  def init_state(self, problem: CycleGanProblem, key: jax.Array) -> dict:
    return init_state(problem, key)

  def train_step(self, problem, state, batch, frozen, key, axis):
    del frozen
    return train_step(problem, state, batch, key, axis)

  def load(self, path, step, encoder):
    base.refuse_encoder(encoder, self.name)
    return translation.Translator.load_workdir(path, step)


def eval_grid(spec: cyclegan.GeneratorSpec, params, photos: list[np.ndarray]) -> np.ndarray:
  """One row per eval photo (taken as domain A): photo, G_A(photo), G_B(G_A(photo))."""
  translator = translation.Translator(spec=spec, generators={"AtoB": params["G_A"], "BtoA": params["G_B"]},
                                      source="the run")
  return grids.tile([translator.cycle(p) for p in photos])


METHOD = CycleGan()
