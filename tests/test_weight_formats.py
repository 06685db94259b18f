"""Every weight format, written by the test with random weights, against an independent torch VGG.

Each case also checks the preprocessing contract: stylejax is fed RGB [0, 1]; the reference gets
the source's documented transform written out by hand in stylejax/reference/torch_twin.py.
"""

import jax.numpy as jnp
import numpy as np
import pytest
import torch

from stylejax.io import weights
from stylejax.networks import vgg

from conftest import (random_params, torchvision_state_dict, write_keras_h5, write_lpips_pickle,
                      write_torch)
from stylejax.reference.torch_twin import documented_preprocessing, torch_features

CASES = [  # (format, arch, writer, file name)
    ("torchvision", "vgg19", lambda p, a, f: write_torch(p, a, f), "vgg19-dcbb9e9d.pth"),
    ("torchvision", "vgg16", lambda p, a, f: write_torch(p, a, f), "vgg16-397923af.pth"),
    ("keras", "vgg19", write_keras_h5, "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    ("keras", "vgg16", write_keras_h5, "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    # jcjohnson's files were written by old torch, in the legacy (non-zip) format.
    ("caffe-jcjohnson", "vgg19", lambda p, a, f: write_torch(p, a, f, legacy=True), "vgg19-d01eb7cb.pth"),
    ("caffe-jcjohnson", "vgg16", lambda p, a, f: write_torch(p, a, f, legacy=True), "vgg16-00b39a1b.pth"),
    ("caffe-pystiche", "vgg19", lambda p, a, f: write_torch(p, a, f), "vgg19-74e45263.pth"),
    ("lpips", "vgg16", lambda p, a, f: write_lpips_pickle(p, f), "vgg16.ckpt"),
]


def _compare_all_activations(loaded, params, fmt, arch):
  rng = np.random.default_rng(7)
  x = rng.random((2, 36, 36, 3), dtype=np.float32)
  names = vgg.layer_names(arch)
  ours = vgg.features(loaded.params, jnp.asarray(x), names, arch=loaded.arch,
                      preprocessing=loaded.preprocessing)
  ref = torch_features(torchvision_state_dict(params, arch), arch, documented_preprocessing(fmt, x))
  for name in names:
    scale = np.abs(ref[name]).max() + 1e-6
    np.testing.assert_allclose(np.asarray(ours[name]) / scale, ref[name] / scale, atol=3e-5,
                               err_msg=f"{fmt} {arch} {name}")


@pytest.mark.parametrize("fmt,arch,write,filename", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_format_matches_torch_reference(tmp_path, fmt, arch, write, filename):
  params = random_params(arch, seed=11)
  path = tmp_path / filename
  write(params, arch, path)
  loaded = weights.read_weight_file(path)  # format guessed from the canonical file name
  assert loaded.arch == arch
  _compare_all_activations(loaded, params, fmt, arch)


@pytest.mark.parametrize("fmt,arch,write,filename", CASES[:3], ids=[f"{c[0]}-{c[1]}" for c in CASES[:3]])
def test_import_into_cache_round_trips(tmp_path, isolated_cache, fmt, arch, write, filename):
  params = random_params(arch, seed=12)
  path = tmp_path / filename
  write(params, arch, path)
  cached = weights.import_weights(path)
  assert cached.parent == isolated_cache and cached.suffix == ".safetensors"
  loaded = weights.load_cache_file(cached)
  assert loaded.preprocessing == weights.read_weight_file(path).preprocessing
  _compare_all_activations(loaded, params, fmt, arch)
  assert weights.verify_cache() == [(cached.name, "ok")]


def test_explicit_format_overrides_the_name(tmp_path):
  params = random_params("vgg16", seed=13)
  path = tmp_path / "my_vgg.pth"
  write_torch(params, "vgg16", path)
  loaded = weights.read_weight_file(path, fmt="caffe-jcjohnson")
  _compare_all_activations(loaded, params, "caffe-jcjohnson", "vgg16")


def test_preprocessing_contract_for_caffe_source_is_not_torchvision(tmp_path):
  """Feeding Caffe weights torchvision normalisation (a known bug elsewhere) must not match."""
  params = random_params("vgg19", seed=14)
  path = tmp_path / "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"
  write_keras_h5(params, "vgg19", path)
  loaded = weights.read_weight_file(path)
  x = np.random.default_rng(0).random((1, 32, 32, 3), dtype=np.float32)
  ours = np.asarray(vgg.features(loaded.params, jnp.asarray(x), ["conv1_1"], arch="vgg19",
                                 preprocessing=loaded.preprocessing)["conv1_1"])
  wrong = torch_features(torchvision_state_dict(params, "vgg19"), "vgg19",
                         documented_preprocessing("torchvision", x))["conv1_1"]
  right = torch_features(torchvision_state_dict(params, "vgg19"), "vgg19",
                         documented_preprocessing("keras", x))["conv1_1"]
  assert np.abs(ours - right).max() < 1e-3 * np.abs(right).max()
  assert np.abs(ours - wrong).max() > 0.1 * np.abs(right).max()
