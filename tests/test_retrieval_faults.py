"""Fault injection into a retrieval index: every damaged file is named in one line (exit 2, no
traceback), nothing intact is lost, and the documented recovery gives back the undamaged results.

One six-image index in three shard pairs is built per module; each case damages a copy of it.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from stylejax import cli, retrieval
from stylejax.errors import StylejaxError
from stylejax.imaging import images
from stylejax.retrieval import integrity
from stylejax.retrieval.store import Store
from test_retrieval import _config, _texture, _write_collection


def _results(index, query):
  """Style and content top 5 of an indexed image: (paths, similarities) per mode."""
  out = []
  for by in ("style", "content"):
    (result,) = retrieval.search(index, [str(query)], by=by, k=5)
    out.append(([h.path for h in result.hits], [(h.style, h.content) for h in result.hits]))
  return out


def _assert_same_results(got, expected):
  for (paths, sims), (paths_0, sims_0) in zip(got, expected):
    assert paths == paths_0
    np.testing.assert_allclose(sims, sims_0, atol=1e-5)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
  """(index, collection folder, query, its results, every file's bytes) of an undamaged index."""
  root = tmp_path_factory.mktemp("faults")
  folder = _write_collection(root / "collection", 6)
  result = retrieval.embed(str(folder), root / "index", _config(flush_every=2), quiet=True)
  assert result.total == 6 and len(list((root / "index" / "shards").glob("style-*.npy"))) == 3
  query = folder / "img00.png"
  files = {p.relative_to(root / "index"): p.read_bytes() for p in (root / "index").rglob("*") if p.is_file()}
  return root / "index", folder, query, _results(root / "index", query), files


@pytest.fixture
def index(pristine, tmp_path):
  """A fresh copy of the pristine index."""
  copy = tmp_path / "index"
  shutil.copytree(pristine[0], copy)
  return copy


def _flip(data: bytes, at: int) -> bytes:
  return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1:]


def _npy(array) -> bytes:
  import io  # pylint: disable=import-outside-toplevel
  buffer = io.BytesIO()
  np.save(buffer, array)
  return buffer.getvalue()


def _edit_line(data: bytes, number: int, edit) -> bytes:
  lines = data.split(b"\n")
  lines[number] = edit(lines[number])
  return b"\n".join(lines)


def _row_flip(line: bytes) -> bytes:  # row 1 -> row 0: the row of the shard's other image
  return _flip(line, line.index(b'"row": ') + len(b'"row": '))


def _sha_flip(line: bytes) -> bytes:
  at = line.index(b'"sha256": "') + len(b'"sha256": "') + 10
  return _flip(line, at)


DAMAGE = {
    "truncated": lambda d: d[:len(d) * 2 // 3],
    "flipped byte": lambda d: _flip(d, len(d) - 3),
    "deleted": None,
    "empty": lambda d: b"",
}
SHARD = "shards/style-00001.npy"
CASES = [
    *[(SHARD, damage) for damage in DAMAGE],
    (SHARD, "wrong dtype"), (SHARD, "wrong shape"),
    *[("manifest.jsonl", damage) for damage in DAMAGE],
    ("manifest.jsonl", "bad line"), ("manifest.jsonl", "row out of range"), ("manifest.jsonl", "flipped sha256"),
    ("manifest.jsonl", "flipped row"),
    *[("checksums.json", damage) for damage in DAMAGE],
]
CACHE_CASES = [("index/style.faiss", damage) for damage in DAMAGE] + [("index/built.json", "flipped byte")]


def _damage(index: Path, name: str, damage: str) -> None:
  path = index / name
  data = path.read_bytes()
  if damage == "deleted":
    path.unlink()
    return
  if damage == "wrong dtype":
    data = _npy(np.load(path).astype(np.float64))
  elif damage == "wrong shape":
    array = np.load(path)
    data = _npy(array.reshape(array.shape[0] * 2, -1))
  elif damage == "bad line":
    data = _edit_line(data, 2, lambda line: b"{not json")
  elif damage == "row out of range":
    data = _edit_line(data, 2, lambda line: json.dumps({**json.loads(line), "row": 99}, sort_keys=True).encode())
  elif damage == "flipped sha256":
    data = _edit_line(data, 2, _sha_flip)
  elif damage == "flipped row":
    data = _edit_line(data, 3, _row_flip)
  else:
    data = DAMAGE[damage](data)
  path.write_bytes(data)


def _one_line_exit_2(capsys, argv, needle):
  code = cli.main(argv)
  err = capsys.readouterr().err
  lines = [line for line in err.splitlines() if line.strip()]
  assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
  assert needle in lines[0], lines[0]
  return lines[0]


@pytest.mark.parametrize("name,damage", CASES, ids=[f"{n}-{d}" for n, d in CASES])
def test_damage_is_named_and_repair_restores_the_results(pristine, index, name, damage, capsys, monkeypatch):
  monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
  _, folder, query, expected, files = pristine
  _damage(index, name, damage)
  damaged_file = Path(name).name
  with pytest.raises(StylejaxError, match=damaged_file):
    retrieval.Searcher(index)
  line = _one_line_exit_2(capsys, ["search", str(index), str(query)], damaged_file)
  assert f"stylejax index repair {index}" in line
  _one_line_exit_2(capsys, ["index", "verify", str(index)], damaged_file)
  for relative, data in files.items():  # nothing was written
    if str(relative) != name and not str(relative).startswith("index"):
      assert (index / relative).read_bytes() == data, relative

  assert cli.main(["index", "repair", str(index)]) == 0
  out = capsys.readouterr().out
  assert f"found: {index / name}" in out
  for relative, data in files.items():  # intact shards are kept as they were, where they were
    if str(relative).startswith("shards/") and str(relative) != name:
      assert (index / relative).read_bytes() == data, relative
  if name == SHARD:
    assert (index / "damaged" / Path(name).name).exists() or damage == "deleted"
    assert (index / "shards" / "content-00001.npy").read_bytes() == files[Path("shards/content-00001.npy")]
  assert retrieval.verify(index).problems == ()
  if "too damaged to name their image" in out:  # the documented follow-up: embed the collection again
    added = retrieval.embed(str(folder), index, _config(), quiet=True)
    assert added.added > 0
  _assert_same_results(_results(index, query), expected)
  assert len(Store.open(index).entries()) == 6


@pytest.mark.parametrize("name,damage", CACHE_CASES, ids=[f"{n}-{d}" for n, d in CACHE_CASES])
def test_a_damaged_faiss_cache_is_named_then_rebuilt(pristine, index, name, damage, capsys, caplog, monkeypatch):
  monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
  _, _, query, expected, files = pristine
  _damage(index, name, damage)
  _one_line_exit_2(capsys, ["index", "verify", str(index)], Path(name).name)
  with caplog.at_level(logging.WARNING, logger="stylejax.retrieval.index"):
    got = _results(index, query)
  _assert_same_results(got, expected)
  warnings = [r.getMessage() for r in caplog.records if r.name == "stylejax.retrieval.index"]
  assert len(warnings) == 1 and str(index / name) in warnings[0] and "rebuilding" in warnings[0], warnings
  assert retrieval.verify(index).problems == ()
  assert all((index / r).read_bytes() == d for r, d in files.items() if str(r).startswith("shards/"))


def test_a_truncated_shard_no_longer_crashes_embed_then_every_search(pristine, index, tmp_path, capsys, monkeypatch):
  """The sequence of issue 20: the cache looked fresh, embed appended a line and crashed, then every
  search crashed. Now both refuse in one line, write nothing, and repair + embed bring it back."""
  monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
  _, folder, query, expected, _ = pristine
  shard = index / SHARD
  shard.write_bytes(shard.read_bytes()[:-100])
  more = _write_collection(tmp_path / "more", 7, seed=0)
  for path in sorted(more.iterdir())[:6]:
    path.unlink()  # one new image: img06
  manifest = (index / "manifest.jsonl").read_bytes()
  _one_line_exit_2(capsys, ["search", str(index), str(query)], "style-00001.npy: truncated")
  with pytest.raises(StylejaxError, match="style-00001.npy: truncated"):
    retrieval.embed(str(more), index, _config(), quiet=True)
  assert (index / "manifest.jsonl").read_bytes() == manifest
  _one_line_exit_2(capsys, ["search", str(index), str(query)], "style-00001.npy: truncated")
  result = retrieval.repair(index)
  assert len(result.embedded) == 2 and result.kept == 4 and not result.lost
  assert retrieval.embed(str(more), index, _config(), quiet=True).total == 7
  (hits,) = retrieval.search(index, [str(query)], k=6)
  assert {h.path for h in hits.hits} == {str(folder / f"img0{i}.png") for i in range(1, 6)} | {str(more / "img06.png")}


def test_lost_rows_whose_image_is_gone_are_reported_and_the_rest_kept(pristine, index, tmp_path):
  _, folder, _, _, _ = pristine
  (index / SHARD).unlink()
  gone = folder / "img02.png"
  gone.rename(tmp_path / "img02.png")  # shard 1 held img02, img03
  try:
    result = retrieval.repair(index)
  finally:
    (tmp_path / "img02.png").rename(gone)
  assert result.lost == (str(gone),) and result.embedded == (str(folder / "img03.png"),) and result.kept == 4
  assert [e["path"] for e in Store.open(index).entries()] == [str(folder / f"img0{i}.png") for i in (0, 1, 4, 5, 3)]


def test_a_crashed_repair_leaves_the_old_index_and_a_later_one_finishes(pristine, index, monkeypatch):
  _, _, query, expected, _ = pristine
  (index / integrity.RECORD).unlink()
  real = Store._write_record  # pylint: disable=protected-access

  def crash_at_commit(self, record):
    if "manifest_file" in record:
      raise OSError("disk full")
    real(self, record)

  monkeypatch.setattr(Store, "_write_record", crash_at_commit)
  with pytest.raises(OSError):
    retrieval.repair(index)
  with pytest.raises(StylejaxError, match="checksums.json: missing"):  # as before: damaged, not worse
    Store.open(index)
  monkeypatch.setattr(Store, "_write_record", real)

  replace = os.replace

  def crash_after_commit(src, dst):  # the record names the new manifest, which is not in place yet
    if Path(src).name == "manifest.repaired.jsonl":
      raise OSError("power cut")
    replace(src, dst)

  monkeypatch.setattr(os, "replace", crash_after_commit)
  with pytest.raises(OSError):
    retrieval.repair(index)
  monkeypatch.undo()
  _assert_same_results(_results(index, query), expected)  # the committed repair is what readers see
  assert retrieval.verify(index).problems == ()
  with Store.open(index).lock():  # the next writer puts the manifest in place
    pass
  assert not (index / "manifest.repaired.jsonl").exists() and retrieval.verify(index).problems == ()


def test_an_index_of_the_previous_format_opens_and_records_its_checksums(pristine, index, caplog):
  _, _, query, expected, _ = pristine
  (index / integrity.RECORD).unlink()
  info = json.loads((index / "embedding.json").read_text())
  del info["sha256"]
  (index / "embedding.json").write_text(json.dumps({**info, "format": 1}))
  (index / "index" / "built.json").write_text(json.dumps({"entries": 6, "options": {}}))
  with caplog.at_level(logging.WARNING):
    _assert_same_results(_results(index, query), expected)
  assert sum("written by an older stylejax" in r.getMessage() for r in caplog.records) == 1
  assert Store.open(index).info["format"] == 2 and retrieval.verify(index).problems == ()
  (index / SHARD).write_bytes(b"")  # and from now on damage is found
  with pytest.raises(StylejaxError, match="style-00001.npy: empty"):
    Store.open(index)


def test_embed_with_no_readable_image_and_search_of_an_empty_index_exit_2(tmp_path, capsys, monkeypatch):
  monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
  folder = tmp_path / "broken"
  folder.mkdir()
  for i in range(2):
    images.save_png(_texture("blobs", i), folder / f"b{i}.png")
    (folder / f"b{i}.png").write_bytes((folder / f"b{i}.png").read_bytes()[:100])
  index = tmp_path / "idx"
  argv = ["embed", str(folder), "--index", str(index), "--quiet", "--set", "embed.image_size=32"]
  line = _one_line_exit_2(capsys, argv, "2 unreadable")
  assert str(index / "unreadable.jsonl") in line and len(Store.open(index).unreadable()) == 2
  _one_line_exit_2(capsys, argv, "2 unreadable")  # again: they are skipped, still nothing readable
  query = tmp_path / "q.png"
  images.save_png(_texture("blobs", 5), query)
  line = _one_line_exit_2(capsys, ["search", str(index), str(query)], "holds no images yet")
  assert "stylejax embed SOURCE --index" in line


def test_a_damaged_unreadable_log_is_named(index):
  (index / "unreadable.jsonl").write_text('{"path": "x.png", "sha256": null, "error": "cut"}\n{"path": \n')
  with pytest.raises(StylejaxError, match="unreadable.jsonl: a line is not JSON.*delete the file"):
    Store.open(index).unreadable()
