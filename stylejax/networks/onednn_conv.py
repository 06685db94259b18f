"""oneDNN's direct convolution on XLA:CPU: the forward pass and both gradients as XLA FFI calls.

Why: XLA:CPU's convolutions left the VGG gradient at 0.93-0.98x PyTorch's time at 256 px; PyTorch
gets its speed from oneDNN, and with these two calls stylejax reaches 1.07-1.12x
(benchmarks/onednn_prototype/README.md). `stylejax.networks.conv` decides per convolution whether
to use them (`usable`).

The library is built by `python -m stylejax.networks.onednn_build` (`make` does it). Where it is not
built, or `STYLEJAX_CONV=xla` is set, every convolution stays on XLA.
"""

from __future__ import annotations

import ctypes
import functools
import os

import jax
import numpy as np

from stylejax.networks import onednn_build

_FORWARD, _INPUT_GRAD, _KERNEL_GRAD = ("stylejax_onednn_conv_forward", "stylejax_onednn_conv_input_grad",
                                      "stylejax_onednn_conv_kernel_grad")


@functools.cache
def _loaded() -> bool:
  path = onednn_build.built_library()
  if path is None:
    return False
  try:
    library = ctypes.cdll.LoadLibrary(str(path))
  except OSError:  # e.g. libgomp missing on this machine: XLA it is
    return False
  jax.ffi.register_ffi_target(_FORWARD, jax.ffi.pycapsule(library.StylejaxDnnlConvForward), platform="cpu")
  jax.ffi.register_ffi_target(_INPUT_GRAD, jax.ffi.pycapsule(library.StylejaxDnnlConvBackwardData),
                              platform="cpu")
  jax.ffi.register_ffi_target(_KERNEL_GRAD, jax.ffi.pycapsule(library.StylejaxDnnlConvBackwardWeights),
                              platform="cpu")
  return True


def available() -> bool:
  """Whether convolutions may use oneDNN here: the library loads and STYLEJAX_CONV is not "xla"."""
  return os.environ.get("STYLEJAX_CONV", "").lower() != "xla" and _loaded()


def usable(x: jax.Array, kernel: jax.Array, pads) -> bool:
  """Whether this convolution goes to oneDNN.

  XLA keeps: convs with at most 4 output channels and the small-channel big kernels that
  conv.py runs as space-to-depth convs (XLA measured 2x faster there); negative pads; anything
  but float32; and programs over more than one device (XLA's partitioner cannot split an FFI call,
  it would gather it onto every device).
  """
  kh, kw, cin, cout = kernel.shape
  if cout <= 4 or (cin * cout <= 16 and kh * kw > 9) or min(min(p) for p in pads) < 0:
    return False
  if x.dtype != np.float32 or kernel.dtype != np.float32:
    return False
  return jax.device_count() == 1 and available()


def _attrs(stride: int, pads) -> dict:
  (pt, pb), (pl, pr) = pads
  return dict(sh=np.int64(stride), sw=np.int64(stride), pt=np.int64(pt), pb=np.int64(pb),
              pl=np.int64(pl), pr=np.int64(pr))


def forward(x: jax.Array, kernel: jax.Array, stride: int, pads) -> jax.Array:
  """x (N, H, W, Cin) * kernel (kh, kw, Cin, Cout) with zero `pads` ((top, bottom), (left, right))."""
  (pt, pb), (pl, pr) = pads
  n, h, w, _ = x.shape
  kh, kw, _, cout = kernel.shape
  shape = (n, (h + pt + pb - kh) // stride + 1, (w + pl + pr - kw) // stride + 1, cout)
  call = jax.ffi.ffi_call(_FORWARD, jax.ShapeDtypeStruct(shape, x.dtype), vmap_method="expand_dims")
  return call(x, kernel, **_attrs(stride, pads))


def input_grad(x_shape, kernel: jax.Array, stride: int, pads, g: jax.Array) -> jax.Array:
  """The gradient of `forward`'s sum against `g` with respect to its input of shape `x_shape`."""
  call = jax.ffi.ffi_call(_INPUT_GRAD, jax.ShapeDtypeStruct(tuple(x_shape), g.dtype), vmap_method="expand_dims")
  return call(g, kernel, **_attrs(stride, pads))


def kernel_grad(x: jax.Array, kernel_shape, stride: int, pads, g: jax.Array) -> jax.Array:
  """The gradient of `forward`'s sum against `g` with respect to its kernel of shape `kernel_shape`."""
  call = jax.ffi.ffi_call(_KERNEL_GRAD, jax.ShapeDtypeStruct(tuple(kernel_shape), g.dtype), vmap_method="expand_dims")
  return call(x, g, **_attrs(stride, pads))
