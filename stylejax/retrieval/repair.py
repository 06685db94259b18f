"""`stylejax index verify` and `stylejax index repair`: what is damaged in an index folder, and the
index rebuilt from what is intact.

`verify` runs every check (`integrity`: the record, the manifest, the shards' headers and sha256) and
reads the faiss cache, and lists each problem. `repair`, holding the writer lock:
  - keeps every shard whose two files are intact (their recorded sha256; their .npy structure alone
    when checksums.json itself is lost) as it is: kept rows are never rewritten;
  - keeps the intact manifest lines: each shard's lines when together they match their recorded
    sha256; in a shard whose lines do not, each line that parses, names a row of an intact shard and
    whose file, where it still exists, still has the line's sha256;
  - embeds again, into new shards, the images of the lines it could not keep whose file is still
    readable; a line too damaged to name its file cannot be: the next `stylejax embed SOURCE --index
    DIR` of its collection adds that image again;
  - commits the new manifest and checksums.json together (`Store.commit`), so a crash before that
    leaves the old index as it was; then moves the damaged shard files to DIR/damaged/ (never
    deleted) and rebuilds the faiss cache.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
from pathlib import Path

import ml_collections
import numpy as np

from stylejax.atomic_io import atomic_write_text
from stylejax.errors import StylejaxError
from stylejax.imaging.crops import square
from stylejax.retrieval import index as faiss_index
from stylejax.retrieval import integrity, sources
from stylejax.retrieval.store import FORMAT, Store

KINDS = integrity.KINDS
_CACHE = "(a cache: the next search rebuilds it)"


@dataclasses.dataclass(frozen=True)
class Report:
  """What `verify` found: every problem (empty: intact), and the index's size."""
  root: Path
  entries: int
  shards: int
  problems: tuple[integrity.Problem, ...]
  cache: str  # "fresh", or why the next search rebuilds it


def verify(index_dir: str | Path) -> Report:
  """Every check, digests and the faiss cache included; nothing is written."""
  store = Store.load(index_dir)
  if store.info["format"] == 1:
    snapshot = integrity.inspect(store.root, store.info["dims"], None)
    snapshot.problems.insert(0, integrity.Problem(store.root / integrity.RECORD, "missing: written by an older "
                                                  "stylejax (any command that opens the index records it)"))
  else:
    snapshot = store.inspect(deep=True)
  problems = list(snapshot.problems)
  cache = "not checked (the index is damaged)"
  if not problems:
    options = faiss_index.IndexOptions.from_config(store.info["config"])
    loaded, damage = faiss_index.read_cache(store, snapshot, options)
    if damage is not None:
      problems.append(integrity.Problem(damage.path, f"{damage.what} {_CACHE}"))
      cache = "damaged"
    else:
      cache = "fresh" if loaded is not None else "stale (the next search rebuilds it)"
  return Report(store.root, len(snapshot.entries), len(snapshot.rows), tuple(problems), cache)


@dataclasses.dataclass(frozen=True)
class RepairResult:
  root: Path
  problems: tuple[integrity.Problem, ...]  # what was found
  kept: int  # manifest entries kept as they were
  embedded: tuple[str, ...]  # images embedded again (their rows were lost)
  lost: tuple[str, ...]  # images whose rows were lost and whose file cannot be read
  unnamed: int  # manifest lines lost or too damaged to name their image (counted by checksums.json)
  unverified: tuple[str, ...]  # kept lines of a damaged block whose file is gone: not checkable
  moved: tuple[Path, ...]  # damaged shard files, now under DIR/damaged/


@dataclasses.dataclass
class _Line:
  raw: bytes
  entry: dict | None  # None: does not parse as an entry
  path: str | None  # the image it names, when it still does
  checked: bool  # in a shard block that matches its recorded sha256 (or no record to check against)


def _lines(store: Store, record: dict | None) -> list[_Line]:
  """The manifest's complete lines; with a record, each shard's lines checked against its block."""
  path = integrity.manifest_path(store.root, record)
  data = path.read_bytes() if path.exists() else b""
  lines = []
  for raw in data.split(b"\n")[:-1]:
    entry = integrity.parse_entry(raw)
    if isinstance(entry, str):
      try:
        loose = json.loads(raw)
      except ValueError:
        loose = None
      named = loose.get("path") if isinstance(loose, dict) and isinstance(loose.get("path"), str) else None
      lines.append(_Line(raw, None, named or None, False))
    else:
      lines.append(_Line(raw, entry, entry["path"], record is None))
  if record is not None:  # by shard, not by offset: a line that changed length spoils only its own block
    by_shard: dict[int, list[_Line]] = {}
    for line in lines:
      if line.entry is not None:
        by_shard.setdefault(line.entry["shard"], []).append(line)
    for shard, _, digest, _ in record["manifest"]:
      own = by_shard.get(shard, [])
      if integrity.sha256(b"".join(line.raw + b"\n" for line in own)) == digest:
        for line in own:
          line.checked = True
  return lines


def _shards(store: Store, record: dict | None, numbers: set[int]) -> tuple[dict, dict, list]:
  """({number: rows} and {name: [size, sha256]} of intact shards, [problems of damaged files])."""
  intact, files, damaged = {}, {}, []
  recorded = (record or {}).get("files", {})
  for number in sorted(numbers):
    found = {}
    for kind in KINDS:
      name = integrity.shard_name(kind, number)
      path = store.root / name
      if record is not None and name not in recorded:
        break  # never committed (an append a crash cut short): not part of the index
      shard = integrity.inspect_shard(path, store.info["dims"][kind], recorded.get(name))
      what = shard.problem
      if what is None:
        size_digest = list(integrity.file_digest(path))
        if name in recorded and size_digest[1] != recorded[name][1]:
          what = "does not match its recorded sha256 (changed or damaged)"
      if what is not None:
        damaged.append(integrity.Problem(path, what))
        continue
      found[name] = (shard.rows, size_digest)
    if len(found) == len(KINDS) and len({rows for rows, _ in found.values()}) == 1:
      intact[number] = next(iter(found.values()))[0]
      files.update({name: digest for name, (_, digest) in found.items()})
  return intact, files, damaged


def _out_of_run(lines: list[_Line], i: int) -> bool:
  """Whether line i names another shard than the lines around it, which agree with each other."""
  def neighbour(indices):
    return next((lines[j].entry["shard"] for j in indices if lines[j].entry), None)

  before, after = neighbour(range(i - 1, -1, -1)), neighbour(range(i + 1, len(lines)))
  return before is not None and before == after != lines[i].entry["shard"]


def _source_agrees(images: sources.Named, i: int, sha256: str) -> bool | None:
  """Whether image i's file still has `sha256` (None: it cannot be read, so cannot say)."""
  try:
    return images.digest(i) == sha256
  except StylejaxError:
    return None


def _embed_again(store: Store, paths: list[str], known: set[str], quiet: bool):
  """New shard files (uncommitted) holding the readable ones of `paths`:
  ([(shard, line)], {name: [size, sha256]}, embedded paths, unreadable paths)."""
  if not paths:
    return [], {}, [], []
  from stylejax.retrieval.embedder import Embedder  # pylint: disable=import-outside-toplevel  (jax, weights)

  config = ml_collections.ConfigDict(store.info["config"])
  embedder, model = Embedder.from_config(config)
  if model != store.info["identity"]["model"]:
    raise StylejaxError(f"{store.root} was built with {store.info['identity']['model']}, but the weights found "
                        f"now are {model}: its lost images cannot be embedded again")
  images = sources.Named(paths, config.embed.tfds_data_dir)
  ready, lost = [], []
  for i, path in enumerate(paths):
    try:
      digest = images.digest(i)
      if digest not in known:
        known.add(digest)
        ready.append((path, digest, square(images.load(i), config.embed.image_size)))
    except StylejaxError as e:
      if not quiet:
        print(f"cannot embed again: {e}")
      lost.append(path)
  lines, files = [], {}
  for start in range(0, len(ready), config.embed.flush_every):
    chunk = ready[start:start + config.embed.flush_every]
    style, content = embedder(np.stack([image for _, _, image in chunk]))
    number = store.next_shard_number()
    files.update(store.write_shards(number, style, content))
    lines += [(number, line + b"\n") for line in integrity.entry_lines(
        [{"path": p, "sha256": d, "shard": number, "row": r} for r, (p, d, _) in enumerate(chunk)]).split(b"\n")[:-1]]
  return lines, files, [p for p, _, _ in ready], lost


def repair(index_dir: str | Path, quiet: bool = True) -> RepairResult:
  """Rebuilds a damaged index from its intact files (the module docstring says how); an intact one is
  left as it is, but for a damaged faiss cache, which is rebuilt."""
  store = Store.load(index_dir)
  with store.lock():
    legacy = store.info["format"] == 1
    found = verify(store.root).problems
    if not found:
      return RepairResult(store.root, (), len(store.entries()), (), (), 0, (), ())
    if all(p.what.endswith(_CACHE) for p in found):  # only the cache
      faiss_index.rebuild(store)
      return RepairResult(store.root, found, len(store.entries()), (), (), 0, (), ())
    record, _ = (None, None) if legacy else store.read_record()
    lines = _lines(store, record)
    numbers = {b[0] for b in record["manifest"]} if record is not None else set()
    numbers |= {line.entry["shard"] for line in lines if line.entry is not None}
    intact, files, damaged = _shards(store, record, numbers)
    checking = sources.Named([line.path or "" for line in lines], store.info["config"]["embed"]["tfds_data_dir"])
    kept, again, unverified, seen = [], [], [], set()
    unnamed = sum(1 for line in lines if not line.path)
    claims = collections.Counter((line.entry["shard"], line.entry["row"]) for line in lines if line.entry)
    for i, line in enumerate(lines):
      entry = line.entry
      if entry is None or entry["shard"] not in intact or entry["row"] >= intact[entry["shard"]]:
        agrees = False
      elif line.checked:
        agrees = True
      elif claims[entry["shard"], entry["row"]] > 1 or _out_of_run(lines, i):
        agrees = False  # a changed shard or row number: its file's sha256 cannot tell which row is its own
      else:
        agrees = _source_agrees(checking, i, entry["sha256"])
        if agrees is None:  # its file is gone or unreadable: the row is kept, its line cannot be checked
          unverified.append(entry["path"])
          agrees = True
      if agrees and entry["sha256"] not in seen:
        seen.add(entry["sha256"])
        kept.append((entry["shard"], entry["row"], line.raw + b"\n"))
      elif not agrees and line.path:
        again.append(line.path)
    if record is not None:  # lines the record counts that are gone, or no longer name their image
      unnamed = max(0, sum(b[3] for b in record["manifest"]) - sum(1 for line in lines if line.path))
    again = list(dict.fromkeys(again))
    new_lines, new_files, embedded, lost = _embed_again(store, again, set(seen), quiet)
    used = {shard for shard, _, _ in kept}
    files = {name: value for name, value in files.items() if int(name.rsplit("-", 1)[1][:-4]) in used}
    kept.sort(key=lambda k: k[:2])  # the order appends wrote: each shard's lines together
    store.commit([(shard, raw) for shard, _, raw in kept] + new_lines, {**files, **new_files})
    if legacy:
      store.info = {**store.info, "format": FORMAT}
      atomic_write_text(store.root / "embedding.json", integrity.seal(store.info))
    moved = []
    for problem in damaged:
      if problem.path.exists():
        target = store.root / "damaged" / problem.path.name
        target.parent.mkdir(exist_ok=True)
        os.replace(problem.path, target)
        moved.append(target)
    faiss_index.rebuild(store)
  return RepairResult(store.root, found, len(kept), tuple(embedded), tuple(lost), unnamed, tuple(unverified),
                      tuple(moved))
