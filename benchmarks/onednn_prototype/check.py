import os, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import jax, jax.numpy as jnp, numpy as np
from jax import lax
from dnnl_jax import dnnl_conv

rng = np.random.default_rng(0)
for (n, h, w, ci, co, k, s, pads) in [(1, 9, 7, 3, 5, 3, 1, ((1, 1), (1, 1))), (2, 10, 11, 4, 6, 3, 2, ((1, 0), (1, 1))),
                                      (1, 12, 12, 8, 3, 9, 1, ((4, 4), (4, 4))), (1, 8, 8, 16, 16, 3, 1, ((0, 0), (0, 0)))]:
  x = jnp.asarray(rng.standard_normal((n, h, w, ci)), jnp.float32)
  kk = jnp.asarray(rng.standard_normal((k, k, ci, co)), jnp.float32)
  ref = lambda x, kk: lax.conv_general_dilated(x, kk, (s, s), pads, dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                                precision="highest")
  y = jax.jit(lambda x, kk: dnnl_conv(x, kk, s, pads))(x, kk)
  yr = ref(x, kk)
  gx = jax.jit(jax.grad(lambda x, kk: jnp.sum(jnp.sin(dnnl_conv(x, kk, s, pads))), argnums=(0, 1)))(x, kk)
  gr = jax.grad(lambda x, kk: jnp.sum(jnp.sin(ref(x, kk))), argnums=(0, 1))(x, kk)
  print(y.shape, float(jnp.max(jnp.abs(y - yr))), float(jnp.max(jnp.abs(gx[0] - gr[0]))), float(jnp.max(jnp.abs(gx[1] - gr[1]))))
