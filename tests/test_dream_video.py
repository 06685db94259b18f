"""DeepDream on video (stylejax/video/dream.py): the carried start follows the flow under the mask,
dreams carried along the flow flicker less (warping error) than frames dreamt alone, through the
CLI, with the same bits for the same seed; bad input is one line. Clips are made here
(stylejax.video.synthetic) from scikit-image's photo."""

import json

import numpy as np
import pytest

from stylejax import cli
from stylejax.imaging import images
from stylejax.io import video
from stylejax.video import dream as video_dream
from stylejax.video import synthetic

TINY = ["--config", "dream:testing", "--octaves", "1", "--steps", "8", "--layer", "relu3_3", "--quiet"]


def test_the_start_is_the_warped_dream_where_reliable_and_the_frame_elsewhere():
  rng = np.random.default_rng(0)
  frame, dreamt = rng.uniform(size=(6, 8, 3)).astype(np.float32), rng.uniform(size=(6, 8, 3)).astype(np.float32)
  flow = np.zeros((6, 8, 2), np.float32)
  flow[..., 0] = 1.0  # frame t's pixel x was at x + 1 in frame t-1
  mask = np.zeros((6, 8), np.float32)
  mask[:, :4] = 1
  start = video_dream.carried_init(frame, dreamt, flow, mask, 0.5)
  np.testing.assert_allclose(start[:, :4], 0.5 * frame[:, :4] + 0.5 * dreamt[:, 1:5], atol=1e-6)
  np.testing.assert_array_equal(start[:, 4:], frame[:, 4:])


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory):
  folder = tmp_path_factory.mktemp("dream_video") / "clip"
  video.write_frames(folder, synthetic.make_clip("pan", images.load_image("astronaut"), (32, 48), 4).frames)
  return folder


def test_carried_dreams_flicker_less_than_frames_dreamt_alone_and_repeat_bit_for_bit(clip_folder, tmp_path, capsys):
  runs = []
  for name in ("a", "b"):
    argv = ["dream", str(clip_folder), "-o", str(tmp_path / f"{name}.mp4"), "--workdir", str(tmp_path / name), *TINY]
    assert cli.main(argv + (["--compare", str(tmp_path / "compare.mp4")] if name == "a" else [])) == 0, \
        capsys.readouterr().err
    runs.append(tmp_path / name)
  metrics = json.loads((runs[0] / "metrics.json").read_text())
  assert metrics["warping_error"] < 0.85 * metrics["warping_error_per_frame_method"], metrics
  assert video.read_video(tmp_path / "a.mp4").frames.shape == (4, 32, 48, 3)
  assert video.read_video(tmp_path / "compare.mp4").frames.shape == (4, 32, 144, 3)
  for t in range(4):  # the same seed: the same frames, with or without the per-frame baseline beside them
    name = video.frame_name(t)
    assert (runs[0] / "frames" / name).read_bytes() == (runs[1] / "frames" / name).read_bytes()


@pytest.mark.parametrize("extra,needle", [([], "missing.mp4"), (["--carry", "1.5"], "--carry must be in [0, 1]")])
def test_bad_video_or_carry_is_one_line_and_exit_2(extra, needle, clip_folder, tmp_path, capsys):
  source = tmp_path / "missing.mp4" if not extra else clip_folder
  code = cli.main(["dream", str(source), "-o", str(tmp_path / "out.mp4"), "--workdir", str(tmp_path / "run"),
                   *TINY, *extra])
  err = capsys.readouterr().err
  assert code == 2 and needle in err and err.count("\n") == 1, err
  assert not (tmp_path / "out.mp4").exists() and not (tmp_path / "run").exists()
