"""The input contract of each weight source: how an RGB [0, 1] image becomes what the weights expect.

Every public entry point takes RGB float images in [0, 1]. The weights were trained on something
else (torchvision: ImageNet-normalised RGB; Caffe: BGR 0-255 minus the mean pixel; LPIPS: [-1, 1]
with its own shift and scale), so each source carries a `Preprocessing` and the network applies it
inside, where a mismatch cannot slip in between.
"""

from __future__ import annotations

import dataclasses
import json

import jax.numpy as jnp


@dataclasses.dataclass(frozen=True)
class Preprocessing:
  """x -> (x * scale - mean) / std in RGB order, then flipped to BGR when `bgr`.

  `mean` and `std` are given in RGB order, on the scaled range.
  """

  scale: float = 1.0
  mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
  std: tuple[float, float, float] = (1.0, 1.0, 1.0)
  bgr: bool = False

  def __call__(self, images):
    x = images * self.scale
    x = (x - jnp.asarray(self.mean, x.dtype)) / jnp.asarray(self.std, x.dtype)
    return x[..., ::-1] if self.bgr else x

  def to_json(self) -> str:
    return json.dumps(dataclasses.asdict(self), sort_keys=True)

  @classmethod
  def from_json(cls, text: str) -> "Preprocessing":
    fields = json.loads(text)
    return cls(scale=float(fields["scale"]), mean=tuple(fields["mean"]), std=tuple(fields["std"]),
               bgr=bool(fields["bgr"]))


_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
# Caffe's mean pixel, in RGB order (Keras and Caffe list it as BGR: 103.939, 116.779, 123.68).
_CAFFE_MEAN_RGB = (123.68, 116.779, 103.939)

TORCHVISION = Preprocessing(mean=_IMAGENET_MEAN, std=_IMAGENET_STD)
# Keras `preprocess_input(mode="caffe")`: BGR, 0-255, minus the mean pixel.
CAFFE_255 = Preprocessing(scale=255.0, mean=_CAFFE_MEAN_RGB, bgr=True)
# jcjohnson/neural-style(-pt) multiplies by 256, not 255, before subtracting the mean pixel.
CAFFE_256 = Preprocessing(scale=256.0, mean=_CAFFE_MEAN_RGB, bgr=True)
# pystiche's "caffe" preprocessing: ImageNet mean times 255, std 1/255 (i.e. x*255 - mean*255), BGR.
PYSTICHE_CAFFE = Preprocessing(scale=255.0, mean=tuple(255.0 * m for m in _IMAGENET_MEAN), bgr=True)
# LPIPS: x in [0, 1] -> 2x - 1, minus shift (-0.030, -0.088, -0.188), divided by (0.458, 0.448, 0.450).
LPIPS = Preprocessing(scale=2.0, mean=(1.0 - 0.030, 1.0 - 0.088, 1.0 - 0.188), std=(0.458, 0.448, 0.450))
