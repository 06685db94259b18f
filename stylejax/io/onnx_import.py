"""Reads the weights of a quantized ONNX model into float32 numpy arrays, with the `onnx` package only.

Handles the QDQ format that tf2onnx writes for int8 TFLite models: every weight is an int8/int32
initializer feeding a `DequantizeLinear` (per-tensor or per-axis scale and zero point), and every
activation passes through a `QuantizeLinear` -> `DequantizeLinear` pair. The integer-operator formats
(QLinearConv, ConvInteger, DynamicQuantizeLinear, ...) are refused with a clear error rather than
half-read. Nothing here runs the graph: the network itself is rebuilt in Flax
(stylejax/networks/magenta_arbitrary.py), which looks arrays up by these names.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os

import numpy as np

from stylejax.errors import StylejaxError

# Operators that carry integer arithmetic this importer does not translate into float weights.
UNSUPPORTED_QUANTIZED_OPS = frozenset({
    "QLinearConv", "QLinearMatMul", "QLinearAdd", "QLinearMul", "QLinearSigmoid",
    "QLinearGlobalAveragePool", "QLinearConcat", "ConvInteger", "MatMulInteger",
    "DynamicQuantizeLinear", "DynamicQuantizeMatMul", "QGemm", "QAttention"})
DEQUANTIZED_SUFFIX = "_dequant"


@dataclasses.dataclass(frozen=True)
class OnnxArrays:
  """What a QDQ ONNX graph holds, as float32 numpy arrays.

  weights: every dequantized initializer, keyed by the DequantizeLinear output name without its
    "_dequant" suffix (e.g. "MobilenetV2/Conv/weights", OIHW as ONNX stores it).
  constants: the float initializers that compute nodes read directly (clip bounds, resize scales).
  quantization: every activation QuantizeLinear, keyed by its output name, as [scale, zero_point].
  inputs / outputs: graph input and output names with their static shapes (0 for a free dimension).
  """
  weights: dict[str, np.ndarray]
  constants: dict[str, np.ndarray]
  quantization: dict[str, np.ndarray]
  inputs: dict[str, tuple[int, ...]]
  outputs: dict[str, tuple[int, ...]]


def file_sha256(path: str) -> str:
  h = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      h.update(block)
  return h.hexdigest()


def _load_checked(path: str, sha256: str | None):
  import onnx  # pylint: disable=import-outside-toplevel

  if not os.path.isfile(path):
    raise StylejaxError(f"{path}: ONNX model file not found")
  if sha256 is not None:
    found = file_sha256(path)
    if found != sha256:
      raise StylejaxError(f"{path}: sha256 {found[:16]}... does not match the recorded "
                          f"{sha256[:16]}... (tampered, truncated or a different model version)")
  try:
    model = onnx.load(path)
    onnx.checker.check_model(model)
  except Exception as e:  # protobuf DecodeError, onnx ValidationError, ...: all mean a bad file
    raise StylejaxError(f"{path}: not a valid ONNX model (truncated or corrupt?): "
                        f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from None
  if not model.graph.node:
    raise StylejaxError(f"{path}: the ONNX graph has no nodes")
  return model


def _attribute(node, name: str, default):
  import onnx  # pylint: disable=import-outside-toplevel

  for attribute in node.attribute:
    if attribute.name == name:
      return onnx.helper.get_attribute_value(attribute)
  return default


def dequantize(values: np.ndarray, scale: np.ndarray, zero_point: np.ndarray | None,
               axis: int = 1) -> np.ndarray:
  """ONNX DequantizeLinear: (values - zero_point) * scale, per tensor or along `axis`."""
  values = values.astype(np.float64)
  zero_point = np.zeros_like(scale) if zero_point is None else zero_point.astype(np.float64)
  scale = scale.astype(np.float64)
  if scale.ndim == 1 and values.ndim > 0:  # per-axis: broadcast along `axis`
    shape = [1] * values.ndim
    shape[axis % values.ndim] = -1
    scale, zero_point = scale.reshape(shape), zero_point.reshape(shape)
  return ((values - zero_point) * scale).astype(np.float32)


def _dims(value_info) -> tuple[int, ...]:
  return tuple(d.dim_value for d in value_info.type.tensor_type.shape.dim)


def read_onnx(path: str, sha256: str | None = None) -> OnnxArrays:
  """Verifies an ONNX file (optionally against its sha256) and returns its weights as float32.

  Any problem with the file (missing, truncated, tampered, not QDQ) raises StylejaxError.
  """
  from onnx import numpy_helper  # pylint: disable=import-outside-toplevel

  path = str(path)
  model = _load_checked(path, sha256)
  graph = model.graph
  unsupported = sorted({n.op_type for n in graph.node} & UNSUPPORTED_QUANTIZED_OPS)
  if unsupported:
    raise StylejaxError(f"{path}: uses {', '.join(unsupported)}; only QuantizeLinear/"
                        "DequantizeLinear (QDQ) quantized models can be imported")
  try:
    initializers = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
  except Exception as e:  # raw data shorter than the declared shape
    raise StylejaxError(f"{path}: an initializer cannot be read ({e}); the file is corrupt") from None

  def constant(name: str) -> np.ndarray:
    if name not in initializers:
      raise StylejaxError(f"{path}: quantization parameter {name!r} is not a constant")
    return initializers[name]

  weights, constants, quantization = {}, {}, {}
  quant_params = set()
  for node in graph.node:
    if node.op_type not in ("QuantizeLinear", "DequantizeLinear"):
      continue
    quant_params.update(node.input[1:])
    scale = constant(node.input[1]).astype(np.float32)
    zero_point = constant(node.input[2]) if len(node.input) > 2 and node.input[2] else None
    if node.op_type == "DequantizeLinear" and node.input[0] in initializers:
      name = node.output[0].removesuffix(DEQUANTIZED_SUFFIX)
      weights[name] = dequantize(initializers[node.input[0]], scale, zero_point,
                                 _attribute(node, "axis", 1))
    elif node.op_type == "QuantizeLinear" and node.input[0] not in initializers:
      if scale.size != 1:
        raise StylejaxError(f"{path}: activation {node.output[0]!r} is quantized per channel, "
                            "which the Flax rebuild does not reproduce")
      zp = 0.0 if zero_point is None else float(zero_point.reshape(()))
      quantization[node.output[0]] = np.array([float(scale.reshape(())), zp], np.float32)
  for node in graph.node:  # float constants that compute nodes read directly (e.g. clip bounds)
    if node.op_type in ("QuantizeLinear", "DequantizeLinear"):
      continue
    for name in node.input:
      if name in initializers and name not in quant_params and initializers[name].dtype.kind == "f":
        constants[name] = initializers[name].astype(np.float32)
  bad = [n for n, a in {**weights, **constants}.items() if not np.isfinite(a).all()]
  if bad:
    raise StylejaxError(f"{path}: weight {bad[0]} holds NaN or Inf values")
  inputs = {i.name: _dims(i) for i in graph.input if i.name not in initializers}
  outputs = {o.name: _dims(o) for o in graph.output}
  return OnnxArrays(weights, constants, quantization, inputs, outputs)
