"""oneDNN's direct convolution on XLA:CPU: the forward pass and both gradients as XLA FFI calls.

Why: with XLA:CPU's convolutions the VGG16/19 gradient at 256 px ran at 0.92-0.97x PyTorch's speed;
PyTorch gets its speed from oneDNN, and with these calls stylejax runs it at 1.05-1.12x
(BENCHMARKS.md, "conv_backends" and "vgg"). `stylejax.networks.conv` decides per convolution which
parts run here (`plan`).

The library is built by `python -m stylejax.networks.onednn_build` (`make` does it). Where it is not
built, or `STYLEJAX_CONV=xla` is set, every convolution stays on XLA.
"""

from __future__ import annotations

import ctypes
import functools
import os
from typing import NamedTuple

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


class Plan(NamedTuple):
  """Which parts of one convolution run on oneDNN (the rest on XLA)."""
  forward: bool
  input_grad: bool
  kernel_grad: bool


XLA_ONLY = Plan(False, False, False)


def plan(x: jax.Array, kernel: jax.Array, pads) -> Plan:
  """Where this convolution's forward pass and gradients run (benchmarks/bench_conv_backends.py).

  A side with at most 4 channels keeps XLA for the passes that write or read it narrow: big-kernel
  layers with <= 4 output channels keep XLA's forward pass (7x7 64->3 at 256 px: 20 ms on XLA, 33 ms
  on oneDNN; 9x9 32->3: 18 against 26), while up to 5x5 oneDNN's is the faster (3x3 8->4: 1.1 against
  7.1 ms, multistyle26's last 3x3; 3x3 32->3: 4.0 against 7.2; 5x5 8->3: 2.6 against 8.1). Layers with
  <= 4 output channels keep XLA's kernel gradient and layers with <= 4 input channels XLA's input
  gradient (7x7 3->64: 11 ms against 29 ms), while the other passes of both go to oneDNN (that
  layer's forward: 17 ms on XLA, 6 ms on oneDNN). XLA keeps everything for the few-channel big
  kernels conv.py runs as space-to-depth convs, negative pads, anything but float32, and programs over
  more than one device (XLA's partitioner cannot split an FFI call: it would gather it onto every device).
  """
  kh, kw, cin, cout = kernel.shape
  if (cin * cout <= 16 and kh * kw > 9) or min(min(p) for p in pads) < 0:
    return XLA_ONLY
  if x.dtype != np.float32 or kernel.dtype != np.float32 or jax.device_count() != 1 or not available():
    return XLA_ONLY
  return Plan(forward=cout > 4 or kh * kw <= 25, input_grad=cin > 4, kernel_grad=cout > 4)


def _call(target: str, result_shape, dtype):
  if not _loaded():
    raise RuntimeError("the oneDNN convolution library is not built: python -m stylejax.networks.onednn_build")
  return jax.ffi.ffi_call(target, jax.ShapeDtypeStruct(tuple(result_shape), dtype), vmap_method="expand_dims")


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
  return _call(_FORWARD, shape, x.dtype)(x, kernel, **_attrs(stride, pads))


def input_grad(x_shape, kernel: jax.Array, stride: int, pads, g: jax.Array) -> jax.Array:
  """The gradient of `forward`'s sum against `g` with respect to its input of shape `x_shape`."""
  return _call(_INPUT_GRAD, x_shape, g.dtype)(g, kernel, **_attrs(stride, pads))


def kernel_grad(x: jax.Array, kernel_shape, stride: int, pads, g: jax.Array) -> jax.Array:
  """The gradient of `forward`'s sum against `g` with respect to its kernel of shape `kernel_shape`."""
  return _call(_KERNEL_GRAD, kernel_shape, g.dtype)(x, g, **_attrs(stride, pads))
