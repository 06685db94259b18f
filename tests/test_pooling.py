"""VGG's max pooling: the reshape + mask path equals flax's reduce_window max_pool in value and gradient."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from stylejax.networks.pooling import max_pool_2x2


def reference(x):
  return nn.max_pool(x, (2, 2), strides=(2, 2))


@pytest.mark.parametrize("shape", [(2, 8, 6, 3), (1, 7, 9, 2)])
def test_values_and_gradients_equal_reduce_window(shape):
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.normal(size=shape), jnp.float32)
  cotangent = jnp.asarray(rng.normal(size=reference(x).shape), jnp.float32)
  np.testing.assert_array_equal(max_pool_2x2(x), reference(x))
  grad = jax.grad(lambda v: jnp.sum(max_pool_2x2(v) * cotangent))(x)
  grad_ref = jax.grad(lambda v: jnp.sum(reference(v) * cotangent))(x)
  np.testing.assert_array_equal(grad, grad_ref)


def test_ties_route_to_the_first_maximum_like_reduce_window():
  # Quantised values make most windows hold repeated maxima (as ReLU zeros and saturated pixels do).
  x = jnp.asarray(np.random.default_rng(1).integers(0, 2, size=(2, 6, 6, 4)), jnp.float32)
  grad = jax.grad(lambda v: jnp.sum(max_pool_2x2(v) ** 2))(x)
  grad_ref = jax.grad(lambda v: jnp.sum(reference(v) ** 2))(x)
  np.testing.assert_array_equal(grad, grad_ref)
  assert float(jnp.sum(grad != 0)) == float(jnp.sum(reference(x) != 0))  # one element per window


def test_under_vmap_and_in_a_loop_body():
  x = jnp.asarray(np.random.default_rng(2).normal(size=(3, 1, 4, 4, 2)), jnp.float32)
  loss = lambda v: jnp.sum(max_pool_2x2(v) ** 2)
  grads = jax.vmap(jax.grad(loss))(x)
  looped = jax.lax.fori_loop(0, 2, lambda i, acc: acc + jax.grad(loss)(x[0]), jnp.zeros_like(x[0]))
  np.testing.assert_array_equal(looped, 2 * grads[0])
  np.testing.assert_array_equal(grads[1], jax.grad(lambda v: jnp.sum(reference(v) ** 2))(x[1]))
