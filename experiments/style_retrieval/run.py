"""Runs the style retrieval benchmark of issue 13: two ground truths, every embedding, the threshold.

  python experiments/style_retrieval/run.py --data ../shared/data              # default (~10 min, 2 CPUs)
  python experiments/style_retrieval/run.py --data ../shared/data --runlocal   # smoke run (~2 min)

Writes next to this file, with the tag (default | runlocal | --tag) as suffix: results_<tag>.md (the
tables), metrics_<tag>.csv (every mean and interval), examples_<tag>.png (example queries),
threshold_<tag>.png (the style-not-content sweep). Set B's stylized photos and the product index
built from them go to workdirs/<tag>/ (not committed).
"""

from __future__ import annotations

import argparse
import csv
import importlib
import json
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))
sys.path.insert(0, str(HERE))

from stylejax import runtime  # noqa: E402

runtime.configure()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import config as experiment_config  # noqa: E402
import evaluation  # noqa: E402
import groundtruth  # noqa: E402
import plots  # noqa: E402
import report  # noqa: E402
import variants  # noqa: E402
from stylejax import retrieval  # noqa: E402
from stylejax.imaging import images  # noqa: E402
from stylejax.imaging.crops import square  # noqa: E402
from stylejax.atomic_io import atomic_write_text  # noqa: E402
from stylejax.networks import magenta_arbitrary  # noqa: E402
from stylejax.io import magenta_release

product_search = importlib.import_module("stylejax.retrieval.search")  # the package exports a function by that name

SUFFIXES = (".jpg", ".jpeg", ".png")


def image_files(folder: Path) -> list[Path]:
  return sorted(p for p in folder.iterdir() if p.suffix.lower() in SUFFIXES)


def load_inputs(data: Path, config) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
  """({painting: image}, {photo: image}), sorted by name, capped by max_paintings / max_photos."""
  paintings = {p.stem: images.load_image(str(p)) for p in image_files(data / "style")}
  photos = {p.stem: images.load_image(str(p)) for p in image_files(data / "content")}
  if config.stylized.bundled_photos:
    for name in images.SKIMAGE_PHOTOS:
      photos.setdefault(name, images.load_image(name))
  cap = lambda d, n: dict(sorted(d.items())[:n] if n else sorted(d.items()))
  return cap(paintings, config.max_paintings), cap(photos, config.max_photos)


def stylize_set(paintings, photos, size: int, folder: Path, params) -> tuple[np.ndarray, list]:
  """Every photo x painting through the pretrained Magenta model, saved as PNG and read back (the
  product embeds the files, so the benchmark embeds the same 8-bit pixels)."""
  folder.mkdir(parents=True, exist_ok=True)
  items = groundtruth.stylized_items(list(photos), list(paintings))
  embed = jax.jit(lambda p: magenta_arbitrary.style_embedding(params, p))
  stylize = jax.jit(lambda c, e: magenta_arbitrary.stylize(params, c, e))
  styles = {name: embed(jnp.asarray(p)) for name, p in paintings.items()}
  squares = {name: square(p, size) for name, p in photos.items()}
  out = []
  for item in items:
    path = folder / f"{item.name}.png"
    images.save_png(np.clip(np.asarray(stylize(jnp.asarray(squares[item.photo]), styles[item.painting])), 0, 1),
                    path)
    out.append(square(images.load_image(str(path)), size))
  return np.stack(out), items


def embed_everything(pictures: np.ndarray, config, magenta_params) -> tuple[dict, dict]:
  """({embedding name: vectors or (vectors, metric)}, {network: content vectors})."""
  style = {"histogram": variants.histogram(pictures)}
  content = {}
  for network in config.networks:
    vectors, content[network] = variants.product_embeddings(
        network, pictures, tuple(config.statistics), tuple(config.sketch_dims), config.pca_dim, config.seed,
        config.batch_size)
    style.update(vectors)
  raw = variants.magenta(pictures, config.batch_size, magenta_params)
  style["magenta cosine"] = raw
  style["magenta euclidean"] = raw
  return style, content


def similarity_of(name: str, vectors: np.ndarray) -> np.ndarray:
  return variants.similarity(vectors, "euclidean" if name.endswith("euclidean") else "cosine")


def evaluate_a(style, content, items, config) -> tuple[list[dict], dict]:
  painting, crop = groundtruth.labels(items, "painting"), groundtruth.labels(items, "crop")
  variant = np.array([i.variant for i in items])
  rows, per_query = [], {}
  for protocol, (relevant, candidates) in evaluation.masks_a(painting, crop).items():
    for name, vectors in style.items():
      scores = evaluation.retrieval(similarity_of(name, vectors), relevant, candidates, config.ks)
      per_query[(protocol, name)] = scores
      for metric, (mean, low, high) in evaluation.summarize(scores, config.bootstrap_resamples,
                                                            config.seed).items():
        rows.append(dict(set="A", task=f"style/{protocol}", embedding=name, query="all", metric=metric,
                         mean=mean, low=low, high=high))
      if protocol == "regions":
        for v in groundtruth.VARIANTS:
          mean, low, high = evaluation.summarize({"AP": scores["AP"][variant == v]}, config.bootstrap_resamples,
                                                 config.seed)["AP"]
          rows.append(dict(set="A", task="style/regions", embedding=name, query=v, metric="AP",
                           mean=mean, low=low, high=high))
  return rows, {"per_query": per_query, "painting": painting, "crop": crop}


def evaluate_b(style, content, items, config) -> tuple[list[dict], dict]:
  painting, photo = groundtruth.labels(items, "painting"), groundtruth.labels(items, "photo")
  masks = evaluation.masks_b(painting, photo)
  everything = np.ones_like(masks["style"])
  rows, per_query = [], {}
  k = config.threshold_k
  tasks = [("style", name, v) for name, v in style.items()]
  tasks += [("content", f"{'vgg16' if net == 'loss' else net} content", v) for net, v in content.items()]
  tasks += [("content", name, style[name]) for name in ("histogram", "vgg16 gram sketch512", "magenta cosine")
            if name in style]
  for task, name, vectors in tasks:
    sim = similarity_of(name, vectors)
    orders = evaluation.metrics.rankings(sim, everything)
    scores = evaluation.metrics.evaluate(orders, masks[task], everything, config.ks)
    if task == "style":
      scores[f"sni@{k}"] = evaluation.metrics.share_at_k(orders, masks["style"], k)
    per_query[(task, name)] = scores
    for metric, (mean, low, high) in evaluation.summarize(scores, config.bootstrap_resamples, config.seed).items():
      rows.append(dict(set="B", task=task, embedding=name, query="all", metric=metric, mean=mean, low=low,
                       high=high))
  return rows, {"per_query": per_query, "painting": painting, "photo": photo}


def product_index(folder: Path, index_dir: Path, size: int):
  """Set B embedded by the product itself (`stylejax embed` at the default config, this size)."""
  if index_dir.exists():
    shutil.rmtree(index_dir)
  retrieval.embed(str(folder), index_dir, variants.product_config("loss", size), quiet=True)
  return retrieval.Searcher(index_dir)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--data", type=Path, required=True, help="folder with content/ (photos) and style/ (paintings)")
  parser.add_argument("--runlocal", action="store_true", help="the smoke-run config")
  parser.add_argument("--tag", default="", help="output suffix (default: default | runlocal)")
  args = parser.parse_args(argv)
  config = experiment_config.get_config("runlocal" if args.runlocal else "")
  tag = args.tag or ("runlocal" if args.runlocal else "default")
  workdir = HERE / "workdirs" / tag
  timings = {}
  clock = time.perf_counter()

  def lap(name):
    nonlocal clock
    now = time.perf_counter()
    timings[name] = now - clock
    clock = now
    print(f"[{name}] {timings[name]:.1f} s", flush=True)

  paintings, photos = load_inputs(args.data, config)
  r = config.regions
  pictures_a, items_a = groundtruth.region_set(paintings, r.grid, r.fraction, r.size, config.seed,
                                               tuple(r.hue_range), tuple(r.saturation_range))
  magenta_params = magenta_release.load_params()
  pictures_b, items_b = stylize_set(paintings, photos, config.stylized.size, workdir / "stylized", magenta_params)
  lap("inputs and stylization")
  style_a, content_a = embed_everything(pictures_a, config, magenta_params)
  lap("embed set A")
  style_b, content_b = embed_everything(pictures_b, config, magenta_params)
  lap("embed set B")

  # Set B through the product pipeline: the vectors must be the benchmark's, and the sweep runs on them.
  searcher = product_index(workdir / "stylized", workdir / "index_b", config.stylized.size)
  order = {Path(e["path"]).stem: i for i, e in enumerate(searcher.entries)}
  rows_of = [order[item.name] for item in items_b]
  product_style = searcher.store.vectors("style", searcher.entries)[rows_of]
  product_content = searcher.content_vectors[rows_of]
  check = {"style max |diff|": float(np.abs(product_style - style_b["vgg16 gram sketch512"]).max()),
           "content max |diff|": float(np.abs(product_content - content_b["loss"]).max())}
  print("product vs benchmark vectors:", check, flush=True)
  assert max(check.values()) < 1e-4, check
  lap("product index of set B")

  rows_a, state_a = evaluate_a(style_a, content_a, items_a, config)
  rows_b, state_b = evaluate_b(style_b, content_b, items_b, config)
  lap("metrics")

  k = config.threshold_k
  pool = min(len(items_b), product_search._POOL * k + 32)  # pylint: disable=protected-access
  style_sim, content_sim = product_style @ product_style.T, product_content @ product_content.T
  sweep = evaluation.threshold_sweep(style_sim, content_sim, state_b["painting"], state_b["photo"],
                                     config.thresholds, k, pool)
  baseline = float(np.nanmean(state_b["per_query"][("style", "vgg16 gram sketch512")][f"R@{k}"]))
  chosen = evaluation.choose_threshold(sweep, baseline, k)
  # The pure re-implementation must give the product's rankings (at the old default and the chosen one).
  for t in sorted({config.provisional_threshold, product_search.CONTENT_THRESHOLD, chosen}):
    orders = evaluation.metrics.style_not_content_rankings(style_sim, content_sim,
                                                           np.ones_like(style_sim, bool), t, pool)
    for q, entry in enumerate(rows_of):
      hits = searcher.rank(product_style[q], product_content[q], searcher.entries[entry]["sha256"],
                           "style-not-content", k, t)
      assert [Path(h.path).stem for h in hits] == [items_b[j].name for j in orders[q][:k]], (t, q)
  sweep_rows = []
  for t, scores in sweep.items():
    for metric, (mean, low, high) in evaluation.summarize(scores, config.bootstrap_resamples, config.seed).items():
      sweep_rows.append(dict(set="B", task="style-not-content", embedding=f"threshold {t:.2f}", query="all",
                             metric=metric, mean=mean, low=low, high=high))
  # The chosen threshold on set A's content vectors (same network, crops at regions.size).
  painting_a, crop_a = state_a["painting"], state_a["crop"]
  same_painting, same_crop = painting_a[:, None] == painting_a[None], crop_a[:, None] == crop_a[None]
  content_sim_a = content_a["loss"] @ content_a["loss"].T
  pair_masks_a = {"same crop, other variant": same_crop, "other crop, same painting": same_painting & ~same_crop,
                  "other painting": ~same_painting}
  masks_b = evaluation.masks_b(state_b["painting"], state_b["photo"])
  pair_masks_b = {"same photo, other painting": masks_b["same_photo"],
                  "other photo, same painting": masks_b["style"],
                  "other photo, other painting": ~masks_b["same_photo"] & ~masks_b["style"]}
  duplicates = {t: {"A": evaluation.duplicate_rates(content_sim_a, pair_masks_a, t),
                    "B": evaluation.duplicate_rates(content_sim, pair_masks_b, t)}
                for t in sorted({config.provisional_threshold, chosen})}
  lap("threshold sweep")

  rows = rows_a + rows_b + sweep_rows
  with open(HERE / f"metrics_{tag}.csv", "w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
  best = report.best_style(rows_a)
  ap = lambda state, key: {name: v["AP"] for (task, name), v in state["per_query"].items() if task == key}
  pairs = tuple(dict.fromkeys(((best, "histogram"),) + report.COMPARISONS))
  diffs = {"A": report.paired_differences(ap(state_a, "regions"), state_a["painting"], pairs, config),
           "B": report.paired_differences(ap(state_b, "style"), state_b["painting"], pairs, config)}
  plots.examples(HERE / f"examples_{tag}.png", pictures_a, items_a,
                 {name: similarity_of(name, style_a[name]) for name in (best, "histogram")},
                 state_a, config.seed)
  plots.threshold(HERE / f"threshold_{tag}.png", sweep, chosen, config.provisional_threshold, k,
                  content_sim, pair_masks_b, content_sim_a, pair_masks_a, config)
  lap("report")
  text = report.markdown(tag=tag, config=config, paintings=list(paintings), photos=list(photos), items_a=items_a,
                         items_b=items_b, rows=rows, best=best, diffs=diffs, sweep=sweep, chosen=chosen,
                         baseline=baseline, duplicates=duplicates, check=check, timings=timings, k=k)
  atomic_write_text(HERE / f"results_{tag}.md", text)
  summary = {"chosen_threshold": chosen, "best_style_embedding": best, "seconds": round(sum(timings.values()), 1)}
  print(json.dumps(summary), flush=True)
  return 0


if __name__ == "__main__":
  sys.exit(main())
