"""Retrieval at scale (issue 13): embedding throughput, stylejax (JAX) versus a PyTorch twin of the same
feature computation, and the faiss index's query latency, recall@10 and build time against exact
search on 10^4, 10^5 and 10^6 synthetic vectors.

    python benchmarks/bench_retrieval.py                # full run, writes the "retrieval" section
    python benchmarks/bench_retrieval.py --quick        # small sizes, a minute or two, prints only
    python benchmarks/bench_retrieval.py --check-only   # the embedding agreement check alone

Embedding: stylejax/configs/retrieval.py's defaults (the packaged VGG16 with lpips weights; style = Gram upper
triangles of relu1_1..relu5_1, signed square root, per-layer unit length, count-sketched to
embed.style_dim numbers; content = relu5_3 average-pooled to a 2 x 2 grid, unit cells), at
--embed-size px and --embed-batch images per call.
* JAX: the product's `stylejax.retrieval.embedder.Embedder` (`Embedder.from_config`), called on a
  numpy batch as `stylejax embed` calls it (device transfer and the copy back included).
* PyTorch: VGG16 of stylejax/reference/torch_twin.py with the same weights and preprocessing, and the
  same style and content vectors written in torch from stylejax/retrieval/embeddings.py's description
  (torch_twin's Gram, `F.adaptive_avg_pool2d`, `index_add_` for the sketch), with the same frozen
  sketch tables (`embeddings.sketch_tables`, a pure function of the spec and the seed).
Both vectors are checked to agree (max abs difference of unit vectors) before timing.

Index: the product's `stylejax.retrieval.index.build` and `index.search`, with stylejax/configs/retrieval.py's
options (HNSW, M = 32, efSearch = 128) forced on at every size, against the exact index the product
uses below `index.approximate_above` (IndexFlatIP). Vectors: `benchmarks/ann_recall.ClusteredVectors`
(seeded; embed.style_dim long, unit rows in clusters of lower intrinsic dimension), the smaller
collections prefixes of the larger; queries are fresh draws from the same clusters.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import os
import sys
import time

USER_XLA_FLAGS = os.environ.get("XLA_FLAGS")

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from stylejax import runtime  # noqa: E402
runtime.configure()  # the product's process settings (glibc allocator, OPENBLAS_NUM_THREADS) before JAX starts

import faiss  # noqa: E402
import jax  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from benchmarks import report  # noqa: E402
from benchmarks.ann_recall import ClusteredVectors, crossover_size, recall_at_k  # noqa: E402
from benchmarks.bench_vgg import conv_flops  # noqa: E402
from benchmarks.matmul_peak import best_peaks, peaks_quietly  # noqa: E402
from benchmarks.timing import median, summarize, time_quietly  # noqa: E402
from stylejax.configs.retrieval import get_config as get_retrieval_config  # noqa: E402
from stylejax.imaging import crops, images  # noqa: E402
from stylejax.networks import vgg  # noqa: E402
from stylejax.objectives import loss_network  # noqa: E402
from stylejax.retrieval import embeddings, index  # noqa: E402
from stylejax.retrieval.embedder import Embedder  # noqa: E402
from stylejax.reference.torch_twin import Mismatch, Preprocess, TorchVGG, gram, to_nchw  # noqa: E402

SECTION = "retrieval"
VECTOR_TOLERANCE = 1e-5  # max abs difference of unit style / content vectors
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")
K = 10


# ----------------------------------------------------------------------------------------------
# The PyTorch twin of the embedding


class TorchEmbedder:
  """embeddings.style_vector and content_vector (Gram statistic) on TorchVGG features, NCHW."""

  def __init__(self, config, loaded, spec: embeddings.EmbedSpec, tables: dict):
    if spec.statistic != "gram":
      raise Mismatch(f"the twin implements the gram statistic, the config gives {spec.statistic!r}")
    net = config.loss.network
    self.vgg = TorchVGG.from_hwio(loaded.arch, loaded.params, preprocess=Preprocess.of(loaded.preprocessing),
                                  pooling=net.pooling, padding=net.padding)
    self.spec = spec
    self.layers = sorted(set(spec.style_layers) | set(spec.content_layers))
    self.tables = {layer: {"buckets": torch.from_numpy(np.asarray(t["buckets"], np.int64)),
                           "signs": torch.from_numpy(np.asarray(t["signs"], np.float32))}
                   for layer, t in tables.items()}
    self.upper = {}

  @staticmethod
  def _unit(x, dim=-1):
    return x / (torch.linalg.vector_norm(x, dim=dim, keepdim=True) + 1e-12)

  def __call__(self, x):
    feats = self.vgg.features(x, self.layers)
    n = x.shape[0]
    sketch = torch.zeros(n, self.spec.dim)
    for layer in self.spec.style_layers:
      f = feats[layer]
      c = f.shape[1]
      if c not in self.upper:
        rows, cols = np.triu_indices(c)
        self.upper[c] = torch.from_numpy(rows * c + cols)
      upper = gram(f).reshape(n, -1)[:, self.upper[c]]
      values = self._unit(torch.sign(upper) * torch.sqrt(torch.abs(upper))) * self.tables[layer]["signs"]
      sketch.index_add_(1, self.tables[layer]["buckets"], values)
    cells = [self._unit(F.adaptive_avg_pool2d(feats[layer], self.spec.grid).permute(0, 2, 3, 1)).reshape(n, -1)
             for layer in self.spec.content_layers]
    return self._unit(sketch), self._unit(torch.cat(cells, dim=1))


class EmbedSetup:
  def __init__(self, size: int, batch: int):
    config = get_retrieval_config()
    with config.unlocked():
      config.embed.image_size = size
      config.embed.batch_size = batch
    self.config, self.size, self.batch = config, size, batch
    self.embedder, self.model = Embedder.from_config(config)
    self.loaded = loss_network.load_weights(config.loss)
    spec = self.embedder.spec
    channels = {layer: vgg.conv_shapes(self.loaded.arch)[_conv_of(layer)][0][3]
                for layer in spec.style_layers + spec.content_layers}
    self.twin = TorchEmbedder(config, self.loaded, spec, embeddings.sketch_tables(spec, channels, config.seed))
    self.images = np.stack([crops.square(images.load_image(PHOTOS[i % len(PHOTOS)]), size)[:, ::(-1) ** (i // 4)]
                            for i in range(batch)]).astype(np.float32)
    self.images_t = to_nchw(self.images)


def _conv_of(layer: str) -> str:
  return "conv" + layer[len("relu"):]


def embed_flops(setup: EmbedSetup) -> float:
  """VGG convolutions to the deepest layer, plus the Gram matmuls (2 H W C^2 per style layer)."""
  spec, arch, size = setup.embedder.spec, setup.loaded.arch, setup.size
  layers = set(spec.style_layers) | set(spec.content_layers)
  total = conv_flops(arch, size, vgg.deepest(arch, layers))
  for layer in spec.style_layers:
    (_, _, _, c), _ = vgg.conv_shapes(arch)[_conv_of(layer)]
    side = size // 2 ** (int(layer[4]) - 1)
    total += 2.0 * side * side * c * c
  return setup.batch * total


def check_embedding(setup: EmbedSetup) -> dict:
  t0 = time.perf_counter()
  style_j, content_j = setup.embedder(setup.images)
  first_call_s = time.perf_counter() - t0
  with torch.inference_mode():
    style_t, content_t = (v.numpy() for v in setup.twin(setup.images_t))
  if style_j.shape != style_t.shape or content_j.shape != content_t.shape:
    raise Mismatch(f"shapes: JAX {style_j.shape}, {content_j.shape}; torch {style_t.shape}, {content_t.shape}")
  errs = {"style": float(np.max(np.abs(style_j - style_t))), "content": float(np.max(np.abs(content_j - content_t)))}
  print(f"[embed {setup.size}px batch {setup.batch}] max |JAX - torch|: style {errs['style']:.1e} "
        f"(dim {style_j.shape[1]}), content {errs['content']:.1e} (dim {content_j.shape[1]})", flush=True)
  if not all(v < VECTOR_TOLERANCE for v in errs.values()):
    raise Mismatch(f"embeddings disagree: {errs} (tolerance {VECTOR_TOLERANCE:g})")
  return {"errs": errs, "first_call_s": first_call_s, "dims": (style_j.shape[1], content_j.shape[1])}


def bench_embedding(setup: EmbedSetup, repeats: int, warmup: int, quiet: dict) -> dict:
  def torch_call():
    with torch.inference_mode():
      setup.twin(setup.images_t)

  times, other = time_quietly({"jax": lambda: setup.embedder(setup.images), "torch": torch_call}, repeats,
                              warmup, quiet)
  flops = embed_flops(setup)
  row = {"size": setup.size, "batch": setup.batch, "gflop": flops / 1e9, "other": other, **summarize(times, flops)}
  for f in times:
    row[f"{f}_ips"] = setup.batch / row[f"{f}_s"]
  row["ratio"] = row["jax_ips"] / row["torch_ips"]
  print(f"[embed {setup.size}px batch {setup.batch}] JAX {row['jax_ips']:.2f} images/s, torch "
        f"{row['torch_ips']:.2f} images/s, JAX/torch {row['ratio']:.2f}; other processes took {report.pct(other)}",
        flush=True)
  return row


# ----------------------------------------------------------------------------------------------
# The index


def single_query_latency(idx, queries: np.ndarray, options: index.IndexOptions) -> float:
  """Median seconds of one `index.search` call with one query (as `stylejax search` with one image)."""
  times = []
  for q in queries:
    t0 = time.perf_counter()
    index.search(idx, q[None], K, options)
    times.append(time.perf_counter() - t0)
  return median(times)


def bench_index(data: ClusteredVectors, n: int, queries: np.ndarray, options: index.IndexOptions,
                n_single: int, ef_values) -> dict:
  row = {"n": n}
  with report.OtherLoad() as load:
    vectors = data.rows(n)
    exact_options = dataclasses.replace(options, approximate_above=n)
    t0 = time.perf_counter()
    exact = index.build(vectors, exact_options)
    row["exact_build_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    _, truth = index.search(exact, queries, K, exact_options)
    row["exact_batch_s"] = (time.perf_counter() - t0) / len(queries)
    row["exact_single_s"] = single_query_latency(exact, queries[:n_single], exact_options)
    del exact
    gc.collect()

    approx_options = dataclasses.replace(options, approximate_above=0)
    t0 = time.perf_counter()
    approx = index.build(vectors, approx_options)
    row["approx_build_s"] = time.perf_counter() - t0
    del vectors
    gc.collect()
    row["sweep"] = []
    for ef in ef_values:
      o = dataclasses.replace(approx_options, ef_search=ef)
      t0 = time.perf_counter()
      _, found = index.search(approx, queries, K, o)
      batch_s = (time.perf_counter() - t0) / len(queries)
      row["sweep"].append({"ef": ef, "recall": recall_at_k(found, truth, K), "batch_s": batch_s,
                           "single_s": single_query_latency(approx, queries[:n_single], o)})
    del approx
    gc.collect()
  row["other"] = load.fraction
  product = next(s for s in row["sweep"] if s["ef"] == options.ef_search)
  row.update(approx_recall=product["recall"], approx_single_s=product["single_s"], approx_batch_s=product["batch_s"])
  print(f"[index n={n}] exact: build {row['exact_build_s']:.2f} s, one query {1e3 * row['exact_single_s']:.2f} ms, "
        f"batched {1e3 * row['exact_batch_s']:.3f} ms/query; HNSW: build {row['approx_build_s']:.1f} s, one query "
        f"{1e3 * row['approx_single_s']:.2f} ms, recall@{K} {row['approx_recall']:.3f} (efSearch "
        f"{options.ef_search}); other processes took {report.pct(load.fraction)}", flush=True)
  return row


# ----------------------------------------------------------------------------------------------
# Report


def threshold_statements(rows, options: index.IndexOptions, budget_ms: float, recall_floor: float) -> list[str]:
  cross = crossover_size([r["n"] for r in rows], [r["exact_single_s"] for r in rows], budget_ms / 1e3)
  below = [r for r in rows if r["n"] <= options.approximate_above]
  above = [r for r in rows if r["n"] > options.approximate_above]
  at = max(below, key=lambda r: r["n"]) if below else None
  largest = max(rows, key=lambda r: r["n"])
  lines = [f"- Exact search scans every vector: one query costs ~{1e8 * largest['exact_single_s'] / largest['n']:.1f} "
           f"ms per 100,000 vectors here, so it reaches a {budget_ms:g} ms single-query budget at about "
           f"{cross:,.0f} vectors (linear in the size, from the largest measured collection)."]
  if at is not None:
    lines.append(f"- The largest measured collection the product still searches exactly ({at['n']:,} vectors): one "
                 f"query {1e3 * at['exact_single_s']:.1f} ms; HNSW there would answer in "
                 f"{1e3 * at['approx_single_s']:.2f} ms with recall@{K} {at['approx_recall']:.3f}.")
  for r in above:
    lines.append(f"- Above it ({r['n']:,} vectors, HNSW): recall@{K} {r['approx_recall']:.3f} "
                 f"({'≥' if r['approx_recall'] >= recall_floor else '<'} {recall_floor:g}), one query "
                 f"{1e3 * r['approx_single_s']:.2f} ms vs {1e3 * r['exact_single_s']:.1f} ms exact; build "
                 f"{r['approx_build_s']:.0f} s vs {r['exact_build_s']:.1f} s.")
  ratio = cross / options.approximate_above
  sizing_ok = 0.5 <= ratio <= 2.0
  # Per size above the threshold: the smallest swept efSearch that keeps the recall floor (None: none does).
  enough_ef = {r["n"]: next((s["ef"] for s in r["sweep"] if s["recall"] >= recall_floor), None) for r in above}
  recall_ok = all(r["approx_recall"] >= recall_floor for r in above)
  why = [f"exact search stays within the {budget_ms:g} ms budget up to ~{cross:,.0f} vectors, {ratio:.1f}× the "
         f"current `index.approximate_above = {options.approximate_above:,}`"]
  for r in above:
    ef = enough_ef[r["n"]]
    if ef is None:
      best = max(r["sweep"], key=lambda s: s["recall"])
      why.append(f"at {r['n']:,} vectors HNSW (M = {options.hnsw_m}) keeps recall@{K} below {recall_floor:g} at every "
                 f"swept efSearch (best {best['recall']:.3f} at {best['ef']}), so the index itself, not efSearch, "
                 "would need changing there (a larger M, or IVF; not measured here)")
    elif ef > options.ef_search:
      why.append(f"at {r['n']:,} vectors recall@{K} ≥ {recall_floor:g} needs efSearch {ef} (the product uses "
                 f"{options.ef_search})")
  if sizing_ok and recall_ok:
    verdict = f"**justified** — {why[0]}, and HNSW keeps recall@{K} ≥ {recall_floor:g} above it."
  else:
    proposal = int(float(f"{cross:.0e}"))
    verdict = (f"**not justified by these numbers** — {'; '.join(why)}. Proposal: `approximate_above = "
               f"{proposal:,}`" + ("" if sizing_ok else f" (exact search up to the {budget_ms:g} ms budget)") + ".")
  lines.append(f"- Threshold: {verdict}")
  return lines


def render(args, command, machine, busy, peaks, setup, check, embed_row, index_rows, options, dim, total_s) -> str:
  peak = best_peaks(*peaks) if peaks[0] else None
  spec = setup.embedder.spec
  lines = report.section_start("Retrieval at scale: embedding throughput (stylejax vs a PyTorch twin) and the "
                               "faiss index", command, machine) + [
      "The machine is shared: other processes took " + " / ".join(report.pct(b) for b in busy)
      + " of it just before / after the run; the embedding timing loop waits for a quiet machine (up to "
      "`--wait-quiet` s) and is retried (up to `--attempts`) when other processes take more than `--max-other` "
      "of it; the \"other load\" columns are what they took during the kept loop (for the index, during the "
      f"whole row). Whole run: {total_s / 60:.1f} min.",
      "",
      "### Embedding throughput",
      "",
      f"stylejax/configs/retrieval.py with embed.image_size = {setup.size}, embed.batch_size = {setup.batch}: "
      f"{setup.loaded.arch.upper()} (`{setup.config.loss.network.weights}`), style = {spec.statistic} on "
      f"{', '.join(spec.style_layers)} (upper triangle, signed square root, unit per layer), count-sketched to "
      f"{spec.dim}; content = {', '.join(spec.content_layers)} pooled to {spec.grid}×{spec.grid}, unit cells "
      f"({check['dims'][1]} numbers). JAX: the product's `Embedder` (one jitted, device-sharded step; a numpy "
      "batch in, numpy vectors out, as `stylejax embed` calls it). torch: the twin VGG16 and the same vector "
      "computation in torch (`F.adaptive_avg_pool2d`, `index_add_`), the same sketch tables, under "
      f"`torch.inference_mode()`, torch's default threads ({torch.get_num_threads()}). Agreement before timing: "
      f"max abs difference of the unit vectors, style {check['errs']['style']:.1e}, content "
      f"{check['errs']['content']:.1e} (tolerance {VECTOR_TOLERANCE:g}).",
      "",
  ]
  if peak:
    lines += [
        f"Matmul peak ({args.matmul_n}×{args.matmul_n} float32, before / after): JAX {peaks[0]['jax']:.1f} / "
        f"{peaks[1]['jax']:.1f}, torch {peaks[0]['torch']:.1f} / {peaks[1]['torch']:.1f} GFLOP/s; fractions use "
        "the higher reading. FLOPs: VGG16 convolutions to the deepest layer (2·H·W·Cin·Cout·9) plus the Gram "
        "matmuls (2·H·W·C² per style layer).",
        "",
    ]
  if embed_row:
    r = embed_row
    lines += [
        f"Median of {args.embed_repeats} calls after {args.warmup} warmup call(s), JAX and torch interleaved:",
        "",
        "| px | batch | GFLOP/call | JAX ms/call | torch ms/call | JAX images/s | torch images/s | JAX/torch "
        "| JAX first call (compile + run) s | JAX GFLOP/s (% of peak) | torch GFLOP/s (% of peak) | other load |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
        f"| {r['size']} | {r['batch']} | {r['gflop']:.0f} | {1e3 * r['jax_s']:.0f} "
        f"({1e3 * r['jax_spread'][0]:.0f}–{1e3 * r['jax_spread'][1]:.0f}) | {1e3 * r['torch_s']:.0f} "
        f"({1e3 * r['torch_spread'][0]:.0f}–{1e3 * r['torch_spread'][1]:.0f}) | {r['jax_ips']:.2f} | "
        f"{r['torch_ips']:.2f} | {r['ratio']:.2f}× | {check['first_call_s']:.1f} | {r['jax_gflops']:.1f} "
        f"({100 * r['jax_gflops'] / peak['jax']:.0f}%) | {r['torch_gflops']:.1f} "
        f"({100 * r['torch_gflops'] / peak['torch']:.0f}%) | {report.pct(r['other'])} |",
        "",
    ]
  if index_rows:
    lines += [
        "### The index: approximate (HNSW) against exact search",
        "",
        f"Synthetic vectors, dimension {dim} (embed.style_dim): `benchmarks/ann_recall.ClusteredVectors` with "
        f"{args.clusters:,} clusters (unit centres), each spread along its own random {args.rank}-dimensional "
        f"subspace plus 20% isotropic noise, spread {args.spread:g} (noise norm / centre norm), rows normalised, "
        f"seed {args.seed}; the 10^4 and 10^5 collections are prefixes of the 10^6 one. {args.queries:,} queries, "
        "fresh draws from the same clusters; recall@10 = the share of the exact top 10 (IndexFlatIP) that the "
        f"approximate top 10 holds. The product's `index.build` / `index.search` with stylejax/configs/retrieval.py's "
        f"options: HNSW (IndexHNSWFlat, inner product), M = {options.hnsw_m}, efSearch = {options.ef_search} "
        f"(forced on at every size here; the product uses it above `approximate_above = "
        f"{options.approximate_above:,}`). \"One query\": median of {args.single_queries} `index.search` calls "
        "with one query each (faiss answers a single query on one thread); \"batched\": the "
        f"{args.queries:,} queries in one call, per query. faiss {faiss.__version__}, "
        f"{faiss.omp_get_max_threads()} OpenMP threads.",
        "",
        "| vectors | exact build s | exact, one query ms | exact, batched ms/query | HNSW build s "
        f"| HNSW, one query ms | HNSW, batched ms/query | recall@{K} | other load |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in index_rows:
      lines.append(f"| {r['n']:,} | {r['exact_build_s']:.2f} | {1e3 * r['exact_single_s']:.2f} | "
                   f"{1e3 * r['exact_batch_s']:.3f} | {r['approx_build_s']:.1f} | {1e3 * r['approx_single_s']:.3f} | "
                   f"{1e3 * r['approx_batch_s']:.3f} | {r['approx_recall']:.3f} | {report.pct(r['other'])} |")
    efs = [s["ef"] for s in index_rows[0]["sweep"]]
    lines += ["", f"efSearch sweep, recall@{K} (one-query ms):", "",
              "| vectors | " + " | ".join(f"efSearch {ef}" for ef in efs) + " |",
              "|---|" + "---|" * len(efs)]
    for r in index_rows:
      lines.append(f"| {r['n']:,} | " + " | ".join(f"{s['recall']:.3f} ({1e3 * s['single_s']:.2f})"
                                                    for s in r["sweep"]) + " |")
    lines += ["", f"**Threshold** (a {args.latency_budget_ms:g} ms single-query budget for exact search; "
              f"recall@{K} ≥ {args.recall_floor:g} asked of the approximate index):", ""]
    lines += threshold_statements(index_rows, options, args.latency_budget_ms, args.recall_floor)
    lines += ["", "The product rebuilds an index from the stored vectors whenever the collection has grown "
              "(`index.load_or_build`), so above the threshold the HNSW build column is paid again after every "
              "`stylejax embed` run that adds images.",
              "", "Synthetic clusters stand in for a real collection: recall on real style embeddings (another "
              "intrinsic dimension, near-duplicate crops) may differ; the latency and build columns depend on the "
              "size and dimension only. Here the clusters hold 10, 100 and 1,000 vectors at the three sizes, and "
              "the top 10 of a query lies inside its cluster's 32-dimensional spread, where a graph index has "
              "the hardest time telling neighbours apart."]
  if args.quick or args.check_only:
    lines += ["", "(This run used --quick or --check-only sizes: no verdict on the issue's scale.)"]
  return "\n".join(lines)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--quick", action="store_true", help="small sizes, few repeats; prints only")
  parser.add_argument("--check-only", action="store_true", help="the embedding agreement check only; prints only")
  parser.add_argument("--embed-size", type=int, default=None, help="embedding px (default 224)")
  parser.add_argument("--embed-batch", type=int, default=None, help="images per embedding call (default 8)")
  parser.add_argument("--embed-repeats", type=int, default=None, help="timed embedding calls (default 7)")
  parser.add_argument("--warmup", type=int, default=1)
  parser.add_argument("--sizes", default=None, help="comma-separated collection sizes (default 10000,100000,1000000)")
  parser.add_argument("--queries", type=int, default=1000, help="queries for recall and batched latency")
  parser.add_argument("--single-queries", type=int, default=100, help="queries timed one at a time")
  parser.add_argument("--ef-sweep", default="16,32,64,128,256", help="efSearch values (must include the product's)")
  parser.add_argument("--clusters", type=int, default=1000)
  parser.add_argument("--rank", type=int, default=32, help="intrinsic dimension of each cluster")
  parser.add_argument("--spread", type=float, default=1.0, help="noise norm relative to the centres' (1)")
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--latency-budget-ms", type=float, default=50.0,
                      help="single-query latency that exact search should stay under (for the threshold verdict)")
  parser.add_argument("--recall-floor", type=float, default=0.95, help="recall@10 asked of the approximate index")
  parser.add_argument("--matmul-n", type=int, default=None)
  parser.add_argument("--wait-quiet", type=float, default=None,
                      help="seconds to wait at most for a quiet machine before the embedding timings (default 900)")
  parser.add_argument("--max-other", type=float, default=0.1)
  parser.add_argument("--attempts", type=int, default=None, help="embedding timing attempts at most (default 3)")
  parser.add_argument("--no-report", action="store_true", help="print only; leave BENCHMARKS.md alone")
  parser.add_argument("--section", default=SECTION)
  args = parser.parse_args(argv)
  defaults = ({"embed_size": 64, "embed_batch": 4, "embed_repeats": 2, "sizes": "2000,20000", "matmul_n": 512,
               "wait_quiet": 0.0, "attempts": 1} if args.quick else
              {"embed_size": 224, "embed_batch": 8, "embed_repeats": 7, "sizes": "10000,100000,1000000",
               "matmul_n": 2048, "wait_quiet": 900.0, "attempts": 3})
  for k, v in defaults.items():
    if getattr(args, k) is None:
      setattr(args, k, v)
  sizes = [int(s) for s in args.sizes.split(",") if s]
  ef_values = [int(s) for s in args.ef_sweep.split(",") if s]
  write = not (args.no_report or args.quick or args.check_only)
  quiet = dict(max_other=args.max_other, attempts=args.attempts, wait_timeout=args.wait_quiet)

  machine = report.machine_description()
  print(machine, flush=True)
  busy_before = report.cpu_busy_fraction()
  run_start = time.perf_counter()

  setup = EmbedSetup(args.embed_size, args.embed_batch)
  check = check_embedding(setup)
  options = index.IndexOptions.from_config(setup.config.to_dict())
  if options.ef_search not in ef_values:
    ef_values = sorted(ef_values + [options.ef_search])
  dim = options.style_dim
  peaks, embed_row, index_rows = (None, None), None, []
  if not args.check_only:
    peaks_before, _ = peaks_quietly(args.matmul_n, quiet, "before")
    embed_row = bench_embedding(setup, args.embed_repeats, args.warmup, quiet)
    peaks_after, _ = peaks_quietly(args.matmul_n, quiet, "after")
    peaks = (peaks_before, peaks_after)
    data = ClusteredVectors(dim, args.clusters, args.spread, args.seed, rank=args.rank)
    queries = data.rows(args.queries, stream=1)
    index_rows = [bench_index(data, n, queries, options, args.single_queries, ef_values) for n in sizes]
  busy_after = report.cpu_busy_fraction()
  total_s = time.perf_counter() - run_start
  if args.check_only:
    print("agreement check passed")
    return
  command = report.command_line("bench_retrieval.py", argv, USER_XLA_FLAGS)
  text = render(args, command, machine, (busy_before, busy_after), peaks, setup, check, embed_row, index_rows,
                options, dim, total_s)
  report.publish(args.section, text, write)


if __name__ == "__main__":
  main()
