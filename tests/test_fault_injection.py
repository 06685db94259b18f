"""Fault injection on the artifacts stylejax reads, beyond training checkpoints and retrieval indexes
(tests/test_checkpoint_faults.py, tests/test_retrieval_faults.py): the weight cache, a pixel run's
workdir, a sweep's run folders, a training run's metrics.jsonl and config.json, and a killed run's
staging folder. For each damage: exit 2, one line naming the file, no traceback, the other files'
bytes unchanged, and the documented recovery works.

Commands run in-process (`cli.main`); only the killed stylize is a subprocess. One tiny finished run
of each kind is made per module and copied per test.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from stylejax import cli
from stylejax.io import weights

from conftest import random_params, write_torch

PIXEL = ["--config", "testing", "--set", "image_size=32", "--set", "optim.steps=3", "--quiet"]
TRAIN = ["--config", "cin_testing", "--set", "optim.steps=2", "--set", "data.image_size=32", "--set", "style_size=32",
         "--set", "eval_size=32", "--quiet"]


def _truncate(path: Path) -> None:
  path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _flip(path: Path, where: float = 0.5) -> None:
  data = bytearray(path.read_bytes())
  data[int(len(data) * where)] ^= 0xFF
  path.write_bytes(bytes(data))


DAMAGE = {"truncated": _truncate, "flipped byte": _flip, "empty": lambda p: p.write_bytes(b""),
          "deleted": lambda p: p.unlink()}


def _snapshot(root: Path, skip: Path | None = None) -> dict:
  return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file() and p != skip}


def _one_error_line(capsys, names: str) -> str:
  err = capsys.readouterr().err
  lines = err.strip().splitlines()
  assert "Traceback" not in err and len(lines) == 1, err
  assert lines[0].startswith("stylejax: error: ") and names in lines[0], lines[0]
  return lines[0]


# ---- the weight cache ---------------------------------------------------------------------------

@pytest.fixture
def cached_weights(tmp_path, isolated_cache):
  source = tmp_path / "vgg16-397923af.pth"
  write_torch(random_params("vgg16"), "vgg16", source)
  path = weights.import_weights(source)
  return source, path


def _wrong_array(path: Path, change) -> None:
  from safetensors import safe_open  # pylint: disable=import-outside-toplevel
  from safetensors.numpy import load_file, save_file  # pylint: disable=import-outside-toplevel

  with safe_open(str(path), framework="np") as f:
    metadata = f.metadata()
  tensors = load_file(str(path))
  tensors["conv1_1/kernel"] = change(tensors["conv1_1/kernel"])
  save_file(tensors, str(path), metadata=metadata)  # the recorded sha256 left as it was


WEIGHT_DAMAGE = {"truncated": _truncate, "flipped byte": lambda p: _flip(p, 0.9), "empty": lambda p: p.write_bytes(b""),
                 "wrong dtype": lambda p: _wrong_array(p, lambda a: a.astype(np.float16)),
                 "wrong shape": lambda p: _wrong_array(p, lambda a: a[:, :, :, :32])}


@pytest.mark.parametrize("damage", list(WEIGHT_DAMAGE))
def test_damaged_weight_cache_file(cached_weights, tmp_path, capsys, damage):
  source, cached = cached_weights
  source_bytes = source.read_bytes()
  WEIGHT_DAMAGE[damage](cached)
  out = tmp_path / "f.npz"
  features = ["features", "astronaut", "-o", str(out), "--weights", "vgg16-torchvision", "--layers", "relu1_1",
              "--size", "32"]
  assert cli.main(features) == 2
  _one_error_line(capsys, str(cached))
  assert not out.exists() and source.read_bytes() == source_bytes
  # the documented recovery: verify names the file, a new import replaces it
  assert cli.main(["weights", "verify"]) == 2
  captured = capsys.readouterr()
  assert f"{cached.name}: " in captured.out and "Traceback" not in captured.err
  assert cli.main(["weights", "import", str(source)]) == 0
  assert cli.main(["weights", "verify"]) == 0 and cli.main(features) == 0 and out.exists()


# ---- a pixel run's workdir ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def pixel_run(tmp_path_factory):
  work = tmp_path_factory.mktemp("pixel") / "run"
  assert cli.main(["stylize", "astronaut", "starry_night", "--workdir", str(work), *PIXEL]) == 0
  return work


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_final_png_as_an_input_names_it(pixel_run, tmp_path, capsys, damage):
  work = tmp_path / "run"
  shutil.copytree(pixel_run, work)
  DAMAGE[damage](work / "final.png")
  kept = _snapshot(work)
  assert cli.main(["stylize", str(work / "final.png"), "starry_night", "--workdir", str(tmp_path / "next"), *PIXEL]) == 2
  _one_error_line(capsys, str(work / "final.png"))
  assert _snapshot(work) == kept and not (tmp_path / "next").exists()


@pytest.mark.parametrize("name", ["config.json", "metrics.jsonl", "final.png"])
@pytest.mark.parametrize("damage", ["truncated", "empty"])
def test_damaged_pixel_workdir_is_kept_until_overwrite(pixel_run, tmp_path, capsys, name, damage):
  work = tmp_path / "run"
  shutil.copytree(pixel_run, work)
  DAMAGE[damage](work / name)
  kept = _snapshot(work)
  assert cli.main(["stylize", "astronaut", "starry_night", "--workdir", str(work), *PIXEL]) == 2
  _one_error_line(capsys, "--overwrite")
  assert _snapshot(work) == kept
  assert cli.main(["stylize", "astronaut", "starry_night", "--workdir", str(work), "--overwrite", *PIXEL]) == 0
  assert (work / "final.png").read_bytes() == (pixel_run / "final.png").read_bytes()  # same config, same seed


@pytest.fixture(scope="module")
def sweep_dir(pixel_run, tmp_path_factory):
  """A sweep workdir of two runs (each a stylize run's folder plus its overrides.json)."""
  root = tmp_path_factory.mktemp("sweep") / "sw"
  for i in range(2):
    shutil.copytree(pixel_run, root / f"run_{i:04d}")
    (root / f"run_{i:04d}" / "overrides.json").write_text(f'{{"seed": {i}}}\n')
  return root


@pytest.mark.parametrize("name", ["summary.json", "overrides.json", "final.png"])
@pytest.mark.parametrize("damage", list(DAMAGE))
def test_summarize_names_a_damaged_run_file(sweep_dir, tmp_path, capsys, name, damage):
  sweep = tmp_path / "sw"
  shutil.copytree(sweep_dir, sweep)
  DAMAGE[damage](sweep / "run_0001" / name)
  kept = _snapshot(sweep)
  assert cli.main(["summarize", str(sweep)]) == 2
  _one_error_line(capsys, str(sweep / "run_0001" / name))
  assert _snapshot(sweep) == kept  # no half summary written


def test_summarize_of_a_good_sweep(sweep_dir, tmp_path):
  sweep = tmp_path / "sw"
  shutil.copytree(sweep_dir, sweep)
  assert cli.main(["summarize", str(sweep)]) == 0
  assert (sweep / "grid.png").exists() and "run_0001" in (sweep / "summary.md").read_text()


# ---- a killed stylize's staging folder ----------------------------------------------------------

def _staging(work: Path) -> list[Path]:
  return sorted(work.parent.glob(f".{work.name}.staging-*"))


def test_sigkilled_stylize_leaves_a_staging_folder_the_next_run_removes(pixel_run, tmp_path, capsys):
  work = tmp_path / "run"
  shutil.copytree(pixel_run, work)
  kept = _snapshot(work)
  slow = [a if a != "optim.steps=3" else "optim.steps=100000" for a in PIXEL]
  process = subprocess.Popen([sys.executable, "-m", "stylejax.cli", "stylize", "astronaut", "starry_night",
                              "--workdir", str(work), "--overwrite", *slow],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  try:
    deadline = time.monotonic() + 120
    while not _staging(work) and process.poll() is None and time.monotonic() < deadline:
      time.sleep(0.05)
    assert _staging(work), "the run never opened its staging folder"
  finally:
    process.send_signal(signal.SIGKILL)
    process.wait()
  left = _staging(work)
  assert len(left) == 1 and str(process.pid) in left[0].name
  assert _snapshot(work) == kept  # the earlier run is untouched
  live = work.parent / f".{work.name}.staging-{left[0].name.split('-')[1]}-{os.getpid()}-live"  # this process: alive
  live.mkdir()
  assert cli.main(["stylize", "astronaut", "starry_night", "--workdir", str(work), "--overwrite", *PIXEL]) == 0
  err = capsys.readouterr().err
  assert "removed 1 stale staging folder" in err and left[0].name in err and "Traceback" not in err
  assert not left[0].exists() and live.exists()
  assert (work / "final.png").read_bytes() == kept[Path("final.png")]


# ---- a training run's metrics.jsonl and config.json ---------------------------------------------

@pytest.fixture(scope="module")
def train_cache(tmp_path_factory):
  return tmp_path_factory.mktemp("train_cache")


@pytest.fixture
def shared_cache(train_cache, monkeypatch):
  """The module's one cache: its photo dataset is prepared once, not for every test."""
  monkeypatch.setenv("STYLEJAX_CACHE", str(train_cache))


@pytest.fixture(scope="module")
def train_run(tmp_path_factory, train_cache):
  work = tmp_path_factory.mktemp("train") / "run"
  with pytest.MonkeyPatch.context() as patch:
    patch.setenv("STYLEJAX_CACHE", str(train_cache))
    assert cli.main(["train", "--workdir", str(work), *TRAIN, "--set", "log_every=1"]) == 0
  return work


def _resume(work: Path, *extra) -> int:
  return cli.main(["train", "--workdir", str(work), *TRAIN, "--set", "log_every=1", *extra])


@pytest.mark.parametrize("damage", ["not a record", "flipped byte"])
def test_damaged_metrics_line_stops_a_resume_and_names_the_file(train_run, shared_cache, tmp_path, capsys, damage):
  work = tmp_path / "run"
  shutil.copytree(train_run, work)
  metrics = work / "metrics.jsonl"
  if damage == "not a record":
    lines = metrics.read_text().splitlines()
    metrics.write_text("\n".join(["[1, 2]"] + lines[1:]) + "\n")
  else:
    _flip(metrics, 0.0)  # the first '{'
  kept = _snapshot(work, skip=None)
  assert _resume(work) == 2
  _one_error_line(capsys, str(metrics))
  after = _snapshot(work)
  assert {k: v for k, v in after.items() if "tensorboard" not in str(k)} == {
      k: v for k, v in kept.items() if "tensorboard" not in str(k)}
  metrics.unlink()  # the recovery the message gives: move the file aside, and the run resumes
  assert _resume(work) == 0


@pytest.mark.parametrize("damage", ["truncated", "empty", "deleted"])
def test_cut_or_missing_metrics_resume(train_run, shared_cache, tmp_path, capsys, damage):
  """A last line without its newline is what a killed run leaves: dropped, the lines before it kept."""
  work = tmp_path / "run"
  shutil.copytree(train_run, work)
  metrics = work / "metrics.jsonl"
  if damage == "truncated":  # inside the last line, wherever the lines' lengths put its middle
    data = metrics.read_bytes()
    start = data.rstrip(b"\n").rfind(b"\n") + 1
    metrics.write_bytes(data[:(start + len(data)) // 2])
  else:
    DAMAGE[damage](metrics)
  cut = metrics.read_text() if metrics.exists() else ""
  assert cut == "" or not cut.endswith("\n")  # the cut fell inside a line
  assert _resume(work) == 0
  assert "Traceback" not in capsys.readouterr().err
  assert (metrics.read_text() if metrics.exists() else "") == cut[:cut.rfind("\n") + 1]


@pytest.mark.parametrize("damage", ["truncated", "not json", "empty", "deleted"])
def test_damaged_training_config_json(train_run, shared_cache, tmp_path, capsys, damage):
  work = tmp_path / "run"
  shutil.copytree(train_run, work)
  config = work / "config.json"
  if damage == "not json":
    config.write_text("not json\n")
  else:
    DAMAGE[damage](config)
  kept = _snapshot(work)
  assert _resume(work) == 2
  _one_error_line(capsys, "config.json")
  assert cli.main(["apply", "--checkpoint", str(work), "astronaut", "-o", str(tmp_path / "out.png")]) == 2
  _one_error_line(capsys, "config.json")
  assert _snapshot(work) == kept and not (tmp_path / "out.png").exists()
  if damage == "empty":  # the recovery, once: --overwrite starts again
    assert _resume(work, "--overwrite") == 0 and (work / "checkpoints" / "2").is_dir()
