"""`stylejax embed` / `stylejax search`: resume, bad files, the index against numpy, style invariance."""

import hashlib
import json
import logging

import faiss
import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from stylejax import cli, configuration, retrieval, tasks
from stylejax.errors import StylejaxError
from stylejax.imaging import images
from stylejax.retrieval import embedder as embedder_module
from stylejax.retrieval import index as faiss_index
from stylejax.retrieval import sources
from stylejax.retrieval.store import Store


def _config(size=32, **embed):
  c = configuration.load_config("retrieval")
  c.embed.image_size = size
  c.embed.batch_size = 2
  c.embed.workers = 2
  for key, value in embed.items():
    c.embed[key] = value
  return c


def _texture(kind, seed, size=64, colours=((0.1, 0.2, 0.7), (0.95, 0.8, 0.2))):
  """Synthetic paintings: wavy diagonal stripes, or round blobs, in two colours."""
  rng = np.random.default_rng(seed)
  y, x = np.mgrid[:size, :size].astype(np.float64)
  if kind == "stripes":
    wobble = ndimage.gaussian_filter(rng.standard_normal((size, size)), 6) * 40
    value = 0.5 + 0.5 * np.sin(2 * np.pi * (x + y) / 9 + wobble)
  else:
    value = 0.5 + 0.5 * np.tanh(8 * ndimage.gaussian_filter(rng.standard_normal((size, size)), 3))
  value = np.clip(value + 0.05 * rng.standard_normal((size, size)), 0, 1)[..., None]
  low, high = (np.asarray(c, np.float32) for c in colours)
  return (low + (high - low) * value).astype(np.float32)


def _shuffle_tiles(image, tiles=4, seed=0):
  side = image.shape[0] // tiles
  cells = [image[r * side:(r + 1) * side, c * side:(c + 1) * side] for r in range(tiles) for c in range(tiles)]
  cells = [cells[i] for i in np.random.default_rng(seed).permutation(len(cells))]
  return np.concatenate([np.concatenate(cells[r * tiles:(r + 1) * tiles], 1) for r in range(tiles)], 0)


def _write_collection(folder, n, seed=0):
  folder.mkdir(parents=True, exist_ok=True)
  kinds = ("stripes", "blobs")
  for i in range(n):
    images.save_png(_texture(kinds[i % 2], seed + i, size=40 + 4 * i), folder / f"img{i:02d}.png")
  return folder


@pytest.fixture(scope="module")
def built(tmp_path_factory):
  """A six-image index at 32 px, built once (exact search), and a query image that is not in it."""
  root = tmp_path_factory.mktemp("retrieval")
  folder = _write_collection(root / "collection", 6)
  query = root / "query.png"
  images.save_png(_texture("stripes", 99, 48), query)
  result = retrieval.embed(str(folder), root / "index", _config(), quiet=True)
  assert result.added == 6 and result.total == 6
  return root / "index", folder, query


def test_resume_embeds_only_new_images(tmp_path, monkeypatch):
  folder = _write_collection(tmp_path / "c", 3)
  decoded = []
  real_load = sources.images.load_image
  monkeypatch.setattr(sources.images, "load_image", lambda path, *a: decoded.append(path) or real_load(path, *a))
  first = retrieval.embed(str(folder), tmp_path / "idx", _config(), quiet=True)
  assert (first.added, first.already, len(decoded)) == (3, 0, 3)
  _write_collection(tmp_path / "c2", 5, seed=0)  # the same three images again, and two new ones
  (tmp_path / "c2" / "img00.png").rename(tmp_path / "c2" / "renamed.png")  # identity is content, not name
  decoded.clear()
  second = retrieval.embed(str(tmp_path / "c2"), tmp_path / "idx", _config(), quiet=True)
  assert (second.added, second.already, second.total) == (2, 3, 5)
  assert sorted(p.rsplit("/", 1)[1] for p in decoded) == ["img03.png", "img04.png"]  # only new work
  entries = Store.open(tmp_path / "idx").entries()
  assert len({e["sha256"] for e in entries}) == 5 and len(entries) == 5


def test_a_corrupt_image_is_skipped_and_logged_once(tmp_path, caplog):
  folder = _write_collection(tmp_path / "c", 2)
  png = folder / "cut.png"
  images.save_png(_texture("blobs", 7), png)
  png.write_bytes(png.read_bytes()[:200])
  with caplog.at_level(logging.WARNING, logger="stylejax.retrieval.pipeline"):
    first = retrieval.embed(str(folder), tmp_path / "idx", _config(), quiet=True)
    second = retrieval.embed(str(folder), tmp_path / "idx", _config(), quiet=True)
  warnings = [r for r in caplog.records if "cut.png" in r.getMessage()]
  assert len(warnings) == 1 and "\n" not in warnings[0].getMessage()
  assert (first.added, first.unreadable, first.total) == (2, 1, 2)
  assert (second.added, second.unreadable, second.total) == (0, 1, 2)


def test_a_tfds_dataset_is_a_source(tmp_path, isolated_cache):
  from stylejax.feedforward import data  # pylint: disable=import-outside-toplevel

  data.prepare_folder(_write_collection(tmp_path / "c", 3), max_side=64)  # a prepared array_record dataset
  (prepared,) = (isolated_cache / "tfds").iterdir()
  c = _config(tfds_data_dir=str(prepared))
  first = retrieval.embed("tfds:content_folder:train", tmp_path / "idx", c, quiet=True)
  again = retrieval.embed("tfds:content_folder", tmp_path / "idx", c, quiet=True)  # split train by default
  assert (first.added, again.added, again.already) == (3, 0, 3)
  paths = sorted(e["path"] for e in Store.open(tmp_path / "idx").entries())
  assert paths == [f"tfds:content_folder:train#{i}" for i in range(3)]
  assert sources.load_any(paths[0], str(prepared)).shape[-1] == 3


def _cli(monkeypatch, capsys, args):
  monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")  # what runtime.configure would set, undone after the test
  code = cli.main(args)
  return code, capsys.readouterr()


@pytest.mark.parametrize("args,needle", [
    (["embed", "{tmp}/missing", "--index", "{tmp}/new"], "no such folder"),
    (["embed", "{folder}", "--index", "{tmp}/new", "--set", "loss.statistic=mean_cov"], "loss.statistic"),
    (["search", "{index}", "{query}", "--by", "colour"], "--by must be one of"),
    (["search", "{index}", "{query}", "--k", "0"], "--k must be at least 1"),
    (["search", "{tmp}/no_index", "{query}"], "not a retrieval index"),
    (["search", "{index}", "{tmp}/missing.png"], "no such folder, image"),
], ids=["missing source", "bad statistic", "bad --by", "k<1", "no index", "missing query"])
def test_bad_arguments_exit_2_with_one_line(built, tmp_path, monkeypatch, capsys, args, needle):
  index, folder, query = built
  args = [a.format(tmp=tmp_path, folder=folder, index=index, query=query) for a in args]
  code, out = _cli(monkeypatch, capsys, args)
  lines = [l for l in out.err.splitlines() if l.strip()]
  assert code == 2 and len(lines) == 1 and needle in lines[0], out.err
  assert not (tmp_path / "new").exists()


def test_search_cli_prints_json_and_writes_a_contact_sheet(built, tmp_path, monkeypatch, capsys):
  index, _, query = built
  sheet = tmp_path / "sheet.png"
  code, out = _cli(monkeypatch, capsys, ["search", str(index), str(query), "--k", "3", "--json",
                                         "--sheet", str(sheet)])
  assert code == 0, out.err
  (result,) = json.loads(out.out)
  assert result["query"] == str(query) and [h["rank"] for h in result["results"]] == [1, 2, 3]
  styles = [h["style"] for h in result["results"]]
  assert styles == sorted(styles, reverse=True)
  with Image.open(sheet) as picture:
    assert picture.size == (4 * (128 + 4), 128 + 28 + 4)  # query + 3 results, one row


def test_exact_search_matches_numpy_brute_force(built):
  index, _, query = built
  searcher = retrieval.Searcher(index)
  source = sources.Source(str(query))
  style, content = searcher.query_vectors(source.digest(0), lambda: source.load(0))
  stored = {kind: searcher.store.vectors(kind) for kind in ("style", "content")}
  for by, vector in (("style", style), ("content", content)):
    sims = stored[by] @ (vector / np.linalg.norm(vector))
    expected = np.argsort(-sims, kind="stable")[:4]
    hits = searcher.rank(style, content, source.digest(0), by, 4)
    paths = [e["path"] for e in searcher.entries]
    assert [h.path for h in hits] == [paths[i] for i in expected]
    np.testing.assert_allclose([getattr(h, by) for h in hits], sims[expected], atol=1e-5)


def test_an_indexed_query_is_not_embedded_again_and_never_finds_itself(built):
  index, folder, _ = built
  searcher = retrieval.Searcher(index)
  (result,) = searcher.search([str(folder / "img02.png")], by="style", k=10)
  assert searcher._embedder is None  # pylint: disable=protected-access
  assert len(result.hits) == 5 and all(not h.path.endswith("img02.png") for h in result.hits)


@pytest.mark.parametrize("options", [{}, {"approximate_above": 0, "method": "ivf", "ivf_lists": 2},
                                     {"approximate_above": 0, "method": "hnsw"}], ids=["exact", "ivf", "hnsw"])
def test_rebuilding_from_stored_embeddings_gives_identical_results(built, options):
  index, _, query = built
  store = Store.open(index)
  chosen = faiss_index.IndexOptions(**{**vars(faiss_index.IndexOptions.from_config(store.info["config"])),
                                       **options})
  queries = np.random.default_rng(0).standard_normal((3, store.info["dims"]["style"])).astype(np.float32)
  first = faiss_index.rebuild(store, chosen)
  before = faiss_index.search(first.style, queries, 4, chosen)
  for path in (index / "index").iterdir():
    path.unlink()
  again = faiss_index.rebuild(store, chosen)
  after = faiss_index.search(again.style, queries, 4, chosen)
  np.testing.assert_array_equal(before[1], after[1])
  np.testing.assert_array_equal(before[0], after[0])
  if options:
    assert not isinstance(again.style, faiss.IndexFlatIP)
  faiss_index.rebuild(store)  # leave the exact index for the other tests


def test_searching_rebuilds_a_missing_or_stale_index(built):
  index, folder, _ = built
  expected = retrieval.search(index, [str(folder / "img01.png")], k=3)
  for path in (index / "index").iterdir():
    path.unlink()
  assert retrieval.search(index, [str(folder / "img01.png")], k=3) == expected
  assert (index / "index" / "style.faiss").exists()


def test_style_not_content_pushes_the_same_scene_down(built):
  index, folder, _ = built
  searcher = retrieval.Searcher(index)
  # A lower-contrast copy of img03 as the query: the same scene, so img03 must go to the end.
  faded = sources.Source(str(folder / "img03.png")).load(0) * 0.8 + 0.1
  style, content = searcher._embed(faded)  # pylint: disable=protected-access
  by_style = searcher.rank(style, content, "not-indexed", "style", 6)
  mixed = searcher.rank(style, content, "not-indexed", "style-not-content", 6, content_threshold=0.9)
  same = [h for h in by_style if h.content > 0.9]
  assert [h.path for h in same] == [str(folder / "img03.png")]
  assert mixed[-1].path == same[0].path and mixed[-1].pushed_down
  assert [h.path for h in mixed[:-1]] == [h.path for h in by_style if h.path != same[0].path]


def test_an_index_refuses_embeddings_made_another_way(built):
  index, folder, _ = built
  c = _config()
  c.loss.statistic = "mean_var"
  with pytest.raises(StylejaxError, match="other settings.*loss"):
    retrieval.embed(str(folder), index, c, quiet=True)


@pytest.mark.parametrize("statistic", ["gram", "mean_var", "sliced_wasserstein"])
def test_style_is_closer_to_a_tile_shuffled_copy_than_to_another_painting(statistic):
  c = _config(size=64)
  c.loss.statistic = statistic
  embed, _ = embedder_module.Embedder.from_config(c)  # the packaged vgg16-lpips weights
  painting = _texture("stripes", 1)
  shuffled = _shuffle_tiles(painting)
  other = _texture("blobs", 2)  # the same two colours: only the texture differs
  assert np.abs(shuffled - painting).mean() > 0.1  # the shuffle moved the pixels a lot
  style, content = embed(np.stack([painting, shuffled, other]))
  assert style[0] @ style[1] > style[0] @ style[2] + 0.02
  assert content[0] @ content[1] < 1 - 1e-3  # content, unlike style, sees the tiles move


def test_one_compiled_step_serves_every_batch_and_padding_changes_nothing(built):
  embed, _ = embedder_module.Embedder.from_config(_config())
  batch = np.stack([_texture("blobs", s, size=32) for s in range(5)])
  style, content = embed(batch)  # 3 steps of 2, the last one padded
  alone_style, alone_content = embed(batch[4:])
  assert embed.traces == 1 and style.shape == (5, 512)
  np.testing.assert_allclose(style[4], alone_style[0], atol=1e-5)
  np.testing.assert_allclose(content[4], alone_content[0], atol=1e-5)
  np.testing.assert_allclose(np.linalg.norm(style, axis=1), 1, atol=1e-5)


def test_pca_reduction_fits_the_collection_and_searches(tmp_path):
  folder = _write_collection(tmp_path / "c", 5)
  c = _config(style_dim=3, reduction="pca", pca_input_dim=64)
  retrieval.embed(str(folder), tmp_path / "idx", c, quiet=True)
  searcher = retrieval.Searcher(tmp_path / "idx")
  assert searcher.indexes.style.d == 3 and searcher.indexes.pca["components"].shape == (3, 64)
  (result,) = searcher.search([str(folder / "img00.png")], k=2)
  assert len(result.hits) == 2 and -1 <= result.hits[0].style <= 1


def test_lines_an_append_left_uncommitted_are_ignored_then_cut(tmp_path):
  store = Store.create_or_open(tmp_path, {"identity": {}, "config": {}, "dims": {"style": 2, "content": 1}})
  sha = {name: hashlib.sha256(name.encode()).hexdigest() for name in "abc"}
  store.append(["a"], [sha["a"]], np.ones((1, 2)), np.ones((1, 1)))
  with open(tmp_path / "manifest.jsonl", "a") as f:  # a crash after the lines, before checksums.json: and mid-line
    f.write(json.dumps({"path": "b", "row": 0, "sha256": sha["b"], "shard": 1}) + '\n{"path": "b", "sha2')
  assert [e["path"] for e in store.entries()] == ["a"]
  store.append(["c"], [sha["c"]], np.full((1, 2), 2.0), np.full((1, 1), 2.0))
  assert [e["path"] for e in store.entries()] == ["a", "c"]
  assert (tmp_path / "manifest.jsonl").read_text().count("\n") == 2
  np.testing.assert_array_equal(store.vectors("style"), [[1, 1], [2, 2]])


@pytest.mark.parametrize("override,needle", [
    ("loss.statistic=mean_cov", "loss.statistic"), ("embed.reduction=svd", "embed.reduction"),
    ("embed.image_size=16", "at least 32"), ("index.method=lsh", "index.method"),
    ("embed.network=resnet", "embed.network"), ("embed.network=ghiasi,embed.reduction=pca", "stores the")])
def test_retrieval_config_validation(override, needle):
  c = configuration.apply_overrides(configuration.load_config("retrieval"), override.split(","))
  with pytest.raises(StylejaxError, match=needle):
    tasks.validate(c)
