"""The one loss network: its spec, builder and loss terms, shared by pixel optimization and training."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from stylejax.configs.loss import get_loss_config
from stylejax.errors import StylejaxError
from stylejax.methods import base, cin
from stylejax.networks import stylenet, vgg
from stylejax.objectives import loss_network, losses, objective
from stylejax.networks import preprocessing
from stylejax.pixel import optimize

STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1")
# Stated tolerance of bf16 against float32 (random VGG16 weights, 32 px images): each loss term
# within 2% relative (measured: at most 0.7%); the image gradient within 30% relative L2 and a
# cosine similarity of at least 0.95 (measured: ~17% for gram): bf16 rounding moves max-pool
# argmaxes and ReLU signs, which sends whole gradient contributions to neighbouring pixels.
BF16_TERM_RTOL = 2e-2
BF16_GRAD_RTOL = 0.3
BF16_GRAD_MIN_COSINE = 0.95


@pytest.fixture(scope="module")
def params():
  return vgg.init_params(jax.random.key(0), "vgg16")


def _images(n, size=32, seed=0):
  rng = np.random.default_rng(seed)
  return [jnp.asarray(rng.uniform(size=(size, size, 3)), jnp.float32) for _ in range(n)]


def _net(statistic="gram", precision="float32"):
  return loss_network.LossNetwork("vgg16", preprocessing.LPIPS, "max", "zero", ("relu3_1",),
                                  STYLE_LAYERS, statistic, precision=precision)


def _loss_block(**values):
  block = get_loss_config()
  block.content_layers, block.style_layers = "relu3_1", ",".join(STYLE_LAYERS)
  for k, v in values.items():
    block[k] = v
  return block


def test_terms_match_a_hand_computed_gram_loss(params):
  content, style, image = _images(3)
  net = _net()
  weights = loss_network.loss_weights(_loss_block(content_weight=2.0, style_weight=3.0, tv_weight=0.5), "vgg16")
  # Compiled: eagerly, every op compiles on its own (~100 small programs).
  terms = jax.jit(lambda p, c, s, im: loss_network.loss_terms(
      net, weights, net.features(p, im, net.layers), net.content_targets(p, c), (net.style_targets(p, s),),
      im, jax.random.key(0)))(params, content, style, image)
  features = jax.jit(lambda p, x, layers: vgg.features(p, x, layers, arch="vgg16", preprocessing=preprocessing.LPIPS),
                     static_argnums=2)
  feats = {k: np.asarray(v, np.float64) for k, v in features(params, image, ("relu3_1",) + STYLE_LAYERS).items()}
  sfeats = {k: np.asarray(v, np.float64) for k, v in features(params, style, STYLE_LAYERS).items()}
  cfeat = np.asarray(features(params, content, ("relu3_1",))["relu3_1"], np.float64)

  def gram(f):
    f = f.reshape(-1, f.shape[-1])
    return f.T @ f / f.shape[0]

  style_ref = sum(np.sum((gram(feats[l]) - gram(sfeats[l]))**2) / (4 * feats[l].shape[-1]**2)
                  for l in STYLE_LAYERS)
  content_ref = np.mean((feats["relu3_1"] - cfeat)**2)
  img = np.asarray(image, np.float64)
  tv_ref = np.mean((img[1:] - img[:-1])**2) + np.mean((img[:, 1:] - img[:, :-1])**2)
  np.testing.assert_allclose(float(terms["style"]), style_ref, rtol=1e-4)
  np.testing.assert_allclose(float(terms["content"]), content_ref, rtol=1e-4)
  np.testing.assert_allclose(float(terms["total"]), 2 * content_ref + 3 * style_ref + 0.5 * tv_ref, rtol=1e-4)


def test_pixel_and_training_paths_compute_the_same_loss(params):
  """The style network's per-example loss is the pixel loss of its output: one implementation."""
  content, style = _images(2)
  net = _net()
  spec = stylenet.NetworkSpec(n_styles=1, width_multiplier=0.25, n_residual=1)
  net_params = stylenet.init_params(spec, jax.random.key(1))
  problem = base.Problem(method="cin", spec=spec, loss=net, adam=base.AdamSettings(learning_rate=1e-3, schedule="constant",
                                                                        warmup_steps=0, total_steps=1, grad_clip=0.0))
  weights = loss_network.loss_weights(_loss_block(), "vgg16")
  targets = cin.style_targets(problem, params, style[None])
  key = jax.random.key(3)
  # Compiled: eagerly, every op compiles on its own (~120 small programs).
  _, terms = jax.jit(cin.batch_loss, static_argnums=0)(problem, net_params, params, content[None],
                                                       jnp.zeros((1,), jnp.int32), targets, weights, key)
  output = jax.jit(stylenet.stylize, static_argnums=0)(spec, net_params, content, jnp.ones((1,)))
  pixel = optimize.PixelProblem(loss=net, optimizer="adam")
  pixel_terms = jax.jit(lambda out, p, c, s: optimize.loss_terms(
      pixel, out, p, objective.targets_of(pixel.terms, net, p, {"content": c, "styles": [s]}),
      loss_network.per_term_weights(weights), jax.random.fold_in(key, 0)))(output, params, content, style)
  for k in ("content", "style", "tv", "total"):
    np.testing.assert_allclose(float(terms[k]), float(pixel_terms[k]), rtol=1e-5)


@pytest.mark.parametrize("statistic", losses.STATISTICS)
def test_bf16_is_within_the_stated_tolerance_of_float32(params, statistic):
  content, style, image = _images(3, seed=1)
  weights = loss_network.loss_weights(_loss_block(), "vgg16")
  results = {}
  for precision in ("float32", "bf16"):
    net = _net(statistic, precision)
    ct, st = jax.jit(lambda p, c, s, net=net: (net.content_targets(p, c), (net.style_targets(p, s),)))(
        params, content, style)
    fn = lambda im, net=net, ct=ct, st=st: loss_network.loss_terms(
        net, weights, net.features(params, im, net.layers), ct, st, im, jax.random.key(0))
    terms = jax.jit(fn)(image)
    grad = jax.jit(jax.grad(lambda im, fn=fn: fn(im)["total"]))(image)
    results[precision] = (terms, np.asarray(grad))
    assert all(v.dtype == jnp.float32 for v in jax.eval_shape(lambda p, im, net=net: net.features(p, im, net.layers), params, image).values())
  (t32, g32), (t16, g16) = results["float32"], results["bf16"]
  for k in ("content", "style", "total"):
    assert float(t16[k]) != float(t32[k])  # bf16 really ran
    np.testing.assert_allclose(float(t16[k]), float(t32[k]), rtol=BF16_TERM_RTOL)
  assert np.linalg.norm(g16 - g32) / np.linalg.norm(g32) < BF16_GRAD_RTOL
  cosine = np.sum(g16 * g32) / (np.linalg.norm(g16) * np.linalg.norm(g32))
  assert cosine > BF16_GRAD_MIN_COSINE


def test_builder_reads_the_loss_block_and_refuses_bad_values():
  loaded = type("Loaded", (), {"arch": "vgg16", "preprocessing": preprocessing.LPIPS})()
  block = _loss_block(statistic="mean_var")
  block.network.precision = "bf16"
  net = loss_network.from_config(block, loaded)
  assert net.statistic == "mean_var" and net.precision == "bf16"
  assert net.layers == ("relu1_1", "relu2_1", "relu3_1")
  weights = loss_network.loss_weights(block, "vgg16", blend=(3.0, 1.0))
  np.testing.assert_allclose(np.asarray(weights["blend"]), [0.75, 0.25])
  with pytest.raises(StylejaxError, match="precision"):
    block.network.precision = "fp8"
    loss_network.from_config(block, loaded)
  with pytest.raises(StylejaxError, match="layer"):
    loss_network.layer_weights("relu9_9", "vgg16", "loss.style_layers")
