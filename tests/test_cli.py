"""The real `stylejax` entry points: bad input is exit code 2, one line, no traceback, nothing written."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

# Every weight source with a URL points at a file that does not exist, so a run that needs a download
# fails as it would offline, without trying the network (which tests/conftest.py refuses anyway).
_OFFLINE_SOURCES = ("import dataclasses; from stylejax.io import weights; weights.SOURCES.update("
                    "{n: dataclasses.replace(s, url=f'file:///nonexistent/stylejax-tests/{s.filename}') "
                    "for n, s in weights.SOURCES.items() if s.url}); ")
STYLEJAX = [sys.executable, "-c",
            "import sys; " + _OFFLINE_SOURCES + "from stylejax.cli import main; sys.exit(main())"]


def _run(args, cwd=None, cache=None, entry=STYLEJAX):
  env = dict(os.environ)
  if cache is not None:
    env["STYLEJAX_CACHE"] = str(cache)
  return subprocess.run(entry + list(args), capture_output=True, text=True, timeout=600, cwd=cwd, env=env)


def _assert_one_line_error(result, needle):
  assert result.returncode == 2, result.stderr
  lines = [l for l in result.stderr.splitlines() if l.strip()]
  assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
  assert needle in lines[0], lines[0]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
  root = tmp_path_factory.mktemp("inputs")
  good = root / "good.png"
  Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)).save(good)
  (root / "text.jpg").write_text("not an image")
  jpg = root / "cut.jpg"
  Image.fromarray(np.random.default_rng(1).integers(0, 255, (200, 200, 3), np.uint8)).save(jpg)
  jpg.write_bytes(jpg.read_bytes()[:3000])
  Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(root / "tiny.png")
  return root


CASES = [
    (["{root}/missing.jpg", "starry_night"], [], "image not found"),
    (["{root}/text.jpg", "starry_night"], [], "not a readable image"),
    (["{root}/good.png", "{root}/cut.jpg"], [], "truncated"),
    (["{root}/tiny.png", "starry_night"], [], "at least 32 px"),
    (["{root}/good.png", "starry_night"], ["--config.max_pixels=1000"], "pixel limit"),
    (["{root}/good.png", "starry_night"], ["--config.loss.style_layers=relu9_1"], "unknown vgg16 layer"),
    (["{root}/good.png", "starry_night"], ["--config.loss.content_weight=-1"], "content_weight must be"),
    (["{root}/good.png", "starry_night"], ["--config.loss.style_layers=relu1_1:-2"], "finite and >= 0"),
    (["{root}/good.png", "starry_night"], ["--config.optim.name=sgd"], "optim.name must be one of"),
    (["{root}/good.png", "starry_night"], ["--config.loss.statistic=wasserstein"], "loss.statistic must be"),
    (["{root}/good.png", "starry_night"], ["--config.image_size=0"], "image_size must be a positive"),
    (["{root}/good.png", "starry_night"], ["--config.optim.stepz=3"], "unknown config key"),
    (["{root}/good.png", "starry_night"], ["--config.optim.steps=many"], "bad value for optim.steps"),
    (["{root}/good.png", "starry_night"], ["--config=nonexistent"], "config 'nonexistent' not found"),
    (["{root}/good.png", "starry_night", "great_wave"], ["--style-weights=1,-1"], "style_blend weights"),
    (["{root}/good.png", "starry_night"], ["--config.loss.network.weights=vgg19-torchvision",
                                          "--config.loss.network.arch=vgg19"], "stylejax weights import"),
]


@pytest.mark.parametrize("inputs,flags,needle", CASES, ids=[c[2] for c in CASES])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, files, inputs, flags, needle):
  workdir = tmp_path / "out"
  args = ["stylize", *[i.format(root=files) for i in inputs], "--workdir", str(workdir), "--quiet",
          "--config=testing", *flags]
  if any(f.startswith("--config=") and f != "--config=testing" for f in flags):
    args.remove("--config=testing")
  cache = tmp_path.parent / f"{tmp_path.name}-cache"
  result = _run(args, cache=cache)
  _assert_one_line_error(result, needle)
  assert not workdir.exists() and list(tmp_path.iterdir()) == []
  assert not cache.exists() or not any(cache.iterdir())  # no partial download left behind


def test_stylize_cli_end_to_end_and_no_overwrite(tmp_path, files):
  workdir = tmp_path / "out"
  args = ["stylize", str(files / "good.png"), "starry_night", "--workdir", str(workdir),
          "--config=testing", "--quiet", "--set", "optim.steps=3"]
  assert _run(args).returncode == 0
  assert (workdir / "final.png").exists() and (workdir / "metrics.jsonl").exists()
  before = (workdir / "final.png").read_bytes()
  again = _run(args + ["--config.seed=3"])
  _assert_one_line_error(again, "--overwrite")
  assert (workdir / "final.png").read_bytes() == before


def test_absl_main_entry_point(tmp_path):
  repo = Path(__file__).resolve().parent.parent
  entry = [sys.executable, "-m", "stylejax.main"]
  workdir = tmp_path / "m"
  ok = _run(["--config=stylejax/configs/testing.py", f"--workdir={workdir}", "--config.optim.steps=3",
             "--quiet"], cwd=repo, entry=entry)
  assert ok.returncode == 0, ok.stderr
  assert (workdir / "final.png").exists()
  bad = _run(["--config=stylejax/configs/testing.py", f"--workdir={tmp_path / 'n'}", "--config.optim.init=zeros",
              "--quiet"], cwd=repo, entry=entry)
  assert bad.returncode == 2 and "optim.init must be one of" in bad.stderr
  assert "Traceback" not in bad.stderr and not (tmp_path / "n").exists()
