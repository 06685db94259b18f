"""Tables and figure of the video-consistency experiment, from results/rows_*.jsonl (run.py).

  python experiments/video_consistency/report.py

Per method and variant: the mean over clips, with a 95% percentile-bootstrap interval over clips
(10,000 resamples), of the warping error (exact flow), the style distance (AlexNet Gram) and the
content LPIPS; and per clip paired differences against the method's per-frame output.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from stylejax.imaging import grids, images
from stylejax.io import outputs
from stylejax.io import video as videoio

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
METRICS = ("warping_error", "style_gram", "content_lpips", "s_per_frame")
# each method's variants after per_frame; *_ft: fine-tuned with the temporal loss at weight W
# (temporalW) beside the same fine-tune without it (per_frame), and blend/ema of that per-frame run
VARIANTS = {"pixel": ("temporal", "ema", "blend"), "magenta": ("blend", "ema"), "cin": ("blend", "ema"),
            "cin_ft": ("temporal300", "temporal2000", "blend", "ema"),
            "ghiasi_ft": ("temporal300", "temporal1000", "blend", "ema"),
            # the first ghiasi fine-tunes, whose temporal term also trained the style network
            "ghiasi_ft_v1": ("temporal300", "temporal2000", "blend", "ema")}


def bootstrap(values, seed=0, resamples=10_000):
  values = np.asarray(values, np.float64)
  rng = np.random.default_rng(seed)
  means = values[rng.integers(0, len(values), (resamples, len(values)))].mean(1)
  return float(values.mean()), float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def fmt(stat, digits=4):
  mean, low, high = stat
  return f"{mean:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def load_rows():
  rows = []
  for path in sorted(RESULTS.glob("rows_*.jsonl")):
    rows += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
  return rows


def tables(rows) -> str:
  methods = [m for m in VARIANTS if any(r["method"] == m for r in rows)]
  lines = ["| method | variant | clips | warping error | style distance (Gram) | content LPIPS | s/frame |",
           "|---|---|---|---|---|---|---|"]
  for method in methods:
    for variant in ("per_frame", *VARIANTS[method]):
      mine = [r for r in rows if r["method"] == method and r["variant"] == variant]
      if not mine:
        continue
      lines.append(f"| {method} | {variant} | {len(mine)} | {fmt(bootstrap([r['warping_error'] for r in mine]))} | "
                   f"{fmt(bootstrap([r['style_gram'] for r in mine]), 3)} | "
                   f"{fmt(bootstrap([r['content_lpips'] for r in mine]), 3)} | "
                   f"{np.mean([r['s_per_frame'] for r in mine]):.2f} |")
  lines += ["", "Paired differences against the same method's per-frame output, per clip (negative warping error: "
            "more consistent; a style difference whose interval holds 0 is no worse):", "",
            "| method | variant | clips | warping error change | relative | style distance change |",
            "|---|---|---|---|---|---|"]
  for method in methods:
    base = {r["clip"]: r for r in rows if r["method"] == method and r["variant"] == "per_frame"}
    for variant in VARIANTS[method]:
      pairs = [(r, base[r["clip"]]) for r in rows if r["method"] == method and r["variant"] == variant
               and r["clip"] in base]
      if len(pairs) < 2:
        continue
      d_we = bootstrap([a["warping_error"] - b["warping_error"] for a, b in pairs])
      rel = bootstrap([a["warping_error"] / b["warping_error"] - 1 for a, b in pairs])
      d_st = bootstrap([a["style_gram"] - b["style_gram"] for a, b in pairs])
      lines.append(f"| {method} | {variant} | {len(pairs)} | {fmt(d_we)} | {fmt(tuple(100 * v for v in rel), 1)} % | "
                   f"{fmt(d_st, 3)} |")
  return "\n".join(lines) + "\n"


def _strip(path: Path, frames) -> tuple[list, list]:
  data = np.load(path)
  return [data["frames"][t].astype(np.float32) / 255 for t in frames], [data["input"][t].astype(np.float32) / 255
                                                                         for t in frames]


POST_HOC = (("magenta", ("per_frame", "blend", "ema")), ("cin", ("per_frame", "blend", "ema")),
            ("pixel", ("per_frame", "temporal", "ema")))
FINETUNED = (("cin_ft", ("per_frame", "temporal300", "temporal2000")),
             ("ghiasi_ft", ("per_frame", "temporal300", "temporal1000")))


def figure(clip="astronaut_foreground", groups=POST_HOC, suffix="", frames=(0, 2, 4), cell=(96, 128)) -> Path | None:
  """Frame strips of `groups` (method, variants) from run.py's saved frames; None when none are there."""
  strips = HERE / "workdirs" / "strips"
  rows, labels = [], []
  for method, variants in groups:
    for variant in variants:
      path = strips / f"{clip}_{method}_{variant}.npz"
      if not path.exists():
        continue
      out, inputs = _strip(path, frames)
      if not rows:
        rows.append([images.resize(f, cell) for f in inputs])
        labels.append("input")
      rows.append([images.resize(f, cell) for f in out])
      labels.append(f"{method} {variant}")
  if not rows:
    return None
  target = RESULTS / f"strips_{clip}{suffix}.jpg"
  outputs.save_image(grids.tile(rows), target)
  (RESULTS / f"strips_{clip}{suffix}.txt").write_text("rows, top to bottom: " + "; ".join(labels) +
                                              f"\ncolumns: frames {', '.join(str(f + 1) for f in frames)}\n")
  return target


def gif(clip="astronaut_foreground", method="magenta", variant="blend") -> Path | None:
  """input | per-frame | the variant, the README's short loop."""
  strips = HERE / "workdirs" / "strips"
  paths = [strips / f"{clip}_{method}_{v}.npz" for v in ("per_frame", variant)]
  if not all(p.exists() for p in paths):
    return None
  per_frame, blend = (np.load(p) for p in paths)
  frames = np.concatenate([per_frame["input"], per_frame["frames"], blend["frames"]], axis=2)
  return videoio.write_video(RESULTS / f"{clip}_{method}.gif", frames, 6)


def main():
  rows = load_rows()
  text = tables(rows)
  (RESULTS / "results.md").write_text(text)
  print(text)
  print(figure(), figure(groups=FINETUNED, suffix="_finetuned"), gif(), gif(method="ghiasi_ft", variant="temporal300"),
        gif(method="cin_ft", variant="temporal300"))


if __name__ == "__main__":
  sys.exit(main())
