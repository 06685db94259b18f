"""Evaluation metrics against numpy / scikit-image references."""

import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from skimage.metrics import structural_similarity

from stylejax.evaluation import metrics
from stylejax.imaging import images
from stylejax.networks import alexnet
from stylejax.networks import preprocessing
from stylejax.reference.torch_twin import hwio_to_oihw, to_nchw, to_nhwc
from stylejax.io import alexnet_weights


def _pair(seed=0, shape=(64, 80, 3)):
  rng = np.random.default_rng(seed)
  a = images.resize(images.load_image("astronaut"), shape[:2])
  b = np.clip(a + 0.08 * rng.standard_normal(a.shape), 0, 1).astype(np.float32)
  return a, b


def test_ssim_matches_scikit_image():
  a, b = _pair()
  luma = lambda x: x @ np.array([0.299, 0.587, 0.114])
  expected = structural_similarity(luma(a), luma(b), gaussian_weights=True, sigma=1.5,
                                   use_sample_covariance=False, data_range=1.0)
  assert float(metrics.ssim(jnp.asarray(a), jnp.asarray(b))) == pytest.approx(expected, abs=1e-4)
  assert float(metrics.ssim(jnp.asarray(a), jnp.asarray(a))) == pytest.approx(1.0, abs=1e-5)


def test_style_distances_match_numpy():
  rng = np.random.default_rng(1)
  fx, fs = rng.standard_normal((5, 6, 8)).astype(np.float32), rng.standard_normal((4, 4, 8)).astype(np.float32)
  x, s = fx.reshape(-1, 8).astype(np.float64), fs.reshape(-1, 8).astype(np.float64)
  gx, gs = x.T @ x / len(x), s.T @ s / len(s)
  assert float(metrics.gram_distance(fx, fs)) == pytest.approx(np.linalg.norm(gx - gs) / np.linalg.norm(gs), rel=1e-5)
  expected = (np.linalg.norm(x.mean(0) - s.mean(0)) + np.linalg.norm(x.std(0) - s.std(0))) / np.sqrt(8)
  assert float(metrics.mean_std_distance(fx, fs)) == pytest.approx(expected, rel=1e-5)
  same = float(metrics.sliced_wasserstein_distance(fx, fx))
  assert same == pytest.approx(0.0, abs=1e-6)
  assert float(metrics.sliced_wasserstein_distance(fx, fs)) > 0.1


def test_alexnet_matches_torch():
  params = alexnet_weights.load_params()
  x = np.random.default_rng(2).random((1, 96, 112, 3), dtype=np.float32)
  ours = alexnet.features(params, jnp.asarray(x))
  t = preprocessing.LPIPS(jnp.asarray(x))
  t = to_nchw(t)
  specs = [(4, 2), (1, 2), (1, 1), (1, 1), (1, 1)]
  for i, (stride, pad) in enumerate(specs):
    w = hwio_to_oihw(params[f"Conv_{i}"]["kernel"])
    b = torch.from_numpy(params[f"Conv_{i}"]["bias"])
    t = F.relu(F.conv2d(t, w, b, stride=stride, padding=pad))
    ref = to_nhwc(t)
    got = np.asarray(ours[f"relu{i + 1}"])
    np.testing.assert_allclose(got / np.abs(ref).max(), ref / np.abs(ref).max(), atol=2e-5)
    if i < 2:
      t = F.max_pool2d(t, 3, 2)


def test_evaluator_orders_results_sensibly():
  evaluator = metrics.Evaluator("alexnet", size=96)
  content = images.load_image("chelsea")
  style = images.load_image("starry_night")
  near = np.clip(content + 0.02, 0, 1)
  far = images.resize(style, content.shape[:2])
  m_near, m_far = evaluator(near, content, style), evaluator(far, content, style)
  assert m_near["content_lpips"] < m_far["content_lpips"] and m_near["content_ssim"] > m_far["content_ssim"]
  assert m_far["style_gram"] < m_near["style_gram"] and m_far["style_swd"] < m_near["style_swd"]
