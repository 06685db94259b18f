"""`stylejax features`: VGG activations of one image, saved to .npz (a quick check of the weights)."""

from __future__ import annotations

import io

import jax.numpy as jnp
import numpy as np

from stylejax.imaging import images
from stylejax.io import outputs, weights
from stylejax.networks import vgg
from stylejax.atomic_io import atomic_write_bytes


def dump(image_spec: str, output: str, weight_spec: str, layers: list[str], size: int,
         overwrite: bool = False) -> None:
  """Writes the .npz file `output` (refused before any work if it exists, unless `overwrite`)."""
  outputs.check_file(output, outputs.ARCHIVE_EXTENSIONS, overwrite, "features")
  loaded = weights.load_vgg(weight_spec)
  vgg.check_layers(loaded.arch, layers)
  image = images.resize(images.load_image(image_spec), size)
  acts = vgg.features(loaded.params, jnp.asarray(image), layers, arch=loaded.arch,
                      preprocessing=loaded.preprocessing)
  buffer = io.BytesIO()
  np.savez(buffer, **{name: np.asarray(a) for name, a in acts.items()})
  atomic_write_bytes(output, buffer.getvalue())
