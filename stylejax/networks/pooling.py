"""VGG's 2x2, stride-2 max pooling (NHWC), with a gradient XLA:CPU computes quickly.

`flax.linen.max_pool` is a `reduce_window`; its gradient is a `select_and_scatter_add`, which
XLA:CPU runs as a slow scalar loop: about a tenth of VGG16's forward + backward time at 256 px
(benchmarks/bench_vgg.py). Here the window is four strided slices and the gradient elementwise masks
that fuse with their neighbours. Ties go to the first maximum in row-major window order, as
`select_and_scatter_add` (and torch's max_pool2d) route them, so the values and gradients equal
`nn.max_pool`'s exactly (tests/test_pooling.py). Odd trailing rows/columns are dropped, as VALID
pooling does. Other backends keep `nn.max_pool`.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp


def max_pool_2x2(x: jax.Array) -> jax.Array:
  """(N, H, W, C) -> (N, H // 2, W // 2, C), the maximum of each 2x2 window."""
  if jax.default_backend() != "cpu":
    return nn.max_pool(x, (2, 2), strides=(2, 2))
  n, h, w, c = x.shape
  return _pool(x[:, :h // 2 * 2, :w // 2 * 2])


def _corners(x: jax.Array) -> tuple[jax.Array, ...]:
  """Each 2x2 window's four elements in row-major order, as four (N, H/2, W/2, C) strided slices."""
  return x[:, 0::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 0::2], x[:, 1::2, 1::2]


@jax.custom_vjp
def _pool(x):
  a, b, c, d = _corners(x)
  return jnp.maximum(jnp.maximum(a, b), jnp.maximum(c, d))


def _pool_fwd(x):
  y = _pool(x)
  return y, (x, y)


def _pool_bwd(residuals, g):
  x, y = residuals
  zero = jnp.zeros((), g.dtype)
  taken = jnp.zeros(y.shape, bool)
  grads = []
  for corner in _corners(x):  # the first maximum in window order takes the gradient
    first = (corner == y) & ~taken
    taken = taken | first
    grads.append(jnp.where(first, g, zero))
  n, h, w, c = y.shape
  top = jnp.stack(grads[:2], axis=3)     # (N, h, w, 2, C): row 0 of each window
  bottom = jnp.stack(grads[2:], axis=3)
  return (jnp.stack([top, bottom], axis=2).reshape(n, 2 * h, 2 * w, c),)


_pool.defvjp(_pool_fwd, _pool_bwd)
