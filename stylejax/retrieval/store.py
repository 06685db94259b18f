"""The embeddings on disk: append-only .npy shards and a manifest, from which the index is rebuilt.

  DIR/embedding.json    what made the vectors: model and weights, statistic, the config (written once)
  DIR/manifest.jsonl    one line per image, in index order: path, sha256, shard, row
  DIR/shards/style-00003.npy, content-00003.npy    the vectors of one flush (unit rows, float32)
  DIR/unreadable.jsonl  files that could not be read (path, sha256, error): not retried, not logged again
  DIR/index/            the faiss indexes (`stylejax.retrieval.index`), rebuildable from the above

Crash safety: a shard pair is written atomically (`stylejax.io.atomic_io`) before its manifest lines are
appended, so every manifest line names vectors that exist. A torn last line (a crash mid-append) is
ignored when read and cut off before the next append. An orphan shard (written, never listed) is
never read, and its number is not reused. One writer at a time: `lock()`.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
from pathlib import Path

import numpy as np

from stylejax.errors import StylejaxError
from stylejax.io import nested
from stylejax.io.atomic_io import atomic_write, atomic_write_text

FORMAT = 1
KINDS = ("style", "content")


def _read_jsonl(path: Path) -> list[dict]:
  """Complete lines only: a torn last line (no newline) is not a record."""
  if not path.exists():
    return []
  text = path.read_text()
  lines = text.split("\n")[:-1]  # the part after the last newline is torn or empty
  return [json.loads(line) for line in lines if line.strip()]


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
  """One index folder. `Store.open` reads an existing one; `Store.create_or_open` also makes one."""

  def __init__(self, root: Path, info: dict):
    self.root = root
    self.info = info

  @classmethod
  def open(cls, root: str | Path) -> "Store":
    root = Path(root)
    path = root / "embedding.json"
    if not path.is_file():
      raise StylejaxError(f"{root}: not a retrieval index (no embedding.json); build one with "
                          "`stylejax embed SOURCE --index DIR`")
    try:
      info = json.loads(path.read_text())
    except ValueError as e:
      raise StylejaxError(f"{path}: unreadable ({e})") from None
    if info.get("format") != FORMAT:
      raise StylejaxError(f"{path}: index format {info.get('format')!r}, this stylejax reads {FORMAT}")
    return cls(root, info)

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
        atomic_write_text(root / "embedding.json", json.dumps(info, indent=1, sort_keys=True))
        store.info = info
      return store
    if root.exists() and not root.is_dir():
      raise StylejaxError(f"--index {root} is a file, not a folder")
    (root / "shards").mkdir(parents=True, exist_ok=True)
    atomic_write_text(root / "embedding.json", json.dumps(info, indent=1, sort_keys=True))
    return cls(root, info)

  @contextlib.contextmanager
  def lock(self):
    """Exclusive while embedding: two writers would interleave shards and manifest lines."""
    with open(self.root / ".lock", "w") as f:
      try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
      except BlockingIOError:
        raise StylejaxError(f"{self.root}: another `stylejax embed` is writing to this index") from None
      try:
        yield self
      finally:
        fcntl.flock(f, fcntl.LOCK_UN)

  def entries(self) -> list[dict]:
    """The manifest, in index order: {"path", "sha256", "shard", "row"}."""
    return _read_jsonl(self.root / "manifest.jsonl")

  def unreadable(self) -> list[dict]:
    return _read_jsonl(self.root / "unreadable.jsonl")

  def _shard(self, kind: str, number: int) -> Path:
    return self.root / "shards" / f"{kind}-{number:05d}.npy"

  def append(self, paths: list[str], digests: list[str], style: np.ndarray, content: np.ndarray) -> None:
    """One shard pair, then its manifest lines."""
    taken = [int(p.stem.split("-")[1]) for p in (self.root / "shards").glob("style-*.npy")]
    number = max(taken, default=-1) + 1
    for kind, vectors in zip(KINDS, (style, content)):
      buffer = io.BytesIO()
      np.save(buffer, np.ascontiguousarray(vectors, np.float32))
      atomic_write(self._shard(kind, number), lambda tmp, b=buffer: Path(tmp).write_bytes(b.getvalue()))
    _append_jsonl(self.root / "manifest.jsonl", [
        {"path": p, "sha256": d, "shard": number, "row": r} for r, (p, d) in enumerate(zip(paths, digests))])

  def record_unreadable(self, path: str, digest: str | None, error: str) -> None:
    _append_jsonl(self.root / "unreadable.jsonl", [{"path": path, "sha256": digest, "error": error}])

  def vectors(self, kind: str, entries: list[dict] | None = None) -> np.ndarray:
    """(len(entries), dim) float32 vectors of `kind`, in manifest order."""
    entries = self.entries() if entries is None else entries
    dim = self.info["dims"][kind]
    if not entries:
      return np.zeros((0, dim), np.float32)
    shards = {n: np.load(self._shard(kind, n), mmap_mode="r") for n in {e["shard"] for e in entries}}
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
