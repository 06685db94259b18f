"""Bad weight files: malicious pickles, truncation, tampering, wrong architecture, failed downloads."""

import io
import os
import pickle
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from stylejax.io import weights
from stylejax.errors import StylejaxError

from conftest import random_params, write_keras_h5, write_lpips_pickle, write_torch


class _Payload:
  """Unpickling this would run a shell command that creates a marker file."""

  def __init__(self, marker):
    self.marker = marker

  def __reduce__(self):
    return (os.system, (f"touch {self.marker}",))


def _malicious_torch_zip(path, marker):
  """A torch-format zip whose data.pkl carries the payload next to a real-looking state dict."""
  data = pickle.dumps({"features.0.weight": _Payload(marker)}, protocol=2)
  with zipfile.ZipFile(path, "w") as z:
    z.writestr("archive/data.pkl", data)
    z.writestr("archive/version", "3\n")


@pytest.mark.parametrize("kind", ["ckpt", "torch_zip", "torch_legacy"])
def test_malicious_pickle_is_refused_and_nothing_runs(tmp_path, kind):
  marker = tmp_path / "pwned"
  if kind == "ckpt":
    path = tmp_path / "vgg16.ckpt"
    path.write_bytes(pickle.dumps({"VGG16_0": _Payload(marker)}))
  elif kind == "torch_zip":
    path = tmp_path / "vgg19-dcbb9e9d.pth"
    _malicious_torch_zip(path, marker)
  else:  # legacy stream: magic number first, then the payload
    path = tmp_path / "vgg19-d01eb7cb.pth"
    path.write_bytes(pickle.dumps(0x1950A86A20F9469CFC6C) + pickle.dumps(_Payload(marker)))
  with pytest.raises(StylejaxError, match="refusing to load"):
    weights.read_weight_file(path)
  assert not marker.exists()


def _valid_file(tmp_path, kind):
  params = random_params("vgg16", seed=3)
  if kind == "torch_zip":
    path = tmp_path / "vgg16-397923af.pth"
    write_torch(params, "vgg16", path)
  elif kind == "torch_legacy":
    path = tmp_path / "vgg16-00b39a1b.pth"
    write_torch(params, "vgg16", path, legacy=True)
  elif kind == "keras":
    path = tmp_path / "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
    write_keras_h5(params, "vgg16", path)
  elif kind == "lpips":
    path = tmp_path / "vgg16.ckpt"
    write_lpips_pickle(params, path)
  else:
    source = tmp_path / "vgg16-397923af.pth"
    write_torch(params, "vgg16", source)
    path = weights.import_weights(source)
  return path


KINDS = ["torch_zip", "torch_legacy", "keras", "lpips", "safetensors"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("keep", [0.5, 0.02])
def test_truncated_file_is_a_clear_error(tmp_path, kind, keep):
  path = _valid_file(tmp_path, kind)
  data = path.read_bytes()
  path.write_bytes(data[: int(len(data) * keep)])
  with pytest.raises(StylejaxError) as info:
    weights.read_weight_file(path)
  assert str(path) in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("kind", KINDS)
def test_random_bytes_are_a_clear_error(tmp_path, kind):
  path = _valid_file(tmp_path, kind)
  path.write_bytes(np.random.default_rng(0).bytes(5000))
  with pytest.raises(StylejaxError):
    weights.read_weight_file(path)


def test_tampered_cache_file_fails_its_sha256(tmp_path):
  path = _valid_file(tmp_path, "safetensors")
  tensors = load_file(str(path))
  from safetensors import safe_open
  with safe_open(str(path), framework="np") as f:
    metadata = f.metadata()
  tensors["conv3_1/kernel"][0, 0, 0, 0] += 0.5  # one changed weight, metadata left as it was
  save_file(tensors, str(path), metadata=metadata)
  with pytest.raises(StylejaxError, match="sha256"):
    weights.load_cache_file(path)
  (name, result), = weights.verify_cache()
  assert name == path.name and "sha256" in result


@pytest.mark.parametrize("kind", ["torch_zip", "keras", "lpips", "safetensors"])
def test_wrong_architecture_is_a_clear_error(tmp_path, kind):
  path = _valid_file(tmp_path, kind)  # VGG16 weights
  with pytest.raises(StylejaxError, match="vgg16 weights .* but vgg19 was asked for"):
    weights.read_weight_file(path, arch="vgg19")


def test_missing_layer_is_a_clear_error(tmp_path):
  params = random_params("vgg19", seed=4)
  path = tmp_path / "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"
  write_keras_h5(params, "vgg19", path)
  import h5py
  with h5py.File(path, "a") as f:
    del f["block3_conv2"]
  with pytest.raises(StylejaxError, match="neither VGG16 .* nor VGG19"):
    weights.read_weight_file(path)


def test_ambiguous_pth_name_asks_for_format(tmp_path):
  path = tmp_path / "weights.pth"
  write_torch(random_params("vgg16"), "vgg16", path)
  with pytest.raises(StylejaxError, match="--format"):
    weights.read_weight_file(path)


def _fake_source(monkeypatch, tmp_path, digest_of=None):
  """Points vgg16-torchvision at a file:// URL holding a test-written file."""
  served = tmp_path / "served" / "vgg16-397923af.pth"
  served.parent.mkdir()
  write_torch(random_params("vgg16", seed=5), "vgg16", served)
  import hashlib
  digest = hashlib.sha256((digest_of or served).read_bytes()).hexdigest()[:8]
  source = weights.SOURCES["vgg16-torchvision"]
  fake = weights.WeightSource(source.name, source.arch, source.format, served.as_uri(),
                              source.filename, f"sha256:{digest}")
  monkeypatch.setitem(weights.SOURCES, source.name, fake)
  return served


def test_download_checks_digest_and_writes_cache(tmp_path, monkeypatch, isolated_cache):
  _fake_source(monkeypatch, tmp_path)
  path = weights.download("vgg16-torchvision", progress=False)
  assert path == isolated_cache / "vgg16-torchvision.safetensors"
  assert [p.name for p in isolated_cache.iterdir()] == [path.name]  # no temporary files left
  loaded = weights.load_vgg("vgg16-torchvision", arch="vgg16")  # now resolved from the cache
  assert loaded.arch == "vgg16" and loaded.source == "vgg16-torchvision"


def test_download_with_wrong_digest_writes_nothing(tmp_path, monkeypatch, isolated_cache):
  other = tmp_path / "other.bin"
  other.write_bytes(b"something else")
  _fake_source(monkeypatch, tmp_path, digest_of=other)
  with pytest.raises(StylejaxError, match="sha256"):
    weights.download("vgg16-torchvision", progress=False)
  assert list(isolated_cache.iterdir()) == []  # neither a cache file nor a leftover download


def test_offline_and_uncached_names_both_fixes(monkeypatch, tmp_path):
  source = weights.SOURCES["vgg19-torchvision"]
  monkeypatch.setitem(weights.SOURCES, source.name, weights.WeightSource(
      source.name, source.arch, source.format, (tmp_path / "unreachable.pth").as_uri(),
      source.filename, source.digest))
  with pytest.raises(StylejaxError) as info:
    weights.load_vgg("vgg19-torchvision")
  message = str(info.value)
  assert "stylejax weights import" in message and "vgg16-lpips" in message


def test_resolution_prefers_explicit_path_over_cache(tmp_path):
  params = random_params("vgg16", seed=6)
  path = tmp_path / "vgg16-397923af.pth"
  write_torch(params, "vgg16", path)
  loaded = weights.load_vgg(str(path))
  np.testing.assert_array_equal(loaded.params["conv1_1"]["bias"], params["conv1_1"]["bias"])


def _cli(*args, env_cache):
  env = dict(os.environ, STYLEJAX_CACHE=str(env_cache))
  return subprocess.run([sys.executable, "-m", "stylejax.cli", *args], capture_output=True, text=True,
                        env=env, timeout=300)


def test_cli_import_of_malicious_file_exits_2_with_one_line(tmp_path, isolated_cache):
  marker = tmp_path / "pwned"
  path = tmp_path / "vgg19-dcbb9e9d.pth"
  _malicious_torch_zip(path, marker)
  result = _cli("weights", "import", str(path), env_cache=isolated_cache)
  assert result.returncode == 2
  assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
  assert "refusing to load" in result.stderr
  assert not marker.exists() and not isolated_cache.exists()


def test_cli_import_list_verify(tmp_path, isolated_cache, cli_in_process):
  path = tmp_path / "vgg16-397923af.pth"
  write_torch(random_params("vgg16", seed=8), "vgg16", path)
  assert cli_in_process("weights", "import", path).returncode == 0
  listing = cli_in_process("weights", "list").stdout
  assert any(line.split()[0] == "vgg16-torchvision" and line.split()[-1] == "cached"
             for line in listing.splitlines()[1:])
  verify = cli_in_process("weights", "verify")
  assert verify.returncode == 0 and "vgg16-torchvision.safetensors: ok" in verify.stdout
  cached = isolated_cache / "vgg16-torchvision.safetensors"
  data = bytearray(cached.read_bytes())
  data[-100] ^= 0xFF  # flip bits in the last tensor's data
  cached.write_bytes(bytes(data))
  verify = cli_in_process("weights", "verify")
  assert verify.returncode == 2 and "sha256" in verify.stdout and "Traceback" not in verify.stderr
