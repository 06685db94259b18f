"""Inference with a trained network: the Python API, `stylejax apply` / `grid`, and their bad inputs."""

import numpy as np
import pytest

from stylejax import configuration
from stylejax.training import loop
from stylejax.imaging import color, images
from stylejax.errors import StylejaxError
from stylejax.feedforward.transfer import Stylizer, apply_to_files, grid_to_file


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  root = tmp_path_factory.mktemp("trained")
  with pytest.MonkeyPatch.context() as mp:
    mp.setenv("STYLEJAX_CACHE", str(root / "cache"))
    config = configuration.apply_values(configuration.load_config("cin_testing"), {"optim.steps": 4})
    loop.run(config, root / "run", quiet=True)
  return root / "run"


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
  folder = tmp_path_factory.mktemp("photos")
  rng = np.random.default_rng(0)
  for name, shape in [("a", (33, 47, 3)), ("b", (33, 47, 3)), ("c", (50, 38, 3))]:
    images.save_png(rng.uniform(size=shape).astype(np.float32), folder / f"{name}.png")
  return folder


def test_api_stylizes_any_size_in_batches(trained, photos):
  net = Stylizer.load(trained)
  assert net.step == 4 and net.n_styles == 2
  inputs = [images.load_image(str(p)) for p in sorted(photos.iterdir())]
  out = net.apply(inputs, style=1, batch_size=2)
  assert [o.shape for o in out] == [i.shape for i in inputs]
  alone = net.apply(inputs[2:], style=1)[0]
  np.testing.assert_allclose(out[2], alone, atol=1e-5)  # batching does not change a result
  assert not np.allclose(net.apply(inputs[:1], style=0)[0], out[0], atol=1e-3)


def test_strength_and_preserve_color(trained, photos):
  net = Stylizer.load(trained)
  photo = images.load_image(str(photos / "a.png"))
  np.testing.assert_allclose(net.apply([photo], 0, strength=0.0)[0], photo, atol=1e-6)
  full, half = net.apply([photo], 0)[0], net.apply([photo], 0, strength=0.5)[0]
  np.testing.assert_allclose(half, 0.5 * full + 0.5 * photo, atol=1e-5)
  kept = net.apply([photo], 0, preserve_color=True)[0]
  yiq_kept, yiq_photo, yiq_full = color.rgb_to_yiq(kept), color.rgb_to_yiq(photo), color.rgb_to_yiq(full)
  inside = (kept > 0.01).all(-1) & (kept < 0.99).all(-1)  # where clipping to [0, 1] did not act
  np.testing.assert_allclose(yiq_kept[inside][:, 1:], yiq_photo[inside][:, 1:], atol=1e-4)
  np.testing.assert_allclose(yiq_kept[inside][:, 0], yiq_full[inside][:, 0], atol=1e-4)


def test_apply_to_files_and_grids(trained, photos, tmp_path):
  written = apply_to_files([str(photos)], trained, tmp_path / "out", style="0:1,1:3")
  assert [p.name for p in written] == ["a_style0-1_1-3.png", "b_style0-1_1-3.png", "c_style0-1_1-3.png"]
  assert images.load_image(str(written[2])).shape == (50, 38, 3)
  with pytest.raises(StylejaxError, match="exists"):
    apply_to_files([str(photos / "a.png")], trained, tmp_path / "out", style="0:1,1:3")
  grid = grid_to_file([], trained, tmp_path / "grid.png", size=32)  # the run's eval photos
  assert grid.shape == (32, 32 * 3, 3)
  strip = grid_to_file([str(photos / "c.png")], trained, tmp_path / "strip.png", size=32,
                       interpolate=("0", "1"), steps=4)
  assert strip.shape == (32, 32 * 5, 3)


@pytest.mark.parametrize("args,needle", [
    (["--checkpoint", "{root}/nothing", "--style", "0"], "no trained network"),
    (["--checkpoint", "{run}", "--style", "2"], "out of range"),
    (["--checkpoint", "{run}", "--style", "0:0,1:0"], "positive"),
    (["--checkpoint", "{run}", "--style", "0:-1,1:1"], ">= 0"),
    (["--checkpoint", "{run}", "--style", "0", "--strength", "1.5"], "strength"),
    (["--checkpoint", "{run}", "--style", "0", "--step", "3"], "no checkpoint at step 3"),
])
def test_apply_bad_inputs_are_one_line_exit_2(trained, photos, tmp_path, args, needle, cli_in_process):
  args = [a.format(root=tmp_path, run=trained) for a in args]
  result = cli_in_process("apply", str(photos / "a.png"), "-o", str(tmp_path / "out"), *args)
  assert result.returncode == 2, result.stderr
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and needle in lines[0] and "Traceback" not in result.stderr
  assert not (tmp_path / "out").exists()


def test_apply_missing_input_writes_nothing(trained, photos, tmp_path, cli_in_process):
  result = cli_in_process("apply", str(photos / "a.png"), str(tmp_path / "missing.png"), "--checkpoint", str(trained),
                "-o", str(tmp_path / "out"))
  assert result.returncode == 2 and "missing.png" in result.stderr and not (tmp_path / "out").exists()


def test_cli_apply_and_grid(trained, photos, tmp_path, cli_in_process):
  result = cli_in_process("apply", str(photos), "--checkpoint", str(trained / "checkpoints"), "--style", "1",
                "--preserve-color", "--size", "40", "-o", str(tmp_path / "out"))
  assert result.returncode == 0, result.stderr
  assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a_style1.png", "b_style1.png", "c_style1.png"]
  from PIL import Image
  assert Image.open(tmp_path / "out" / "c_style1.png").size == (30, 40)  # c.png is 38x50
  result = cli_in_process("grid", "--checkpoint", str(trained), "-o", str(tmp_path / "g.png"), "--size", "32")
  assert result.returncode == 0 and (tmp_path / "g.png").exists(), result.stderr
