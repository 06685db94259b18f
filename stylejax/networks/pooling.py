"""VGG's 2x2, stride-2 max pooling (NHWC), with a gradient XLA:CPU computes quickly.

`flax.linen.max_pool` is a `reduce_window`; its gradient is a `select_and_scatter_add`, which
XLA:CPU runs as a slow scalar loop: about a tenth of VGG16's forward + backward time at 256 px
(benchmarks/bench_vgg.py). Here the window is a reshape and the gradient an elementwise mask that
fuses with its neighbours. Ties go to the first maximum in row-major window order, as
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


def _windows(x: jax.Array) -> jax.Array:
  """(N, 2h, 2w, C) -> (N, h, w, 4, C): each 2x2 window's elements in row-major order."""
  n, h2, w2, c = x.shape
  return x.reshape(n, h2 // 2, 2, w2 // 2, 2, c).transpose(0, 1, 3, 2, 4, 5).reshape(n, h2 // 2, w2 // 2, 4, c)


def _unwindows(x: jax.Array) -> jax.Array:
  n, h, w, _, c = x.shape
  return x.reshape(n, h, w, 2, 2, c).transpose(0, 1, 3, 2, 4, 5).reshape(n, 2 * h, 2 * w, c)


@jax.custom_vjp
def _pool(x):
  return _windows(x).max(axis=3)


def _pool_fwd(x):
  y = _pool(x)
  return y, (x, y)


def _pool_bwd(residuals, g):
  x, y = residuals
  is_max = _windows(x) == y[:, :, :, None, :]
  first_max = is_max & (jnp.cumsum(is_max, axis=3, dtype=jnp.int32) == 1)
  return (_unwindows(jnp.where(first_max, g[:, :, :, None, :], jnp.zeros((), g.dtype))),)


_pool.defvjp(_pool_fwd, _pool_bwd)
