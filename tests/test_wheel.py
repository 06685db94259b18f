"""stylejax as a user installs it: a wheel of this tree, installed without the checkout, runs a shipped
config (whose bases it imports) from a folder that is not the checkout."""

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
HERMETIC = Path(__file__).resolve().parent / "hermetic"  # the network guard, as in every subprocess


def _pip(*args, cwd):
  result = subprocess.run([sys.executable, "-m", "pip", *args, "--no-deps", "--no-index", "--quiet",
                           "--disable-pip-version-check"], capture_output=True, text=True, timeout=600, cwd=cwd)
  assert result.returncode == 0, result.stderr
  return result


@pytest.mark.slow
def test_the_wheel_runs_the_quickstart_config_without_the_checkout(tmp_path):
  # Built from a copy: pip builds in the source folder, and a build/ left in the checkout would carry
  # modules deleted since into the next wheel.
  source = tmp_path / "source"
  source.mkdir()
  for name in ("pyproject.toml", "README.md"):
    shutil.copy(REPO / name, source / name)
  shutil.copytree(REPO / "stylejax", source / "stylejax", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
  _pip("wheel", "--no-build-isolation", "-w", str(tmp_path / "dist"), ".", cwd=source)
  [wheel] = (tmp_path / "dist").glob("stylejax-*.whl")

  # Every module (a folder without __init__.py would be left out), the configs and the paintings.
  shipped = set(zipfile.ZipFile(wheel).namelist())
  tree = {p.relative_to(source).as_posix() for p in (source / "stylejax").rglob("*") if p.is_file()}
  assert not tree - shipped, f"in the tree, not in the wheel: {sorted(tree - shipped)}"
  assert {"stylejax/configs/quickstart.py", "stylejax/configs/base.py", "stylejax/assets/starry_night.jpg"} <= shipped

  site = tmp_path / "site"
  _pip("install", "--target", str(site), str(wheel), cwd=tmp_path)
  elsewhere = tmp_path / "elsewhere"
  elsewhere.mkdir()
  env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), str(HERMETIC)]))
  where = subprocess.run([sys.executable, "-c", "import stylejax.configs.base as b, stylejax; "
                          "print(stylejax.__file__); print(b.__file__)"],
                         capture_output=True, text=True, cwd=elsewhere, env=env, check=True).stdout.split()
  assert all(Path(p).is_relative_to(site) for p in where), where

  # The installed console script, the shipped quickstart config (it imports its base), 32 px, 3 steps.
  result = subprocess.run([str(site / "bin" / "stylejax"), "stylize", "astronaut", "starry_night", "--workdir", "run",
                           "--config", "quickstart", "--set", "image_size=32", "--set", "optim.steps=3", "--quiet"],
                          capture_output=True, text=True, cwd=elsewhere, env=env, timeout=600)
  assert result.returncode == 0, result.stderr
  assert (elsewhere / "run" / "final.png").stat().st_size > 0
