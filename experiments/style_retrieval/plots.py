"""The benchmark's figures: example queries, and the style-not-content threshold sweep."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import evaluation  # noqa: E402
import metrics  # noqa: E402


def example_queries(items, seed: int, n: int = 3) -> list[int]:
  """n queries from n different paintings, one of each variant (jitter, gray, original), seeded."""
  rng = np.random.default_rng(seed)
  paintings = sorted({i.painting for i in items})
  chosen = rng.choice(len(paintings), size=min(n, len(paintings)), replace=False)
  wanted = ("jitter", "gray", "original")
  out = []
  for j, p in enumerate(chosen):
    pool = [q for q, i in enumerate(items) if i.painting == paintings[p] and i.variant == wanted[j % 3]]
    out.append(int(rng.choice(pool)))
  return out


def examples(path: Path, pictures, items, similarities: dict[str, np.ndarray], state_a: dict, seed: int,
             top: int = 5) -> None:
  """Rows: each query under each embedding; columns: the query, then its top results (regions
  protocol: the query's own crop excluded). Green frame: same painting; red: another painting."""
  relevant, candidates = evaluation.masks_a(state_a["painting"], state_a["crop"])["regions"]
  queries = example_queries(items, seed)
  rows = [(q, name) for q in queries for name in similarities]
  fig, axes = plt.subplots(len(rows), top + 1, figsize=(1.6 * (top + 1), 1.75 * len(rows)))
  for r, (q, name) in enumerate(rows):
    sim = similarities[name]
    order = metrics.ranking(sim[q], candidates[q] & (np.arange(len(items)) != q))[:top]
    cells = [(q, "query", "black")] + [(j, f"{sim[q, j]:.2f}", "green" if relevant[q, j] else "red") for j in order]
    for c, (j, caption, colour) in enumerate(cells):
      ax = axes[r, c]
      ax.imshow(np.clip(pictures[j], 0, 1))
      ax.set_xticks([])
      ax.set_yticks([])
      for spine in ax.spines.values():
        spine.set_color(colour)
        spine.set_linewidth(3)
      label = f"{items[j].painting[:14]}\n{items[j].variant}" if c == 0 else caption
      ax.set_title(label, fontsize=6)
    axes[r, 0].set_ylabel(name, fontsize=6)
  fig.suptitle("Set A queries (left) and top results; green: same painting, red: other", fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=80)
  plt.close(fig)


def threshold(path: Path, sweep: dict, chosen: float, old: float, k: int, content_b, masks_b, content_a, masks_a,
              config) -> None:
  """Left: sni@k, same-photo share and style R@k against the threshold (set B). Middle and right:
  content cosines of each kind of pair, set B and set A, with the chosen and provisional thresholds."""
  fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
  ts = np.array(list(sweep))
  for metric, label in (("sni", f"sni@{k} (same painting, other photo)"), ("same_photo", f"same photo @{k}"),
                        (f"style R@{k}", f"style R@{k}")):
    stats = np.array([metrics.bootstrap(sweep[t][metric], config.bootstrap_resamples, config.seed) for t in ts])
    axes[0].plot(ts, stats[:, 0], label=label)
    axes[0].fill_between(ts, stats[:, 1], stats[:, 2], alpha=0.2)
  axes[0].set_xlabel("content threshold")
  axes[0].set_title("set B: style-not-content, top 10", fontsize=9)
  axes[0].legend(fontsize=7)
  off_diagonal = lambda m: m & ~np.eye(len(m), dtype=bool)
  for ax, sims, masks, title in ((axes[1], content_b, masks_b, "set B content cosine"),
                                 (axes[2], content_a, masks_a, "set A content cosine")):
    bins = np.linspace(min(0.0, float(sims.min())), 1, 51)
    for name, mask in masks.items():
      ax.hist(sims[off_diagonal(mask)], bins=bins, density=True, alpha=0.45, label=name)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
  for ax in axes:
    ax.axvline(chosen, color="black", linestyle="--", linewidth=1)
    ax.axvline(old, color="grey", linestyle=":", linewidth=1)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
