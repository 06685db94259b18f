"""Configs: load a `get_config(arg)` file, apply `key=value` overrides, validate every value.

Validation happens before anything is loaded or written, so a wrong value costs nothing but one
clear line.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import ml_collections

from stylejax.networks import vgg
from stylejax.objectives import losses
from stylejax.pixel import color
from stylejax.errors import StylejaxError

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
OPTIMIZERS = ("adam", "lbfgs")
INITS = ("content", "noise", "content_noise", "style_mean")
PARAMETRIZATIONS = ("clip", "sigmoid")


def load_config(spec: str) -> ml_collections.ConfigDict:
  """`spec` is NAME[:ARG] (a file in configs/) or PATH.py[:ARG]; returns get_config(ARG)."""
  name, _, arg = spec.partition(":")
  path = Path(name) if name.endswith(".py") else CONFIG_DIR / f"{name}.py"
  if not path.is_file():
    known = sorted(p.stem for p in CONFIG_DIR.glob("*.py") if not p.stem.endswith("base"))
    raise StylejaxError(f"config {name!r} not found; known configs: {', '.join(known)} (or a .py path)")
  module = load_module(str(path))
  return module.get_config(arg) if arg else module.get_config()


def load_module(path: str):
  """Imports a config or sweep file by path, with the repository root importable."""
  path = Path(path) if path.endswith(".py") else CONFIG_DIR / f"{path}.py"
  if not path.is_file():
    raise StylejaxError(f"config file {path} not found")
  root = str(CONFIG_DIR.parent)  # so config files can `from configs.base import ...`
  if root not in sys.path:
    sys.path.insert(0, root)
  module_spec = importlib.util.spec_from_file_location(f"_stylejax_config_{path.stem}", path)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  return module


def _parse_value(text: str, current):
  if isinstance(current, bool):
    if text.lower() not in ("true", "false", "1", "0"):
      raise ValueError(f"expected true or false, got {text!r}")
    return text.lower() in ("true", "1")
  if isinstance(current, int):
    return int(text)
  if isinstance(current, float):
    return float(text)
  if isinstance(current, tuple):
    items = [t.strip() for t in text.split(",") if t.strip()]
    kinds = {type(x) for x in current}
    if kinds == {float} or (not current and all(_is_number(t) for t in items) and items):
      return tuple(float(t) for t in items)
    return tuple(items)
  return text


def _is_number(text: str) -> bool:
  try:
    float(text)
    return True
  except ValueError:
    return False


def _field(config: ml_collections.ConfigDict, key: str):
  """(the ConfigDict holding dotted `key`, the last name); unknown keys are errors."""
  parent, field = config, key.split(".")[-1]
  for part in key.split(".")[:-1]:
    if part not in parent or not isinstance(parent[part], ml_collections.ConfigDict):
      raise StylejaxError(f"unknown config key {key!r}")
    parent = parent[part]
  if field not in parent:
    raise StylejaxError(f"unknown config key {key!r}")
  return parent, field


def apply_overrides(config: ml_collections.ConfigDict, overrides: list[str]) -> ml_collections.ConfigDict:
  """`a.b=value` strings, typed like the field they replace; unknown keys are errors."""
  for item in overrides:
    key, sep, text = item.partition("=")
    if not sep:
      raise StylejaxError(f"override {item!r} must look like key=value")
    parent, field = _field(config, key)
    try:
      value = _parse_value(text, parent[field])
      with parent.unlocked():
        parent[field] = value
    except (ValueError, TypeError) as e:
      raise StylejaxError(f"bad value for {key}: {e}") from None
  return config


def apply_values(config: ml_collections.ConfigDict, values: dict) -> ml_collections.ConfigDict:
  """Sets `{"a.b": python_value}` on a copy of a locked config (sweeps use this); unknown keys are errors."""
  config = ml_collections.ConfigDict(config.to_dict())  # a copy that keeps the field types
  config.lock()
  for key, value in values.items():
    parent, field = _field(config, key)
    if isinstance(parent[field], tuple) and isinstance(value, (list, tuple, str)):
      value = tuple([value] if isinstance(value, str) else value)
    if isinstance(parent[field], float) and isinstance(value, int) and not isinstance(value, bool):
      value = float(value)
    try:
      parent[field] = value
    except (TypeError, ValueError) as e:
      raise StylejaxError(f"bad value for {key}: {e}") from None
  return config


def parse_layer_weights(spec: str, arch: str, what: str) -> dict[str, float]:
  """"relu1_1,relu2_1:0.5" -> {"relu1_1": 1.0, "relu2_1": 0.5}, checked against the arch."""
  weights = {}
  for item in (s.strip() for s in spec.split(",")):
    if not item:
      continue
    layer, _, weight = item.partition(":")
    try:
      value = float(weight) if weight else 1.0
    except ValueError:
      raise StylejaxError(f"{what}: bad weight in {item!r}") from None
    if not math.isfinite(value) or value < 0:
      raise StylejaxError(f"{what}: layer weight must be finite and >= 0, got {item!r}")
    weights[layer.strip()] = value
  if not weights:
    raise StylejaxError(f"{what}: no layers given")
  vgg.check_layers(arch, weights)
  return weights


def _choice(value, choices, key):
  if value not in choices:
    raise StylejaxError(f"{key} must be one of {choices}, got {value!r}")


def _non_negative(value, key):
  if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
    raise StylejaxError(f"{key} must be a finite number >= 0, got {value!r}")


def _positive_int(value, key):
  if not (isinstance(value, int) and value > 0):
    raise StylejaxError(f"{key} must be a positive integer, got {value!r}")


def _validate_vgg_and_loss(c: ml_collections.ConfigDict) -> None:
  """The `vgg` and `loss` fields, shared by pixel-optimization and training configs."""
  vgg.check_arch(c.vgg.arch)
  _choice(c.vgg.pooling, vgg.POOLINGS, "vgg.pooling")
  _choice(c.vgg.padding, vgg.PADDINGS, "vgg.padding")
  _choice(c.loss.statistic, losses.STATISTICS, "loss.statistic")
  _choice(c.loss.gram_norm, losses.GRAM_NORMS, "loss.gram_norm")
  parse_layer_weights(c.loss.content_layers, c.vgg.arch, "loss.content_layers")
  parse_layer_weights(c.loss.style_layers, c.vgg.arch, "loss.style_layers")
  for key in ("content_weight", "style_weight", "tv_weight"):
    _non_negative(c.loss[key], f"loss.{key}")


def validate(c: ml_collections.ConfigDict) -> None:
  """Raises a one-line StylejaxError for the first bad value (training configs: see below)."""
  if c.get("task") == "train":
    validate_training(c)
    return
  _validate_vgg_and_loss(c)
  _choice(c.optim.name, OPTIMIZERS, "optim.name")
  _choice(c.optim.init, INITS, "optim.init")
  _choice(c.optim.parametrization, PARAMETRIZATIONS, "optim.parametrization")
  color.check_mode(c.preserve_color)
  for key in ("image_size", "max_pixels", "log_every"):
    _positive_int(c[key], key)
  _positive_int(c.optim.steps, "optim.steps")
  _positive_int(c.optim.lbfgs_memory, "optim.lbfgs_memory")
  _non_negative(c.optim.init_noise, "optim.init_noise")
  _positive_int(c.loss.n_projections, "loss.n_projections")
  _positive_int(c.multiscale.coarse_steps, "multiscale.coarse_steps")
  if c.snapshot_every < 0:
    raise StylejaxError(f"snapshot_every must be >= 0, got {c.snapshot_every}")
  if not (math.isfinite(c.optim.learning_rate) and c.optim.learning_rate > 0):
    raise StylejaxError(f"optim.learning_rate must be > 0, got {c.optim.learning_rate}")
  if not (math.isfinite(c.style_scale) and c.style_scale > 0):
    raise StylejaxError(f"style_scale must be > 0, got {c.style_scale}")
  scales = tuple(c.multiscale.scales)
  if not scales or any(not (0 < s <= 1) for s in scales) or list(scales) != sorted(scales) or scales[-1] != 1.0:
    raise StylejaxError(f"multiscale.scales must increase and end at 1.0, got {scales}")
  if round(c.image_size * scales[0]) < 32:
    raise StylejaxError(f"image_size x smallest scale must be at least 32 px, got "
                        f"{c.image_size} x {scales[0]}")
  if not c.content:
    raise StylejaxError("no content image given")
  if not c.styles:
    raise StylejaxError("no style image given")
  if c.style_blend:
    if len(c.style_blend) != len(c.styles):
      raise StylejaxError(f"style_blend has {len(c.style_blend)} weights for {len(c.styles)} styles")
    if any(not math.isfinite(w) or w < 0 for w in c.style_blend) or sum(c.style_blend) <= 0:
      raise StylejaxError(f"style_blend weights must be >= 0 with a positive sum, got {tuple(c.style_blend)}")


SCHEDULES = ("constant", "cosine")


def validate_training(c: ml_collections.ConfigDict) -> None:
  """The checks of `validate` for a style-network training config (configs/train_base.py)."""
  _validate_vgg_and_loss(c)
  _choice(c.optim.schedule, SCHEDULES, "optim.schedule")
  _non_negative(c.optim.grad_clip, "optim.grad_clip")
  for key in ("steps", "batch_size"):
    _positive_int(c.optim[key], f"optim.{key}")
  for key in ("style_size", "checkpoint_every", "keep_checkpoints", "log_every", "eval_size"):
    _positive_int(c[key], key)
  for key in ("image_size", "max_side", "prefetch"):
    _positive_int(c.data[key], f"data.{key}")
  _positive_int(c.loss.n_projections, "loss.n_projections")
  _positive_int(c.network.n_residual, "network.n_residual")
  if not isinstance(c.optim.warmup_steps, int) or c.optim.warmup_steps < 0:
    raise StylejaxError(f"optim.warmup_steps must be an integer >= 0, got {c.optim.warmup_steps!r}")
  if not isinstance(c.eval_every, int) or c.eval_every < 0:
    raise StylejaxError(f"eval_every must be an integer >= 0, got {c.eval_every!r}")
  if not (math.isfinite(c.optim.learning_rate) and c.optim.learning_rate > 0):
    raise StylejaxError(f"optim.learning_rate must be > 0, got {c.optim.learning_rate}")
  if not (math.isfinite(c.network.width_multiplier) and c.network.width_multiplier > 0):
    raise StylejaxError(f"network.width_multiplier must be > 0, got {c.network.width_multiplier}")
  if len(c.network.widths) != 3 or any(not isinstance(w, int) or w <= 0 for w in c.network.widths):
    raise StylejaxError(f"network.widths must be three positive integers, got {c.network.widths}")
  if c.data.image_size < 16 or c.data.image_size % 4:
    raise StylejaxError(f"data.image_size must be a multiple of 4 and at least 16, got {c.data.image_size}")
  if not c.styles:
    raise StylejaxError("no style images given")
  if not c.network.conditional and len(c.styles) != 1:
    raise StylejaxError(f"network.conditional=False trains one style; got {len(c.styles)} styles")
  if not c.eval_images:
    raise StylejaxError("eval_images is empty")
