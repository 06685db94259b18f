"""networks.parameters.param: flax's `param` at init; on apply the given value, shape-checked, with the
initialiser never traced."""

import flax.errors
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from stylejax.networks import parameters

CALLS = []


def counting_init(key, shape):
  CALLS.append(shape)
  return jax.random.normal(key, shape)


class Scale(nn.Module):
  @nn.compact
  def __call__(self, x):
    return x * parameters.param(self, "scale", counting_init, (x.shape[-1],))


def test_init_draws_apply_reuses_without_tracing_the_initialiser_and_checks_the_shape():
  CALLS.clear()
  x = jnp.ones((2, 3))
  variables = Scale().init(jax.random.key(0), x)
  assert CALLS == [(3,)]
  assert variables["params"]["scale"].shape == (3,) and float(jnp.abs(variables["params"]["scale"]).sum()) > 0
  CALLS.clear()
  np.testing.assert_array_equal(Scale().apply(variables, x), x * variables["params"]["scale"])
  np.testing.assert_array_equal(jax.jit(Scale().apply)(variables, x), x * variables["params"]["scale"])
  assert CALLS == []  # flax's param would have traced counting_init on each apply
  with pytest.raises(flax.errors.ScopeParamShapeError, match=r'"scale".*generate shape \(3,\).*has shape \(4,\)'):
    Scale().apply({"params": {"scale": jnp.ones(4)}}, x)
  with pytest.raises(flax.errors.ScopeParamNotFoundError):
    Scale().apply({"params": {"other": jnp.ones(3)}}, x)
