"""Colour preservation (Gatys et al. 2017, "Controlling Perceptual Factors in NST").

  luminance: keep the photo's chrominance and take only the result's luminance (YIQ space),
             with the style's luminance first matched to the photo's mean and spread.
  histogram: before optimization, give each style image the photo's colour mean and covariance
             (a linear map in RGB), so the transferred style already has the photo's palette.
"""

from __future__ import annotations

import numpy as np

from stylejax.errors import StylejaxError

MODES = ("none", "luminance", "histogram")
_RGB_TO_YIQ = np.array([[0.299, 0.587, 0.114], [0.595716, -0.274453, -0.321263],
                        [0.211456, -0.522591, 0.311135]], np.float32)
_YIQ_TO_RGB = np.linalg.inv(_RGB_TO_YIQ).astype(np.float32)


def check_mode(mode: str) -> None:
  if mode not in MODES:
    raise StylejaxError(f"unknown preserve_color {mode!r}; choose one of {MODES}")


def rgb_to_yiq(image: np.ndarray) -> np.ndarray:
  return image @ _RGB_TO_YIQ.T


def yiq_to_rgb(image: np.ndarray) -> np.ndarray:
  return image @ _YIQ_TO_RGB.T


def match_luminance(style: np.ndarray, content: np.ndarray) -> np.ndarray:
  """Style image whose luminance has the content's mean and std (chrominance untouched)."""
  s, c = rgb_to_yiq(style), rgb_to_yiq(content)
  y = (s[..., 0] - s[..., 0].mean()) / (s[..., 0].std() + 1e-6) * c[..., 0].std() + c[..., 0].mean()
  return np.clip(yiq_to_rgb(np.concatenate([y[..., None], s[..., 1:]], -1)), 0, 1).astype(np.float32)


def transfer_luminance(result: np.ndarray, content: np.ndarray) -> np.ndarray:
  """The result's luminance with the content's chrominance."""
  r, c = rgb_to_yiq(result), rgb_to_yiq(content)
  return np.clip(yiq_to_rgb(np.concatenate([r[..., :1], c[..., 1:]], -1)), 0, 1).astype(np.float32)


def _sqrt_and_inv_sqrt(cov: np.ndarray):
  values, vectors = np.linalg.eigh(cov)
  values = np.maximum(values, 1e-8)
  return (vectors * np.sqrt(values)) @ vectors.T, (vectors / np.sqrt(values)) @ vectors.T


def match_histogram(style: np.ndarray, content: np.ndarray) -> np.ndarray:
  """Linear colour transfer: the style's pixels get the content's RGB mean and covariance."""
  s = style.reshape(-1, 3).astype(np.float64)
  c = content.reshape(-1, 3).astype(np.float64)
  _, s_inv_sqrt = _sqrt_and_inv_sqrt(np.cov(s, rowvar=False))
  c_sqrt, _ = _sqrt_and_inv_sqrt(np.cov(c, rowvar=False))
  matched = (s - s.mean(0)) @ (c_sqrt @ s_inv_sqrt).T + c.mean(0)
  return np.clip(matched.reshape(style.shape), 0, 1).astype(np.float32)
