"""The Flax VGG itself: names, truncation, jit/vmap/grad, pooling and padding options."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from stylejax.networks import vgg
from stylejax.networks import preprocessing
from stylejax.errors import StylejaxError

from conftest import random_params, torchvision_state_dict
from stylejax.reference.torch_twin import torch_features


def test_layer_names_follow_the_papers():
  names = vgg.layer_names("vgg19")
  assert names[:5] == ("conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1")
  assert "conv5_4" in names and "relu5_4" in names and names[-1] == "pool5"
  assert len([n for n in names if n.startswith("conv")]) == 16
  assert "conv5_4" not in vgg.layer_names("vgg16") and "conv5_3" in vgg.layer_names("vgg16")


def _count_convs(fn, *args):
  jaxpr = str(jax.make_jaxpr(fn)(*args))  # XLA's convolutions and oneDNN's (stylejax.networks.onednn_conv)
  return jaxpr.count("conv_general_dilated") + jaxpr.count("stylejax_onednn_conv_forward")


@pytest.mark.parametrize("layers,expected", [(["relu1_1"], 1), (["conv2_1"], 3), (["pool3", "relu1_2"], 8),
                                             (["conv5_1"], 13), (["relu5_4"], 16)])
def test_network_stops_at_the_deepest_layer_asked_for(vgg19_params, layers, expected):
  x = jnp.zeros((1, 32, 32, 3))
  fn = lambda p, x: vgg.features(p, x, layers, arch="vgg19", preprocessing=preprocessing.TORCHVISION)
  assert _count_convs(fn, vgg19_params, x) == expected


def test_unknown_layer_is_a_clear_error(vgg19_params):
  with pytest.raises(StylejaxError, match="unknown vgg19 layer"):
    vgg.features(vgg19_params, jnp.zeros((1, 32, 32, 3)), ["conv6_1"], arch="vgg19",
                 preprocessing=preprocessing.TORCHVISION)


@pytest.mark.parametrize("pooling", ["max", "avg"])
@pytest.mark.parametrize("padding", ["zero", "reflect"])
def test_pooling_and_padding_match_torch(vgg16_params, pooling, padding):
  rng = np.random.default_rng(0)
  x = rng.random((2, 37, 45, 3), dtype=np.float32)  # odd sizes: floor pooling like torch
  ours = vgg.features(vgg16_params, jnp.asarray(x), vgg.layer_names("vgg16"), arch="vgg16",
                      preprocessing=preprocessing.Preprocessing(), pooling=pooling, padding=padding)
  ref = torch_features(torchvision_state_dict(vgg16_params, "vgg16"), "vgg16",
                       torch.from_numpy(x).permute(0, 3, 1, 2), pooling=pooling, padding=padding)
  for name in vgg.layer_names("vgg16"):
    scale = np.abs(ref[name]).max() + 1e-6
    np.testing.assert_allclose(np.asarray(ours[name]) / scale, ref[name] / scale, atol=2e-5, err_msg=name)


def _loss(params, image):
  acts = vgg.features(params, image, ["relu3_1", "conv4_2"], arch="vgg16",
                      preprocessing=preprocessing.LPIPS)
  return sum(jnp.mean(a**2) for a in acts.values())


def test_jit_equals_eager(vgg16_params):
  x = jnp.asarray(np.random.default_rng(1).random((1, 48, 48, 3), dtype=np.float32))
  np.testing.assert_allclose(jax.jit(_loss)(vgg16_params, x), _loss(vgg16_params, x), rtol=1e-5)


def test_vmap_over_single_images_equals_batch(vgg16_params):
  x = jnp.asarray(np.random.default_rng(2).random((3, 40, 40, 3), dtype=np.float32))
  layers = ["relu2_2", "pool4"]
  fn = lambda img: vgg.features(vgg16_params, img, layers, arch="vgg16",
                                preprocessing=preprocessing.TORCHVISION)
  batched, mapped = jax.jit(fn)(x), jax.jit(jax.vmap(fn))(x)  # eager: ~90 small compiles
  for name in layers:
    np.testing.assert_allclose(mapped[name], batched[name], rtol=1e-5, atol=1e-5)


def test_grad_wrt_image_is_finite_and_nonzero(vgg16_params):
  x = jnp.asarray(np.random.default_rng(3).random((48, 48, 3), dtype=np.float32))
  g = jax.jit(jax.grad(_loss, argnums=1))(vgg16_params, x)
  assert g.shape == x.shape
  assert bool(jnp.all(jnp.isfinite(g))) and float(jnp.abs(g).max()) > 0


def test_vmap_of_grad_is_finite(vgg16_params):
  x = jnp.asarray(np.random.default_rng(4).random((2, 40, 40, 3), dtype=np.float32))
  g = jax.jit(jax.vmap(jax.grad(_loss, argnums=1), in_axes=(None, 0)))(vgg16_params, x)  # eager: ~25 s
  assert g.shape == x.shape and bool(jnp.all(jnp.isfinite(g)))


def test_init_params_has_the_canonical_shapes():
  params = vgg.init_params(jax.random.key(0), "vgg19")
  for name, (kshape, bshape) in vgg.conv_shapes("vgg19").items():
    assert params[name]["kernel"].shape == kshape and params[name]["bias"].shape == bshape


def test_remat_equals_no_remat_in_value_and_gradient(vgg16_params):
  """Checkpointed blocks recompute the same ops: features and the image gradient are bit-identical
  (reflect padding: the pad sits inside the checkpointed blocks too)."""
  x = jnp.asarray(np.random.default_rng(5).random((2, 20, 24, 3), dtype=np.float32))
  layers = ["relu1_1", "conv2_2", "relu3_1"]  # three blocks, two block boundaries (pool1, pool2)

  def loss(image, remat):
    acts = vgg.features(vgg16_params, image, layers, arch="vgg16", preprocessing=preprocessing.LPIPS,
                        padding="reflect", remat=remat)
    return sum(jnp.mean(a**2) for a in acts.values()), acts

  (plain, plain_acts), plain_grad = jax.jit(jax.value_and_grad(lambda i: loss(i, False), has_aux=True))(x)
  (remat, remat_acts), remat_grad = jax.jit(jax.value_and_grad(lambda i: loss(i, True), has_aux=True))(x)
  assert float(plain) == float(remat)
  for name in layers:
    np.testing.assert_array_equal(np.asarray(plain_acts[name]), np.asarray(remat_acts[name]), err_msg=name)
  np.testing.assert_array_equal(np.asarray(plain_grad), np.asarray(remat_grad))
