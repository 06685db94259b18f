"""A new style in minutes on a CPU: gamma/beta-only new styles for the pretrained multistyle26 network,
judged against 80 L-BFGS steps of Gatys on the same photo x painting pairs.

  python experiments/trained_networks/run.py --data ../shared/data                 # default
  python experiments/trained_networks/run.py --data ../shared/data --report-only   # tables again from the CSV

For each held-out painting: `stylejax train --config cin_newstyle` (multistyle26 + that painting,
only the new gamma/beta rows train), a checkpoint every --every steps. Every checkpoint (step 0 =
the new rows' starting point, the mean of the 26 styles) stylizes every photo of DATA/content at
--size px and is scored with stylejax.evaluation.metrics (content SSIM and LPIPS against the photo,
AlexNet Gram / mean-std / SWD distances to the painting), as experiments/arbitrary_style does.

Gatys: by default the rows of experiments/arbitrary_style/rows_default.csv (the same pairs, the same
protocol: stylejax/configs/quickstart.py, 80 L-BFGS steps at 224 px, the same Evaluator); with
--gatys run, they are computed here again.

Outputs next to this file: rows_<tag>.csv (one row per painting x photo x step), results_<tag>.md,
figure_<tag>.png. Workdirs: experiments/trained_networks/workdirs/<tag>/ (not committed; a rerun
resumes them).
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "experiments" / "arbitrary_style"))

from stylejax import runtime  # noqa: E402

runtime.configure()

import numpy as np  # noqa: E402

import comparison  # noqa: E402  (experiments/arbitrary_style: bootstrap over pairs)
from stylejax.atomic_io import atomic_write_text  # noqa: E402
from stylejax.errors import StylejaxError  # noqa: E402
from stylejax.evaluation import figures, metrics  # noqa: E402
from stylejax.feedforward import transfer  # noqa: E402
from stylejax.imaging import crops, images  # noqa: E402
from stylejax.methods import cin_newstyle  # noqa: E402
from stylejax.networks import stylenet  # noqa: E402
from stylejax.pixel import stylize  # noqa: E402

PAINTINGS = ("the_kiss", "water_lilies", "shipwreck_minotaur")  # arbitrary_style's "unseen" half (3 of 5)
ARBITRARY_ROWS = ROOT / "experiments" / "arbitrary_style" / "rows_default.csv"
FIELDS = ("method", "painting", "photo", "step", "train_seconds", *comparison.METRICS)
SSIM_MUST, SSIM_AIM = 0.35, 0.45


def train(painting: Path, workdir: Path, args) -> float:
  """`stylejax train --config cin_newstyle` on one painting (resumes); wall seconds of this call."""
  command = [sys.executable, "-m", "stylejax.cli", "train", "--config", "cin_newstyle", "--workdir", str(workdir),
             "--quiet", f"--config.styles={painting}", f"--config.optim.steps={args.steps}",
             f"--config.checkpoint_every={args.every}", f"--config.keep_checkpoints={args.steps // args.every + 1}",
             f"--config.data.image_size={args.train_size}", f"--config.loss.style_weight={args.style_weight}",
             "--config.eval_every=0"]
  print(" ".join(command), flush=True)
  start = time.perf_counter()
  subprocess.run(command, check=True, cwd=ROOT)
  return time.perf_counter() - start


def train_scratch(painting: Path, workdir: Path, args) -> float:
  """`cin_tiny` from scratch on the one painting, as many steps at the same crop size (resumes)."""
  command = [sys.executable, "-m", "stylejax.cli", "train", "--config", "cin_tiny", "--workdir", str(workdir),
             "--quiet", f"--config.styles={painting}", f"--config.optim.steps={args.steps}",
             f"--config.checkpoint_every={args.every}", f"--config.keep_checkpoints={args.steps // args.every + 1}",
             f"--config.data.image_size={args.train_size}", "--config.eval_every=0"]
  print(" ".join(command), flush=True)
  start = time.perf_counter()
  subprocess.run(command, check=True, cwd=ROOT)
  return time.perf_counter() - start


def checkpoint_steps(workdir: Path) -> list[int]:
  return sorted(int(p.name) for p in (workdir / "checkpoints").iterdir() if p.name.isdigit())


def elapsed_at(workdir: Path, steps) -> dict[int, float]:
  """Training seconds (wall, compilation included) at each of `steps`, from the run's own images/s
  log (batch 4), interpolated between logged steps."""
  import json  # pylint: disable=import-outside-toplevel

  logged, seconds, last = [0], [0.0], 0
  for line in (workdir / "metrics.jsonl").read_text().splitlines():
    record = json.loads(line)
    step = int(record["step"])
    logged.append(step)
    seconds.append(seconds[-1] + (step - last) * 4 / record["images_per_s"])
    last = step
  return {step: float(np.interp(step, logged, seconds)) for step in steps}


def gatys_rows(photos, paintings, photo_images, painting_images, evaluator, run: bool) -> list[dict]:
  if not run:
    with open(ARBITRARY_ROWS, newline="") as f:
      rows = [r for r in csv.DictReader(f) if r["method"] == "gatys"]
    wanted = {(p.stem, q.stem) for p in photos for q in paintings}
    kept = [{"method": "gatys", "painting": r["painting"], "photo": r["photo"], "step": 80,
             "train_seconds": float(r["seconds"]), **{m: float(r[m]) for m in comparison.METRICS}}
            for r in rows if (r["photo"], r["painting"]) in wanted]
    if len(kept) != len(wanted):
      raise StylejaxError(f"{ARBITRARY_ROWS} lacks some gatys pairs; use --gatys run")
    return kept
  out = []
  for painting in paintings:
    for photo in photos:
      start = time.perf_counter()
      result = stylize.stylize(str(photo), [str(painting)], config="quickstart", image_size=224,
                               **{"optim.steps": 80, "log_every": 80})
      scores = evaluator(result.image, photo_images[photo], painting_images[painting])
      out.append({"method": "gatys", "painting": painting.stem, "photo": photo.stem, "step": 80,
                  "train_seconds": time.perf_counter() - start, **scores})
  return out


def figure(path: Path, rows_images, photos, paintings, size: int = 128) -> None:
  """Columns: the paintings; rows: the painting, then per photo the photo, the new style, Gatys."""

  cell = lambda image: crops.square(np.asarray(image), size)
  rows = [("painting", [cell(images.load_image(str(p))) for p in paintings])]
  for photo in photos:
    rows.append((f"{photo.stem}", [cell(images.load_image(str(photo)))] * len(paintings)))
    for method in ("cin_newstyle", "cin_scratch"):  # a painting without this method's result: a blank cell
      if any((method, photo.stem, p.stem) in rows_images for p in paintings):
        rows.append((f"{method}\n{photo.stem}", [cell(rows_images[method, photo.stem, p.stem])
                                                  if (method, photo.stem, p.stem) in rows_images
                                                  else np.ones((size, size, 3)) for p in paintings]))
  figures.labelled_grid(path, rows, [p.stem for p in paintings], inches=1.4)


def base_style_ssim(photo_images: dict) -> str:
  """Content SSIM of multistyle26's own 26 styles on the photos (what the frozen trunk allows)."""
  net = transfer.Stylizer.load("multistyle26")
  per_style = [np.mean([float(metrics.ssim(images.resize(net.apply([image], str(s))[0], 224), images.resize(image, 224)))
                        for image in photo_images.values()]) for s in range(net.n_styles)]
  return (f"multistyle26's own styles: content SSIM mean {np.mean(per_style):.3f}, median {np.median(per_style):.3f}, "
          f"range {min(per_style):.2f} to {max(per_style):.2f} (per style, mean over the photos)")


def write_rows(path: Path, rows: list[dict]) -> None:
  lines = [",".join(FIELDS)] + [",".join(str(round(r[f], 6)) if isinstance(r[f], float) else str(r[f])
                                          for f in FIELDS) for r in rows]
  atomic_write_text(path, "\n".join(lines) + "\n")


def read_rows(path: Path) -> list[dict]:
  with open(path, newline="") as f:
    return [{k: (v if k in ("method", "painting", "photo") else float(v)) for k, v in r.items()}
            for r in csv.DictReader(f)]


def _interval(values) -> str:
  mean, low, high = comparison.bootstrap_mean(values)
  return f"{mean:.3f} [{low:.3f}, {high:.3f}]"


def report(rows: list[dict], command: str, settings: dict) -> str:
  """Per step: mean [95% bootstrap CI over pairs] of each metric; then the bars at the last step."""
  ours = [r for r in rows if r["method"] == "cin_newstyle"]
  gatys = {(r["photo"], r["painting"]): r for r in rows if r["method"] == "gatys"}
  steps = sorted({int(r["step"]) for r in ours})
  lines = [f"# γ/β-only new styles for multistyle26: results", "", f"Command: `{command}`", "",
           f"Settings: {settings}. Mean over photo × painting pairs, 95% percentile bootstrap over pairs "
           "(10,000 resamples); metrics at 224 px (stylejax.evaluation.metrics).", "",
           "| method | step | pairs | median train s (per painting) | content SSIM ↑ | content LPIPS | style Gram ↓ "
           "| style mean/std ↓ | style SWD ↓ |", "|---|---|---|---|---|---|---|---|---|"]
  for step in steps:
    mine = [r for r in ours if int(r["step"]) == step]
    lines.append(f"| cin_newstyle | {step} | {len(mine)} | {np.median([r['train_seconds'] for r in mine]):.0f} | "
                 + " | ".join(_interval([r[m] for r in mine]) for m in
                              ("content_ssim", "content_lpips", "style_gram", "style_mean_std", "style_swd")) + " |")
  scratch = [r for r in rows if r["method"] == "cin_scratch"]
  for step in sorted({int(r["step"]) for r in scratch}):
    mine = [r for r in scratch if int(r["step"]) == step]
    lines.append(f"| cin_scratch (cin_tiny, from scratch) | {step} | {len(mine)} | "
                 f"{np.median([r['train_seconds'] for r in mine]):.0f} | "
                 + " | ".join(_interval([r[m] for r in mine]) for m in
                              ("content_ssim", "content_lpips", "style_gram", "style_mean_std", "style_swd")) + " |")
  g = list(gatys.values())
  lines.append(f"| gatys (80 L-BFGS) | — | {len(g)} | {np.median([r['train_seconds'] for r in g]):.0f} (per pair) | "
               + " | ".join(_interval([r[m] for r in g]) for m in
                            ("content_ssim", "content_lpips", "style_gram", "style_mean_std", "style_swd")) + " |")
  last = [r for r in ours if int(r["step"]) == steps[-1]]
  ssim = comparison.bootstrap_mean([r["content_ssim"] for r in last])
  diffs = {m: comparison.bootstrap_mean([r[m] - gatys[r["photo"], r["painting"]][m] for r in last])
           for m in ("style_gram", "content_ssim", "style_swd")}
  verdict_ssim = "aim met" if ssim[0] >= SSIM_AIM else ("met" if ssim[0] >= SSIM_MUST else "**not met**")
  gram = diffs["style_gram"]
  verdict_gram = "better (interval below 0)" if gram[2] < 0 else ("met (interval includes 0)" if gram[1] <= 0
                                                                   else "**not met** (interval above 0)")
  lines += ["", f"## Bars at step {steps[-1]} (issue 22)", "",
            f"- content SSIM ≥ {SSIM_MUST} (aim ≥ {SSIM_AIM}): {ssim[0]:.3f} [{ssim[1]:.3f}, {ssim[2]:.3f}] — "
            f"{verdict_ssim}.",
            f"- AlexNet Gram distance minus Gatys' on the same pairs, no worse (interval includes or is below 0): "
            f"{gram[0]:+.3f} [{gram[1]:+.3f}, {gram[2]:+.3f}] — {verdict_gram}.",
            f"- (for reference) SSIM minus Gatys': {diffs['content_ssim'][0]:+.3f} [{diffs['content_ssim'][1]:+.3f}, "
            f"{diffs['content_ssim'][2]:+.3f}]; SWD minus Gatys': {diffs['style_swd'][0]:+.3f} "
            f"[{diffs['style_swd'][1]:+.3f}, {diffs['style_swd'][2]:+.3f}]."]
  return "\n".join(lines) + "\n"


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
  parser.add_argument("--paintings", default=",".join(PAINTINGS), help="painting stems in DATA/style")
  parser.add_argument("--steps", type=int, default=100)
  parser.add_argument("--every", type=int, default=25, help="checkpoint (and evaluate) every N steps")
  parser.add_argument("--train-size", type=int, default=128)
  parser.add_argument("--style-weight", type=float, default=30.0)
  parser.add_argument("--size", type=int, default=224, help="output px (longer side)")
  parser.add_argument("--gatys", choices=("reuse", "run"), default="reuse")
  parser.add_argument("--scratch", default="", help="paintings (stems) to also train cin_tiny on from scratch")
  parser.add_argument("--tag", default="default")
  parser.add_argument("--report-only", action="store_true")
  parser.add_argument("--base-ssim", action="store_true", help="only print the content SSIM of the 26 base styles")
  args = parser.parse_args(argv)
  command = "python experiments/trained_networks/run.py " + " ".join(argv if argv is not None else sys.argv[1:])
  settings = {k: getattr(args, k) for k in ("paintings", "steps", "every", "train_size", "style_weight", "size", "gatys",
                                           "scratch")}
  rows_path, results_path = HERE / f"rows_{args.tag}.csv", HERE / f"results_{args.tag}.md"
  if args.report_only:
    atomic_write_text(results_path, report(read_rows(rows_path), command, settings))
    print(results_path.read_text())
    return 0

  data = Path(args.data)
  photos = sorted(p for p in (data / "content").iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
  paintings = [next((data / "style").glob(f"{stem}.*")) for stem in args.paintings.split(",")]
  photo_images = {p: images.resize(images.load_image(str(p)), args.size) for p in photos}
  painting_images = {p: images.load_image(str(p)) for p in paintings}
  if args.base_ssim:
    print(base_style_ssim(photo_images))
    return 0
  evaluator = metrics.Evaluator("alexnet", 224)
  rows, pictures = [], {}
  for painting in paintings:
    workdir = HERE / "workdirs" / args.tag / painting.stem
    train(painting, workdir, args)
    seconds = elapsed_at(workdir, [0, *checkpoint_steps(workdir)])
    for step in [0, *checkpoint_steps(workdir)]:
      if step == 0:  # the starting point: the base with the new rows at the mean of its 26 styles
        stylizer = transfer.Stylizer.load(workdir, checkpoint_steps(workdir)[0])
        base = transfer.Stylizer.load("multistyle26")
        stylizer.params = stylenet.with_style_rows(stylizer.params,
                                                   cin_newstyle.initial_rows(base.params, 26, 1, "mean"), 26)
      else:
        stylizer = transfer.Stylizer.load(workdir, step)
      for photo in photos:
        image = stylizer.apply([photo_images[photo]], str(stylizer.n_styles - 1))[0]
        scores = evaluator(image, photo_images[photo], painting_images[painting])
        rows.append({"method": "cin_newstyle", "painting": painting.stem, "photo": photo.stem, "step": step,
                     "train_seconds": round(seconds.get(step, float("nan")), 1), **scores})
        pictures["cin_newstyle", photo.stem, painting.stem] = image
        print(f"  {painting.stem} step {step} {photo.stem}: ssim {scores['content_ssim']:.3f} "
              f"gram {scores['style_gram']:.3f}", flush=True)
  for painting in [p for p in paintings if p.stem in args.scratch.split(",")]:
    workdir = HERE / "workdirs" / args.tag / f"scratch_{painting.stem}"
    train_scratch(painting, workdir, args)
    seconds = elapsed_at(workdir, checkpoint_steps(workdir))
    for step in checkpoint_steps(workdir):
      stylizer = transfer.Stylizer.load(workdir, step)
      for photo in photos:
        image = stylizer.apply([photo_images[photo]], "0")[0]
        scores = evaluator(image, photo_images[photo], painting_images[painting])
        rows.append({"method": "cin_scratch", "painting": painting.stem, "photo": photo.stem, "step": step,
                     "train_seconds": round(seconds.get(step, float("nan")), 1), **scores})
        pictures["cin_scratch", photo.stem, painting.stem] = image
  gatys = gatys_rows(photos, paintings, photo_images, painting_images, evaluator, args.gatys == "run")
  rows += gatys
  write_rows(rows_path, rows)
  figure(HERE / f"figure_{args.tag}.png", pictures, photos, paintings)
  atomic_write_text(results_path, report(rows, command, settings))
  print(results_path.read_text())
  return 0


if __name__ == "__main__":
  try:
    sys.exit(main())
  except StylejaxError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
