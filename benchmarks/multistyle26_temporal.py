"""bench_multistyle26's temporal fine-tune row (issue 24): one step of the whole pretrained
multistyle26 network + one new style, fine-tuned with the temporal term, JAX against a PyTorch twin.

* JAX: the product's path, `loop.compiled_step` on the `cin_newstyle` problem with
  network.trainable=all and temporal.weight=2000 (the temporal block's other defaults: shift 4 px,
  rotation 1 degree, zoom 2%, noise 0.01); every step draws fresh pairs inside the step.
* torch: `stylejax.reference.temporal_twin` (TorchStyleNet with every parameter trainable, the same
  VGG16 perceptual loss, the warped-output loss with a grid_sample border warp, torch.optim.Adam on
  all parameters); every step draws fresh pairs with torch (same shapes and work).
* Agreement before timing: fixed ids (the new style) and JAX's pairs (`temporal_pairs.batch_pairs`
  of the loss's key) given to the twin; loss terms (relative error) and the gradient of every
  parameter (relative L2), float32; also the two warps on the same frames and flows.

`setup` arguments are `bench_multistyle26.StepSetup` objects built with `OVERRIDES`.
"""

from __future__ import annotations


import jax
import numpy as np

from benchmarks import report
from benchmarks.stylenet_torch_side import TwinObjective, flat
from benchmarks.timing import train_step_rates
from stylejax.imaging import warp as warping
from stylejax.methods import cin
from stylejax.objectives import temporal_pairs
from stylejax.reference.temporal_twin import TemporalFineTuneStep, TemporalObjective, pairs_to_torch, warp
from stylejax.reference.torch_twin import Mismatch, TorchStyleNet, relative_error, relative_l2, to_nchw, to_nhwc

TEMPORAL_WEIGHT = 2000.0
OVERRIDES = {"network.trainable": "all", "temporal.weight": TEMPORAL_WEIGHT}
TERMS = ("content", "style", "tv", "temporal", "total")
LOSS_TOLERANCE = 1e-4  # relative, per loss term (float32)
GRAD_L2_TOLERANCE = 1e-2  # float32: VGG max-pool ties flip between frameworks (see stylenet_torch_side)
# grid_sample's normalised coordinates move float32 samples by ~1e-7 * side px (2.7e-5 on white noise
# at 256 px, far less on photos): a sanity bound, the loss and gradient checks are the real ones.
WARP_TOLERANCE = 1e-4
MUST, AIM = 1.0, 1.2  # JAX / torch images/s


def make_twin(setup) -> TemporalFineTuneStep:
  """The twin from the setup's step-0 parameters (multistyle26 + the new style's mean rows)."""
  problem = setup.problem
  if not (problem.train_all and problem.temporal.enabled):
    raise Mismatch(f"the temporal row needs network.trainable=all and temporal.weight > 0: {problem}")
  if problem.adam.schedule != "constant" or problem.adam.warmup_steps or problem.adam.grad_clip:
    raise Mismatch("the twin implements a constant learning rate, no warm-up, no clipping")
  perceptual = TwinObjective(problem, setup.loaded, setup.style_images, setup.weights)  # new styles' targets
  objective = TemporalObjective(perceptual.loss, perceptual.style_targets, problem.temporal, problem.n_base)
  net = TorchStyleNet(problem.spec, jax.device_get(setup.initial["params"]))
  return TemporalFineTuneStep(net, objective, to_nchw(setup.content_np), problem.adam.learning_rate, problem.n_base)


def check(setup, twin: TemporalFineTuneStep) -> dict:
  """Loss terms and every parameter's gradient with fixed ids and JAX's pairs, JAX against the twin."""
  problem, n_base = setup.problem, setup.problem.n_base
  ids = np.full(setup.batch, n_base, np.int32)  # the one new style
  key = jax.random.key(0)

  @jax.jit
  def jax_side(params, vgg, content, targets, weights_):  # all arguments: nothing for XLA to constant-fold
    loss = lambda p: cin.batch_loss(problem, p, vgg, content, ids, targets, weights_, key, first_target_style=n_base)
    (_, terms), grads = jax.value_and_grad(loss, has_aux=True)(params)
    frames_2, flows, masks = temporal_pairs.batch_pairs(problem.temporal, key, content)
    moved = jax.vmap(warping.warp)(content, flows)  # for the warp check
    return terms, grads, (frames_2, flows, masks), moved
  terms_j, grads_j, pairs, moved_j = jax.device_get(jax_side(
      setup.initial["params"], setup.frozen["vgg"], setup.content, setup.frozen["targets"], setup.frozen["weights"]))
  frames_2, flows, masks = pairs_to_torch(*pairs)
  warp_err = float(np.abs(to_nhwc(warp(to_nchw(setup.content_np), flows)) - moved_j).max())

  terms_t = twin.terms(ids, (frames_2, flows, masks))
  terms_t["total"].backward()
  grads_t = twin.net.flax_tree(lambda p: p.grad)
  if jax.tree.structure(grads_t) != jax.tree.structure(grads_j):
    raise Mismatch("the twin's parameter tree differs from stylejax's")
  grad_l2 = relative_l2(flat(grads_j), flat(grads_t))
  twin.opt.zero_grad(set_to_none=True)
  terms_t = {k: float(v.detach()) for k, v in terms_t.items()}
  terms_j = {k: float(v) for k, v in terms_j.items()}
  errs = {k: relative_error(terms_j[k], terms_t[k]) for k in TERMS}
  print(f"[temporal step check {setup.size}px] JAX total {terms_j['total']:.6e} (temporal {terms_j['temporal']:.4e}), "
        f"torch {terms_t['total']:.6e} (temporal {terms_t['temporal']:.4e}); rel err "
        + ", ".join(f"{k} {v:.1e}" for k, v in errs.items())
        + f"; all-parameter gradient rel L2 err {grad_l2:.1e}; max |warp JAX - torch| {warp_err:.1e}", flush=True)
  if not all(np.isfinite(v) for v in list(terms_j.values()) + list(terms_t.values())):
    raise Mismatch(f"non-finite loss (JAX {terms_j}, torch {terms_t})")
  if not (max(errs.values()) < LOSS_TOLERANCE and grad_l2 < GRAD_L2_TOLERANCE and warp_err < WARP_TOLERANCE):
    raise Mismatch(f"the temporal fine-tune step disagrees: loss rel errs {errs}, gradient rel L2 {grad_l2:.2e}, "
                   f"warp max abs {warp_err:.2e}")
  return {"errs": errs, "grad_l2": grad_l2, "warp_err": warp_err, "jax": terms_j, "torch": terms_t}


def bench(setup, twin: TemporalFineTuneStep, repeats: int, warmup: int, quiet: dict) -> dict:
  row = train_step_rates(setup, twin.step, repeats, warmup, quiet)
  row["n_params"] = sum(int(np.size(leaf)) for leaf in jax.tree.leaves(setup.initial["params"]))
  print(f"[temporal fine-tune step {setup.size}px batch {setup.batch}] JAX {row['jax_ips']:.2f} img/s, torch "
        f"{row['torch_ips']:.2f} img/s; JAX/torch {row['ratio']:.2f}; other load {report.pct(row['other'])}", flush=True)
  return row


def render_lines(check_result: dict, r: dict) -> list[str]:
  """The row's paragraph and table, for the section under the γ/β table."""
  t = check_result
  return [
      "",
      f"Temporal fine-tune step (issue 24; `cin_newstyle` with `network.trainable=all`, "
      f"`temporal.weight={TEMPORAL_WEIGHT:g}`, the temporal block's other defaults; {r['size']} px, batch "
      f"{r['batch']}; every parameter of multistyle26 + the new style, {r['n_params']:,} numbers, is "
      "differentiated and updated; each step draws a second frame per photo by a random camera motion and "
      "adds the masked warped-output loss, which costs a second pass of the network). JAX: "
      "`loop.compiled_step`; torch: `stylejax.reference.temporal_twin` (grid_sample border warp, Adam on "
      "all parameters, its own pairs drawn with torch). Agreement before timing, fixed ids, JAX's pairs "
      "given to the twin, float32: loss relative error "
      + ", ".join(f"{k} {v:.1e}" for k, v in t["errs"].items())
      + f"; all-parameter gradient relative L2 error {t['grad_l2']:.1e}; warps max abs {t['warp_err']:.1e}.",
      "",
      "| px | batch | JAX ms/step | torch ms/step | JAX images/s | torch images/s | JAX / torch images/s "
      "| JAX first call s | other load |",
      "|---|---|---|---|---|---|---|---|---|",
      f"| {r['size']} | {r['batch']} | {1e3 * r['jax_s']:.0f} | {1e3 * r['torch_s']:.0f} | {r['jax_ips']:.2f} | "
      f"{r['torch_ips']:.2f} | {r['ratio']:.2f} | {r['first_call_s']:.1f} | {report.pct(r['other'])} |",
  ]


def bar_line(r: dict) -> str:
  return (f"- Temporal fine-tune step JAX / torch images/s ≥ {MUST:g} (aim ≥ {AIM:g}; issue 24): "
          f"{report.goal_verdict(1 / r['ratio'], 1 / MUST, 1 / AIM)} — {r['ratio']:.2f}.")
