"""Arbitrary-style networks on paintings they saw and paintings they never saw, against the references.

  python experiments/arbitrary_style/run.py --data ../shared/data               # default (~45 min on 2 CPUs)
  python experiments/arbitrary_style/run.py --data ../shared/data --runlocal    # a quick look (~15 min)
  python experiments/arbitrary_style/run.py --report-only [--runlocal]          # tables again from the CSV

The paintings in DATA/style are split by sorted name into two halves: even positions are "seen"
(the training set of every network trained here), odd positions "unseen". Photos: DATA/content.
Methods, each applied to every photo x painting it can take:
- magenta: the pretrained Magenta arbitrary-style model (Ghiasi et al.; trained by Google on ~80k
  paintings, so "seen"/"unseen" describe our split, not its training set);
- adain, ghiasi: `stylejax train --config adain_tiny | ghiasi_tiny` on the seen paintings, trained
  here for minutes on 2 CPUs;
- cin: `cin_tiny` trained on the seen paintings at the same crop size (fixed styles: seen only);
- gatys: pixel optimization (stylejax/configs/quickstart.py, L-BFGS) per pair, the quality reference.
Every result is `--size` px on its longer side and judged by stylejax.evaluation.metrics (content
LPIPS and SSIM against the photo; AlexNet Gram, mean/std and sliced-Wasserstein distances to the
painting). Time per image is measured after compilation (gatys: the whole optimization).

Trained workdirs land in experiments/arbitrary_style/workdirs/<tag>/ (rerunning resumes them);
results_<tag>.md, rows_<tag>.csv and unseen_<tag>.png go next to this file.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from stylejax import runtime  # noqa: E402

runtime.configure()

import numpy as np  # noqa: E402

import comparison  # noqa: E402
from stylejax.errors import StylejaxError  # noqa: E402
from stylejax.evaluation import figures, metrics  # noqa: E402
from stylejax.feedforward import arbitrary  # noqa: E402
from stylejax.methods import registry  # noqa: E402
from stylejax.imaging import crops, images  # noqa: E402
from stylejax.atomic_io import atomic_write_text  # noqa: E402
from stylejax.pixel import stylize  # noqa: E402

METHODS = ("magenta", "adain", "ghiasi", "cin", "gatys")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")

# Training budgets: the tiny configs' own, every network on 64 px crops of the seen paintings.
DEFAULT = {"size": 224, "adain_steps": 500, "ghiasi_steps": 300, "cin_steps": 300, "gatys_steps": 80,
           "photos": 0}
RUNLOCAL = {"size": 160, "adain_steps": 150, "ghiasi_steps": 100, "cin_steps": 100, "gatys_steps": 30,
            "photos": 2}


def image_files(folder: Path) -> list[Path]:
  files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
  if not files:
    raise StylejaxError(f"no images in {folder}")
  return files


def split_paintings(paintings: list[Path]) -> dict[str, list[Path]]:
  """Even positions (sorted by name) are seen in training, odd ones never."""
  return {"seen": paintings[0::2], "unseen": paintings[1::2]}


def train(kind: str, config: str, steps: int, seen_dir: Path, workdir: Path) -> float:
  """`stylejax train` on the seen paintings (resumes a finished or interrupted run); wall seconds."""
  stylejax_cli = Path(sys.executable).with_name("stylejax")
  style_spec = f"folder:{seen_dir}" if kind in ("adain", "ghiasi") else str(seen_dir)
  command = [str(stylejax_cli), "train", "--config", config, "--workdir", str(workdir),
             f"--config.styles={style_spec}", f"--config.optim.steps={steps}", "--config.eval_every=0"]
  if kind == "cin":  # the arbitrary-style configs' crop size, so that only the method differs
    command += ["--config.data.image_size=64", "--config.style_size=64", "--config.eval_size=64"]
  start = time.perf_counter()
  print(" ".join(command), flush=True)
  subprocess.run(command, check=True, cwd=ROOT)
  return time.perf_counter() - start


def timed(fn, repeats: int = 3):
  """(result of the first call after a warm-up call, median seconds of `repeats` calls)."""
  fn()
  times, result = [], None
  for _ in range(repeats):
    start = time.perf_counter()
    out = fn()
    times.append(time.perf_counter() - start)
    result = out if result is None else result
  return result, float(np.median(times))


def stylize_all(method: str, model, pairs, photo_images, painting_images, seen_index, settings):
  """{(photo, painting): (image, seconds per image)} for every pair the method can take."""
  out = {}
  for photo, painting, group in pairs:
    if method == "cin":
      if group != "seen":
        continue
      style = np.zeros(model.n_styles, np.float32)
      style[seen_index[painting]] = 1.0
      out[photo, painting] = timed(lambda: model.apply([photo_images[photo]], style)[0])
    elif method == "gatys":
      start = time.perf_counter()
      result = stylize.stylize(str(photo), [str(painting)], config="quickstart", image_size=settings["size"],
                               **{"optim.steps": settings["gatys_steps"], "log_every": settings["gatys_steps"]})
      out[photo, painting] = (result.image, time.perf_counter() - start)
    else:
      out[photo, painting] = timed(lambda: model.apply(photo_images[photo], [painting_images[painting]],
                                                       np.ones(1, np.float32)))
    print(f"  {method} {photo.stem} x {painting.stem}: {out[photo, painting][1]:.2f} s", flush=True)
  return out


def figure(path: Path, results, photos, unseen, methods, size: int = 128) -> None:
  """Rows: the unseen paintings, then each method's result for each photo; columns: the paintings."""
  cell = lambda image: crops.square(image, size)
  rows = [("painting", [cell(images.load_image(str(p))) for p in unseen])]
  for photo in photos:
    for method in methods:
      if all((method, photo, p) in results for p in unseen):
        rows.append((f"{method}\n{photo.stem}", [cell(results[method, photo, p]) for p in unseen]))
  figures.labelled_grid(path, rows, [p.stem for p in unseen], inches=1.3)


def write_rows(path: Path, rows: list[dict]) -> None:
  fields = ["method", "group", "photo", "painting", "seconds", *comparison.METRICS]
  lines = [",".join(fields)] + [",".join(str(r[f]) for f in fields) for r in rows]
  atomic_write_text(path, "\n".join(lines) + "\n")


def read_rows(path: Path) -> list[dict]:
  with open(path, newline="") as f:
    return [{k: (v if k in ("method", "group", "photo", "painting") else float(v)) for k, v in r.items()}
            for r in csv.DictReader(f)]


def report(rows, train_seconds: dict, settings: dict, tag: str, command: str) -> str:
  methods = [m for m in METHODS if any(r["method"] == m for r in rows)]
  per_image = []
  for m in methods:
    seconds = [r["seconds"] for r in rows if r["method"] == m]
    train_note = f"{train_seconds[m]:.0f}" if m in train_seconds else "—"
    per_image.append(f"| {m} | {np.median(seconds):.3f} | {train_note} |")
  return "\n".join([
      f"# Arbitrary-style networks: results ({tag})", "",
      f"Command: `{command}`", "",
      f"Settings: {settings}. Every result {settings['size']} px on its longer side; metrics at 224 px.", "",
      "## Mean over photo × painting pairs, 95% percentile-bootstrap interval (10,000 resamples of pairs)", "",
      "Content: LPIPS (higher = further from the photo), SSIM (lower = further). Style: AlexNet "
      "distances to the painting (lower = closer).", "",
      comparison.summary_table(rows, methods), "",
      "## Seen → unseen paintings (means)", "",
      comparison.generalisation_table(rows, methods), "",
      "## Against the pixel optimization on the same pairs (* = interval excludes 0)", "",
      comparison.versus_table(rows, methods, "gatys", "unseen"), "",
      comparison.versus_table(rows, methods, "gatys", "seen"), "",
      "## Time", "",
      "| method | median s per image (after compilation; gatys: whole optimization) | training s (this run) |",
      "|---|---|---|", *per_image, ""])


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
  parser.add_argument("--runlocal", action="store_true")
  parser.add_argument("--tag", default="")
  parser.add_argument("--methods", default=",".join(METHODS))
  parser.add_argument("--report-only", action="store_true")
  args = parser.parse_args(argv)
  tag = args.tag or ("runlocal" if args.runlocal else "default")
  settings = dict(RUNLOCAL if args.runlocal else DEFAULT)
  command = "python experiments/arbitrary_style/run.py " + " ".join(argv if argv is not None else sys.argv[1:])
  rows_path, results_path = HERE / f"rows_{tag}.csv", HERE / f"results_{tag}.md"
  workroot = HERE / "workdirs" / tag
  if args.report_only:
    train_seconds = {}
    timing = workroot / "train_seconds.csv"
    if timing.exists():
      train_seconds = {k: float(v) for k, v in (line.split(",") for line in timing.read_text().split())}
    atomic_write_text(results_path, report(read_rows(rows_path), train_seconds, settings, tag, command))
    return 0

  data = Path(args.data)
  photos = image_files(data / "content")
  if settings["photos"]:
    photos = photos[:settings["photos"]]
  groups = split_paintings(image_files(data / "style"))
  seen_dir = workroot / "paintings_seen"
  seen_dir.mkdir(parents=True, exist_ok=True)
  for p in groups["seen"]:
    shutil.copyfile(p, seen_dir / p.name)
  seen_index = {p: i for i, p in enumerate(groups["seen"])}  # cin's style ids: sorted names, as styles.json
  methods = [m for m in args.methods.split(",") if m]
  pairs = [(photo, painting, group) for group in ("seen", "unseen") for painting in groups[group] for photo in photos]

  train_seconds, loaded = {}, {}
  configs = {"adain": "adain_tiny", "ghiasi": "ghiasi_tiny", "cin": "cin_tiny"}
  for method in methods:
    if method in configs:
      workdir = workroot / method
      train_seconds[method] = train(method, configs[method], settings[f"{method}_steps"], seen_dir, workdir)
      loaded[method] = registry.METHODS[method].load(workdir, None, None)
  if "magenta" in methods:
    loaded["magenta"] = arbitrary.ArbitraryStylizer()
  atomic_write_text(workroot / "train_seconds.csv", "".join(f"{k},{v:.1f}\n" for k, v in train_seconds.items()))

  photo_images = {p: images.resize(images.load_image(str(p)), settings["size"]) for p in photos}
  painting_images = {p: images.load_image(str(p)) for _, p, _ in pairs}
  evaluator = metrics.Evaluator("alexnet", 224)
  rows, results = [], {}
  for method in methods:
    print(f"== {method}", flush=True)
    outputs = stylize_all(method, loaded.get(method), pairs, photo_images, painting_images, seen_index, settings)
    for (photo, painting), (image, seconds) in outputs.items():
      group = "seen" if painting in seen_index else "unseen"
      results[method, photo, painting] = image
      scores = evaluator(image, photo_images[photo], painting_images[painting])
      rows.append({"method": method, "group": group, "photo": photo.stem, "painting": painting.stem,
                   "seconds": round(seconds, 4), **{k: round(scores[k], 6) for k in comparison.METRICS}})
  write_rows(rows_path, rows)
  figure(HERE / f"unseen_{tag}.png", results, photos, groups["unseen"], methods)
  atomic_write_text(results_path, report(rows, train_seconds, settings, tag, command))
  print(results_path.read_text())
  return 0


if __name__ == "__main__":
  try:
    sys.exit(main())
  except StylejaxError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
