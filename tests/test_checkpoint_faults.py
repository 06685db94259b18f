"""Fault injection on training checkpoints: a damaged newest checkpoint is skipped on resume (one line
naming it), the run resumes from the newest intact one and ends bit-identical to an uninterrupted run;
when no checkpoint is intact, `train` and `apply` are one line and exit 2, and nothing is deleted."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import orbax.checkpoint as ocp
import pytest

from stylejax import cli

TINY = ["--set", "data.image_size=32", "--set", "style_size=32", "--set", "eval_size=32", "--set",
        "checkpoint_every=1", "--set", "log_every=1", "--quiet"]


def _train(workdir: Path, steps: int) -> int:
  return cli.main(["train", "--config", "cin_testing", "--workdir", str(workdir), "--set", f"optim.steps={steps}", *TINY])


def _params(workdir: Path, step: int) -> list[np.ndarray]:
  restored = ocp.StandardCheckpointer().restore((workdir / "checkpoints" / str(step) / "params").absolute())
  return [np.asarray(x) for x in __import__("jax").tree.leaves(restored)]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  """"three": an uninterrupted 3-step run (the reference); "two": the same run as it stood after step
  2 (its step-3 checkpoint and metrics line removed, config.json back at 2 steps): one training run
  serves both, which halves this module's time."""
  root = tmp_path_factory.mktemp("runs")
  assert _train(root / "three", 3) == 0
  two = root / "two"
  shutil.copytree(root / "three", two)
  shutil.rmtree(two / "checkpoints" / "3")
  metrics = (two / "metrics.jsonl").read_text().splitlines(keepends=True)
  (two / "metrics.jsonl").write_text("".join(metrics[:2]))
  config = json.loads((two / "config.json").read_text())
  config["optim"]["steps"] = 2
  (two / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
  return root


def _largest_data_file(item: Path) -> Path:
  return max((p for p in item.rglob("*") if p.is_file() and p.parent.name == "d"), key=lambda p: p.stat().st_size)


def _truncate(path: Path) -> None:
  path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _flip(path: Path) -> None:
  data = bytearray(path.read_bytes())
  data[len(data) // 2] ^= 0xFF
  path.write_bytes(bytes(data))


DAMAGE = {
    "truncated params": lambda step: _truncate(_largest_data_file(step / "params")),
    "flipped byte in params": lambda step: _flip(_largest_data_file(step / "params")),
    "empty optimizer state": lambda step: _largest_data_file(step / "train").write_bytes(b""),
    "deleted manifest": lambda step: (step / "params" / "manifest.ocdbt").unlink(),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_resume_skips_a_damaged_checkpoint_and_ends_bit_identical(runs, tmp_path, capsys, damage):
  work = tmp_path / "run"
  shutil.copytree(runs / "two", work)
  DAMAGE[damage](work / "checkpoints" / "2")
  assert _train(work, 3) == 0
  err = capsys.readouterr().err
  assert "checkpoint 2 is damaged" in err and "trying an older one" in err and "Traceback" not in err
  for resumed, reference in zip(_params(work, 3), _params(runs / "three", 3)):
    np.testing.assert_array_equal(resumed, reference)


def test_no_intact_checkpoint_is_one_line_and_exit_2_for_train_and_apply(runs, tmp_path, capsys):
  work = tmp_path / "run"
  shutil.copytree(runs / "two", work)
  for step in (1, 2):
    _flip(_largest_data_file(work / "checkpoints" / str(step) / "params"))
  kept = sorted(p.relative_to(work) for p in work.rglob("*"))
  assert _train(work, 3) == 2
  err = capsys.readouterr().err
  assert err.strip().splitlines()[-1].startswith("stylejax: error: no intact checkpoint") and "Traceback" not in err
  assert cli.main(["apply", "--checkpoint", str(work), "astronaut", "-o", str(tmp_path / "out.png")]) == 2
  err = capsys.readouterr().err
  assert len(err.strip().splitlines()) == 1 and "checkpoint 2 is damaged" in err and "--step 1" in err
  assert sorted(p.relative_to(work) for p in work.rglob("*")) == kept and not (tmp_path / "out.png").exists()


def test_a_finished_run_trains_longer_and_matches_the_longer_run(runs, tmp_path):
  work = tmp_path / "run"
  shutil.copytree(runs / "two", work)
  assert _train(work, 3) == 0  # a larger optim.steps resumes instead of asking for --overwrite
  for longer, reference in zip(_params(work, 3), _params(runs / "three", 3)):
    np.testing.assert_array_equal(longer, reference)
  assert _train(work, 2) == 2  # fewer steps than done is another config
