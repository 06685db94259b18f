"""JAX side of the oneDNN convolution prototype: registers the FFI targets and defines a conv with a
custom VJP (oneDNN forward and input gradient; the kernel gradient stays XLA's)."""
import ctypes
import functools
import os

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

_LIB = ctypes.cdll.LoadLibrary(os.path.join(os.path.dirname(os.path.abspath(__file__)), "libdnnl_conv.so"))
jax.ffi.register_ffi_target("dnnl_conv_fwd", jax.ffi.pycapsule(_LIB.DnnlConvForward), platform="cpu")
jax.ffi.register_ffi_target("dnnl_conv_bwd_data", jax.ffi.pycapsule(_LIB.DnnlConvBackwardData), platform="cpu")
_DIMS = ("NHWC", "HWIO", "NHWC")


def _attrs(stride, pads):
  (pt, pb), (pl, pr) = pads
  return dict(sh=np.int64(stride), sw=np.int64(stride), pt=np.int64(pt), pb=np.int64(pb), pl=np.int64(pl),
              pr=np.int64(pr))


def _out_shape(x_shape, k_shape, stride, pads):
  n, h, w, _ = x_shape
  kh, kw, _, co = k_shape
  (pt, pb), (pl, pr) = pads
  return (n, (h + pt + pb - kh) // stride + 1, (w + pl + pr - kw) // stride + 1, co)


def _fwd_call(x, kernel, stride, pads):
  out = jax.ShapeDtypeStruct(_out_shape(x.shape, kernel.shape, stride, pads), x.dtype)
  return jax.ffi.ffi_call("dnnl_conv_fwd", out)(x, kernel, **_attrs(stride, pads))


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def dnnl_conv(x, kernel, stride, pads):
  return _fwd_call(x, kernel, stride, pads)


def _fwd(x, kernel, stride, pads):
  return _fwd_call(x, kernel, stride, pads), (x, kernel)


def _bwd(stride, pads, res, g):
  x, kernel = res
  dx = jax.ffi.ffi_call("dnnl_conv_bwd_data", jax.ShapeDtypeStruct(x.shape, x.dtype))(g, kernel, **_attrs(stride, pads))
  from stylejax.networks import conv as conv_mod
  return dx, conv_mod._kernel_grad(x, kernel.shape, stride, pads, g)


dnnl_conv.defvjp(_fwd, _bwd)


def make_dispatch(xla_conv):
  def dispatch(x, kernel, stride, pads):
    kh, kw, cin, cout = kernel.shape
    if cout <= 4 or (cin * cout <= 16 and kh * kw > 9) or min(min(p) for p in pads) < 0:
      return xla_conv(x, kernel, stride, pads)
    return dnnl_conv(x, kernel, stride, pads)
  return dispatch
