"""The published AdaIN weights (naoto0804/pytorch-AdaIN release), read without torch or pickle code.

Both files are `nn.Sequential` state dicts: keys "<module index>.weight" / ".bias" (OIHW kernels);
ReflectionPad2d, ReLU, Upsample and MaxPool2d modules hold no parameters, so only conv indices appear.

  vgg_normalised.pth  the normalised VGG19 (Lua AdaIN's), reflect padding, to relu5_4. Module 0 is a
                      1x1 conv 3->3 that turns RGB [0, 1] into what the rest expects (BGR, 0-255,
                      minus the mean pixel). It is folded into conv1_1, which makes canonical VGG19
                      parameters with the identity input contract (RGB [0, 1]). The fold is exact
                      because conv1_1 is reflect-padded (a border pixel of an affine map of the image
                      is the affine map of the border pixel), so use these weights with
                      `loss.network.padding = "reflect"`, as the release does.
  decoder.pth         the decoder (`stylejax.networks.adain.Decoder`, the paper's widths).

Read through `stylejax.io.safe_unpickle` only: a file that asks for any code is refused.
"""

from __future__ import annotations

import re

import numpy as np

from stylejax.errors import StylejaxError
from stylejax.io.safe_unpickle import load_torch_checkpoint
from stylejax.networks import adain, vgg


def _convs_in_order(path: str) -> list[dict[str, np.ndarray]]:
  """The state dict's convolutions, by module index: [{"weight": OIHW, "bias": (O,)}, ...]."""
  state = load_torch_checkpoint(path)
  if not isinstance(state, dict):
    raise StylejaxError(f"{path}: expected an nn.Sequential state dict, found {type(state).__name__}")
  by_index: dict[int, dict[str, np.ndarray]] = {}
  for key, value in state.items():
    match = re.fullmatch(r"(\d+)\.(weight|bias)", str(key))
    if not match or not isinstance(value, np.ndarray):
      raise StylejaxError(f"{path}: unexpected entry {key!r}; an AdaIN release file holds only "
                          "'<index>.weight' / '<index>.bias' tensors")
    by_index.setdefault(int(match.group(1)), {})[match.group(2)] = value
  convs = [by_index[i] for i in sorted(by_index)]
  for i, layer in zip(sorted(by_index), convs):
    if set(layer) != {"weight", "bias"} or layer["weight"].ndim != 4:
      raise StylejaxError(f"{path}: module {i} is not a complete conv layer")
    if not all(np.isfinite(v).all() for v in layer.values()):
      raise StylejaxError(f"{path}: module {i} holds NaN or Inf values")
  return convs


def read_vgg_normalised(path: str) -> dict[str, dict[str, np.ndarray]]:
  """Canonical VGG19 parameters ({"conv1_1": {"kernel": HWIO, "bias"}}, RGB [0, 1] input) of
  `vgg_normalised.pth`, with its 1x1 input conv folded into conv1_1 (module docstring)."""
  convs = _convs_in_order(path)
  names = vgg.conv_names("vgg19")
  if len(convs) != 1 + len(names) or convs[0]["weight"].shape != (3, 3, 1, 1):
    raise StylejaxError(f"{path}: not the release's vgg_normalised.pth (expected a 1x1 3->3 conv "
                        f"and the 16 VGG19 convs, found {len(convs)} convs)")
  mix = convs[0]["weight"][:, :, 0, 0].astype(np.float64)  # (out, in): y = mix @ x + shift
  shift = convs[0]["bias"].astype(np.float64)
  first = convs[1]["weight"].astype(np.float64)  # (64, 3, 3, 3) OIHW
  if first.shape[1] != 3:
    raise StylejaxError(f"{path}: conv1_1 takes {first.shape[1]} channels, expected 3")
  folded_weight = np.einsum("oikl,ij->ojkl", first, mix)
  folded_bias = convs[1]["bias"].astype(np.float64) + np.einsum("oikl,i->o", first, shift)
  oihw = [folded_weight] + [c["weight"] for c in convs[2:]]
  biases = [folded_bias] + [c["bias"] for c in convs[2:]]
  return {name: {"kernel": np.ascontiguousarray(w.transpose(2, 3, 1, 0), np.float32),
                 "bias": np.asarray(b, np.float32)} for name, w, b in zip(names, oihw, biases)}


def read_decoder(path: str, spec=None) -> dict:
  """The Flax parameter tree of `adain.Decoder(spec)` (default: the paper's) from `decoder.pth`."""
  spec = adain.PAPER if spec is None else spec
  convs = _convs_in_order(path)
  plan = spec.plan
  if len(convs) != len(plan):
    raise StylejaxError(f"{path}: holds {len(convs)} conv layers; the AdaIN decoder has {len(plan)}")
  params = {}
  for name, layer, (in_ch, out_ch, _) in zip(adain.conv_names(spec), convs, plan):
    if layer["weight"].shape != (out_ch, in_ch, 3, 3) or layer["bias"].shape != (out_ch,):
      raise StylejaxError(f"{path}: decoder {name} has shape {layer['weight'].shape}, expected "
                          f"{(out_ch, in_ch, 3, 3)}")
    params[name] = {"kernel": np.ascontiguousarray(layer["weight"].transpose(2, 3, 1, 0), np.float32),
                    "bias": np.asarray(layer["bias"], np.float32)}
  return params
