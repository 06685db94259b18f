"""The PyTorch twins the benchmarks time stylejax against, checked against stylejax at tiny shapes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from stylejax.networks import stylenet, vgg
from stylejax.objectives import losses
from stylejax.networks import preprocessing
from stylejax.reference import torch_twin
from stylejax.reference.torch_twin import to_nchw, to_nhwc


def _features(seed, shape=(2, 6, 5, 4)):
  return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("statistic,gram_norm", [("gram", "gatys"), ("gram", "hw"), ("gram", "chw"),
                                                 ("mean_var", "gatys")])
def test_style_loss_twins_match_stylejax(statistic, gram_norm):
  f, t = _features(0), _features(1)
  ours = [float(losses.layer_style_loss(jnp.asarray(f[i]), losses.style_target(jnp.asarray(t[i]), statistic),
                                        statistic, gram_norm=gram_norm)) for i in range(len(f))]
  target = torch_twin.style_target(to_nchw(t), statistic)
  twin = torch_twin.layer_style_loss(to_nchw(f), target, statistic, gram_norm)
  np.testing.assert_allclose(twin.numpy(), ours, rtol=1e-5)


def test_content_and_tv_twins_match_stylejax():
  f, t = _features(2, (1, 6, 5, 4)), _features(3, (1, 6, 5, 4))
  ours = losses.content_loss({"relu1_1": jnp.asarray(f[0])}, {"relu1_1": jnp.asarray(t[0])}, {"relu1_1": 0.5})
  twin = torch_twin.content_loss({"relu1_1": to_nchw(f)}, {"relu1_1": to_nchw(t)}, {"relu1_1": 0.5})
  np.testing.assert_allclose(float(twin), float(ours), rtol=1e-6)
  image = np.random.default_rng(4).random((7, 9, 3), dtype=np.float32)
  np.testing.assert_allclose(float(torch_twin.total_variation(to_nchw(image))),
                             float(losses.total_variation(jnp.asarray(image))), rtol=1e-6)


def test_vgg_twin_from_hwio_with_preprocessing_matches_stylejax(vgg16_params):
  x = np.random.default_rng(5).random((1, 20, 22, 3), dtype=np.float32)
  layers = ["relu1_2", "pool1", "conv2_1"]
  ours = vgg.features(vgg16_params, jnp.asarray(x), layers, arch="vgg16", preprocessing=preprocessing.LPIPS)
  net = torch_twin.TorchVGG.from_hwio("vgg16", vgg16_params,
                                      preprocess=torch_twin.Preprocess.of(preprocessing.LPIPS))
  with torch.no_grad():
    twin = net.features(to_nchw(x), layers)
  assert sorted(twin) == sorted(layers)
  for name in layers:
    np.testing.assert_allclose(to_nhwc(twin[name]), np.asarray(ours[name]), rtol=1e-4, atol=1e-4, err_msg=name)


def _random_stylenet_params(spec, rng) -> dict:
  """A Flax tree laid out from the twin's layer plan (stylejax rejects it if the layouts differ), with
  distinct (gamma, beta) rows per style so that the blend matters."""
  params = {}
  for k, layer in enumerate(torch_twin.stylenet_convs(spec.channels, spec.n_residual)):
    fan_in = layer.kernel ** 2 * layer.cin
    kernel = rng.standard_normal((layer.kernel, layer.kernel, layer.cin, layer.cout)) / fan_in ** 0.5
    rows = (spec.n_styles, layer.cout)
    params[f"ReflectConv_{k}"] = {"Conv_0": {"kernel": kernel.astype(np.float32)}}
    params[f"ConditionalInstanceNorm_{k}"] = {"gamma": (1 + 0.3 * rng.standard_normal(rows)).astype(np.float32),
                                              "beta": (0.3 * rng.standard_normal(rows)).astype(np.float32)}
  return params


def test_style_network_twin_matches_stylejax():
  spec = stylenet.NetworkSpec(n_styles=2, width_multiplier=0.125, n_residual=1)
  rng = np.random.default_rng(6)
  params = _random_stylenet_params(spec, rng)
  image = rng.random((1, 13, 18, 3), dtype=np.float32)  # not a multiple of 4: padded and cropped back
  blend = np.array([[0.3, 0.7]], np.float32)
  stylize = jax.jit(stylenet.stylize, static_argnums=0)
  ours = np.asarray(stylize(spec, params, jnp.asarray(image), jnp.asarray(blend)))
  with torch.no_grad():
    twin = to_nhwc(torch_twin.TorchStyleNet(spec, params).stylize(to_nchw(image), torch.from_numpy(blend)))
  assert twin.shape == image.shape
  np.testing.assert_allclose(twin, ours, atol=2e-5)
