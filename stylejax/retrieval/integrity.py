"""What each file of an index folder must hold, and what is wrong with one that does not.

The record, DIR/checksums.json, lists the size and sha256 of every shard and, in manifest order, each
shard's block of manifest lines: [shard, bytes, sha256, lines]. It is rewritten atomically after each
append: it is the commit point, so manifest lines past the recorded blocks (an append cut short by a
crash) and shards it does not list are not part of the index. The record, embedding.json and the
faiss cache's built.json carry the sha256 of their own content (`seal`), so a flipped byte in them is
found too.

Two costs of checking: `inspect` (every open: the record, the manifest's lines and block digests,
every shard's size and .npy header) and `shard_digest_problems` (the shards' sha256: `index verify`,
`index repair`, and whenever the faiss cache is validated or rebuilt). Every finding is a `Problem`
naming the file; `fail` turns them into one StylejaxError line with the recovery command.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from pathlib import Path

import numpy as np

from stylejax.errors import StylejaxError

RECORD = "checksums.json"
MANIFEST = "manifest.jsonl"
RECORD_FORMAT = 1
KINDS = ("style", "content")
_ENTRY_KEYS = {"path", "sha256", "shard", "row"}
_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclasses.dataclass(frozen=True)
class Problem:
  path: Path
  what: str

  def __str__(self) -> str:
    return f"{self.path}: {self.what}"


def repair_hint(root: Path) -> str:
  return f"`stylejax index repair {root}` rebuilds the index from its intact files"


def fail(root: Path, problems: list[Problem]) -> StylejaxError:
  """One line: the first problem, how many more, and the recovery command."""
  more = f" ({len(problems) - 1} more: `stylejax index verify {root}` lists them)" if len(problems) > 1 else ""
  return StylejaxError(f"{problems[0]}{more}; {repair_hint(root)}")


def shard_name(kind: str, number: int) -> str:
  return f"shards/{kind}-{number:05d}.npy"


def sha256(data: bytes) -> str:
  return hashlib.sha256(data).hexdigest()


def file_digest(path: Path) -> tuple[int, str]:
  with open(path, "rb") as f:
    return path.stat().st_size, hashlib.file_digest(f, "sha256").hexdigest()


def _canonical(obj) -> bytes:
  return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def seal(obj: dict) -> str:
  """JSON text of `obj` plus the sha256 of its canonical form."""
  return json.dumps({**obj, "sha256": sha256(_canonical(obj))}, indent=1, sort_keys=True) + "\n"


def unseal(path: Path) -> tuple[dict | None, str | None, bool]:
  """(content without its digest, what is wrong or None, whether it carried a digest): a file
  without one was written by an older stylejax, and the caller decides."""
  try:
    text = path.read_text()
  except FileNotFoundError:
    return None, "missing", False
  except (OSError, UnicodeDecodeError) as e:
    return None, f"unreadable ({e})", False
  if not text.strip():
    return None, f"empty ({len(text)} bytes)", False
  try:
    obj = json.loads(text)
  except ValueError as e:
    return None, f"not valid JSON ({e}): truncated or damaged", False
  if not isinstance(obj, dict):
    return None, "not a JSON object", False
  recorded = obj.pop("sha256", None)
  if recorded is not None and recorded != sha256(_canonical(obj)):
    return None, "does not match its own sha256 (changed or damaged)", True
  return obj, None, recorded is not None


def empty_record() -> dict:
  return {"format": RECORD_FORMAT, "files": {}, "manifest": []}


def record_problem(record: dict) -> str | None:
  """What is wrong with the structure of a (digest-checked) record, or None."""
  if record.get("format") != RECORD_FORMAT:
    return f"record format {record.get('format')!r}, this stylejax reads {RECORD_FORMAT}"
  files, blocks = record.get("files"), record.get("manifest")
  if not isinstance(files, dict) or not isinstance(blocks, list):
    return "lacks its files or manifest blocks"
  for name, value in files.items():
    if not (isinstance(value, list) and len(value) == 2 and isinstance(value[0], int)
            and isinstance(value[1], str) and _HEX64.fullmatch(value[1])):
      return f"its entry for {name} is not [size, sha256]"
  for block in blocks:
    if not (isinstance(block, list) and len(block) == 4 and all(isinstance(block[i], int) for i in (0, 1, 3))
            and isinstance(block[2], str) and _HEX64.fullmatch(block[2])):
      return f"its manifest block {block!r} is not [shard, bytes, sha256, lines]"
  shards = [block[0] for block in blocks]
  if shards != sorted(set(shards)):
    return "its manifest blocks are not in increasing shard order"
  return None


def manifest_path(root: Path, record: dict | None) -> Path:
  """The manifest the record describes: a repair commits its new manifest under another name first."""
  name = (record or {}).get("manifest_file", MANIFEST)
  path = root / name
  return path if name == MANIFEST or path.exists() else root / MANIFEST


def committed_bytes(record: dict) -> int:
  return sum(block[1] for block in record["manifest"])


def blocks_of(lines: list[tuple[int, bytes]]) -> tuple[bytes, list[list]]:
  """Manifest bytes of (shard, line) pairs, in order, and their record blocks: one per run of a shard."""
  blocks, chunks = [], []
  start = 0
  while start < len(lines):
    end = start
    while end < len(lines) and lines[end][0] == lines[start][0]:
      end += 1
    chunk = b"".join(line for _, line in lines[start:end])
    blocks.append([lines[start][0], len(chunk), sha256(chunk), end - start])
    chunks.append(chunk)
    start = end
  return b"".join(chunks), blocks


def entry_lines(entries: list[dict]) -> bytes:
  return "".join(json.dumps({k: e[k] for k in sorted(_ENTRY_KEYS)}, sort_keys=True) + "\n"
                 for e in entries).encode()


def parse_entry(line: bytes) -> dict | str:
  """A manifest line's entry, or what is wrong with it."""
  try:
    entry = json.loads(line)
  except ValueError as e:
    return f"not JSON ({getattr(e, 'msg', e)})"
  if not isinstance(entry, dict) or set(entry) != _ENTRY_KEYS:
    return "not a manifest entry (path, sha256, shard, row)"
  if not isinstance(entry["path"], str) or not entry["path"]:
    return "its path is not a file name"
  if not isinstance(entry["sha256"], str) or not _HEX64.fullmatch(entry["sha256"]):
    return "its sha256 is not 64 hex digits"
  if any(type(entry[k]) is not int or entry[k] < 0 for k in ("shard", "row")):  # pylint: disable=unidiomatic-typecheck
    return "its shard and row are not non-negative integers"
  return entry


@dataclasses.dataclass(frozen=True)
class Shard:
  """What a shard file's header says, and what is wrong with the file (None: nothing found)."""
  rows: int
  problem: str | None


def inspect_shard(path: Path, dim: int, recorded: list | None) -> Shard:
  """The cheap checks of one shard: present, a float32 (rows, dim) .npy as long as its header says,
  and as long as the record says."""
  try:
    size = path.stat().st_size
    with open(path, "rb") as f:
      if size == 0:
        return Shard(0, "empty (0 bytes)" + (f", {recorded[0]} recorded" if recorded else ""))
      try:
        version = np.lib.format.read_magic(f)
        reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = reader(f)
      except (ValueError, OSError, SyntaxError) as e:
        return Shard(0, f"not a .npy array ({e})")
      header = f.tell()
  except FileNotFoundError:
    return Shard(0, "missing")
  except OSError as e:
    return Shard(0, f"unreadable ({e.strerror or e})")
  if dtype != np.dtype("<f4"):
    return Shard(0, f"holds {dtype} vectors, not float32")
  if len(shape) != 2 or shape[1] != dim:
    return Shard(0, f"holds an array of shape {shape}, not (rows, {dim})")
  expected = header + shape[0] * dim * 4
  if size != expected:
    return Shard(shape[0], f"truncated: {size} bytes, its header says {expected}" if size < expected
                 else f"{size} bytes, its header says {expected}")
  if recorded is not None and size != recorded[0]:
    return Shard(shape[0], f"{size} bytes, {recorded[0]} recorded")
  return Shard(shape[0], None)


@dataclasses.dataclass
class Snapshot:
  """One reading of an index folder: the committed entries, and every problem found."""
  record: dict | None
  entries: list[dict]
  problems: list[Problem]
  manifest: Path
  rows: dict[int, int]  # shard number -> rows (shards whose files passed the cheap checks)


def _lines(data: bytes) -> list[bytes]:
  """Complete lines (the part after the last newline is torn or empty)."""
  return data.split(b"\n")[:-1]


def _check_manifest(manifest: Path, data: bytes, record: dict | None) -> tuple[list, list[Problem]]:
  """([(line number, entry)] of the committed lines, problems). Each shard's lines are compared with
  its recorded block wherever they are, so a line that changed length spoils only its own block;
  lines after the last committed one that name a newer shard are an append a crash cut short."""
  problems, parsed = [], []
  for number, line in enumerate(_lines(data), 1):
    entry = parse_entry(line)
    if isinstance(entry, str):
      problems.append(Problem(manifest, f"line {number} is {entry}" if entry.startswith("not")
                              else f"line {number}: {entry}"))
    else:
      parsed.append((number, line, entry))
  if record is None:
    return [(n, e) for n, _, e in parsed], problems
  blocks = {block[0]: block for block in record["manifest"]}
  last = max((n for n, _, e in parsed if e["shard"] in blocks), default=0)
  committed = []
  for number, line, entry in parsed:
    if entry["shard"] in blocks:
      committed.append((number, line, entry))
    elif number < last or entry["shard"] < max(blocks, default=-1):
      problems.append(Problem(manifest, f"line {number} names shard {entry['shard']}, which {RECORD} does not list"))
  bad_parse = bool(problems)
  by_shard: dict[int, list] = {}
  for number, line, entry in committed:
    by_shard.setdefault(entry["shard"], []).append((number, line))
  for shard, _, digest, count in record["manifest"]:
    own = by_shard.get(shard, [])
    if sha256(b"".join(line + b"\n" for _, line in own)) == digest:
      continue
    if len(own) != count:
      what = f"holds {len(own)} line(s) of shard {shard}, {count} recorded"
    else:
      span = f"line {own[0][0]}" if count == 1 else f"lines {own[0][0]}-{own[-1][0]}"
      what = f"{span} (shard {shard}) do not match their recorded sha256 (changed or damaged)"
    problems.append(Problem(manifest, what))
  size, expected = len(data), committed_bytes(record)
  if size < expected and not bad_parse:  # a cut file; a changed line explains a size of its own
    problems.insert(0, Problem(manifest, ("empty (0 bytes)" if not size else f"truncated: {size} bytes")
                               + f", {expected} recorded"))
  return [(n, e) for n, _, e in committed], problems


def inspect(root: Path, dims: dict, record: dict | None) -> Snapshot:
  """The cheap checks of the whole folder. With `record` None (an index written before checksums,
  or one whose record is lost) every complete manifest line counts and shards are checked by their
  headers alone."""
  manifest = manifest_path(root, record)
  try:
    data = manifest.read_bytes()
    problems: list[Problem] = []
  except FileNotFoundError:
    data = b""
    recorded = record is not None and committed_bytes(record)
    problems = [Problem(manifest, "missing")] if recorded or record is None and any(
        (root / "shards").glob("*.npy")) else []
  entries, found = _check_manifest(manifest, data, record)
  problems += [] if problems else found
  names = (record or {}).get("files", {})
  numbers = sorted({e["shard"] for _, e in entries} if record is None else {b[0] for b in record["manifest"]})
  rows: dict[int, int] = {}
  for number in numbers:
    found = []
    for kind in KINDS:
      name = shard_name(kind, number)
      if record is not None and name not in names:
        problems.append(Problem(root / RECORD, f"lists manifest lines of shard {number} but not {name}"))
        found.append(None)
        continue
      shard = inspect_shard(root / name, dims[kind], names.get(name))
      if shard.problem:
        problems.append(Problem(root / name, shard.problem))
      found.append(None if shard.problem else shard.rows)
    if None not in found:
      if found[0] != found[1]:
        problems.append(Problem(root / shard_name("content", number), f"has {found[1]} rows, "
                                f"{shard_name('style', number)} has {found[0]}"))
      else:
        rows[number] = found[0]
  for number, entry in entries:
    n = rows.get(entry["shard"])
    if n is not None and entry["row"] >= n:
      problems.append(Problem(manifest, f"line {number}: row {entry['row']} is out of range "
                              f"({shard_name('style', entry['shard'])} has {n} rows)"))
  problems.sort(key=lambda p: "do not match their recorded" in p.what)  # a named bad row says more
  return Snapshot(record, [e for _, e in entries], problems, manifest, rows)


def shard_digest_problems(root: Path, record: dict) -> list[Problem]:
  """Shards (of the manifest blocks) whose sha256 is not the recorded one."""
  problems = []
  for number in sorted({b[0] for b in record["manifest"]}):
    for kind in KINDS:
      name = shard_name(kind, number)
      path = root / name
      if name in record["files"] and path.is_file() and file_digest(path)[1] != record["files"][name][1]:
        problems.append(Problem(path, "does not match its recorded sha256 (changed or damaged)"))
  return problems
