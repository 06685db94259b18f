"""Video: warping against OpenCV, DIS flow against a known motion, Ruder et al.'s masks against known
occlusions, the warping error, .flo and video files (bad ones refused in one line). Clips are made
here (stylejax.video.synthetic) from scikit-image's photo; nothing reads the shared data."""

import json

import numpy as np
import pytest
from scipy import ndimage

from stylejax.errors import StylejaxError
from stylejax.evaluation import temporal
from stylejax.imaging import flow as flowlib
from stylejax.imaging import images
from stylejax.imaging import warp as warping
from stylejax.io import flo, video
from stylejax.video import synthetic


@pytest.fixture(scope="module")
def still():
  return images.load_image("astronaut")


def test_warp_matches_opencv_remap_and_shifts_exactly():
  rng = np.random.default_rng(0)
  image = rng.random((20, 30, 3), dtype=np.float32)
  flow = rng.uniform(-4, 4, (20, 30, 2)).astype(np.float32)
  rows, cols = np.mgrid[0:20, 0:30].astype(np.float64)
  # scipy's bilinear interpolation at x + flow, border replicated, is the reference.
  expected = np.stack([ndimage.map_coordinates(image[..., c].astype(np.float64), [rows + flow[..., 1], cols + flow[..., 0]],
                                               order=1, mode="nearest") for c in range(3)], -1)
  np.testing.assert_allclose(warping.warp_np(image, flow), expected, atol=1e-5)
  shift = np.zeros((20, 30, 2), np.float32)
  shift[..., 0], shift[..., 1] = 3, -2  # frame b seen 3 px right, 2 px up of frame a's pixel
  np.testing.assert_array_equal(warping.warp_np(image, shift)[2:, :-3], image[:-2, 3:])
  assert warping.in_frame(shift)[2:, :-3].all() and not warping.in_frame(shift)[:2].any()


def test_dis_flow_recovers_a_known_translation(still):
  clip = synthetic.make_clip("pan", still, (64, 96), 3)
  truth, visible = clip.flow(0, 1), clip.visible(0, 1)
  # the camera pans right and down, so the scene moves left and up
  assert np.abs(truth[..., 0] + 2.2).max() < 1e-4 and np.abs(truth[..., 1] + 1.1).max() < 1e-4
  flow = flowlib.dis_flow(clip.frame(0), clip.frame(1))
  assert flowlib.endpoint_error(flow, truth, visible) < 0.25
  np.testing.assert_array_equal(flow, flowlib.dis_flow(clip.frame(0), clip.frame(1)))  # deterministic


@pytest.mark.parametrize("kind", ["zoom", "rotate"])
def test_exact_flow_of_a_synthetic_clip_warps_one_frame_onto_the_other(still, kind):
  clip = synthetic.make_clip(kind, still, (48, 64), 3)
  visible = clip.visible(1, 2)
  warped = warping.warp_np(clip.frame(2), clip.flow(1, 2))
  assert np.abs(warped - clip.frame(1))[visible].mean() < 0.03  # interpolation and uint8 rounding only
  assert flowlib.endpoint_error(flowlib.dis_flow(clip.frame(1), clip.frame(2)), clip.flow(1, 2), visible) < 0.3


def test_reliability_masks_find_the_known_occlusions(still):
  clip = synthetic.make_clip("foreground", still, (80, 112), 4)
  forward, backward = flowlib.dis_flow(clip.frame(1), clip.frame(2)), flowlib.dis_flow(clip.frame(2), clip.frame(1))
  mask = flowlib.reliability(forward, backward) > 0
  visible = clip.visible(1, 2)
  occluded = ~visible
  assert occluded.sum() > 100  # the disk covers part of the scene, and the pan pushes some out of frame
  assert (mask & occluded).sum() / occluded.sum() < 0.25  # most occlusions are found (misses: the thin rims)...
  assert (mask & visible).sum() / visible.sum() > 0.75  # ...without dropping most of the scene
  # with the exact flows, the forward-backward test is exactly the truth away from the disk's rim
  exact = flowlib.reliability(clip.flow(1, 2), clip.flow(2, 1), motion_boundaries=False) > 0
  disk = clip._in_disk(clip._grid(), 2)  # pylint: disable=protected-access
  assert (exact[~disk] == visible[~disk]).mean() > 0.97


def test_long_term_masks_prefer_the_closest_frame():
  near, far = np.asarray([[1, 0, 1, 0]], np.float32), np.asarray([[1, 1, 0, 0]], np.float32)
  a, b = flowlib.long_term_masks([near, far])
  np.testing.assert_array_equal(a, near)
  np.testing.assert_array_equal(b, [[0, 1, 0, 0]])


def test_warping_error_is_zero_for_a_consistent_video_and_counts_flicker(still):
  clip = synthetic.make_clip("pan", still, (48, 64), 4)
  flows = [clip.flow(t, t + 1) for t in range(3)]
  masks = [flowlib.reliability(clip.flow(t, t + 1), clip.flow(t + 1, t), motion_boundaries=False) for t in range(3)]
  consistent = temporal.warping_error(clip.frames, flows, masks)
  flicker = clip.frames.astype(np.float32) / 255 * np.asarray([1.0, 0.8, 1.0, 0.8])[:, None, None, None]
  assert consistent < 1e-3
  assert temporal.warping_error(flicker, flows, masks) > 20 * consistent
  # a pair's error by hand: the masked mean over pixels of the squared RGB distance
  a, b = flicker[0], flicker[1]
  diff = ((a - warping.warp_np(b, flows[0])) ** 2).sum(-1)
  np.testing.assert_allclose(temporal.warping_errors(flicker, flows, masks)[0],
                             (diff * masks[0]).sum() / masks[0].sum(), rtol=1e-5)


def test_flo_round_trip_and_damaged_files(tmp_path):
  flow = np.random.default_rng(1).normal(size=(5, 7, 2)).astype(np.float32)
  flo.write_flo(tmp_path / "a.flo", flow)
  np.testing.assert_array_equal(flo.read_flo(tmp_path / "a.flo"), flow)
  assert (tmp_path / "a.flo").read_bytes()[:4] == b"PIEH"  # the Middlebury tag, as other tools read it
  (tmp_path / "short.flo").write_bytes((tmp_path / "a.flo").read_bytes()[:-8])
  (tmp_path / "png.flo").write_bytes(b"\x89PNG" + bytes(40))
  for name, needle in (("short.flo", "truncated"), ("png.flo", "not a .flo"), ("none.flo", "cannot read")):
    with pytest.raises(StylejaxError, match=needle):
      flo.read_flo(tmp_path / name)


def test_video_round_trip_keeps_frames_and_rate(tmp_path, still):
  clip = synthetic.make_clip("pan", still, (48, 64), 5)
  video.write_video(tmp_path / "clip.mp4", clip.frames, 12.5)
  back = video.read_video(tmp_path / "clip.mp4")
  assert back.frames.shape == clip.frames.shape and back.fps == 12.5
  assert np.abs(back.frames.astype(int) - clip.frames).mean() < 8  # H.264 at CRF 18, 4:2:0 chroma on a tiny frame
  video.write_frames(tmp_path / "frames", clip.frames)
  folder = video.read_video(tmp_path / "frames", fps=10)
  np.testing.assert_array_equal(folder.frames, clip.frames)
  smaller = video.read_video(tmp_path / "clip.mp4", size=32, max_frames=2)
  assert smaller.frames.shape == (2, 24, 32, 3)
  np.testing.assert_allclose(smaller.frames.mean(), clip.frames[:2].mean(), atol=3)  # resized, not clipped
  assert folder.fps == 10 and sorted(p.name for p in (tmp_path / "frames").iterdir())[0] == "frame_000001.png"
  assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left behind


def test_bad_videos_are_refused_in_one_line(tmp_path, still):
  clip = synthetic.make_clip("pan", still, (48, 64), 5)
  video.write_video(tmp_path / "clip.mp4", clip.frames, 12)
  data = (tmp_path / "clip.mp4").read_bytes()
  (tmp_path / "cut.mp4").write_bytes(data[:len(data) // 2])
  (tmp_path / "text.mp4").write_text("not a video\n" * 20)
  (tmp_path / "empty").mkdir()
  for name, needle in (("cut.mp4", "corrupt or truncated"), ("text.mp4", "corrupt or truncated"),
                       ("missing.mp4", "no such video"), ("empty", "no frames"), ("clip.txt", "no such")):
    with pytest.raises(StylejaxError, match=needle) as info:
      video.read_video(tmp_path / name)
    assert "\n" not in str(info.value)


# --- the runner: resume, refusals, the post-hoc step ------------------------------------------------

from stylejax import cli  # noqa: E402
from stylejax.objectives.terms import temporal as temporal_term  # noqa: E402
from stylejax.video import consistency  # noqa: E402
from stylejax.video import run as video_run  # noqa: E402


class Killed(Exception):
  pass


def _flickering(frame, t_of=None):
  """A stand-in method: a colour shift that changes from frame to frame (flicker), deterministic."""
  level = np.float32(0.15) * np.sin(np.float32(frame.sum() % 7))
  return np.clip(frame[..., ::-1] + level, 0, 1)


def _clip_file(tmp_path, still, frames=5):
  clip = synthetic.make_clip("pan", still, (32, 48), frames)
  video.write_frames(tmp_path / "clip", clip.frames)
  return tmp_path / "clip"


def _run(source, out, workdir, stylize, mode="blend"):
  return video_run.run(source, out, lambda shape: video_run.NetworkFrames(stylize, mode, 0.6),
                       {"method": "test", "consistency": mode, "styles": ("a", "b")},  # a tuple: a list in JSON
                       workdir=workdir, quiet=True)


def test_a_killed_run_resumes_after_its_last_frame_and_writes_the_same_video(tmp_path, still):
  source = _clip_file(tmp_path, still)
  whole = _run(source, tmp_path / "whole.mp4", tmp_path / "whole_run", _flickering)
  calls = []

  def dies_after_three(frame):
    if len(calls) == 3:
      raise Killed  # the process stops between two frames (every file is written atomically)
    calls.append(1)
    return _flickering(frame)
  with pytest.raises(Killed):
    _run(source, tmp_path / "cut.mp4", tmp_path / "cut_run", dies_after_three)
  assert not (tmp_path / "cut.mp4").exists()
  assert sorted(p.name for p in (tmp_path / "cut_run" / "frames").iterdir()) == [video.frame_name(t) for t in range(3)]
  again = _run(source, tmp_path / "cut.mp4", tmp_path / "cut_run", _flickering)
  assert again.resumed_from == 3 and whole.resumed_from == 0
  for t in range(5):
    name = video.frame_name(t)
    assert (tmp_path / "cut_run/frames" / name).read_bytes() == (tmp_path / "whole_run/frames" / name).read_bytes()
  assert (tmp_path / "cut.mp4").read_bytes() == (tmp_path / "whole.mp4").read_bytes()
  assert again.metrics["flows_computed_this_run"] == 4  # frames 3, 4 only: the rest came back from the .flo cache
  assert again.metrics["warping_error"] < again.metrics["warping_error_per_frame_method"]
  # another request in the same workdir is refused, not mixed in
  with pytest.raises(StylejaxError, match="another request"):
    _run(source, tmp_path / "other.mp4", tmp_path / "cut_run", _flickering, mode="ema")


def test_blend_follows_the_flow_and_ema_does_not():
  rng = np.random.default_rng(0)
  previous = rng.random((8, 10, 3), dtype=np.float32)
  stylized = rng.random((8, 10, 3), dtype=np.float32)
  shift = np.zeros((8, 10, 2), np.float32)
  shift[..., 0] = -1  # frame t's pixel x was at x - 1 in frame t-1
  mask = np.ones((8, 10), np.float32)
  mask[:, 0] = 0  # came into view: no previous output to keep
  out = consistency.flow_blend(stylized, previous, shift, mask, 0.6)
  np.testing.assert_allclose(out[:, 1:], 0.4 * stylized[:, 1:] + 0.6 * previous[:, :-1], rtol=1e-6)
  np.testing.assert_array_equal(out[:, 0], stylized[:, 0])
  np.testing.assert_allclose(consistency.ema(stylized, previous, 0.6), 0.4 * stylized + 0.6 * previous, rtol=1e-6)


def test_temporal_term_is_the_masked_mse_and_zero_without_earlier_frames():
  rng = np.random.default_rng(0)
  image, content = rng.random((6, 5, 3), dtype=np.float32), rng.random((6, 5, 3), dtype=np.float32)
  warped = rng.random((2, 6, 5, 3), dtype=np.float32)
  masks = (rng.random((2, 6, 5)) > 0.5).astype(np.float32)
  term = temporal_term.Temporal(n_previous=2)
  targets = term.targets(None, None, {"content": content, "previous_warped": warped, "previous_masks": masks})
  expected = sum((masks[k][..., None] * (image.astype(np.float64) - warped[k]) ** 2).mean() for k in range(2))
  np.testing.assert_allclose(float(term.value(image, {}, targets, {}, None)), expected, rtol=1e-5)
  assert float(term.value(image, {}, term.targets(None, None, {"content": content}), {}, None)) == 0


def test_bad_video_files_are_one_line_and_exit_2_with_nothing_written(tmp_path, capsys, still):
  clip = synthetic.make_clip("pan", still, (32, 48), 4)
  video.write_video(tmp_path / "clip.mp4", clip.frames, 8)
  data = (tmp_path / "clip.mp4").read_bytes()
  (tmp_path / "cut.mp4").write_bytes(data[: len(data) * 2 // 3])
  for name in ("cut.mp4", "missing.mp4"):
    code = cli.main(["video", str(tmp_path / name), "--style-image", "starry_night", "-o", str(tmp_path / "out.mp4")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and name in err, err
  assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "cut.mp4"]  # no output, no run folder
  code = cli.main(["video", str(tmp_path / "clip.mp4"), "--method", "pixel", "--consistency", "blend",
                   "--style-image", "starry_night", "-o", str(tmp_path / "out.mp4")])
  assert code == 2 and "temporal term" in capsys.readouterr().err


def test_pixel_video_compiles_one_step_for_every_frame_and_writes_through_the_command(tmp_path, capsys, still):
  from stylejax.pixel import optimize  # pylint: disable=import-outside-toplevel

  clip = synthetic.make_clip("pan", still, (32, 48), 3)
  video.write_frames(tmp_path / "clip", clip.frames)
  args = ["video", str(tmp_path / "clip"), "--method", "pixel", "--config", "video_pixel:testing",
          "--style-image", "starry_night", "-o", str(tmp_path / "out.mp4"), "--quiet"]
  compiled = optimize.step._cache_size()  # pylint: disable=protected-access
  assert cli.main(args) == 0, capsys.readouterr().err
  assert optimize.step._cache_size() == compiled + 1  # frame 0 (zero masks) and later frames share one program
  assert video.read_video(tmp_path / "out.mp4").frames.shape == (3, 32, 48, 3)
  metrics = json.loads((tmp_path / "out_run" / "metrics.json").read_text())
  assert np.isfinite(metrics["warping_error"])
