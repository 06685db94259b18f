"""Builds `onednn_conv.cc` into a shared library against the oneDNN of the PyPI `onednn-cpu-gomp` and
`onednn-devel-cpu-gomp` wheels (installed into the environment's `lib/` and `include/`) and JAX's
FFI headers. `make` runs it after installing; `pip install .` users run

    python -m stylejax.networks.onednn_build

Without the library (no C++ compiler, a read-only environment) every convolution stays on XLA.
The library's name carries a hash of the source and the versions it was built against, so an upgrade
of either builds a new one instead of loading a stale one.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

import jax

SOURCE = Path(__file__).with_name("onednn_conv.cc")
ONEDNN_LIB_DIR = Path(sys.prefix) / "lib"
ONEDNN_INCLUDE_DIR = Path(sys.prefix) / "include"


def _version(dist: str) -> str:
  try:
    return metadata.version(dist)
  except metadata.PackageNotFoundError:
    return "absent"


def library_name() -> str:
  digest = hashlib.sha256(SOURCE.read_bytes())
  digest.update(f"jaxlib={_version('jaxlib')} onednn={_version('onednn-cpu-gomp')}".encode())
  return f"onednn_conv-{digest.hexdigest()[:16]}.so"


def library_dirs() -> list[Path]:
  """Where a built library lives: beside oneDNN in the environment, else the user's cache."""
  cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "stylejax"
  return [ONEDNN_LIB_DIR / "stylejax", cache]


def built_library() -> Path | None:
  name = library_name()
  return next((d / name for d in library_dirs() if (d / name).is_file()), None)


def build() -> Path:
  """Compiles the library (once per source and versions) and returns its path; RuntimeError (one line)
  when it cannot be built here."""
  found = built_library()
  if found is not None:
    return found
  compiler = os.environ.get("CXX", "g++")
  if shutil.which(compiler) is None:
    raise RuntimeError(f"no C++ compiler ({compiler}) on PATH")
  if not (ONEDNN_INCLUDE_DIR / "oneapi" / "dnnl" / "dnnl.hpp").is_file():
    raise RuntimeError(f"oneDNN headers missing under {ONEDNN_INCLUDE_DIR} (pip install onednn-devel-cpu-gomp)")
  if not (ONEDNN_LIB_DIR / "libdnnl.so.3").is_file():
    raise RuntimeError(f"libdnnl.so.3 missing in {ONEDNN_LIB_DIR} (pip install onednn-cpu-gomp)")
  errors = []
  for directory in library_dirs():
    try:
      directory.mkdir(parents=True, exist_ok=True)
      return _compile(compiler, directory / library_name())
    except OSError as e:  # not writable: try the next place
      errors.append(f"{directory}: {e.strerror or e}")
  raise RuntimeError("cannot write the library: " + "; ".join(errors))


def _compile(compiler: str, target: Path) -> Path:
  # Compiled beside the target under a temporary name and renamed: a concurrent build or a killed
  # one never leaves a half-written library under the name that is loaded.
  fd, partial = tempfile.mkstemp(dir=target.parent, suffix=".so.partial")
  os.close(fd)
  command = [compiler, "-O2", "-std=c++17", "-shared", "-fPIC", f"-I{ONEDNN_INCLUDE_DIR}",
             f"-I{jax.ffi.include_dir()}", str(SOURCE), f"-L{ONEDNN_LIB_DIR}", "-l:libdnnl.so.3",
             f"-Wl,-rpath,{ONEDNN_LIB_DIR}", "-o", partial]
  try:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
      raise RuntimeError(f"{compiler} failed: {result.stderr.strip().splitlines()[-1] if result.stderr else ''}")
    os.chmod(partial, 0o755)
    os.replace(partial, target)
    for stale in target.parent.glob("onednn_conv-*.so"):  # built from an older source or versions
      if stale != target:
        stale.unlink(missing_ok=True)
  finally:
    if os.path.exists(partial):
      os.unlink(partial)
  return target


def main() -> int:
  try:
    path = build()
  except RuntimeError as e:
    print(f"stylejax: oneDNN convolution not built ({e}); convolutions stay on XLA", file=sys.stderr)
    return 1
  print(f"stylejax: oneDNN convolution library at {path}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
