"""The pretrained 26-style CIN network (multistyle26.onnx) rebuilt in stylenet, against onnxruntime."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import onnxruntime as ort  # the test extra installs it; a missing one must fail, not skip
import pytest

from stylejax.errors import StylejaxError
from stylejax.feedforward import transfer
from stylejax.io import cin_release, weights
from stylejax.methods import registry
from stylejax.networks import stylenet

stylize = jax.jit(stylenet.stylize, static_argnums=0)


@pytest.fixture(scope="module")
def release():
  return cin_release.load("multistyle26")


def test_structure_is_the_graph_s():
  spec = cin_release.MULTISTYLE26.spec
  assert stylenet.norm_channels(spec) == (32,) * 15 + (8, 4, 3)
  # the default spec still mirrors its widths on the way up
  assert stylenet.NetworkSpec(n_styles=2).up_channels == (64, 32)


def test_matches_onnxruntime(release):
  """Photos x {one style, another, a blend}, one batch; the graph run one image at a time."""
  spec, params, names = release
  assert len(names) == 26
  path, _ = weights.packaged_file("multistyle26")
  session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
  rng = np.random.default_rng(0)
  photos = rng.uniform(size=(3, 40, 56, 3)).astype(np.float32)
  eye = np.eye(26, dtype=np.float32)
  rows = np.stack([eye[3], eye[25], 0.3 * eye[0] + 0.7 * eye[7]])
  ours = np.asarray(stylize(spec, params, jnp.asarray(photos), jnp.asarray(rows)))
  errors = []
  for photo, row, out in zip(photos, rows, ours):
    ref = session.run(None, {"image": photo.transpose(2, 0, 1)[None], "style_weights": row})[0][0]
    errors.append(np.abs(ref.transpose(1, 2, 0) - out).max())
  print(f"max |JAX - onnxruntime| = {max(errors):.2e}")  # 6.8e-6 measured (random 40x56 photos)
  assert max(errors) < 1e-4


def test_apply_by_name_with_blend_strength_and_colour(release):
  checkpoint = registry.open_checkpoint("multistyle26")
  assert checkpoint.kind == "cin" and not checkpoint.arbitrary
  stylizer = checkpoint.load()
  photo = np.random.default_rng(1).uniform(size=(20, 24, 3)).astype(np.float32)
  styled, faded, kept, blend = (stylizer.apply([photo], "3")[0], stylizer.apply([photo], "3", strength=0.0)[0],
                                stylizer.apply([photo], "3", preserve_color=True)[0],
                                stylizer.apply([photo], "3:0.5,12:0.5")[0])
  assert styled.shape == photo.shape and np.abs(styled - photo).mean() > 0.05
  np.testing.assert_allclose(faded, photo, atol=1e-6)
  assert np.abs(kept - styled).mean() > 1e-3 and np.abs(blend - styled).mean() > 1e-3
  with pytest.raises(StylejaxError, match="one set of weights"):
    transfer.Stylizer.load("multistyle26", step=3)
  with pytest.raises(StylejaxError, match="out of range"):
    stylizer.apply([photo], "26")


def test_bad_files_are_one_line_errors(tmp_path, monkeypatch):
  path, digest = weights.packaged_file("multistyle26")
  truncated = tmp_path / "truncated.onnx"
  truncated.write_bytes(open(path, "rb").read()[:100_000])
  with pytest.raises(StylejaxError, match="not a valid ONNX model"):
    cin_release.load("multistyle26", str(truncated))
  other, _ = weights.packaged_file("magenta-arbitrary-lite-transform")
  with pytest.raises(StylejaxError, match="not the expected|inputs"):
    cin_release.load("multistyle26", other)
  with pytest.raises(StylejaxError, match="not found"):
    cin_release.load("multistyle26", str(tmp_path / "missing.onnx"))
  with pytest.raises(StylejaxError, match="no pretrained CIN network"):
    cin_release.load("multistyle99")
  # the packaged file is checked against its registered digest
  fake = dataclasses.replace(weights.SOURCES["multistyle26"], name="multistyle26-fake", digest="sha256:" + "0" * 64)
  monkeypatch.setitem(weights.SOURCES, fake.name, fake)
  monkeypatch.setitem(cin_release.RELEASES, "fake", dataclasses.replace(cin_release.MULTISTYLE26, name="fake",
                                                                        source=fake.name))
  with pytest.raises(StylejaxError, match="does not match the recorded"):
    cin_release.load("fake")
