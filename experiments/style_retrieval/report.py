"""The benchmark's markdown tables (results_<tag>.md) and its paired comparisons."""

from __future__ import annotations

import numpy as np

import metrics

# The questions of the issue as paired comparisons (a, b): AP(a) - AP(b) on the same queries.
COMPARISONS = (
    ("vgg16 gram sketch512", "histogram"),  # the product default vs the baseline
    ("vgg16 gram sketch512", "magenta cosine"),
    ("vgg16 gram sketch512", "vgg16 mean_var sketch512"),  # statistics, at the default compression
    ("vgg16 gram sketch512", "vgg16 sliced_wasserstein sketch512"),
    ("vgg16 mean_var sketch512", "vgg16 sliced_wasserstein sketch512"),
    ("vgg16 gram pca512", "vgg16 mean_var pca512"),
    ("vgg16 gram raw", "vgg16 mean_var raw"),
    ("vgg16 gram sketch512", "alexnet gram sketch512"),  # networks
    ("vgg16 mean_var sketch512", "alexnet mean_var sketch512"),
    ("vgg16 sliced_wasserstein sketch512", "alexnet sliced_wasserstein sketch512"),
    ("vgg16 gram sketch512", "vgg16 gram raw"),  # compression
    ("vgg16 gram pca512", "vgg16 gram raw"),
    ("vgg16 gram sketch128", "vgg16 gram raw"),
    ("vgg16 mean_var sketch512", "vgg16 mean_var raw"),
    ("vgg16 sliced_wasserstein sketch512", "vgg16 sliced_wasserstein raw"),
)


def _value(rows, **where) -> tuple[float, float, float] | None:
  for r in rows:
    if all(r[key] == value for key, value in where.items()):
      return r["mean"], r["low"], r["high"]
  return None


def cell(triple) -> str:
  if triple is None:
    return "–"
  mean, low, high = triple
  return f"{mean:.3f} [{low:.3f}, {high:.3f}]"


def best_style(rows_a: list[dict]) -> str:
  """The embedding with the highest mAP on set A, regions protocol."""
  scored = [(r["mean"], r["embedding"]) for r in rows_a
            if r["task"] == "style/regions" and r["query"] == "all" and r["metric"] == "AP"]
  return max(scored)[1]


def paired_differences(ap: dict[str, np.ndarray], groups: np.ndarray, pairs, config) -> list[dict]:
  """Per pair (a, b): mean AP(a) - AP(b) over the same queries, with a query bootstrap and a bootstrap
  over whole paintings (queries of one painting are not independent)."""
  out = []
  for a, b in pairs:
    if a in ap and b in ap:
      diff = ap[a] - ap[b]
      out.append({"pair": f"{a} - {b}", "queries": metrics.bootstrap(diff, config.bootstrap_resamples, config.seed),
                  "paintings": metrics.bootstrap(diff, config.bootstrap_resamples, config.seed, groups=groups)})
  return out


def _table(header: list[str], lines: list[list[str]]) -> str:
  out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
  out += ["| " + " | ".join(line) + " |" for line in lines]
  return "\n".join(out)


def _embeddings(rows, task) -> list[str]:
  seen = []
  for r in rows:
    if r["task"] == task and r["embedding"] not in seen:
      seen.append(r["embedding"])
  return seen


def markdown(*, tag, config, paintings, photos, items_a, items_b, rows, best, diffs, sweep, chosen, baseline,
             duplicates, check, timings, k) -> str:
  ks = list(config.ks)
  text = [f"# Style retrieval benchmark: results ({tag})", "",
          f"Set A: {len(paintings)} paintings x {config.regions.grid}x{config.regions.grid} crops x 3 variants "
          f"= {len(items_a)} images at {config.regions.size} px. Set B: {len(photos)} photos x {len(paintings)} "
          f"paintings = {len(items_b)} stylized images at {config.stylized.size} px.",
          f"Paintings: {', '.join(paintings)}. Photos: {', '.join(photos)}.",
          f"Mean [95% percentile bootstrap over queries, {config.bootstrap_resamples} resamples, seed "
          f"{config.seed}]. R@k = |relevant in top k| / min(k, |relevant|).",
          f"Wall time: {sum(timings.values()):.0f} s (" + ", ".join(f"{n} {s:.0f} s" for n, s in timings.items()) + ").",
          ""]
  text += ["## Set A: regions of the same painting (relevant: same painting, other crops)", ""]
  lines = []
  for name in _embeddings(rows, "style/regions"):
    lines.append([name] + [cell(_value(rows, task="style/regions", embedding=name, query="all", metric=m))
                           for m in ["AP"] + [f"R@{k_}" for k_ in ks]])
  lines.sort(key=lambda line: -float(line[1].split()[0]))
  text += [_table(["embedding", "mAP"] + [f"R@{k_}" for k_ in ks], lines), ""]
  text += ["### Set A by query variant (mAP, regions protocol), and with the query's own variants counted", ""]
  lines = []
  for name in _embeddings(rows, "style/regions"):
    lines.append([name] + [cell(_value(rows, task="style/regions", embedding=name, query=v, metric="AP"))
                           for v in ("original", "jitter", "gray")]
                 + [cell(_value(rows, task="style/all", embedding=name, query="all", metric="AP"))])
  lines.sort(key=lambda line: -float(line[1].split()[0]))
  text += [_table(["embedding", "original queries", "jittered queries", "gray queries", "mAP, own variants count"],
                  lines), ""]
  text += ["### Paired differences in AP (a - b, same queries)", "",
           "Set A: regions protocol. Set B: style retrieval. Intervals: query bootstrap; painting-cluster "
           "bootstrap (every query of a resampled painting). Bold: the painting-cluster interval excludes 0.", ""]
  lines = []
  for da, db in zip(diffs["A"], diffs["B"]):
    bold = lambda d: f"**{cell(d)}**" if d[1] > 0 or d[2] < 0 else cell(d)
    lines.append([da["pair"], cell(da["queries"]), bold(da["paintings"]), cell(db["queries"]), bold(db["paintings"])])
  text += [_table(["a - b", "set A [queries]", "set A [paintings]", "set B [queries]", "set B [paintings]"], lines), ""]
  text += ["## Set B: stylized photos", "", f"Style retrieval (relevant: same painting, other photo); "
           f"sni@{k}: share of the top {k} with the same painting and another photo (at most "
           f"{min(k, len(photos) - 1)}/{k} = {min(k, len(photos) - 1) / k:.2f} here).", ""]
  lines = []
  for name in _embeddings(rows, "style"):
    lines.append([name] + [cell(_value(rows, set="B", task="style", embedding=name, metric=m))
                           for m in ["AP"] + [f"R@{k_}" for k_ in ks] + [f"sni@{k}"]])
  lines.sort(key=lambda line: -float(line[1].split()[0]))
  text += [_table(["embedding", "mAP"] + [f"R@{k_}" for k_ in ks] + [f"sni@{k}"], lines), ""]
  text += ["Content retrieval (relevant: same photo, other painting).", ""]
  lines = [[name] + [cell(_value(rows, set="B", task="content", embedding=name, metric=m))
                     for m in ["AP"] + [f"R@{k_}" for k_ in ks]] for name in _embeddings(rows, "content")]
  text += [_table(["vectors", "mAP"] + [f"R@{k_}" for k_ in ks], lines), ""]
  text += ["## style-not-content threshold (set B, the product's index at the default config)", "",
           f"Plain style ranking: style R@{k} {baseline:.3f}. Chosen threshold: **{chosen:.2f}** (highest mean "
           f"sni@{k} among thresholds keeping style R@{k}, then fewest same-photo results, then the middle of "
           "the plateau).", ""]
  lines = []
  for t, scores in sweep.items():
    lines.append([f"{t:.2f}"] + [cell(metrics.bootstrap(scores[m], config.bootstrap_resamples, config.seed))
                                 for m in ("sni", "same_photo", f"style R@{k}", "style AP")])
  text += [_table(["threshold", f"sni@{k}", f"same photo @{k}", f"style R@{k}", "style AP"], lines), ""]
  text += ["Share of pairs whose content cosine exceeds the threshold (pushed down by style-not-content):", ""]
  lines = []
  for t, by_set in duplicates.items():
    for set_name, rates in by_set.items():
      lines += [[f"{t:.2f}", set_name, pair, f"{rate:.3f}"] for pair, rate in rates.items()]
  text += [_table(["threshold", "set", "pair", "share above"], lines), ""]
  text += [f"Product check: set B embedded by `stylejax.retrieval.embed` gives the benchmark's vectors "
           f"({', '.join(f'{n} {v:.1e}' for n, v in check.items())}), and `Searcher.rank` gives the sweep's "
           "rankings at the provisional threshold, the product's current default and the chosen one.", ""]
  return "\n".join(text)
