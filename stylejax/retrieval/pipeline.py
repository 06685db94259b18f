"""`stylejax embed`: embeds every new image of a source into an index folder, then refreshes its index.

Resumable and append-only: an image whose sha256 is in the index already (or was found unreadable
before) is skipped without decoding, so a rerun after a crash, or on a grown folder, embeds only
what is new. Threads read, hash and decode ahead of the network; the network runs one compiled,
device-sharded step per batch (`embedder.Embedder`). Every `embed.flush_every` images the vectors
are stored (`store.Store.append`); an interruption loses at most the unflushed ones. An unreadable
image is logged once, remembered in the store, and skipped; it never stops the run, but a source of
which no image could be read is a StylejaxError. A damaged index is refused before anything is
written (`stylejax index repair`).
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import logging
from pathlib import Path

import ml_collections
import numpy as np
from tqdm import tqdm

from stylejax import configuration
from stylejax.errors import StylejaxError
from stylejax.imaging.crops import square
from stylejax.retrieval import index as faiss_index
from stylejax.retrieval import config_checks, sources
from stylejax.retrieval.embedder import Embedder
from stylejax.retrieval.store import Store

log = logging.getLogger(__name__)

# Settings that change how the work is done, not the vectors: an index may be extended with others.
_NOT_IDENTITY = {"embed": ("batch_size", "workers", "flush_every", "tfds_data_dir")}


@dataclasses.dataclass(frozen=True)
class EmbedResult:
  index_dir: Path
  added: int  # images embedded by this run
  already: int  # skipped: in the index before (by sha256), or a duplicate within this source
  unreadable: int  # skipped: unreadable (logged now, or found so by an earlier run)
  total: int  # images in the index now
  traces: int  # how often the embedding step was compiled (1 when anything was embedded)


def identity(config: ml_collections.ConfigDict, model: dict) -> dict:
  """What the stored vectors depend on: the model and the config without index or work settings."""
  settings = config.to_dict()
  settings.pop("index")
  for block, keys in _NOT_IDENTITY.items():
    for key in keys:
      settings[block].pop(key)
  return {"model": model, "config": settings}


def _prepare(source: sources.Source, i: int, size: int, skip: set[str]):
  """("skip" | "unreadable" | "image", sha256 or None, image or error message) for image i."""
  try:
    digest = source.digest(i)
  except StylejaxError as e:
    return "unreadable", None, str(e)
  if digest in skip:
    return "skip", digest, None
  try:
    return "image", digest, square(source.load(i), size)
  except StylejaxError as e:
    return "unreadable", digest, str(e)


def _prepared(source: sources.Source, size: int, skip: set[str], workers: int):
  """(i, prepared) in source order, with at most a few batches decoded ahead."""
  with concurrent.futures.ThreadPoolExecutor(workers) as pool:
    pending = collections.deque()
    for i in range(len(source)):
      pending.append((i, pool.submit(_prepare, source, i, size, skip)))
      if len(pending) >= 4 * workers:
        j, future = pending.popleft()
        yield j, future.result()
    while pending:
      j, future = pending.popleft()
      yield j, future.result()


def embed(source: str, index_dir: str | Path, config: ml_collections.ConfigDict | None = None, *,
          quiet: bool = False) -> EmbedResult:
  """Embeds the new images of `source` (folder, list file, image, tfds:NAME[:SPLIT]) into `index_dir`."""
  config = config if config is not None else configuration.load_config("retrieval")
  config_checks.validate(config)
  images = sources.Source(source, config.embed.tfds_data_dir)  # a bad source fails before any writing
  embedder, model = Embedder.from_config(config)
  store = Store.create_or_open(index_dir, {
      "identity": identity(config, model), "config": config.to_dict(),
      "dims": {"style": embedder.spec.dim, "content": embedder.content_dim}})
  counts = collections.Counter()
  with store.lock():
    entries = store.entries()
    known = {e["sha256"] for e in entries}
    skip = known | {u["sha256"] for u in store.unreadable() if u["sha256"]}
    batch, batch_meta = [], []
    stored_meta, stored_vectors = [], []

    def run_batch():
      if batch:
        stored_vectors.append(embedder(np.stack(batch)))
        stored_meta.extend(batch_meta)
        batch.clear()
        batch_meta.clear()

    def flush():
      if stored_meta:
        style = np.concatenate([s for s, _ in stored_vectors])
        content = np.concatenate([c for _, c in stored_vectors])
        store.append([p for p, _ in stored_meta], [d for _, d in stored_meta], style, content)
        counts["added"] += len(stored_meta)
        stored_meta.clear()
        stored_vectors.clear()

    progress = tqdm(total=len(images), desc="embed", unit="image", disable=quiet)
    try:
      for i, (status, digest, payload) in _prepared(images, config.embed.image_size, skip,
                                                    config.embed.workers):
        path = images.paths[i]
        if status == "unreadable":
          log.warning("skipping unreadable image: %s", payload)
          store.record_unreadable(path, digest, payload)
          counts["unreadable"] += 1
        elif digest in known or status == "skip":
          counts["unreadable" if digest not in known else "already"] += 1
        else:
          known.add(digest)
          batch.append(payload)
          batch_meta.append((path, digest))
          if len(batch) == embedder.batch_size:
            run_batch()
          if len(stored_meta) >= config.embed.flush_every:
            flush()
        progress.update(1)
        progress.set_postfix(new=counts["added"] + len(stored_meta) + len(batch), skipped=
                             counts["already"] + counts["unreadable"], refresh=False)
      run_batch()
    finally:
      flush()  # vectors computed before an interruption are kept
      progress.close()
    if not counts["added"] + counts["already"]:
      raise StylejaxError(f"no image of {source} could be read: {counts['unreadable']} unreadable, listed in "
                          f"{store.root / 'unreadable.jsonl'} (a later embed skips them)")
    faiss_index.load_or_build(store)
    total = len(store.entries())
  return EmbedResult(Path(index_dir), counts["added"], counts["already"], counts["unreadable"], total,
                     embedder.traces)
