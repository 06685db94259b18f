"""Configs: load a `get_config(arg)` file, apply `key=value` overrides, validate every value.

Validation happens before anything is loaded or written, so a wrong value costs nothing but one
clear line.
"""

from __future__ import annotations

import difflib
import importlib.util
import math
import os
from pathlib import Path

import ml_collections

from stylejax import nested, tasks
from stylejax.networks import vgg
from stylejax.objectives import loss_network, losses, terms
from stylejax.objectives.terms import dream
from stylejax.imaging import color
from stylejax.errors import StylejaxError

CONFIG_DIR = Path(__file__).resolve().parent / "configs"  # the stylejax.configs package: ships in the wheel
OPTIMIZERS = ("adam", "lbfgs")
LINE_SEARCHES = ("zoom", "none", "parallel")
INITS = ("content", "noise", "content_noise", "style_mean")
DREAM_NORMALIZATIONS = ("mean_abs", "std")  # step / mean|g| (google/deepdream) | step / std(g) (TF tutorial)
MIN_OCTAVE_SIDE = 32  # a dream's smallest octave (and tile): AlexNet's relu5 needs about this much
PARAMETRIZATIONS = ("clip", "sigmoid")


def load_config(spec: str) -> ml_collections.ConfigDict:
  """`spec` is NAME[:ARG] (a file in stylejax/configs/) or PATH.py[:ARG]; returns get_config(ARG)."""
  name, _, arg = spec.partition(":")
  path = Path(name) if name.endswith(".py") else CONFIG_DIR / f"{name}.py"
  if not path.is_file():
    known = sorted(p.stem for p in CONFIG_DIR.glob("*.py") if is_config_file(p))
    raise StylejaxError(f"config {name!r} not found; known configs: {', '.join(known)} (or a .py path)")
  module = load_module(str(path))
  accepted = getattr(module, "ARGS", None)
  if accepted is not None and arg not in accepted:
    raise StylejaxError(f"config {name!r} takes {' or '.join(repr(a) for a in accepted)} after ':', got {arg!r}")
  try:
    return module.get_config(arg) if arg else module.get_config()
  except (AttributeError, KeyError, TypeError) as e:
    mistake = _locked_field_mistake(e)
    if mistake is None:
      raise  # a bug in the config file: keep its traceback
    raise StylejaxError(mistake) from None


def is_config_file(path: Path) -> bool:
  """A runnable config defines get_config; bases and blocks (base.py, loss.py, fields.py) do not."""
  return "\ndef get_config(" in path.read_text()


def _locked_field_mistake(error: Exception) -> str | None:
  """The one-line message for a config file that names an undeclared field or assigns a value of the
  wrong type to a locked ConfigDict; None for any other error (a bug that keeps its traceback)."""
  frames, tb = [], error.__traceback__
  while tb is not None:
    frames.append((tb.tb_frame, tb.tb_lineno))
    tb = tb.tb_next
  inside = [_in_configdict(frame) for frame, _ in frames]
  if not inside[-1] or all(inside):
    return None
  caller, line = frames[inside.index(True) - 1]  # the config file's line that names the field
  accessor = frames[-1][0]  # ConfigDict's __setattr__, __setitem__, __getattr__ or __getitem__
  block = accessor.f_locals.get("self")
  name = accessor.f_locals.get("key", accessor.f_locals.get("attribute"))
  if not isinstance(block, ml_collections.ConfigDict) or not isinstance(name, str):
    return None
  root, prefix = _find_root(block, caller.f_locals)
  where = f"{_shown_path(caller.f_code.co_filename)}:{line}"
  message, function = str(error), accessor.f_code.co_name
  if "Could not override field" in message:
    value = accessor.f_locals.get("value")
    return f"{where}: {prefix}{name} must be {type(block[name]).__name__}, got {value!r} ({type(value).__name__})"
  unknown_write = "cannot be added since the config is locked" in message
  unknown_read = function in ("__getattr__", "__getitem__") and name not in block
  if not (unknown_write or unknown_read):
    return None
  return (f"{where}: {_unknown_key_message(root, prefix + name)} (a config sets the fields its base "
          f"declares; stylejax.configs.fields.add_field declares a new one)")


def _in_configdict(frame) -> bool:
  return frame.f_code.co_filename == ml_collections.ConfigDict.__init__.__code__.co_filename


def _shown_path(path: str) -> str:
  relative = os.path.relpath(path)
  return path if relative.startswith("..") else relative


def _find_root(block: ml_collections.ConfigDict, scope: dict) -> tuple[ml_collections.ConfigDict, str]:
  """The outermost ConfigDict among the assigning function's variables that holds `block`, and
  `block`'s dotted prefix in it ("optim."); (block, "") when none does."""
  found = [(block, "")]
  for value in scope.values():
    if isinstance(value, ml_collections.ConfigDict):
      prefix = _prefix_of(value, block)
      if prefix is not None:
        found.append((value, prefix))
  return max(found, key=lambda root_prefix: len(root_prefix[1]))


def _prefix_of(config: ml_collections.ConfigDict, block: ml_collections.ConfigDict) -> str | None:
  if config is block:
    return ""
  for name, value in config.items():
    if isinstance(value, ml_collections.ConfigDict):
      inner = _prefix_of(value, block)
      if inner is not None:
        return f"{name}.{inner}"
  return None


def dotted_keys(config: ml_collections.ConfigDict) -> list[str]:
  """Every leaf field of `config` as "block.name"."""
  return list(nested.flatten(config))


def _unknown_key_message(config: ml_collections.ConfigDict, key: str) -> str:
  nearest = difflib.get_close_matches(key, dotted_keys(config), n=1, cutoff=0.0)
  return f"unknown config key {key!r}" + (f"; did you mean {nearest[0]!r}?" if nearest else "")


def load_module(path: str):
  """Imports a config or sweep file by path (or the NAME of a shipped one). Config files import their
  bases as `stylejax.configs.base`, so no search path is added: the installed package is enough."""
  path = Path(path) if path.endswith(".py") else CONFIG_DIR / f"{path}.py"
  if not path.is_file():
    raise StylejaxError(f"config file {path} not found")
  module_spec = importlib.util.spec_from_file_location(f"_stylejax_config_{path.stem}", path)
  module = importlib.util.module_from_spec(module_spec)
  try:
    module_spec.loader.exec_module(module)
  except ModuleNotFoundError as e:
    if e.name != "configs" and not (e.name or "").startswith("configs."):
      raise
    # A config file written when the configs lived in the checkout's configs/ folder.
    raise StylejaxError(f"{_shown_path(str(path))} imports {e.name!r}: the shipped configs are the package "
                        f"stylejax.configs now (from stylejax.configs.base import get_base_config)") from None
  return module


def _parse_value(text: str, current):
  if isinstance(current, bool):
    if text.lower() not in ("true", "false", "1", "0"):
      raise ValueError(f"expected true or false, got {text!r}")
    return text.lower() in ("true", "1")
  if isinstance(current, int):
    number = float(text)
    if not number.is_integer():
      raise ValueError(f"expected an integer, got {text!r}")
    return int(number)  # "1e3" too
  if isinstance(current, float):
    return float(text)
  if isinstance(current, tuple):
    items = [t.strip() for t in text.strip().strip("()[]").split(",") if t.strip()]  # "(0.5, 1)" too
    kinds = {type(x) for x in current}
    if kinds == {int}:
      return tuple(int(t) for t in items)
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
      raise StylejaxError(_unknown_key_message(config, key))
    parent = parent[part]
  if field not in parent or isinstance(parent[field], ml_collections.ConfigDict):
    raise StylejaxError(_unknown_key_message(config, key))
  return parent, field


def apply_overrides(config: ml_collections.ConfigDict, overrides: list[str]) -> ml_collections.ConfigDict:
  """`a.b=value` strings, typed like the field they replace; unknown keys are errors."""
  for item in overrides:
    key, sep, text = item.partition("=")
    if not sep:
      raise StylejaxError(f"override {item!r} must look like key=value")
    parent, field = _field(config, key)
    try:
      parent[field] = _parse_value(text, parent[field])
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
    if type(parent[field]) is int and isinstance(value, float) and value.is_integer():  # pylint: disable=unidiomatic-typecheck
      value = int(value)
    try:
      parent[field] = value
    except TypeError:
      raise StylejaxError(f"bad value for {key}: {value!r} is {type(value).__name__}, the field is "
                          f"{type(parent[field]).__name__}") from None
  return config


def choice(value, choices, key):
  if value not in choices:
    raise StylejaxError(f"{key} must be one of {choices}, got {value!r}")


def _non_negative(value, key):
  if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
    raise StylejaxError(f"{key} must be a finite number >= 0, got {value!r}")


def positive_int(value, key):
  if not (isinstance(value, int) and value > 0):
    raise StylejaxError(f"{key} must be a positive integer, got {value!r}")


def check_seed(seed) -> None:
  """A seed feeds both jax.random.key and numpy's generators; numpy takes only 0 <= seed < 2**32."""
  if not (isinstance(seed, int) and not isinstance(seed, bool) and 0 <= seed < 2**32):
    raise StylejaxError(f"seed must be an integer in [0, 2**32), got {seed!r}")


def validate_loss(c: ml_collections.ConfigDict) -> None:
  """The `loss` block (stylejax/configs/loss.py), shared by every method's config."""
  network = c.loss.network
  vgg.check_arch(network.arch)
  choice(network.pooling, vgg.POOLINGS, "loss.network.pooling")
  choice(network.padding, vgg.PADDINGS, "loss.network.padding")
  choice(network.precision, loss_network.PRECISIONS, "loss.network.precision")
  if not isinstance(network.remat, bool):
    raise StylejaxError(f"loss.network.remat must be True or False, got {network.remat!r}")
  choice(c.loss.statistic, losses.STATISTICS, "loss.statistic")
  choice(c.loss.gram_norm, losses.GRAM_NORMS, "loss.gram_norm")
  loss_network.layer_weights(c.loss.content_layers, network.arch, "loss.content_layers")
  loss_network.layer_weights(c.loss.style_layers, network.arch, "loss.style_layers")
  for key in ("content_weight", "style_weight", "tv_weight"):
    _non_negative(c.loss[key], f"loss.{key}")
  positive_int(c.loss.n_projections, "loss.n_projections")


def validate(c: ml_collections.ConfigDict) -> None:
  """Raises a one-line StylejaxError for the first bad value, checked as the config's task says
  (stylize and sweep: pixel optimization, below; train: the checks every method shares; embed: the
  loss block). The checks of a method or an embedding live with them; `stylejax.tasks.validate`
  runs every check of any config."""
  check_seed(c.seed)
  task = tasks.task_of(c)
  if task == "train":
    validate_training(c)
    return
  if task == "embed":  # the embedding's own checks: stylejax.retrieval.pipeline.validate
    validate_loss(c)
    return
  if task == "dream" or (task == "sweep" and "octaves" in c.get("dream", {})):  # built on configs/dream.py
    validate_dream(c)
    return
  validate_loss(c)
  terms.names(c.objective.terms)  # the pixel objective's terms (stylejax/objectives/terms/)
  if "dream" in terms.names(c.objective.terms):  # mixed into style transfer: on the loss network only
    dream.check_config(c)
    if c.dream.network != "vgg":
      raise StylejaxError(f"stylize mixes a dream on the loss network only (dream.network=vgg), got "
                          f"{c.dream.network!r}; `stylejax dream` dreams on {c.dream.network}")
    if c.dream.objective == "guided":
      raise StylejaxError("a guided dream runs with `stylejax dream` (stylize reads no guide image)")
  choice(c.optim.name, OPTIMIZERS, "optim.name")
  choice(c.optim.init, INITS, "optim.init")
  choice(c.optim.parametrization, PARAMETRIZATIONS, "optim.parametrization")
  color.check_mode(c.preserve_color)
  for key in ("image_size", "max_pixels", "log_every"):
    positive_int(c[key], key)
  positive_int(c.optim.steps, "optim.steps")
  positive_int(c.optim.lbfgs_memory, "optim.lbfgs_memory")
  choice(c.optim.line_search, LINE_SEARCHES, "optim.line_search")
  positive_int(c.optim.max_linesearch_steps, "optim.max_linesearch_steps")
  positive_int(c.optim.line_search_candidates, "optim.line_search_candidates")
  if not (math.isfinite(c.optim.lbfgs_step) and c.optim.lbfgs_step > 0):
    raise StylejaxError(f"optim.lbfgs_step must be > 0, got {c.optim.lbfgs_step}")
  _non_negative(c.optim.init_noise, "optim.init_noise")
  positive_int(c.multiscale.coarse_steps, "multiscale.coarse_steps")
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


def validate_dream(config) -> None:
  """A dream config (configs/dream.py; `stylejax dream` and dream sweeps), one line for the first bad
  value; nothing is loaded."""
  d = config.dream
  check_seed(config.seed)
  validate_loss(config)
  names = terms.names(config.objective.terms)
  if "dream" not in names:
    raise StylejaxError(f"objective.terms of a dream must include dream, got {config.objective.terms!r}")
  dream.check_config(config)
  if d.network != "vgg" and set(names) & {"content", "style"}:
    raise StylejaxError(f"the content and style terms read VGG features; dream.network={d.network!r} "
                        "dreams alone (with tv); use dream.network=vgg to mix them")
  if "content" in names and d.tile_size:
    raise StylejaxError("the content term compares whole images: set dream.tile_size=0 to mix it in")
  if "style" in names and not config.styles:
    raise StylejaxError("objective.terms has style but no style image is given (styles)")
  for key in ("octaves", "steps", "image_size"):
    value = d[key] if key != "image_size" else config.image_size
    if not isinstance(value, int) or value < 1:
      raise StylejaxError(f"{'dream.' if key != 'image_size' else ''}{key} must be an integer >= 1, got {value!r}")
  for key in ("jitter", "tile_size", "guide_size"):
    if not isinstance(d[key], int) or d[key] < 0:
      raise StylejaxError(f"dream.{key} must be an integer >= 0, got {d[key]!r}")
  if d.tile_size and d.tile_size < MIN_OCTAVE_SIDE:
    raise StylejaxError(f"dream.tile_size must be 0 (no tiles) or at least {MIN_OCTAVE_SIDE}, got {d.tile_size}")
  if not (math.isfinite(d.octave_scale) and d.octave_scale > 1):
    raise StylejaxError(f"dream.octave_scale must be > 1, got {d.octave_scale}")
  if not (math.isfinite(d.step_size) and d.step_size > 0):
    raise StylejaxError(f"dream.step_size must be > 0, got {d.step_size}")
  if not (math.isfinite(config.style_scale) and config.style_scale > 0):
    raise StylejaxError(f"style_scale must be > 0, got {config.style_scale}")
  choice(d.normalize, DREAM_NORMALIZATIONS, "dream.normalize")
  if not config.content:
    raise StylejaxError("no photo given (content)")


SCHEDULES = ("constant", "cosine")


def validate_training(c: ml_collections.ConfigDict) -> None:
  """The checks of `validate` for a training config (stylejax/configs/train_base.py) that every method
  shares; the method's own (its `network` block) are `stylejax.training.loop.validate`'s."""
  validate_loss(c)
  choice(c.optim.schedule, SCHEDULES, "optim.schedule")
  _non_negative(c.optim.grad_clip, "optim.grad_clip")
  for key in ("steps", "batch_size"):
    positive_int(c.optim[key], f"optim.{key}")
  for key in ("style_size", "checkpoint_every", "keep_checkpoints", "log_every", "eval_size"):
    positive_int(c[key], key)
  for key in ("image_size", "max_side", "prefetch"):
    positive_int(c.data[key], f"data.{key}")
  if not isinstance(c.optim.warmup_steps, int) or c.optim.warmup_steps < 0:
    raise StylejaxError(f"optim.warmup_steps must be an integer >= 0, got {c.optim.warmup_steps!r}")
  if not isinstance(c.eval_every, int) or c.eval_every < 0:
    raise StylejaxError(f"eval_every must be an integer >= 0, got {c.eval_every!r}")
  if not (math.isfinite(c.optim.learning_rate) and c.optim.learning_rate > 0):
    raise StylejaxError(f"optim.learning_rate must be > 0, got {c.optim.learning_rate}")
  if c.data.image_size < 16 or c.data.image_size % 4:
    raise StylejaxError(f"data.image_size must be a multiple of 4 and at least 16, got {c.data.image_size}")
  if not c.styles:
    raise StylejaxError("no style images given")
  scale = tuple(c.data.crop_scale)
  if len(scale) != 2 or not all(math.isfinite(v) for v in scale) or not 1.0 <= scale[0] <= scale[1]:
    raise StylejaxError(f"data.crop_scale must be (lo, hi) with 1 <= lo <= hi, got {scale}")
  if not c.eval_images:
    raise StylejaxError("eval_images is empty")
