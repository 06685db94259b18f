"""The oneDNN convolution (stylejax.networks.onednn_conv): built by the project's install, equal to
lax.conv_general_dilated forward and in both gradients (each a oneDNN call), batched under vmap (shared and per-run
kernels), routed only where it is meant to be, and built safely."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from stylejax.networks import conv, onednn_build, onednn_conv

P1 = ((1, 1), (1, 1))


@pytest.fixture(scope="module", autouse=True)
def library():
  # `make` builds it; building here (a no-op when built) makes a failed build this test's failure.
  return onednn_build.build()


def _reference(x, k, stride, pads):
  return lax.conv_general_dilated(x, k, (stride, stride), pads, dimension_numbers=conv._DIMS,
                                  precision=lax.Precision.HIGHEST)


def _inputs(x_shape, k_shape, seed=0):
  kx, kk = jax.random.split(jax.random.PRNGKey(seed))
  return jax.random.normal(kx, x_shape), jax.random.normal(kk, k_shape) / np.sqrt(np.prod(k_shape[:3]))


def _close(actual, expected, what):
  expected = np.asarray(expected)
  np.testing.assert_allclose(np.asarray(actual), expected, rtol=0, atol=2e-5 * max(1.0, np.abs(expected).max()),
                             err_msg=what)


def _uses_onednn(fn, *args):
  return "stylejax_onednn_conv_forward" in jax.jit(fn).lower(*args).as_text()


# VGG's 3x3 and CycleGAN's 7x7 / stride-2 layers, tiny, with odd and asymmetric padding.
CASES = [((2, 9, 11, 5), (3, 3, 5, 8), 1, P1), ((1, 10, 7, 3), (7, 7, 3, 16), 2, ((3, 3), (3, 3))),
         ((3, 8, 8, 8), (3, 3, 8, 12), 2, ((0, 1), (0, 1))), ((1, 6, 7, 6), (1, 1, 6, 6), 1, ((0, 0), (0, 0)))]


@pytest.mark.parametrize("x_shape, k_shape, stride, pads", CASES)
def test_forward_and_both_gradients_equal_lax(x_shape, k_shape, stride, pads):
  x, k = _inputs(x_shape, k_shape)
  ours = lambda x, k: conv.conv2d(x, k, stride=stride, padding=pads)
  assert _uses_onednn(ours, x, k)
  grad_hlo = jax.jit(jax.grad(lambda x, k: jnp.sum(ours(x, k)), argnums=(0, 1))).lower(x, k).as_text()
  assert "stylejax_onednn_conv_kernel_grad" in grad_hlo
  # the input gradient of a layer with <= 4 input channels stays XLA's (onednn_conv.plan)
  assert ("stylejax_onednn_conv_input_grad" in grad_hlo) == (k_shape[2] > 4)
  _close(jax.jit(ours)(x, k), _reference(x, k, stride, pads), "forward")
  loss = lambda f: lambda x, k: jnp.sum(jnp.sin(f(x, k)))
  grads = jax.jit(jax.grad(loss(ours), argnums=(0, 1)))(x, k)
  expected = jax.grad(loss(lambda x, k: _reference(x, k, stride, pads)), argnums=(0, 1))(x, k)
  for name, a, e in zip(("input", "kernel"), grads, expected):
    _close(a, e, f"d/d{name}")


def test_vmap_over_images_kernels_and_both_nested():
  x, k = _inputs((2, 8, 9, 4), (3, 3, 4, 6))
  xs, ks = jnp.stack([x, 2 * x, -x]), jnp.stack([k, 0.5 * k, -k])
  conv_fn = lambda x, k: conv.conv2d(x, k, stride=2, padding=P1)
  ref = lambda x, k: _reference(x, k, 2, P1)
  _close(jax.vmap(conv_fn, (0, None))(xs, k), jnp.stack([ref(a, k) for a in xs]), "images batched")
  _close(jax.vmap(conv_fn, (None, 0))(x, ks), jnp.stack([ref(x, b) for b in ks]), "kernels batched")
  _close(jax.vmap(conv_fn)(xs, ks), jnp.stack([ref(a, b) for a, b in zip(xs, ks)]), "both batched")
  nested = jax.vmap(jax.vmap(conv_fn, (None, 0)), (0, None))(xs, ks)
  _close(nested, jnp.stack([jnp.stack([ref(a, b) for b in ks]) for a in xs]), "nested")
  # Gradients of a vmapped loss (a sweep's shape): the input gradient's FFI call is batched too.
  loss = lambda f: lambda x, k: jnp.sum(jnp.sin(f(x, k)))
  for in_axes, kernels in (((0, None), k), ((0, 0), ks)):
    ours = jax.jit(jax.vmap(jax.grad(loss(conv_fn), argnums=(0, 1)), in_axes))(xs, kernels)
    expected = jax.vmap(jax.grad(loss(ref), argnums=(0, 1)), in_axes)(xs, kernels)
    for a, e in zip(ours, expected):
      _close(a, e, f"vmapped gradients {in_axes}")


def test_second_order_through_the_input_gradient():
  """A gradient penalty differentiates both gradients (their derivatives are XLA's)."""
  x, k = _inputs((1, 7, 6, 4), (3, 3, 4, 6))
  def penalty(conv_fn):
    grads = jax.grad(lambda x, k: jnp.sum(jnp.sin(conv_fn(x, k))), argnums=(0, 1))
    return jax.grad(lambda x, k: sum(jnp.sum(g ** 2) for g in grads(x, k)), argnums=(0, 1))
  ours = jax.jit(penalty(lambda x, k: conv.conv2d(x, k, stride=2, padding=P1)))(x, k)
  for a, e in zip(ours, penalty(lambda x, k: _reference(x, k, 2, P1))(x, k)):
    _close(a, e, "second order")


def test_xla_keeps_the_convolutions_it_runs_faster_and_everything_when_told(monkeypatch):
  x, k = _inputs((1, 12, 12, 8), (3, 3, 8, 8))
  fresh = lambda: (lambda x, k: conv.conv2d(x, k, padding=P1))  # a new trace each time
  assert _uses_onednn(fresh(), x, k)
  few_out = _inputs((1, 12, 12, 8), (9, 9, 8, 3))
  few_out_conv = lambda x, k: conv.conv2d(x, k, padding=((4, 4), (4, 4)))
  assert not _uses_onednn(few_out_conv, *few_out)
  grads = jax.jit(jax.grad(lambda x, k: jnp.sum(few_out_conv(x, k)), argnums=(0, 1))).lower(*few_out).as_text()
  assert "stylejax_onednn_conv_input_grad" in grads and "stylejax_onednn_conv_kernel_grad" not in grads
  assert not _uses_onednn(fresh(), x.astype(jnp.bfloat16), k.astype(jnp.bfloat16))
  monkeypatch.setenv("STYLEJAX_CONV", "xla")
  assert not _uses_onednn(fresh(), x, k)


def test_repeated_calls_are_bit_identical_and_do_not_recompile():
  x, k = _inputs((2, 16, 16, 8), (3, 3, 8, 16))
  step = jax.jit(jax.grad(lambda x, k: jnp.sum(conv.conv2d(x, k, padding=P1) ** 2), argnums=(0, 1)))
  first = step(x, k)
  second = step(x, k)
  assert step._cache_size() == 1
  for a, b in zip(first, second):
    assert np.array_equal(np.asarray(a), np.asarray(b))


def test_build_compiles_under_a_versioned_name_and_reports_a_missing_compiler(tmp_path, monkeypatch):
  monkeypatch.setattr(onednn_build, "library_dirs", lambda: [tmp_path / "unwritable" / "x", tmp_path / "lib"])
  (tmp_path / "unwritable").write_text("a file, so no folder can be made under it")
  built = onednn_build.build()
  assert built == tmp_path / "lib" / onednn_build.library_name() and built.stat().st_size > 0
  assert not list((tmp_path / "lib").glob("*.partial"))  # the temporary name is gone
  monkeypatch.setattr(onednn_build, "library_dirs", lambda: [tmp_path / "empty"])
  monkeypatch.setenv("CXX", "no-such-compiler")
  with pytest.raises(RuntimeError, match="no C.. compiler"):
    onednn_build.build()
