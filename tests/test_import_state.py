"""Importing stylejax changes no global state (environment, XLA_FLAGS, JAX config, matplotlib's
backend); the entry points add the product's XLA flags (stylejax.runtime), and the user's win."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from stylejax import runtime

REPO = Path(__file__).resolve().parent.parent


def _python(script: str, **env) -> str:
  env = {**os.environ, "JAX_PLATFORMS": "cpu", **env}
  env = {name: value for name, value in env.items() if value is not None}  # None: unset
  result = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True,
                          timeout=300, cwd=REPO, env=env)
  assert result.returncode == 0, result.stderr[-3000:]
  return result.stdout


def test_importing_every_module_and_drawing_changes_no_global_state(tmp_path):
  # svg: a non-Agg backend that needs no display. jax itself sets two environment variables when
  # imported, and OpenCV (which tensorflow_datasets imports when it is installed) sets
  # LD_LIBRARY_PATH, so the snapshot is taken after importing them.
  _python(f"""
      import importlib, os, pkgutil
      import jax, matplotlib
      try:
        import cv2
      except ImportError:
        pass
      import numpy as np
      environ, config = dict(os.environ), dict(jax.config.values)
      import stylejax
      for module in pkgutil.walk_packages(stylejax.__path__, "stylejax."):
        importlib.import_module(module.name)
      from stylejax.evaluation import figures
      image = np.full((8, 8, 3), 0.5)
      figures.summary_figure(image, [image], image, [{{"step": 1, "total": 2.0, "content": 1.0,
                                                      "style": 1.0, "tv": 0.0}}], r"{tmp_path}/f.png")
      assert open(r"{tmp_path}/f.png", "rb").read(4) == b"\\x89PNG"
      assert dict(os.environ) == environ, set(os.environ.items()) ^ set(environ.items())
      assert dict(jax.config.values) == config
      assert matplotlib.rcParams["backend"] == "svg" and matplotlib.get_backend() == "svg"
      """, XLA_FLAGS="--xla_cpu_enable_fast_min_max=true", MPLBACKEND="svg")


def test_configure_appends_the_product_flags_and_the_users_win(monkeypatch):
  monkeypatch.setattr(runtime, "_backend_initialized", lambda: False)
  monkeypatch.setenv("XLA_FLAGS", "--xla_a=user  --xla_c")
  runtime.configure(["--xla_a=product", "--xla_b=product"], environment={})
  assert os.environ["XLA_FLAGS"] == "--xla_a=user --xla_c --xla_b=product"
  runtime.configure(["--xla_a=product", "--xla_b=product"], environment={})  # again: nothing added twice
  assert os.environ["XLA_FLAGS"] == "--xla_a=user --xla_c --xla_b=product"
  monkeypatch.delenv("XLA_FLAGS")
  runtime.configure([], environment={})
  assert "XLA_FLAGS" not in os.environ
  runtime.configure(["--xla_b=1"], environment={})
  assert os.environ["XLA_FLAGS"] == "--xla_b=1"


def test_configure_sets_environment_variables_the_user_has_not(monkeypatch):
  monkeypatch.setenv("STYLEJAX_TEST_USER", "user")
  monkeypatch.delenv("STYLEJAX_TEST_NEW", raising=False)
  runtime.configure([], environment={"STYLEJAX_TEST_USER": ("product", "no_such_module"),
                                     "STYLEJAX_TEST_NEW": ("product", "no_such_module")})
  assert os.environ["STYLEJAX_TEST_USER"] == "user" and os.environ["STYLEJAX_TEST_NEW"] == "product"


def test_configure_too_late_warns_and_changes_nothing(monkeypatch):
  import jax  # pylint: disable=import-outside-toplevel
  jax.devices()  # creates the backend, which has read XLA_FLAGS for good
  monkeypatch.setenv("XLA_FLAGS", "--xla_c")
  with pytest.warns(RuntimeWarning, match="backend is already initialised"):
    runtime.configure(["--xla_b=1"], environment={})
  assert os.environ["XLA_FLAGS"] == "--xla_c"
  monkeypatch.delenv("STYLEJAX_TEST_NEW", raising=False)
  with pytest.warns(RuntimeWarning, match="os is already loaded"):
    runtime.configure([], environment={"STYLEJAX_TEST_NEW": ("product", "os")})
  assert "STYLEJAX_TEST_NEW" not in os.environ


@pytest.mark.parametrize("entry_point", ["cli", "absl"])
def test_entry_points_apply_the_product_flags_before_jax_starts(entry_point):
  # Real XLA flags, so that the backend started at the end accepts them; the user's fast_min_max wins.
  out = _python(f"""
      import os
      from stylejax import runtime
      runtime.XLA_FLAGS = ("--xla_cpu_enable_fast_min_max=false", "--xla_cpu_enable_fast_math=false")
      if "{entry_point}" == "cli":
        from stylejax.cli import main
        assert main(["weights", "list"]) == 0
      else:
        from absl import flags
        from stylejax import main as entry
        flags.FLAGS(["stylejax", "--config=no_such_config", "--workdir=unused"])
        try:
          entry.main(["stylejax"])  # configures, then fails on the config: one line, exit 2
        except SystemExit as e:
          assert e.code == 2
      from jax._src import xla_bridge
      assert not xla_bridge.backends_are_initialized()
      print("XLA_FLAGS=" + os.environ["XLA_FLAGS"])
      print("OPENBLAS_NUM_THREADS=" + os.environ["OPENBLAS_NUM_THREADS"])
      import jax
      jax.devices()
      """, XLA_FLAGS="--xla_cpu_enable_fast_min_max=true", OPENBLAS_NUM_THREADS=None)
  assert "XLA_FLAGS=--xla_cpu_enable_fast_min_max=true --xla_cpu_enable_fast_math=false" in out
  assert "OPENBLAS_NUM_THREADS=1" in out


def test_a_remat_run_gets_the_low_memory_scheduler_before_jax_starts(tmp_path):
  # The flag is read once, when the backend starts: it must be set by the time the run begins.
  out = _python(f"""
      import os, warnings
      warnings.simplefilter("error", RuntimeWarning)  # 'too late' would be a warning
      from stylejax.cli import main
      assert main(["stylize", "astronaut", "starry_night", "--config", "testing", "--workdir",
                   r"{tmp_path}/run", "--set", "loss.network.remat=True", "--set", "optim.steps=1",
                   "--set", "image_size=32", "--quiet"]) == 0
      print("XLA_FLAGS=" + os.environ.get("XLA_FLAGS", ""))
      """)  # the inherited XLA_FLAGS (conftest's fast compile) stay, and the low-memory ones follow
  users = os.environ.get("XLA_FLAGS", "")
  assert f"XLA_FLAGS={' '.join([users, *runtime.LOW_MEMORY_XLA_FLAGS]).strip()}\n" in out


def test_configure_for_adds_the_low_memory_flags_only_for_remat(monkeypatch):
  import ml_collections  # pylint: disable=import-outside-toplevel
  monkeypatch.setattr(runtime, "_backend_initialized", lambda: False)
  monkeypatch.delenv("XLA_FLAGS", raising=False)
  config = ml_collections.ConfigDict({"loss": {"network": {"remat": False}}})
  runtime.configure_for(config)
  assert "XLA_FLAGS" not in os.environ
  runtime.configure_for(ml_collections.ConfigDict({"task": "train"}))  # no loss network at all
  assert "XLA_FLAGS" not in os.environ
  config.loss.network.remat = True
  runtime.configure_for(config)
  assert os.environ["XLA_FLAGS"] == " ".join(runtime.LOW_MEMORY_XLA_FLAGS)



_ALLOCATION_SCRIPT = """
    import ctypes, sys
    import numpy as np
    from stylejax import runtime
    class Mallinfo2(ctypes.Structure):
      _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                                                       "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
    mallinfo2 = ctypes.CDLL(None).mallinfo2
    mallinfo2.restype = Mallinfo2
    if sys.argv[1] == "configure":
      print("applied" if runtime.configure_allocator(runtime.HOST_ALLOCATOR) else "left alone")
    buffer = np.ones(64 << 20, np.uint8)  # 64 MiB: above glibc's largest dynamic mmap threshold
    mapped = mallinfo2().hblkhd  # bytes in blocks mapped on their own (unmapped when freed)
    del buffer
    print(mapped >> 20, mallinfo2().arena >> 20)  # MiB mapped alone; MiB the heap keeps after the free
    """


def _allocation(mode: str, **env) -> tuple[str, int, int]:
  env = {**os.environ, **env}
  env = {name: value for name, value in env.items() if value is not None}
  result = subprocess.run([sys.executable, "-c", textwrap.dedent(_ALLOCATION_SCRIPT), mode], capture_output=True,
                          text=True, timeout=120, cwd=REPO, env=env)
  assert result.returncode == 0, result.stderr[-3000:]
  *said, sizes = result.stdout.strip().split("\n")
  mapped, kept = (int(v) for v in sizes.split())
  return " ".join(said), mapped, kept


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator (mallopt): Linux only")
def test_the_host_allocator_keeps_a_freed_buffer_for_the_next_call_and_the_users_setting_wins():
  # By default glibc maps a 64 MiB buffer on its own and unmaps it when freed (its pages fault in
  # afresh on the next call); with HOST_ALLOCATOR it comes from the heap, which keeps it.
  unset = dict.fromkeys(("MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES"))
  said, mapped, kept = _allocation("default", **unset)
  assert (said, mapped >= 64, kept < 64) == ("", True, True), (said, mapped, kept)
  said, mapped, kept = _allocation("configure", **unset)
  assert (said, mapped) == ("applied", 0) and kept >= 64, (said, mapped, kept)
  said, mapped, kept = _allocation("configure", **{**unset, "MALLOC_ARENA_MAX": "4"})
  assert (said, mapped >= 64, kept < 64) == ("left alone", True, True), (said, mapped, kept)
