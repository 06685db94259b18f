"""The study's figures: trade-off curves, loss curves, and a grid of results labelled by file stems."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

import analysis
import report
from stylejax.imaging import images

COLOURS = {"gram": "tab:blue", "mean_var": "tab:orange", "mean_cov": "tab:green", "sliced_wasserstein": "tab:red"}


def _save(fig: Figure, path: Path) -> None:
  FigureCanvasAgg(fig)
  fig.tight_layout()
  fig.savefig(path, dpi=90)


def curves(records, statistics, out: Path) -> None:
  """Content LPIPS against each style judge, one curve per statistic, set A solid and B dashed."""
  fig = Figure(figsize=(4.2 * len(report.STYLE_JUDGES), 3.8))
  for ax, judge in zip(fig.subplots(1, len(report.STYLE_JUDGES)), report.STYLE_JUDGES):
    for statistic in statistics:
      for image_set, style in (("A", "-"), ("B", "--")):
        multipliers, content, values = analysis.mean_curve(records, statistic, judge, image_set)
        ax.plot(content, values, style, marker="o", color=COLOURS.get(statistic), label=f"{statistic}, set {image_set}")
        if image_set == "A":
          for m, x, y in zip(multipliers, content, values):
            ax.annotate(f"×{m:g}", (x, y), fontsize=7, alpha=0.7)
    ax.set_xlabel("content LPIPS (lower: closer to the photo)")
    ax.set_ylabel(f"{report.JUDGE_NAMES[judge]} distance to the painting")
    ax.set_title(report.JUDGE_NAMES[judge], fontsize=11)
  ax.legend(fontsize=7)
  _save(fig, out)


def loss_curves(workdir: Path, records, statistics, out: Path) -> None:
  """Total loss / its first logged value at the centre weight (content_noise), mean ± min/max over runs."""
  fig = Figure(figsize=(5.5, 3.6))
  ax = fig.subplots()
  for statistic in statistics:
    chosen = [r for r in records if r["statistic"] == statistic and r["multiplier"] == 1.0
              and r["init"] == "content_noise"]
    curves = []
    for r in chosen:
      logged = [json.loads(line) for line in (Path(r["path"]) / "metrics.jsonl").read_text().splitlines()]
      curves.append([(m["step"], m["total"]) for m in logged])
    curves = np.asarray(curves)
    relative = curves[:, :, 1] / curves[:, :1, 1]
    ax.plot(curves[0, :, 0], relative.mean(0), color=COLOURS.get(statistic), label=statistic)
    ax.fill_between(curves[0, :, 0], relative.min(0), relative.max(0), color=COLOURS.get(statistic), alpha=0.15)
  ax.set_xlabel("optimizer step")
  ax.set_ylabel("total loss / first logged value")
  ax.set_yscale("log")
  ax.legend(fontsize=8)
  _save(fig, out)


def grid(records, statistics, out: Path, per_set: int = 2) -> None:
  """Photo, painting and each statistic's result at its centre weight, for the first pairs of each set."""
  chosen_pairs = []
  for image_set in ("A", "B"):
    keys = list(dict.fromkeys((r["photo_spec"], r["painting_spec"]) for r in records if r["set"] == image_set))
    chosen_pairs += [(image_set, *k) for k in keys[:per_set]]
  columns = 2 + len(statistics)
  fig = Figure(figsize=(2.6 * columns, 2.7 * len(chosen_pairs)))
  axes = fig.subplots(len(chosen_pairs), columns, squeeze=False)
  for row, (image_set, photo, painting) in zip(axes, chosen_pairs):
    results = {r["statistic"]: r for r in records if r["photo_spec"] == photo and r["painting_spec"] == painting
               and r["multiplier"] == 1.0 and r["init"] == "content_noise" and r["seed"] == 0}
    panels = [(images.load_image(photo), Path(photo).stem), (images.load_image(painting), f"{Path(painting).stem} ({image_set})")]
    panels += [(np.asarray(Image.open(Path(results[s]["path"]) / "final.png")), s) for s in statistics]
    for ax, (image, title) in zip(row, panels):
      ax.imshow(image)
      ax.set_title(title, fontsize=10)
      ax.axis("off")
  _save(fig, out)


def write_all(records, baselines, saved, config, workdir: Path, out: Path, tag: str) -> None:
  del baselines, saved  # the figures read the runs only
  statistics = tuple(config.study.statistics)
  curves(records, statistics, out / f"curves_{tag}.png")
  loss_curves(workdir, records, statistics, out / f"loss_curves_{tag}.png")
  grid(records, statistics, out / f"grid_{tag}.png")
