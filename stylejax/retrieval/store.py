"""The embeddings on disk: append-only .npy shards and a manifest, from which the index is rebuilt.

  DIR/embedding.json    what made the vectors: model and weights, statistic, the config, its own sha256
  DIR/manifest.jsonl    one line per image, in index order: path, sha256, shard, row
  DIR/shards/style-00003.npy, content-00003.npy    the vectors of one flush (unit rows, float32)
  DIR/checksums.json    size and sha256 of every shard and of each shard's manifest lines (`integrity`)
  DIR/unreadable.jsonl  files that could not be read (path, sha256, error): not retried, not logged again
  DIR/index/            the faiss indexes (`stylejax.retrieval.index`), rebuildable from the above
  DIR/damaged/          shard files `stylejax index repair` found damaged, moved aside (never deleted)

Crash safety: a shard pair is written atomically (`stylejax.atomic_io`), then its manifest lines are
appended, then checksums.json is rewritten atomically: that is the commit. Manifest lines past the
recorded ones (an append a crash cut short, torn or not) are ignored and cut off before the next append;
an orphan shard (written, never recorded) is never read, and its number is not reused. A repair commits
its new manifest and record together (`commit`). Every open checks the files (`integrity`) and names
the damaged one. One writer at a time: `lock()`.
"""
from __future__ import annotations

import contextlib
import fcntl
import io
import json
import logging
import os
from pathlib import Path

import numpy as np

from stylejax.errors import StylejaxError
from stylejax import nested
from stylejax.atomic_io import atomic_write_bytes, atomic_write_text
from stylejax.retrieval import integrity

FORMAT = 2  # 1: written before checksums; opened once to record them (`Store._upgrade`)
KINDS = integrity.KINDS
_PENDING = "manifest.repaired.jsonl"  # a repair's new manifest, before it replaces manifest.jsonl

log = logging.getLogger(__name__)


def _read_jsonl(path: Path) -> list[dict]:
  """Complete lines only: a torn last line (no newline) is not a record."""
  if not path.exists():
    return []
  lines = path.read_bytes().split(b"\n")[:-1]  # the part after the last newline is torn or empty
  try:
    return [json.loads(line) for line in lines if line.strip()]
  except ValueError as e:
    raise StylejaxError(f"{path}: a line is not JSON ({e}); delete the file (its images are then tried "
                        "again)") from None


def _append_jsonl(path: Path, records: list[dict]) -> None:
  """Appends whole lines, after cutting a torn last line left by a crash."""
  if path.exists() and path.stat().st_size:
    with open(path, "rb+") as f:
      f.seek(-1, os.SEEK_END)
      if f.read(1) != b"\n":
        f.seek(0)
        f.truncate(f.read().rfind(b"\n") + 1)
  with open(path, "a", encoding="utf-8") as f:
    f.write("".join(json.dumps(r, sort_keys=True) + "\n" for r in records))
    f.flush()
    os.fsync(f.fileno())


class Store:
  """One index folder. `Store.open` reads an existing one (checked); `Store.create_or_open` also makes
  one; `Store.load` reads only its embedding.json (for `index verify` and `index repair`)."""

  def __init__(self, root: Path, info: dict):
    self.root = root
    self.info = info

  @classmethod
  def load(cls, root: str | Path) -> "Store":
    """The folder's settings, unchecked otherwise; a format-1 store keeps info["format"] == 1."""
    root = Path(root)
    path = root / "embedding.json"
    if not path.is_file():
      raise StylejaxError(f"{root}: not a retrieval index (no embedding.json); build one with "
                          "`stylejax embed SOURCE --index DIR`")
    info, what, sealed = integrity.unseal(path)
    if what is None and info.get("format") == FORMAT and not sealed:
      what = "lacks its own sha256"
    if what is None and not (isinstance(info.get("dims"), dict) and isinstance(info.get("config"), dict)):
      what = "lacks the vectors' dimensions or the config"
    if what is not None:
      raise StylejaxError(f"{path}: {what}; it records how the vectors were made: restore it from a backup, "
                          "or embed the collection into a new --index")
    if info.get("format") not in (1, FORMAT):
      raise StylejaxError(f"{path}: index format {info.get('format')!r}, this stylejax reads {FORMAT} (and 1)")
    return cls(root, info)

  @classmethod
  def open(cls, root: str | Path) -> "Store":
    """An index folder whose files pass the cheap checks (`integrity.inspect`); else a StylejaxError
    naming the damaged file and `stylejax index repair`."""
    store = cls.load(root)
    if store.info["format"] == 1:
      store._upgrade()  # pylint: disable=protected-access
    store.snapshot()
    return store

  def _upgrade(self) -> None:
    """A format-1 index (no checksums): if its files pass the structure checks, records their
    checksums now and marks it format 2; one line says so."""
    try:
      with self.lock():
        snapshot = integrity.inspect(self.root, self.info["dims"], None)
        if snapshot.problems:
          raise integrity.fail(self.root, snapshot.problems)
        data = snapshot.manifest.read_bytes() if snapshot.manifest.exists() else b""
        lines = data.split(b"\n")[:-1]
        _, blocks = integrity.blocks_of([(e["shard"], line + b"\n") for e, line in zip(snapshot.entries, lines)])
        files = {}
        for number in sorted({e["shard"] for e in snapshot.entries}):
          for kind in KINDS:
            files[integrity.shard_name(kind, number)] = list(integrity.file_digest(self._shard(kind, number)))
        self._write_record({**integrity.empty_record(), "files": files, "manifest": blocks})
        self.info = {**self.info, "format": FORMAT}
        atomic_write_text(self.root / "embedding.json", integrity.seal(self.info))
    except OSError as e:
      raise StylejaxError(f"{self.root}: written by an older stylejax without checksums, which cannot be "
                          f"recorded now ({e.strerror or e}); open it once where the folder is writable") from None
    log.warning("%s: written by an older stylejax without checksums; its files passed the structure checks "
                "and their checksums are recorded now", self.root)

  @classmethod
  def create_or_open(cls, root: str | Path, info: dict) -> "Store":
    """Opens `root` if it holds vectors made the same way (`info["identity"]`), else makes it."""
    root = Path(root)
    info = json.loads(json.dumps({"format": FORMAT, **info}))  # what reading it back gives
    if (root / "embedding.json").exists():
      store = cls.open(root)
      ours, theirs = info["identity"], store.info.get("identity", {})
      if ours != theirs:
        ours, theirs = nested.flatten(ours), nested.flatten(theirs)
        differ = sorted(k for k in set(ours) | set(theirs) if ours.get(k) != theirs.get(k))
        raise StylejaxError(f"{root} holds embeddings made with other settings ({', '.join(differ)}); "
                            "embed into another --index folder, or use the settings it was built with")
      if info != store.info:  # only what does not change the vectors (batch size, index options)
        atomic_write_text(root / "embedding.json", integrity.seal(info))
        store.info = info
      return store
    if root.exists() and not root.is_dir():
      raise StylejaxError(f"--index {root} is a file, not a folder")
    (root / "shards").mkdir(parents=True, exist_ok=True)
    store = cls(root, info)
    store._write_record(integrity.empty_record())  # before embedding.json, which marks an index
    atomic_write_text(root / "embedding.json", integrity.seal(info))
    return store

  @contextlib.contextmanager
  def lock(self):
    """Exclusive while writing: two writers would interleave shards and manifest lines."""
    with open(self.root / ".lock", "w") as f:
      try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
      except BlockingIOError:
        raise StylejaxError(f"{self.root}: another `stylejax embed` or `index repair` is writing to this "
                            "index") from None
      try:
        self._finish_commit()
        yield self
      finally:
        fcntl.flock(f, fcntl.LOCK_UN)

  # The record and the checks.

  def read_record(self) -> tuple[dict | None, integrity.Problem | None]:
    path = self.root / integrity.RECORD
    record, what, sealed = integrity.unseal(path)
    if what is None and not sealed:
      what = "lacks its own sha256"
    if what is None:
      what = integrity.record_problem(record)
    if what is not None:
      if what == "missing":
        what = "missing (the index cannot be checked without it)"
      return None, integrity.Problem(path, what)
    return record, None

  def _write_record(self, record: dict) -> None:
    atomic_write_text(self.root / integrity.RECORD, integrity.seal(record))

  def inspect(self, deep: bool = False) -> integrity.Snapshot:
    """Every problem found (none raised); `deep` also compares the shards' sha256."""
    record, problem = self.read_record()
    snapshot = integrity.inspect(self.root, self.info["dims"], record)
    if problem is not None:
      snapshot.problems.insert(0, problem)
    elif deep:
      damaged = {p.path for p in snapshot.problems}
      snapshot.problems += [p for p in integrity.shard_digest_problems(self.root, record) if p.path not in damaged]
    return snapshot

  def snapshot(self, deep: bool = False) -> integrity.Snapshot:
    """The committed entries, checked; a StylejaxError naming the first damaged file otherwise."""
    record_path = self.root / integrity.RECORD
    for _ in range(3):  # a writer committing while we read changes the record: read again
      before = record_path.read_bytes() if record_path.exists() else None
      snapshot = self.inspect(deep)
      if not snapshot.problems:
        return snapshot
      if (record_path.read_bytes() if record_path.exists() else None) == before:
        break
    raise integrity.fail(self.root, snapshot.problems)

  def entries(self) -> list[dict]:
    """The manifest's committed entries, in index order: {"path", "sha256", "shard", "row"}."""
    return self.snapshot().entries

  def unreadable(self) -> list[dict]:
    return _read_jsonl(self.root / "unreadable.jsonl")

  # Writing.

  def _shard(self, kind: str, number: int) -> Path:
    return self.root / integrity.shard_name(kind, number)

  def next_shard_number(self) -> int:
    """Above every shard file there is, listed or not, damaged or not: a number is never reused."""
    taken = [int(p.stem.split("-")[1]) for folder in ("shards", "damaged")
             for p in (self.root / folder).glob("*-*.npy") if p.stem.split("-")[1].isdigit()]
    return max(taken, default=-1) + 1

  def write_shards(self, number: int, style: np.ndarray, content: np.ndarray) -> dict:
    """One shard pair, atomically; {name: [size, sha256]} for the record."""
    files = {}
    for kind, vectors in zip(KINDS, (style, content)):
      buffer = io.BytesIO()
      np.save(buffer, np.ascontiguousarray(vectors, np.float32))
      data = buffer.getvalue()
      atomic_write_bytes(self._shard(kind, number), data)
      files[integrity.shard_name(kind, number)] = [len(data), integrity.sha256(data)]
    return files

  def append(self, paths: list[str], digests: list[str], style: np.ndarray, content: np.ndarray) -> None:
    """One shard pair, then its manifest lines, then the record (the commit)."""
    record, problem = self.read_record()
    if problem is not None:
      raise integrity.fail(self.root, [problem])
    committed = integrity.committed_bytes(record)
    manifest = self.root / integrity.MANIFEST
    manifest.touch()
    if manifest.stat().st_size < committed:
      raise integrity.fail(self.root, [integrity.Problem(
          manifest, f"truncated: {manifest.stat().st_size} bytes, {committed} recorded")])
    number = self.next_shard_number()
    files = self.write_shards(number, style, content)
    lines = integrity.entry_lines([{"path": p, "sha256": d, "shard": number, "row": r}
                                   for r, (p, d) in enumerate(zip(paths, digests))])
    with open(manifest, "rb+") as f:
      f.truncate(committed)  # lines of an append a crash cut short were never committed
      f.seek(0, os.SEEK_END)
      f.write(lines)
      f.flush()
      os.fsync(f.fileno())
    self._write_record({**record, "files": {**record["files"], **files},
                        "manifest": record["manifest"] + [[number, len(lines), integrity.sha256(lines), len(paths)]]})

  def commit(self, lines: list[tuple[int, bytes]], files: dict) -> None:
    """Replaces the manifest (lines: (shard, line bytes), in order) and the record. The record naming
    the new manifest under its own name is the commit point, so a crash leaves the old index or the
    new one; `lock` finishes a commit a crash interrupted."""
    data, blocks = integrity.blocks_of(lines)
    record = {**integrity.empty_record(), "files": files, "manifest": blocks}
    atomic_write_bytes(self.root / _PENDING, data)
    self._write_record({**record, "manifest_file": _PENDING})
    os.replace(self.root / _PENDING, self.root / integrity.MANIFEST)
    self._write_record(record)

  def _finish_commit(self) -> None:
    record, _ = self.read_record()
    pending = self.root / _PENDING
    if record is not None and record.get("manifest_file", integrity.MANIFEST) != integrity.MANIFEST:
      if pending.exists():
        os.replace(pending, self.root / integrity.MANIFEST)
      del record["manifest_file"]
      self._write_record(record)
    elif pending.exists():  # written by a repair that crashed before its commit
      pending.unlink()

  def record_unreadable(self, path: str, digest: str | None, error: str) -> None:
    _append_jsonl(self.root / "unreadable.jsonl", [{"path": path, "sha256": digest, "error": error}])

  def vectors(self, kind: str, entries: list[dict] | None = None) -> np.ndarray:
    """(len(entries), dim) float32 vectors of `kind`, in manifest order."""
    entries = self.entries() if entries is None else entries
    dim = self.info["dims"][kind]
    if not entries:
      return np.zeros((0, dim), np.float32)
    shards = {}
    for n in {e["shard"] for e in entries}:
      try:
        shards[n] = np.load(self._shard(kind, n), mmap_mode="r")
      except (OSError, ValueError) as e:  # checked at open: changed since
        raise integrity.fail(self.root, [integrity.Problem(self._shard(kind, n), f"unreadable ({e})")]) from None
    out = np.empty((len(entries), dim), np.float32)
    start = 0
    while start < len(entries):  # runs of one shard's rows: one fancy index per run
      shard = entries[start]["shard"]
      end = start
      while end < len(entries) and entries[end]["shard"] == shard:
        end += 1
      out[start:end] = shards[shard][[e["row"] for e in entries[start:end]]]
      start = end
    return out
