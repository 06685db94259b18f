"""The PyTorch twin of the temporal fine-tune step (stylejax.reference.temporal_twin) against stylejax at
tiny shapes: the warp, the camera motion, and the loss terms and parameter gradients of `cin.batch_loss`
with the temporal term on, every parameter differentiated (network.trainable=all)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from stylejax.configs.loss import get_loss_config
from stylejax.methods import base, cin
from stylejax.networks import preprocessing, stylenet
from stylejax.objectives import loss_network, temporal_pairs
from stylejax.imaging import warp as warping
from stylejax.reference import temporal_twin, torch_twin
from stylejax.reference.torch_twin import relative_error, relative_l2, to_nchw, to_nhwc

MOTION = temporal_pairs.TemporalSettings(weight=50.0, max_shift=3.0, max_rotation=4.0, max_zoom=0.08, noise=0.02)
LOSS_RTOL = 1e-4  # float32, per loss term (as benchmarks/stylenet_torch_side.py)
# float32, the whole parameter gradient and each layer's: measured 3e-6 overall; the room is for a VGG
# max-pool tie that another CPU's rounding may flip (benchmarks/stylenet_torch_side.py allows 1e-2)
GRAD_L2_RTOL = 1e-3


def test_torch_warp_and_mask_match_stylejax():
  rng = np.random.default_rng(0)
  image = rng.random((2, 13, 17, 3), dtype=np.float32)
  flow = (4 * rng.standard_normal((2, 13, 17, 2))).astype(np.float32)  # many samples land outside: clamped
  ours = np.stack([np.asarray(warping.warp(jnp.asarray(i), jnp.asarray(f))) for i, f in zip(image, flow)])
  twin = to_nhwc(temporal_twin.warp(to_nchw(image), torch.from_numpy(flow)))
  np.testing.assert_allclose(twin, ours, atol=1e-5)
  mask = temporal_twin.in_frame(torch.from_numpy(flow)).numpy()
  assert 0.2 < mask.mean() < 0.9
  np.testing.assert_array_equal(mask, np.stack([np.asarray(temporal_pairs.in_frame(jnp.asarray(f))) for f in flow]))


def test_torch_camera_motion_matches_stylejax_for_the_same_draws():
  """The twin draws its own motions when timed; given JAX's draws it makes JAX's flow and frame 2."""
  key = jax.random.key(4)
  k_motion, _ = jax.random.split(key)
  k_shift, k_angle, k_zoom = jax.random.split(k_motion, 3)
  shift = jax.random.uniform(k_shift, (2,), minval=-MOTION.max_shift, maxval=MOTION.max_shift)
  angle = jax.random.uniform(k_angle, (), minval=-MOTION.max_rotation, maxval=MOTION.max_rotation)
  zoom = 1 + jax.random.uniform(k_zoom, (), minval=-MOTION.max_zoom, maxval=MOTION.max_zoom)
  frame = jax.random.uniform(jax.random.key(5), (12, 20, 3))
  still = temporal_pairs.TemporalSettings(**{**MOTION.__dict__, "noise": 0.0})
  moved, flow, _ = jax.jit(temporal_pairs.second_frame, static_argnums=2)(key, frame, still)
  t = lambda a: torch.from_numpy(np.array(a, np.float32).reshape(1, -1))
  twin_flow = temporal_twin.camera_flows(12, 20, t(shift), t(angle)[:, 0], t(zoom)[:, 0])
  np.testing.assert_allclose(twin_flow[0].numpy(), np.asarray(flow), atol=1e-4)
  twin_moved = to_nhwc(temporal_twin.warp(to_nchw(np.asarray(frame)), twin_flow))[0]
  np.testing.assert_allclose(twin_moved, np.asarray(moved), atol=1e-4)
  frames_2, flows, masks = temporal_twin.camera_pairs(to_nchw(np.asarray(frame)).repeat(3, 1, 1, 1), MOTION,
                                                      torch.Generator().manual_seed(0))
  assert frames_2.shape == (3, 3, 12, 20) and flows.shape == (3, 12, 20, 2) and masks.shape == (3, 12, 20)
  assert float(frames_2.min()) >= 0 and float(frames_2.max()) <= 1
  assert np.abs(flows.numpy()).max() <= MOTION.max_shift + 20 * (MOTION.max_zoom + np.deg2rad(MOTION.max_rotation))


def _tiny_problem():
  spec = stylenet.NetworkSpec(n_styles=3, width_multiplier=0.125, n_residual=1)
  loss = loss_network.LossNetwork("vgg16", preprocessing.LPIPS, "max", "zero", ("relu2_1",),
                                  ("relu1_2", "relu2_1"), "gram")
  adam = base.AdamSettings(learning_rate=1e-2, schedule="constant", warmup_steps=0, total_steps=1, grad_clip=0.0)
  block = get_loss_config()
  block.content_layers, block.style_layers = "relu2_1", "relu1_2,relu2_1"
  block.style_weight, block.tv_weight = 3.0, 10.0  # every term a visible share of the total
  return base.Problem(method="cin", spec=spec, loss=loss, adam=adam, temporal=MOTION), \
      loss_network.loss_weights(block, "vgg16")


def _random_stylenet_params(spec, rng) -> dict:
  """A Flax tree laid out from the twin's layer plan (stylejax refuses it if the layouts differ), with
  distinct (gamma, beta) rows per style (stylenet.init_params would compile a dummy forward pass)."""
  params = {}
  for k, layer in enumerate(torch_twin.stylenet_convs(spec.channels, spec.n_residual)):
    shape = (layer.kernel, layer.kernel, layer.cin, layer.cout)
    kernel = rng.standard_normal(shape) / (layer.kernel * layer.cin ** 0.5)
    rows = (spec.n_styles, layer.cout)
    params[f"ReflectConv_{k}"] = {"Conv_0": {"kernel": kernel.astype(np.float32)}}
    params[f"ConditionalInstanceNorm_{k}"] = {"gamma": (1 + 0.3 * rng.standard_normal(rows)).astype(np.float32),
                                              "beta": (0.3 * rng.standard_normal(rows)).astype(np.float32)}
  return params


def test_twin_terms_and_gradients_match_cin_batch_loss_with_the_temporal_term(vgg16_params):
  problem, weights = _tiny_problem()
  rng = np.random.default_rng(1)
  params = _random_stylenet_params(problem.spec, rng)
  content = rng.random((2, 20, 20, 3), dtype=np.float32)
  styles = rng.random((2, 24, 24, 3), dtype=np.float32)  # the "new" styles 1 and 2; style 0 has no target
  ids, first_target, key = np.array([2, 1]), 1, jax.random.key(3)

  @jax.jit
  def jax_side(params, vgg, content, styles):  # one compilation: the loss, its gradient and the pairs
    targets = jax.lax.map(lambda image: problem.loss.style_targets(vgg, image), styles)
    loss = lambda p: cin.batch_loss(problem, p, vgg, content, jnp.asarray(ids), targets, weights, key,
                                    first_target_style=first_target)
    (_, terms), grads = jax.value_and_grad(loss, has_aux=True)(params)
    return terms, grads, temporal_pairs.batch_pairs(problem.temporal, key, content)
  terms_j, grads_j, pairs = jax_side(params, vgg16_params, content, styles)

  vgg_twin = torch_twin.TorchVGG.from_hwio("vgg16", vgg16_params,
                                           preprocess=torch_twin.Preprocess.of(preprocessing.LPIPS))
  w = {**jax.device_get(weights), "temporal": MOTION.weight}
  perceptual = torch_twin.PerceptualLoss(vgg_twin, w["content_layers"], w["style_layers"], content_weight=w["content"],
                                         style_weight=w["style"], tv_weight=w["tv"])
  objective = temporal_twin.TemporalObjective(perceptual, perceptual.style_targets(to_nchw(styles)), problem.temporal,
                                              first_target)
  net = torch_twin.TorchStyleNet(problem.spec, params)
  step = temporal_twin.TemporalFineTuneStep(net, objective, to_nchw(content), problem.adam.learning_rate, first_target)
  terms_t = step.terms(ids, temporal_twin.pairs_to_torch(*pairs))
  terms_t["total"].backward()
  for k in ("content", "style", "tv", "temporal"):  # each term a visible share of the total
    assert w[k] * float(terms_j[k]) > 0.05 * float(terms_j["total"]), (k, float(terms_j[k]), float(terms_j["total"]))
  for k in ("content", "style", "tv", "temporal", "total"):
    ours, twin = float(terms_j[k]), float(terms_t[k].detach())
    assert relative_error(ours, twin) < LOSS_RTOL, (k, ours, twin)
  grads_t = net.flax_tree(lambda p: p.grad)
  assert jax.tree.structure(grads_t) == jax.tree.structure(jax.device_get(grads_j))
  flat = lambda tree: np.concatenate([np.ravel(np.asarray(x)) for x in jax.tree.leaves(tree)])
  assert relative_l2(flat(grads_j), flat(grads_t)) < GRAD_L2_RTOL
  for name in grads_t:  # every layer learns, and agrees on its own
    layer_j, layer_t = flat(grads_j[name]), flat(grads_t[name])
    assert np.abs(layer_t).max() > 0 and relative_l2(layer_j, layer_t) < GRAD_L2_RTOL, name

  # a timed step draws its own pairs and moves every kernel and the rows of the styles it draws (1, 2)
  before = jax.tree.map(np.copy, net.flax_tree())  # flax_tree shares the tensors' memory
  own = step.step()
  assert np.isfinite(own["total"]) and own["temporal"] > 0
  moved = jax.tree.map(lambda a, b: a != b, net.flax_tree(), before)
  applied = jax.tree.map(np.abs, net.flax_tree(lambda p: p.grad))  # the gradient this step applied
  for (path, leaf), grad in zip(jax.tree_util.tree_leaves_with_path(moved), jax.tree.leaves(applied)):
    name = jax.tree_util.keystr(path)
    if "Norm" in name:  # style 0 is never drawn
      # A β whose shift the next instance norm removes has a gradient of 0 up to float noise (~1e-8;
      # exactly 0 on some CPUs), so Adam may leave it: every entry with a real gradient must move.
      assert not np.any(leaf[0]) and np.all(leaf[1:][grad[1:] > 1e-6 * grad.max()]), name
    else:
      assert np.all(leaf), name


if __name__ == "__main__":
  pytest.main([__file__, "-q"])
