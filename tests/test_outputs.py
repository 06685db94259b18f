"""The one rule for outputs (stylejax.io.outputs): an image (or .npz, or video) extension names a file,
anything else a folder; the format follows the extension or the path is refused; an existing output
needs --overwrite; a folder where a file is wanted (or the reverse) is one line. Checked before any
work: none of the refusals below loads a model or weights."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from stylejax import cli
from stylejax.errors import StylejaxError
from stylejax.io import outputs
from stylejax.retrieval.search import QueryResult, contact_sheet


def _refused(capsys, argv, *words) -> str:
  assert cli.main([str(a) for a in argv]) == 2
  err = capsys.readouterr().err
  lines = err.strip().splitlines()
  assert len(lines) == 1 and "Traceback" not in err, err
  assert all(w in lines[0] for w in words), lines[0]
  return lines[0]


def test_the_rule(tmp_path):
  assert outputs.names_file("a/out.PNG") and outputs.names_file("x.npz") and outputs.names_file("v.mp4")
  assert not outputs.names_file("runs/v1") and not outputs.names_file("out")
  with pytest.raises(StylejaxError, match="writes one .npz file"):
    outputs.check_file(tmp_path / "x.png", outputs.ARCHIVE_EXTENSIONS, False, "features")
  (tmp_path / "d.png").mkdir()
  with pytest.raises(StylejaxError, match="existing folder"):
    outputs.check_file(tmp_path / "d.png", outputs.IMAGES, True, "grid")
  (tmp_path / "f").write_text("x")
  with pytest.raises(StylejaxError, match="existing file"):
    outputs.check_folder(tmp_path / "f", "stylize")
  with pytest.raises(StylejaxError, match="writes 2 images"):
    outputs.check_images(tmp_path / "one.png", ["a", "b"], False, "apply")
  assert outputs.check_images(tmp_path / "out", ["a", "b"], False, "apply") == [
      tmp_path / "out" / "a.png", tmp_path / "out" / "b.png"]


@pytest.mark.parametrize("suffix,fmt", [(".png", "PNG"), (".jpg", "JPEG"), (".webp", "WEBP"), (".tif", "TIFF")])
def test_the_format_follows_the_extension(tmp_path, suffix, fmt):
  image = np.random.default_rng(0).uniform(size=(8, 8, 3)).astype(np.float32)
  outputs.save_image(image, tmp_path / f"x{suffix}")
  assert Image.open(tmp_path / f"x{suffix}").format == fmt


def test_contact_sheet_format_and_overwrite(tmp_path):
  photo = tmp_path / "photo.png"
  outputs.save_image(np.zeros((8, 8, 3), np.float32), photo)
  results = [QueryResult(query=str(photo), by="style", hits=())]
  contact_sheet(results, tmp_path / "sheet.jpg", cell=32)
  assert Image.open(io.BytesIO((tmp_path / "sheet.jpg").read_bytes())).format == "JPEG"
  with pytest.raises(StylejaxError, match="--overwrite"):
    contact_sheet(results, tmp_path / "sheet.jpg", cell=32)
  contact_sheet(results, tmp_path / "sheet.jpg", cell=32, overwrite=True)


def test_cli_refusals_come_before_any_work(tmp_path, capsys):
  existing = tmp_path / "existing.png"
  existing.write_bytes(b"keep")
  folder = tmp_path / "folder"
  folder.mkdir()
  _refused(capsys, ["features", "astronaut", "-o", tmp_path / "x.png"], "x.png", ".npz")
  _refused(capsys, ["features", "astronaut", "-o", tmp_path / "x"], ".npz")
  _refused(capsys, ["apply", "astronaut", "--style-image", "starry_night", "-o", existing], "--overwrite")
  _refused(capsys, ["apply", "astronaut", "chelsea", "--style-image", "starry_night", "-o", tmp_path / "o.png"],
           "2 images")
  _refused(capsys, ["grid", "astronaut", "--style-image", "starry_night", "-o", folder, "--overwrite"], "folder")
  _refused(capsys, ["grid", "astronaut", "--style-image", "starry_night", "-o", existing], "--overwrite")
  _refused(capsys, ["search", tmp_path / "no_index", "astronaut", "--sheet", folder], "folder")
  _refused(capsys, ["search", tmp_path / "no_index", "astronaut", "--sheet", existing], "--overwrite")
  _refused(capsys, ["stylize", "astronaut", "starry_night", "--workdir", existing], "folder")
  _refused(capsys, ["train", "--config", "cin_testing", "--workdir", tmp_path / "run.png"], "folder")
  assert existing.read_bytes() == b"keep" and list(folder.iterdir()) == []


def test_features_needs_overwrite_to_replace(tmp_path, capsys):
  out = tmp_path / "f.npz"
  argv = ["features", "astronaut", "-o", out, "--layers", "relu1_1", "--size", "32"]
  assert cli.main([str(a) for a in argv]) == 0
  first = out.read_bytes()
  _refused(capsys, argv, "--overwrite")
  assert out.read_bytes() == first
  assert cli.main([str(a) for a in argv + ["--overwrite"]]) == 0
  assert set(np.load(out)) == {"relu1_1"}
