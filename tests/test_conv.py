"""stylejax.networks.conv: every CPU path equals plain lax.conv_general_dilated, and swapping flax's
nn.Conv for it left the networks' parameter trees as they were."""

from unittest import mock

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from stylejax.networks import alexnet, conv, stylenet, vgg

P1, P2 = ((1, 1), (1, 1)), ((2, 2), (2, 2))
# (x shape, kernel shape, stride, padding): the networks' layer kinds, tiny.
CASES = {
    "3x3 pad 1 (vgg)": ((2, 7, 8, 5), (3, 3, 5, 6), 1, P1),
    "3x3 VALID (reflect-padded)": ((2, 8, 9, 4), (3, 3, 4, 5), 1, "VALID"),
    "9x9 3 in (stylenet first)": ((2, 14, 13, 3), (9, 9, 3, 5), 1, "VALID"),
    "9x9 3 out (stylenet last)": ((2, 14, 15, 6), (9, 9, 6, 3), 1, "VALID"),
    "9x9 3 out, one image": ((1, 13, 12, 5), (9, 9, 5, 3), 1, "VALID"),
    "9x9 3 out, padded": ((1, 10, 11, 4), (9, 9, 4, 3), 1, ((4, 4), (3, 5))),
    # Cin * Cout <= 16 (multistyle26's last layer, 4 -> 3): a conv over 2x2 blocks; odd output sizes.
    "9x9 4 -> 3, odd sizes": ((2, 15, 14, 4), (9, 9, 4, 3), 1, "VALID"),
    "7x7 2 -> 3, padded": ((1, 9, 12, 2), (7, 7, 2, 3), 1, ((3, 3), (2, 4))),
    "3x3 s2 VALID (stylenet down)": ((2, 11, 10, 4), (3, 3, 4, 6), 2, "VALID"),
    "3x3 s2 pad 1": ((2, 9, 9, 4), (3, 3, 4, 5), 2, P1),
    "11x11 s4 pad 2 (alexnet)": ((1, 35, 37, 3), (11, 11, 3, 4), 4, P2),
    "5x5 pad 2 (alexnet)": ((2, 9, 8, 4), (5, 5, 4, 6), 1, P2),
    # Wide layers (Cin * Cout >= 8192): the kernel gradient is one GEMM per tap.
    "3x3 VALID wide (cyclegan block)": ((2, 8, 9, 128), (3, 3, 128, 64), 1, "VALID"),
    "3x3 s2 pad 1 wide (cyclegan down)": ((1, 9, 10, 64), (3, 3, 64, 128), 2, P1),
    "4x4 s2 pad 1 wide (patchgan)": ((2, 10, 9, 64), (4, 4, 64, 128), 2, P1),
    "2x2 pad (0, 1) wide (phase conv of cyclegan's up)": ((1, 5, 6, 32), (2, 2, 32, 256), 1, ((0, 1), (0, 1))),
}


def _reference(x, kernel, bias, stride, padding):
  y = lax.conv_general_dilated(x, kernel, (stride, stride), padding,
                               dimension_numbers=("NHWC", "HWIO", "NHWC"))
  return y + bias


def _inputs(x_shape, k_shape, seed=0):
  kx, kk, kb = jax.random.split(jax.random.PRNGKey(seed), 3)
  return (jax.random.normal(kx, x_shape), jax.random.normal(kk, k_shape) / np.sqrt(np.prod(k_shape[:3])),
          jax.random.normal(kb, k_shape[-1:]))


def _loss(conv_fn, stride, padding):
  # A non-linear readout so every output element gets a different cotangent.
  return lambda x, k, b: jnp.sum(jnp.sin(conv_fn(x, k, b, stride, padding)))


def _ours(x, kernel, bias, stride, padding):
  return conv.conv2d(x, kernel, bias, stride=stride, padding=padding)


def _assert_close(actual, expected, what):
  expected = np.asarray(expected)
  np.testing.assert_allclose(np.asarray(actual), expected, rtol=0,
                             atol=2e-5 * max(1.0, np.abs(expected).max()), err_msg=what)


@pytest.mark.parametrize("backend", ["as shipped", "STYLEJAX_CONV=xla"])
@pytest.mark.parametrize("case", CASES)
def test_value_and_gradients_match_lax(case, backend, monkeypatch):
  """As shipped, the layers oneDNN runs (tests/test_onednn_conv.py) go there; with STYLEJAX_CONV=xla
  every layer takes its XLA path, as where the oneDNN library is not built."""
  if backend != "as shipped":
    monkeypatch.setenv("STYLEJAX_CONV", "xla")
  ours_fn = lambda *args: _ours(*args)  # a fresh function: jit must not reuse the other backend's trace
  x_shape, k_shape, stride, padding = CASES[case]
  args = _inputs(x_shape, k_shape)
  _assert_close(jax.jit(ours_fn, static_argnums=(3, 4))(*args, stride, padding),
                _reference(*args, stride, padding), "value")
  ours = jax.jit(jax.grad(_loss(ours_fn, stride, padding), argnums=(0, 1, 2)))(*args)
  ref = jax.grad(_loss(_reference, stride, padding), argnums=(0, 1, 2))(*args)
  for name, a, e in zip(("input", "kernel", "bias"), ours, ref):
    _assert_close(a, e, f"{case}: d/d{name}")


def test_few_channel_big_kernels_take_the_block_path_forward_and_for_the_input_gradient():
  x_shape, k_shape, stride, padding = CASES["9x9 4 -> 3, odd sizes"]
  args = _inputs(x_shape, k_shape)
  with mock.patch.object(conv, "_space_to_depth_conv", wraps=conv._space_to_depth_conv) as block:
    jax.grad(_loss(_ours, stride, padding), argnums=(0, 1))(*args)
  assert block.call_count == 2  # the forward conv (4 -> 3) and the input gradient's (3 -> 4)


@pytest.mark.parametrize("case", ["3x3 pad 1 (vgg)", "9x9 3 out (stylenet last)",
                                  "3x3 s2 VALID (stylenet down)"])
def test_gradients_under_vmap(case):
  x_shape, k_shape, stride, padding = CASES[case]
  x, k, b = _inputs(x_shape, k_shape)
  xs = jnp.stack([x, 2 * x])  # a leading vmapped axis over whole batches

  def per_batch(conv_fn):
    return jax.vmap(jax.grad(_loss(conv_fn, stride, padding), argnums=(0, 1)), in_axes=(0, None, None))
  ours = jax.jit(per_batch(_ours))(xs, k, b)
  ref = per_batch(_reference)(xs, k, b)
  for a, e in zip(ours, ref):
    _assert_close(a, e, case)


@pytest.mark.parametrize("case", ["3x3 pad 1 (vgg)", "9x9 3 in (stylenet first)", "3x3 s2 pad 1"])
def test_gradient_inside_a_while_loop_body(case):
  """Gradients taken inside a lax.while_loop body (as in the L-BFGS line search), summed."""
  x_shape, k_shape, stride, padding = CASES[case]
  x, k, b = _inputs(x_shape, k_shape)

  def summed_grads(conv_fn):
    grad = jax.grad(_loss(conv_fn, stride, padding), argnums=(0, 1))

    def body(carry):
      i, gx_sum, gk_sum = carry
      gx, gk = grad(x * (1 + 0.1 * i), k, b)  # a different point each iteration
      return i + 1, gx_sum + gx, gk_sum + gk
    start = (0, jnp.zeros_like(x), jnp.zeros_like(k))
    return lambda x, k: lax.while_loop(lambda c: c[0] < 3, body, start)[1:]
  for a, e in zip(jax.jit(summed_grads(_ours))(x, k), jax.jit(summed_grads(_reference))(x, k)):
    _assert_close(a, e, case)


def test_jit_with_donated_buffers():
  x_shape, k_shape, stride, padding = CASES["9x9 3 out (stylenet last)"]
  x, k, b = _inputs(x_shape, k_shape)

  def step(conv_fn):
    grad = jax.grad(_loss(conv_fn, stride, padding), argnums=(0, 1))
    def fn(x, k):
      gx, gk = grad(x, k, b)
      return x - 0.1 * gx, k - 0.1 * gk
    return fn
  expected = jax.jit(step(_reference))(x, k)
  donated = jax.jit(step(_ours), donate_argnums=(0, 1))(jnp.array(x), jnp.array(k))
  for a, e in zip(donated, expected):
    _assert_close(a, e, "donated")


# (conv's input shape, kernel, stride, padding) of conv_transpose: its adjoint from the conv's output.
TRANSPOSE_CASES = {
    "3x3 s2 pad 1 to 2H (cyclegan up)": ((2, 8, 10, 6), (3, 3, 6, 8), 2, P1),
    "3x3 s2 pad 1 to 2H, few channels": ((1, 6, 8, 3), (3, 3, 3, 4), 2, P1),
    "4x4 s2 pad 1": ((1, 8, 8, 5), (4, 4, 5, 6), 2, P1),
    "3x3 s1 VALID": ((2, 7, 6, 5), (3, 3, 5, 6), 1, "VALID"),
}


def _transpose_reference(x, kernel, stride, padding, output_shape):
  zeros = jnp.zeros(output_shape, x.dtype)
  return jax.vjp(lambda z: _reference(z, kernel, 0.0, stride, padding), zeros)[1](x)[0]


@pytest.mark.parametrize("backend", ["as shipped", "STYLEJAX_CONV=xla"])
@pytest.mark.parametrize("case", TRANSPOSE_CASES)
def test_conv_transpose_is_the_adjoint_of_the_conv(case, backend, monkeypatch):
  """Values, both gradients and second order, against the VJP of lax's conv; as shipped the CycleGAN
  shape runs on oneDNN, with STYLEJAX_CONV=xla as 2x2 phase convs."""
  if backend != "as shipped":
    monkeypatch.setenv("STYLEJAX_CONV", "xla")
  z_shape, k_shape, stride, padding = TRANSPOSE_CASES[case]
  _, kernel, _ = _inputs(z_shape, k_shape)
  x = jax.random.normal(jax.random.PRNGKey(3), _reference(jnp.zeros(z_shape), kernel, 0.0, stride, padding).shape)
  ours_fn = lambda x, k: conv.conv_transpose(x, k, stride=stride, padding=padding, output_shape=z_shape)
  ref_fn = lambda x, k: _transpose_reference(x, k, stride, padding, z_shape)
  _assert_close(jax.jit(ours_fn)(x, kernel), ref_fn(x, kernel), "value")
  loss = lambda fn: lambda x, k: jnp.sum(jnp.sin(fn(x, k)))
  for name, a, e in zip(("input", "kernel"), jax.jit(jax.grad(loss(ours_fn), argnums=(0, 1)))(x, kernel),
                        jax.grad(loss(ref_fn), argnums=(0, 1))(x, kernel)):
    _assert_close(a, e, f"{case}: d/d{name}")
  second = lambda fn: jax.grad(lambda x: jnp.sum(jax.grad(loss(fn), argnums=1)(x, kernel) ** 2))
  _assert_close(jax.jit(second(ours_fn))(x), second(ref_fn)(x), "second order")


def test_gradient_of_the_kernel_gradient_matches_lax():
  """Second order (e.g. a gradient penalty) differentiates the custom backward pass itself."""
  x, k, b = _inputs((1, 6, 7, 3), (3, 3, 3, 4))
  def outer(conv_fn):
    inner = jax.grad(_loss(conv_fn, 1, P1), argnums=1)
    return jax.grad(lambda x: jnp.sum(inner(x, k, b) ** 2))
  _assert_close(jax.jit(outer(_ours))(x), outer(_reference)(x), "second order")


def test_accelerators_get_plain_lax():
  x, k, b = _inputs((1, 6, 6, 3), (3, 3, 3, 4))
  jaxpr = lambda: str(jax.make_jaxpr(lambda x: conv.conv2d(x, k, b, padding=P1))(x))
  assert "custom_vjp" in jaxpr()
  with mock.patch.object(jax, "default_backend", lambda: "gpu"):
    assert "custom_vjp" not in jaxpr() and jaxpr().count("conv_general_dilated") == 1


def test_bad_padding_is_refused():
  x, k, b = _inputs((1, 6, 6, 3), (3, 3, 3, 4))
  with pytest.raises(ValueError, match="padding"):
    conv.conv2d(x, k, padding="SAME")


def _paths_and_shapes(params):
  return [(jax.tree_util.keystr(p), v.shape) for p, v in jax.tree_util.tree_leaves_with_path(params)]


def test_vgg_parameter_tree_is_unchanged():
  for arch in ("vgg16", "vgg19"):
    init = vgg.VGG(arch=arch).init
    params = jax.eval_shape(init, jax.random.PRNGKey(0), jnp.zeros((1, 32, 32, 3)))["params"]
    expected = sorted([(f"['{n}']['bias']", b) for n, (_, b) in vgg.conv_shapes(arch).items()]
                      + [(f"['{n}']['kernel']", k) for n, (k, _) in vgg.conv_shapes(arch).items()])
    assert _paths_and_shapes(params) == expected


def test_alexnet_parameter_tree_is_unchanged():
  params = jax.eval_shape(alexnet.AlexNet().init, jax.random.PRNGKey(0), jnp.zeros((1, 64, 64, 3)))["params"]
  kernels = [(11, 11, 3, 64), (5, 5, 64, 192), (3, 3, 192, 384), (3, 3, 384, 256), (3, 3, 256, 256)]
  expected = []
  for i, shape in enumerate(kernels):
    expected += [(f"['Conv_{i}']['bias']", shape[-1:]), (f"['Conv_{i}']['kernel']", shape)]
  assert _paths_and_shapes(params) == expected


class ReflectConv(nn.Module):
  """The style network's conv as it was before conv.py (reflect pad + flax nn.Conv), same name."""
  features: int
  kernel: int
  stride: int = 1

  @nn.compact
  def __call__(self, x):
    pad = self.kernel // 2
    x = jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="reflect")
    return nn.Conv(self.features, (self.kernel, self.kernel), strides=(self.stride, self.stride),
                   padding="VALID", use_bias=False)(x)


def test_stylenet_parameters_and_outputs_match_the_flax_conv_version():
  spec = stylenet.NetworkSpec(n_styles=2, width_multiplier=0.25, n_residual=1)
  images = jax.random.uniform(jax.random.PRNGKey(1), (2, 16, 20, 3))
  weights = jnp.array([0.3, 0.7])
  # Fresh jit wrappers each time: jit's trace cache must not hand the patched run the other trace.
  init = lambda: jax.jit(lambda key: stylenet.init_params(spec, key, size=16))(jax.random.PRNGKey(0))
  stylize = lambda p: jax.jit(lambda p: stylenet.stylize(spec, p, images, weights))(p)
  params = init()
  with mock.patch.object(stylenet, "ReflectConv", ReflectConv):
    flax_params = init()
    flax_out = stylize(flax_params)
  assert _paths_and_shapes(params) == _paths_and_shapes(flax_params)
  assert "['ReflectConv_0']['Conv_0']['kernel']" in dict(_paths_and_shapes(params))
  jax.tree.map(np.testing.assert_array_equal, params, flax_params)  # same names, so same init draws
  _assert_close(stylize(params), flax_out, "stylize")
