"""Sweeps: expansion, vmapped == separate runs, sharded == unsharded, no recompiles, summaries."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from stylejax import configuration
from stylejax.evaluation import summarize
from stylejax.objectives import loss_network
from stylejax.pixel import stylize, sweep
from stylejax.errors import StylejaxError

REPO = Path(__file__).resolve().parent.parent


def _base():
  config = configuration.load_config("testing")
  with config.unlocked():
    config.content, config.styles = "chelsea", ("starry_night",)
    config.optim.init = "noise"
  return config


def test_product_zip_cross():
  runs = sweep.cross(sweep.product({"a": [1, 2], "b": ["x", "y"]}), sweep.zipped({"c": [5, 6], "d": [7, 8]}))
  assert len(runs) == 8
  assert runs[0] == {"a": 1, "b": "x", "c": 5, "d": 7} and runs[-1] == {"a": 2, "b": "y", "c": 6, "d": 8}
  with pytest.raises(StylejaxError, match="different lengths"):
    sweep.zipped({"a": [1], "b": [1, 2]})


def _png(path):
  return np.asarray(Image.open(path), np.int16)


RUNS = [{"loss.style_weight": 1e3, "seed": 0}, {"loss.style_weight": 1e4, "seed": 1},
        {"loss.content_weight": 3.0, "seed": 2, "optim.learning_rate": 0.05},
        {"loss.tv_weight": 10.0, "seed": 3, "optim.steps": 3}]


def test_vmapped_sweep_equals_separate_runs(tmp_path):
  vmapped = configuration.apply_values(_base(), {"sweep_runs_in_parallel": len(RUNS)})  # as on accelerators
  dirs = sweep.run_sweep(vmapped, RUNS, tmp_path / "sweep", quiet=True)
  for run_dir, overrides in zip(dirs, RUNS):
    alone_dir = tmp_path / f"alone_{run_dir.name}"
    stylize.run(configuration.apply_values(vmapped, overrides), alone_dir, quiet=True)
    # Same float math up to batching: PNGs differ by at most one level where a value sits on a rounding edge.
    diff = np.abs(_png(run_dir / "final.png") - _png(alone_dir / "final.png"))
    assert diff.max() <= 3 and diff.mean() < 0.1
    ours = [json.loads(l) for l in (run_dir / "metrics.jsonl").read_text().splitlines()]
    alone = [json.loads(l) for l in (alone_dir / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in ours] == [m["step"] for m in alone]
    np.testing.assert_allclose([m["total"] for m in ours], [m["total"] for m in alone], rtol=1e-3)
    assert json.loads((run_dir / "config.json").read_text()) == json.loads((alone_dir / "config.json").read_text())


def test_lbfgs_zoom_sweeps_are_one_program_of_runs_one_after_another_and_equal_separate_runs(tmp_path, monkeypatch):
  """Vmapped, optax's zoom search evaluates the loss in both branches of its lax.cond, so a zoom
  sweep is one program whose runs follow one another (lax.map, no vmap); on CPU every sweep is."""
  base = configuration.apply_values(_base(), {"optim.name": "lbfgs", "optim.line_search": "zoom"})
  runs = [{"seed": 0, "loss.style_weight": 1e3}, {"seed": 1, "loss.style_weight": 1e4}]
  loaded = loss_network.load_weights(base.loss)
  zoom, adam = stylize.problem_from_config(base, loaded), stylize.problem_from_config(_base(), loaded)
  assert sweep.chunk_size_for(zoom, 5) == 5 and sweep.runs_in_parallel_for(zoom, 5) == 1
  assert sweep.runs_in_parallel_for(adam, 5) == 1  # CPU: batching buys nothing here
  calls, original = [], sweep._run_chunk_of_runs
  monkeypatch.setattr(sweep, "_run_chunk_of_runs",
                      lambda chunk, size, *rest: (calls.append(size), original(chunk, size, *rest)))
  dirs = sweep.run_sweep(base, runs, tmp_path / "sweep", quiet=True)
  assert calls == [2]  # both runs in one program call
  for run_dir, overrides in zip(dirs, runs):
    alone_dir = tmp_path / f"alone_{run_dir.name}"
    stylize.run(configuration.apply_values(base, overrides), alone_dir, quiet=True)
    ours = [json.loads(l) for l in (run_dir / "metrics.jsonl").read_text().splitlines()]
    alone = [json.loads(l) for l in (alone_dir / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in ours] == [m["step"] for m in alone] and ours[-1]["step"] == base.optim.steps
    np.testing.assert_allclose([m["total"] for m in ours], [m["total"] for m in alone], rtol=1e-4)
    diff = np.abs(_png(run_dir / "final.png") - _png(alone_dir / "final.png"))
    assert diff.max() <= 3 and diff.mean() < 0.1


def test_lbfgs_parallel_search_sweeps_as_one_program_and_equals_separate_runs(tmp_path, monkeypatch):
  """The parallel line search has no lax.cond: two runs go through one vmapped program (a batch of
  2 images per VGG call), and each equals the run made alone up to float rounding: the batched
  convolutions may pick other kernels than the single-image ones (as for Adam above), so not
  bit-identical; the Armijo decisions agree, so the trajectories stay together."""
  base = configuration.apply_values(_base(), {"optim.name": "lbfgs", "optim.line_search": "parallel",
                                              "optim.line_search_candidates": 2, "image_size": 32,
                                              "optim.steps": 4, "log_every": 2,
                                              "sweep_runs_in_parallel": 2})  # vmapped, as on accelerators
  runs = [{"seed": 0, "loss.style_weight": 1e3}, {"seed": 1, "loss.style_weight": 1e4}]
  loaded = loss_network.load_weights(base.loss)
  assert sweep.chunk_size_for(stylize.problem_from_config(base, loaded), 2) == 2
  chunk_sizes, original = [], sweep._run_chunk_of_runs
  monkeypatch.setattr(sweep, "_run_chunk_of_runs",
                      lambda chunk, size, *rest: (chunk_sizes.append(size), original(chunk, size, *rest)))
  dirs = sweep.run_sweep(base, runs, tmp_path / "sweep", quiet=True)
  assert chunk_sizes == [2]
  for run_dir, overrides in zip(dirs, runs):
    alone_dir = tmp_path / f"alone_{run_dir.name}"
    stylize.run(configuration.apply_values(base, overrides), alone_dir, quiet=True)
    ours = [json.loads(l) for l in (run_dir / "metrics.jsonl").read_text().splitlines()]
    alone = [json.loads(l) for l in (alone_dir / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in ours] == [m["step"] for m in alone] and ours[-1]["step"] == base.optim.steps
    np.testing.assert_allclose([m["total"] for m in ours], [m["total"] for m in alone], rtol=1e-4)
    diff = np.abs(_png(run_dir / "final.png") - _png(alone_dir / "final.png"))
    assert diff.max() <= 3 and diff.mean() < 0.1


def test_chunks_do_not_recompile(tmp_path):
  runs = [{"seed": s, "loss.style_weight": 1e3 * (s + 1)} for s in range(5)]
  sweep.run_sweep(_base(), runs, tmp_path / "s", quiet=True, chunk_size=2)  # 3 chunks, last padded
  step, _ = sweep.programs(sweep._mesh(None))
  sizes_after = step._cache_size()
  sweep.run_sweep(_base(), [{"seed": 9}, {"seed": 8}], tmp_path / "t", quiet=True, chunk_size=2)
  assert step._cache_size() == sizes_after  # same structure and chunk size: no new program
  assert len(list((tmp_path / "s").glob("run_*"))) == 5


def test_structural_changes_run_as_separate_programs(tmp_path):
  runs = [{"loss.statistic": "gram"}, {"loss.statistic": "mean_var"},
          {"loss.style_layers": "relu1_1,relu2_1"}]
  dirs = sweep.run_sweep(_base(), runs, tmp_path / "s", quiet=True)
  statistics = [json.loads((d / "config.json").read_text())["loss"]["statistic"] for d in dirs]
  assert statistics == ["gram", "mean_var", "gram"]


def test_summaries_and_eval(tmp_path):
  sweep.run_sweep(_base(), RUNS[:2], tmp_path / "s", quiet=True, evaluate="alexnet")
  records = summarize.summarize(tmp_path / "s")
  assert [r["run"] for r in records] == ["run_0000", "run_0001"]
  assert {"content_lpips", "content_ssim", "style_gram", "style_mean_std", "style_swd"} <= records[0].keys()
  table = (tmp_path / "s" / "summary.md").read_text().splitlines()
  assert len(table) == 4 and "loss.style_weight" in table[0]
  assert (tmp_path / "s" / "summary.csv").read_text().count("\n") == 3
  assert Image.open(tmp_path / "s" / "grid.png").size[0] > 100


def test_bad_sweep_values_write_nothing(tmp_path):
  with pytest.raises(StylejaxError, match="unknown config key"):
    sweep.run_sweep(_base(), [{"loss.nope": 1}], tmp_path / "s", quiet=True)
  with pytest.raises(StylejaxError, match="loss.statistic must be"):
    sweep.run_sweep(_base(), [{"seed": 0}, {"loss.statistic": "l2"}], tmp_path / "s", quiet=True)
  assert not (tmp_path / "s").exists()


@pytest.mark.slow
def test_sharded_equals_unsharded(tmp_path):
  """Four fake CPU devices: the run axis split over a 4-device mesh gives the same images."""
  script = textwrap.dedent(f"""
      import jax, numpy as np
      from PIL import Image
      from stylejax import configuration
      from stylejax.pixel import sweep
      assert jax.device_count() == 4, jax.devices()
      base = configuration.load_config("testing")
      with base.unlocked():
          base.content, base.styles = "chelsea", ("starry_night",)
          base.optim.init = "noise"
      runs = [{{"seed": s, "loss.style_weight": 10.0 ** (2 + s)}} for s in range(4)]
      sharded = sweep.run_sweep(base, runs, r"{tmp_path}/sharded", quiet=True)
      mesh = sweep._mesh(None)
      assert mesh.size == 4
      single = sweep.run_sweep(base, runs, r"{tmp_path}/single", quiet=True, devices=jax.devices()[:1])
      for a, b in zip(sharded, single):
          x = np.asarray(Image.open(a / "final.png"), np.int16)
          y = np.asarray(Image.open(b / "final.png"), np.int16)
          # Per-device batches of 1 vs 4 pick different conv kernels: float-level drift, a few PNG levels at most.
          assert np.abs(x - y).max() <= 3 and np.abs(x - y).mean() < 0.1, (a, np.abs(x - y).max())
      print("OK", len(sharded))
  """)
  # Added to the inherited flags (conftest's fast compile), not in their place.
  env = dict(os.environ, XLA_FLAGS=f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count=4",
             JAX_PLATFORMS="cpu")
  result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env,
                          timeout=900, cwd=REPO)
  assert result.returncode == 0, result.stderr[-3000:]
  assert "OK 4" in result.stdout


def test_sweep_cli(tmp_path, monkeypatch, cli_in_process):
  monkeypatch.chdir(REPO)
  out = tmp_path / "sw"
  result = cli_in_process("sweep", "stylejax/configs/style_weight_sweep.py:testing", "--workdir", out, "--quiet",
                          "--chunk-size", "3")
  assert result.returncode == 0, result.stderr[-2000:]
  assert len(list(out.glob("run_*"))) == 4 and (out / "summary.md").exists()
  again = cli_in_process("sweep", "stylejax/configs/style_weight_sweep.py:testing", "--workdir", out)
  assert again.returncode == 2 and "--overwrite" in again.stderr and "Traceback" not in again.stderr


@pytest.mark.slow
def test_mean_cov_sweep_runs_vmapped_and_finishes(tmp_path):
  """Regression: two batched eigh at once (the mean_cov loss of two layers in a vmapped sweep) hung
  XLA:CPU in jaxlib 0.10; the loss now loops over the batch under vmap (tests/test_losses.py checks
  the lowering). Four runs as one program (twelve took 15 s instead of 7.5 s, the same lowering), in a
  subprocess so that a hang fails instead of blocking."""
  script = textwrap.dedent(f"""
      from stylejax import configuration
      from stylejax.pixel import sweep
      chunk_sizes = []
      run_chunk = sweep._run_chunk_of_runs
      def recording_run_chunk(chunk, size, *rest):
        chunk_sizes.append(size)
        run_chunk(chunk, size, *rest)
      sweep._run_chunk_of_runs = recording_run_chunk
      base = configuration.apply_values(configuration.load_config("testing"), {{
          "content": "chelsea", "styles": ("starry_night",), "loss.statistic": "mean_cov",
          "optim.init": "noise", "optim.steps": 3, "image_size": 64, "sweep_runs_in_parallel": 4}})
      dirs = sweep.run_sweep(base, [{{"seed": s}} for s in range(4)], r"{tmp_path}/mc", quiet=True)
      assert chunk_sizes == [4], chunk_sizes
      print("OK", len(dirs))
  """)
  env = dict(os.environ, JAX_PLATFORMS="cpu", OPENBLAS_NUM_THREADS="1")  # as stylejax.runtime sets it
  result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          cwd=REPO, env=env)
  assert result.returncode == 0 and "OK 4" in result.stdout, result.stderr[-2000:]
