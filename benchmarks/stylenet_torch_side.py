"""bench_stylenet's PyTorch side and the agreement checks it runs before timing anything.

The twin objective (`cin.batch_loss` in torch) and the twin's Adam training step, built on
stylejax/reference/torch_twin.py; then the checks that stylejax and the twin agree: stylized
outputs at each inference size, the training loss and its parameter gradient in float64 and
float32, and the product's first training step against the twin's first Adam step. A disagreement
raises `Mismatch`, which stops the benchmark.

`setup` arguments are `bench_stylenet.Setup` objects (the product's training problem and inputs).
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np
import torch
import torch.nn.functional as F

from stylejax.methods import base, cin
from stylejax.imaging import crops, images
from stylejax.networks import stylenet
from stylejax.reference.torch_twin import (Mismatch, PerceptualLoss, Preprocess, TorchStyleNet, TorchVGG,
                                           relative_error, relative_l2, select_styles, style_ids_tensor, to_nchw,
                                           to_nhwc)

OUTPUT_TOLERANCE = 1e-4  # max abs difference of stylized images in [0, 1]
LOSS_TOLERANCE = 1e-4  # relative, per loss term
F64_TOLERANCE = 1e-6  # float64 runs: relative error of each loss term and of the parameter gradient
# float32: relative L2 error of the whole parameter gradient. Not ~1e-6: rounding differences flip
# near-tied 2x2 max-pool windows in VGG, which moves whole gradient contributions to a neighbouring
# pixel (at 64 px, 1% of the pixels hold 97% of the JAX-vs-float64 error of dL/d(output)); the
# flipped pixels' contributions reach every network parameter, so each float32 gradient sits ~1e-3
# away from the float64 one (the float64 check below is the tight one).
GRAD_L2_TOLERANCE = 1e-2
# The first Adam update is -lr * g / (|g| + eps), about -lr * sign(g): an entry with a small gradient
# may move the other way in the other framework (float32 gradients differ by ~1e-3, concentrated
# where VGG max-pool windows flip). Checked: the share of entries moved in opposite directions, and
# the relative L2 error of the update over the other entries.
FLIP_TOLERANCE = 0.01
UPDATE_L2_TOLERANCE = 1e-3


# ----------------------------------------------------------------------------------------------
# The PyTorch twin of the training loss and step


class TwinObjective:
  """cin.batch_loss in torch: the twin network's outputs through the twin loss, one style per example."""

  def __init__(self, problem: base.Problem, loaded, style_images, weights_, dtype=torch.float32):
    net = problem.loss
    if net.statistic != "gram" or net.gram_norm != "gatys" or net.pooling != "max" or net.padding != "zero":
      raise Mismatch(f"the benchmark describes gram/gatys, max pooling, zero padding: {problem}")
    vgg_twin = TorchVGG.from_hwio(loaded.arch, loaded.params, preprocess=Preprocess.of(loaded.preprocessing))
    self.loss = PerceptualLoss(vgg_twin.to(dtype), weights_["content_layers"], weights_["style_layers"],
                               content_weight=weights_["content"], style_weight=weights_["style"],
                               tv_weight=weights_["tv"])
    self.style_targets = self.loss.style_targets(to_nchw(style_images, dtype))  # batched along the styles

  def terms(self, net: TorchStyleNet, content, style_ids) -> dict:
    ids = style_ids_tensor(style_ids)
    outputs = net.stylize(content, F.one_hot(ids, net.n_styles).to(content.dtype))
    return self.loss.terms(outputs, self.loss.content_targets(content), select_styles(self.style_targets, ids))


class TorchTrainer:
  """One twin network + torch.optim.Adam; `.step(ids)` is one full training step."""

  def __init__(self, problem: base.Problem, params, objective: TwinObjective, content_nchw):
    if problem.schedule != "constant" or problem.warmup_steps or problem.grad_clip:
      raise Mismatch("the twin implements a constant learning rate, no warm-up, no clipping")
    self.net = TorchStyleNet(problem.spec, params)
    self.objective = objective
    self.content = content_nchw
    self.opt = torch.optim.Adam(self.net.parameters(), lr=problem.learning_rate)  # optax.adam's defaults
    self.generator = torch.Generator().manual_seed(0)

  def step(self, style_ids=None) -> dict:
    if style_ids is None:
      style_ids = torch.randint(self.net.n_styles, (self.content.shape[0],), generator=self.generator)
    self.opt.zero_grad(set_to_none=True)
    terms = self.objective.terms(self.net, self.content, style_ids)
    terms["total"].backward()
    self.opt.step()
    return {k: float(v.detach()) for k, v in terms.items()}


# ----------------------------------------------------------------------------------------------
# Agreement checks


def flat(tree) -> np.ndarray:
  return np.concatenate([np.ravel(np.asarray(x)) for x in jax.tree.leaves(tree)])


jax_stylize = jax.jit(stylenet.stylize, static_argnums=0)


def blend_weights(n_styles: int) -> np.ndarray:
  w = np.zeros(n_styles, np.float32)
  w[0] += 0.3
  w[min(1, n_styles - 1)] += 0.7
  return w


def inference_image(height: int, width: int) -> np.ndarray:
  photo = crops.square(images.load_image("astronaut"), max(height, width))
  return photo[None, :height, :width].astype(np.float32)


def check_inference(spec, params, twin: TorchStyleNet, shape) -> dict:
  """Max abs difference of the stylized outputs; also times JAX's first call at this shape."""
  image = inference_image(*shape)
  w = blend_weights(spec.n_styles)
  t0 = time.perf_counter()
  out_j = np.asarray(jax_stylize(spec, params, jnp.asarray(image), jnp.asarray(w)))
  first_call_s = time.perf_counter() - t0
  with torch.inference_mode():
    out_t = to_nhwc(twin.stylize(to_nchw(image), torch.from_numpy(w)[None]))
  if out_j.shape != image.shape or out_t.shape != image.shape:
    raise Mismatch(f"{shape}: output shapes JAX {out_j.shape}, torch {out_t.shape}, input {image.shape}")
  err = float(np.max(np.abs(out_j - out_t)))
  print(f"[inference {shape[0]}x{shape[1]}] max |JAX - torch| = {err:.1e}", flush=True)
  if not (np.all(np.isfinite(out_j)) and err < OUTPUT_TOLERANCE):
    raise Mismatch(f"stylized {shape[0]}x{shape[1]} outputs disagree: max abs diff {err:.2e} "
                   f"(tolerance {OUTPUT_TOLERANCE:g})")
  return {"err": err, "first_call_s": first_call_s}


def loss_and_grads(setup, objective: TwinObjective, ids: np.ndarray, x64: bool = False):
  """`cin.batch_loss` and its parameter gradient, and the twin's, with the given style ids.

  x64: both in float64 (JAX under enable_x64, style targets recomputed in float64)."""
  problem = setup.problem
  dtype = np.float64 if x64 else np.float32
  content_t = to_nchw(setup.content_np).to(torch.float64 if x64 else torch.float32)
  with jax.enable_x64(x64):
    cast = lambda tree: jax.tree.map(lambda a: jnp.asarray(a, dtype), tree)
    if x64:
      vgg_params = cast(setup.loaded.params)
      targets = cin.style_targets(problem, vgg_params, jnp.asarray(setup.style_images, dtype))
      args = (cast(setup.params), vgg_params, jnp.asarray(setup.content_np, dtype), jnp.asarray(ids),
              targets, cast(setup.weights))
    else:
      args = (setup.params, setup.vgg_params, setup.content, jnp.asarray(ids), setup.targets, setup.weights)
    grad_fn = jax.jit(jax.value_and_grad(cin.batch_loss, argnums=1, has_aux=True), static_argnums=0)
    (_, terms_j), grads_j = grad_fn(problem, *args, jax.random.key(0))
    terms_j = {k: float(v) for k, v in terms_j.items()}
    grads_j = flat(grads_j)
  net = TorchStyleNet(problem.spec, setup.params).to(content_t.dtype)
  terms_t = objective.terms(net, content_t, ids)
  terms_t["total"].backward()
  terms_t = {k: float(v.detach()) for k, v in terms_t.items()}
  return terms_j, grads_j, terms_t, flat(net.flax_tree(lambda p: p.grad))


def check_training(setup, objective: TwinObjective) -> dict:
  """(1) batch_loss and its parameter gradient with fixed ids, in float64 and in float32;
  (2) the product's first training step against the twin's first Adam step."""
  problem = setup.problem
  content_t = to_nchw(setup.content_np)
  fixed_ids = np.arange(setup.batch) % problem.spec.n_styles
  objective64 = TwinObjective(problem, setup.loaded, setup.style_images, setup.weights, dtype=torch.float64)
  tj64, gj64, tt64, gt64 = loss_and_grads(setup, objective64, fixed_ids, x64=True)
  errs64 = {k: relative_error(tj64[k], tt64[k]) for k in ("content", "style", "total")}
  grad_l2_64 = relative_l2(gj64, gt64)
  print(f"[train {setup.size}px, ids {fixed_ids.tolist()}, float64] JAX total {tj64['total']:.10e}, torch "
        f"total {tt64['total']:.10e}; rel err " + ", ".join(f"{k} {v:.1e}" for k, v in errs64.items())
        + f"; grad rel L2 err {grad_l2_64:.1e}", flush=True)
  if not (max(errs64.values()) < F64_TOLERANCE and grad_l2_64 < F64_TOLERANCE):
    raise Mismatch(f"in float64, the training losses or gradients disagree: loss rel errs {errs64}, "
                   f"gradient rel L2 err {grad_l2_64:.2e} (tolerance {F64_TOLERANCE:g})")

  terms_j, g_j, terms_t, g_t = loss_and_grads(setup, objective, fixed_ids)
  errs = {k: relative_error(terms_j[k], terms_t[k]) for k in ("content", "style", "total")}
  grad_l2 = relative_l2(g_j, g_t)
  jax_l2_64, torch_l2_64 = relative_l2(g_j, gj64), relative_l2(g_t, gj64)
  print(f"[train {setup.size}px, ids {fixed_ids.tolist()}, float32] JAX total {terms_j['total']:.6e} (content "
        f"{terms_j['content']:.4e}, style {terms_j['style']:.4e}); torch total {terms_t['total']:.6e} "
        f"(content {terms_t['content']:.4e}, style {terms_t['style']:.4e}); rel err "
        + ", ".join(f"{k} {v:.1e}" for k, v in errs.items())
        + f"; grad rel L2 err {grad_l2:.1e} (vs float64: JAX {jax_l2_64:.1e}, torch {torch_l2_64:.1e})",
        flush=True)
  if not all(np.isfinite(v) for v in list(terms_j.values()) + list(terms_t.values())):
    raise Mismatch(f"non-finite loss (JAX {terms_j}, torch {terms_t})")
  bad = {k: v for k, v in errs.items() if not v < LOSS_TOLERANCE}
  if bad:
    raise Mismatch(f"training losses disagree: {bad} > {LOSS_TOLERANCE:g} (JAX {terms_j}, torch {terms_t})")
  if not grad_l2 < GRAD_L2_TOLERANCE:
    raise Mismatch(f"parameter gradients disagree: rel L2 err {grad_l2:.2e} > {GRAD_L2_TOLERANCE:g}")

  # (2) The product's own first step (this first call also compiles it) against the twin's.
  state0 = setup.fresh_state()
  t0 = time.perf_counter()
  state1, step_terms = setup.step(state0)
  jax.block_until_ready((state1, step_terms))
  first_call_s = time.perf_counter() - t0
  step_terms = {k: float(v) for k, v in step_terms.items()}
  product_ids = setup.product_style_ids(0)
  trainer = TorchTrainer(problem, setup.params, objective, content_t)
  before = flat(trainer.net.flax_tree())
  twin_terms = trainer.step(product_ids)
  update_t = flat(trainer.net.flax_tree()) - before
  update_j = flat(state1["params"]) - flat(state0["params"])
  grads_t = trainer.net.flax_tree(lambda p: p.grad)  # still held after the step
  g_t = flat(grads_t)
  step_err = relative_error(step_terms["total"], twin_terms["total"])
  norm_err = relative_error(step_terms["grad_norm"], float(np.linalg.norm(g_t)))
  same = np.sign(update_j) == np.sign(update_t)
  flipped = 1.0 - float(np.mean(same))
  update_l2 = relative_l2(update_j[same], update_t[same])
  print(f"[train {setup.size}px, first step, product's ids {product_ids.tolist()}] JAX total "
        f"{step_terms['total']:.6e}, torch total {twin_terms['total']:.6e}, rel err {step_err:.1e}; "
        f"gradient norm rel err {norm_err:.1e}; Adam update: {100 * flipped:.2f}% of the entries moved in "
        f"opposite directions, rel L2 err {update_l2:.1e} over the others (whole update "
        f"{relative_l2(update_j, update_t):.1e}); JAX first call (compile + step) {first_call_s:.1f} s", flush=True)
  if not step_err < LOSS_TOLERANCE:
    raise Mismatch(f"first training step: losses disagree, rel err {step_err:.2e} > {LOSS_TOLERANCE:g} "
                   "(if cin.Cin.train_step changed how it draws style ids, update "
                   "bench_stylenet.Setup.product_style_ids)")
  if not norm_err < GRAD_L2_TOLERANCE:
    raise Mismatch(f"first training step: gradient norms disagree, rel err {norm_err:.2e} > "
                   f"{GRAD_L2_TOLERANCE:g}")
  if not (flipped < FLIP_TOLERANCE and update_l2 < UPDATE_L2_TOLERANCE):
    raise Mismatch(f"first training step: Adam updates disagree: {100 * flipped:.2f}% of the entries "
                   f"moved in opposite directions (tolerance {100 * FLIP_TOLERANCE:g}%), rel L2 err "
                   f"{update_l2:.2e} over the others (tolerance {UPDATE_L2_TOLERANCE:g})")
  return {"ids": fixed_ids.tolist(), "jax": terms_j, "torch": terms_t, "err": errs, "grad_l2": grad_l2,
          "jax64": tj64, "torch64": tt64, "err64": errs64, "grad_l2_64": grad_l2_64, "jax_l2_64": jax_l2_64,
          "torch_l2_64": torch_l2_64, "product_ids": product_ids.tolist(), "step_jax": step_terms["total"],
          "step_torch": twin_terms["total"], "step_err": step_err, "update_l2": update_l2,
          "norm_err": norm_err, "flipped": flipped,
          "first_call_s": first_call_s}
