"""bench_adain's PyTorch side and the agreement checks it runs before timing anything.

The twin of AdaIN inference (`adain.stylize`: VGG to relu4_1 on photo and painting, AdaIN, the
release's decoder) and of one training step (`adain_method.batch_loss` + Adam), built on
stylejax/reference/torch_twin.py; then the checks that stylejax and the twin agree. A disagreement
raises `Mismatch`, which stops the benchmark.

`setup` arguments are `bench_adain.Setup` objects (the product's training problem and inputs).
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np
import torch
import torch.nn.functional as F

from benchmarks.stylenet_torch_side import (FLIP_TOLERANCE, GRAD_L2_TOLERANCE, LOSS_TOLERANCE,
                                            UPDATE_L2_TOLERANCE, flat)
from stylejax.methods import adain as adain_method, base
from stylejax.imaging import crops, images
from stylejax.networks import adain
from stylejax.reference.torch_twin import (Mismatch, PerceptualLoss, Preprocess, TorchVGG, adain_decoder_from_flax,
                                           relative_error, relative_l2, relative_max, style_target, to_nchw,
                                           to_nhwc)
from stylejax.reference.torch_twin import adain as torch_adain

# Stylized images in [0, 1]: max abs difference. The decoder's raw (unclipped) output is also compared,
# relative to its largest entry, since an untrained decoder clips many pixels.
OUTPUT_TOLERANCE = 1e-5
RAW_TOLERANCE = 1e-5


# ----------------------------------------------------------------------------------------------
# The PyTorch twin


def decoder_flax_tree(decoder: torch.nn.Sequential, tensors=None) -> dict:
  """The twin decoder's parameters (or `tensors(param)`, e.g. gradients) in stylejax's layout, numpy."""
  get = tensors or (lambda p: p)
  convs = [m for m in decoder if isinstance(m, torch.nn.Conv2d)]
  return {f"conv_{k}": {"kernel": get(m.weight).detach().numpy().transpose(2, 3, 1, 0),
                        "bias": get(m.bias).detach().numpy()} for k, m in enumerate(convs)}


class TwinAdaIN:
  """AdaIN with the VGG twin (the loss network's weights and preprocessing) and the release's decoder."""

  def __init__(self, net, loaded, decoder_params, weights_, dtype=torch.float32):
    if net.statistic != "mean_var" or net.pooling != "max" or net.padding != "zero":
      raise Mismatch(f"the twin describes mean_var, max pooling, zero padding: {net}")
    if tuple(net.content_layers) != (adain.CONTENT_LAYER,):
      raise Mismatch(f"AdaIN's content layer is {adain.CONTENT_LAYER}, the config gives {net.content_layers}")
    self.vgg = TorchVGG.from_hwio(loaded.arch, loaded.params, preprocess=Preprocess.of(loaded.preprocessing)).to(dtype)
    self.decoder = adain_decoder_from_flax(decoder_params).to(dtype)
    self.style_layers = tuple(net.style_layers)
    as_floats = lambda d: {k: float(v) for k, v in d.items()}
    self.loss = PerceptualLoss(self.vgg, as_floats(weights_["content_layers"]), as_floats(weights_["style_layers"]),
                               content_weight=float(weights_["content"]), style_weight=float(weights_["style"]),
                               tv_weight=float(weights_["tv"]), statistic="mean_var")

  def stylize(self, content, style, raw: bool = False):
    """Content (N, 3, H, W) in the style of one painting (1, 3, h, w): reflect-padded to a multiple of 8,
    cropped back, clipped (unless `raw`)."""
    h, w = content.shape[2:]
    pad_h, pad_w = -h % adain.DOWNSAMPLING, -w % adain.DOWNSAMPLING
    top, left = pad_h // 2, pad_w // 2
    x = F.pad(content, (left, pad_w - left, top, pad_h - top), mode="reflect")
    c = self.vgg.features(x, [adain.CONTENT_LAYER])[adain.CONTENT_LAYER]
    s = self.vgg.features(style, [adain.CONTENT_LAYER])[adain.CONTENT_LAYER]
    out = self.decoder(torch_adain(c, s))[:, :, top:top + h, left:left + w]
    return out if raw else out.clamp(0.0, 1.0)

  def terms(self, content, style) -> dict:
    """`adain_method.batch_loss`'s terms: photo i with painting i; only the decoder gets gradients."""
    with torch.no_grad():
      c = self.vgg.features(content, [adain.CONTENT_LAYER])[adain.CONTENT_LAYER]
      s = self.vgg.features(style, sorted(set(self.style_layers) | {adain.CONTENT_LAYER}))
      t = torch_adain(c, s[adain.CONTENT_LAYER])
      style_targets = {layer: style_target(s[layer], "mean_var") for layer in self.style_layers}
    return self.loss.terms(self.decoder(t), {adain.CONTENT_LAYER: t}, style_targets)


class TorchTrainer:
  """The twin decoder + torch.optim.Adam; `.step()` is one full training step on fixed pairs."""

  def __init__(self, problem: base.Problem, twin: TwinAdaIN, content_nchw, style_nchw):
    if problem.schedule != "constant" or problem.warmup_steps or problem.grad_clip:
      raise Mismatch("the twin implements a constant learning rate, no warm-up, no clipping")
    self.twin, self.content, self.style = twin, content_nchw, style_nchw
    twin.decoder.requires_grad_(True)
    self.opt = torch.optim.Adam(twin.decoder.parameters(), lr=problem.learning_rate)  # optax.adam's defaults

  def step(self) -> dict:
    self.opt.zero_grad(set_to_none=True)
    terms = self.twin.terms(self.content, self.style)
    terms["total"].backward()
    self.opt.step()
    return {k: float(v.detach()) for k, v in terms.items()}


# ----------------------------------------------------------------------------------------------
# Agreement checks


jax_stylize = jax.jit(adain.stylize, static_argnames=("net", "spec"))
jax_raw = jax.jit(lambda spec, net, dec, vgg_params, content, style: adain.decode(
    spec, dec, adain.adain(net.features(vgg_params, content, (adain.CONTENT_LAYER,))[adain.CONTENT_LAYER],
                           net.features(vgg_params, style, (adain.CONTENT_LAYER,))[adain.CONTENT_LAYER])),
    static_argnums=(0, 1))


def inference_pair(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
  """(photo (1, H, W, 3), painting (1, H, W, 3)): the paper times photo and painting at one size."""
  side = max(height, width)
  photo = crops.square(images.load_image("astronaut"), side)[None, :height, :width]
  painting = crops.square(images.load_image("starry_night"), side)[None, :height, :width]
  return photo.astype(np.float32), painting.astype(np.float32)


def check_inference(setup, twin: TwinAdaIN, shape) -> dict:
  """Max abs difference of the stylized outputs (and of the raw decoder outputs, relative, at sizes
  that are multiples of 8); also times JAX's first call at this shape."""
  photo, painting = inference_pair(*shape)
  t0 = time.perf_counter()
  out_j = np.asarray(jax_stylize(setup.params, setup.vgg_params, jnp.asarray(photo), jnp.asarray(painting[0]),
                                 net=setup.problem.loss, spec=setup.problem.spec))
  first_call_s = time.perf_counter() - t0
  with torch.inference_mode():
    out_t = to_nhwc(twin.stylize(to_nchw(photo), to_nchw(painting)))
  if out_j.shape != photo.shape or out_t.shape != photo.shape:
    raise Mismatch(f"{shape}: output shapes JAX {out_j.shape}, torch {out_t.shape}, input {photo.shape}")
  err = float(np.max(np.abs(out_j - out_t)))
  clipped = float(np.mean((out_t <= 0.0) | (out_t >= 1.0)))
  raw_err = None
  if shape[0] % adain.DOWNSAMPLING == 0 and shape[1] % adain.DOWNSAMPLING == 0:
    raw_j = np.asarray(jax_raw(setup.problem.spec, setup.problem.loss, setup.params, setup.vgg_params,
                               jnp.asarray(photo), jnp.asarray(painting)))
    with torch.inference_mode():
      raw_t = to_nhwc(twin.stylize(to_nchw(photo), to_nchw(painting), raw=True))
    raw_err = relative_max(raw_j, raw_t)
  print(f"[inference {shape[0]}x{shape[1]}] max |JAX - torch| = {err:.1e} ({100 * clipped:.0f}% of the "
        "entries clipped)" + ("" if raw_err is None else f"; raw decoder output rel max err {raw_err:.1e}"),
        flush=True)
  if not (np.all(np.isfinite(out_j)) and err < OUTPUT_TOLERANCE):
    raise Mismatch(f"stylized {shape[0]}x{shape[1]} outputs disagree: max abs diff {err:.2e} "
                   f"(tolerance {OUTPUT_TOLERANCE:g})")
  if raw_err is not None and not raw_err < RAW_TOLERANCE:
    raise Mismatch(f"raw {shape[0]}x{shape[1]} decoder outputs disagree: rel max err {raw_err:.2e} "
                   f"(tolerance {RAW_TOLERANCE:g})")
  return {"err": err, "raw_err": raw_err, "clipped": clipped, "first_call_s": first_call_s}


def jax_loss_and_grads(setup):
  """`adain_method.batch_loss` and its decoder gradient, float32 (`LossNetwork.features` returns float32
  features whatever the input dtype, so JAX has no float64 run of this loss)."""
  problem = setup.problem
  grad_fn = jax.jit(jax.value_and_grad(adain_method.batch_loss, argnums=2, has_aux=True), static_argnums=(0, 1))
  (_, terms), grads = grad_fn(problem.loss, problem.spec, setup.params, setup.vgg_params,
                              jnp.asarray(setup.content_np), jnp.asarray(setup.style_np), setup.weights,
                              jax.random.key(0))
  return {k: float(v) for k, v in terms.items()}, flat(grads)


def twin_loss_and_grads(setup, dtype=torch.float32):
  """The twin's loss terms and decoder gradient in `dtype`."""
  twin = TwinAdaIN(setup.problem.loss, setup.loaded, setup.params, setup.weights, dtype=dtype)
  twin.decoder.requires_grad_(True)
  terms = twin.terms(to_nchw(setup.content_np, dtype), to_nchw(setup.style_np, dtype))
  terms["total"].backward()
  return {k: float(v.detach()) for k, v in terms.items()}, flat(decoder_flax_tree(twin.decoder, lambda p: p.grad))


def check_training(setup) -> dict:
  """(1) batch_loss and its decoder gradient, JAX and twin in float32, each against the twin in float64
  (the exact reference); (2) the product's first training step against the twin's first Adam step."""
  terms_64, g_64 = twin_loss_and_grads(setup, torch.float64)
  terms_j, g_j = jax_loss_and_grads(setup)
  terms_t, g_t = twin_loss_and_grads(setup)
  errs = {k: relative_error(terms_j[k], terms_t[k]) for k in ("content", "style", "total")}
  errs64 = {k: relative_error(terms_j[k], terms_64[k]) for k in ("content", "style", "total")}
  grad_l2 = relative_l2(g_j, g_t)
  jax_l2_64, torch_l2_64 = relative_l2(g_j, g_64), relative_l2(g_t, g_64)
  print(f"[train {setup.size}px, float32] JAX total {terms_j['total']:.6e} (content {terms_j['content']:.4e}, "
        f"style {terms_j['style']:.4e}); torch total {terms_t['total']:.6e}; torch float64 total "
        f"{terms_64['total']:.10e}; rel err vs torch " + ", ".join(f"{k} {v:.1e}" for k, v in errs.items())
        + ", vs float64 " + ", ".join(f"{k} {v:.1e}" for k, v in errs64.items())
        + f"; grad rel L2 err {grad_l2:.1e} (vs float64: JAX {jax_l2_64:.1e}, torch {torch_l2_64:.1e})", flush=True)
  if not all(np.isfinite(v) for v in list(terms_j.values()) + list(terms_t.values())):
    raise Mismatch(f"non-finite loss (JAX {terms_j}, torch {terms_t})")
  bad = {k: v for k, v in {**errs, **{f"{k} vs float64": v for k, v in errs64.items()}}.items()
         if not v < LOSS_TOLERANCE}
  if bad:
    raise Mismatch(f"training losses disagree: {bad} > {LOSS_TOLERANCE:g} (JAX {terms_j}, torch {terms_t})")
  if not (grad_l2 < GRAD_L2_TOLERANCE and jax_l2_64 < GRAD_L2_TOLERANCE):
    raise Mismatch(f"decoder gradients disagree: rel L2 err {grad_l2:.2e} vs torch, {jax_l2_64:.2e} vs float64 "
                   f"(tolerance {GRAD_L2_TOLERANCE:g})")

  # (2) The product's own first step (this first call also compiles it) against the twin's.
  state0 = setup.fresh_state()
  t0 = time.perf_counter()
  state1, step_terms = setup.step(state0)
  jax.block_until_ready((state1, step_terms))
  first_call_s = time.perf_counter() - t0
  step_terms = {k: float(v) for k, v in step_terms.items()}
  twin = TwinAdaIN(setup.problem.loss, setup.loaded, setup.params, setup.weights)
  trainer = TorchTrainer(setup.problem, twin, to_nchw(setup.content_np), to_nchw(setup.style_np))
  before = flat(decoder_flax_tree(twin.decoder))
  twin_terms = trainer.step()
  update_t = flat(decoder_flax_tree(twin.decoder)) - before
  update_j = flat(state1["params"]) - flat(state0["params"])
  g_t = flat(decoder_flax_tree(twin.decoder, lambda p: p.grad))  # still held after the step
  step_err = relative_error(step_terms["total"], twin_terms["total"])
  norm_err = relative_error(step_terms["grad_norm"], float(np.linalg.norm(g_t)))
  same = np.sign(update_j) == np.sign(update_t)
  flipped = 1.0 - float(np.mean(same))
  update_l2 = relative_l2(update_j[same], update_t[same])
  print(f"[train {setup.size}px, first step] JAX total {step_terms['total']:.6e}, torch total "
        f"{twin_terms['total']:.6e}, rel err {step_err:.1e}; gradient norm rel err {norm_err:.1e}; Adam update: "
        f"{100 * flipped:.2f}% of the entries moved in opposite directions, rel L2 err {update_l2:.1e} over the "
        f"others; JAX first call (compile + step) {first_call_s:.1f} s", flush=True)
  if not step_err < LOSS_TOLERANCE:
    raise Mismatch(f"first training step: losses disagree, rel err {step_err:.2e} > {LOSS_TOLERANCE:g}")
  if not norm_err < GRAD_L2_TOLERANCE:
    raise Mismatch(f"first training step: gradient norms disagree, rel err {norm_err:.2e} > {GRAD_L2_TOLERANCE:g}")
  if not (flipped < FLIP_TOLERANCE and update_l2 < UPDATE_L2_TOLERANCE):
    raise Mismatch(f"first training step: Adam updates disagree: {100 * flipped:.2f}% of the entries moved in "
                   f"opposite directions (tolerance {100 * FLIP_TOLERANCE:g}%), rel L2 err {update_l2:.2e} over "
                   f"the others (tolerance {UPDATE_L2_TOLERANCE:g})")
  return {"jax": terms_j, "torch": terms_t, "torch64": terms_64, "err": errs, "err64": errs64, "grad_l2": grad_l2,
          "jax_l2_64": jax_l2_64, "torch_l2_64": torch_l2_64,
          "step_jax": step_terms["total"], "step_torch": twin_terms["total"], "step_err": step_err,
          "norm_err": norm_err, "flipped": flipped, "update_l2": update_l2, "first_call_s": first_call_s}
