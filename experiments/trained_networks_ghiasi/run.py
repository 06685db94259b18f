"""Ghiasi et al.'s style-prediction network fine-tuned from Magenta's pretrained model on a CPU, judged
on paintings and photos the fine-tune never saw (issue 22): content SSIM and AlexNet Gram distance at
224 px against 80 L-BFGS steps of Gatys on the same pairs, beside the model before fine-tuning.

  python experiments/trained_networks_ghiasi/run.py --data ../shared/data --train-only  # fine-tune (time-boxed)
  python experiments/trained_networks_ghiasi/run.py --data ../shared/data --eval-only   # tables and figure

`stylejax train --config ghiasi_tiny --config.network.transformer=magenta`: both of Magenta's "lite"
networks (MobileNet-v2 style predictor, 8/16/32-channel transformer) start from the packaged float
weights and train on the SEEN paintings x the TRAINING photos; the run is stopped after
--train-minutes (wall) and every checkpoint is evaluated on the UNSEEN paintings x the EVALUATION
photos (and, to show what the fine-tune fits, on the seen paintings too).

The split (disjoint on both sides):
- paintings: experiments/arbitrary_style's (sorted names: even positions seen, odd unseen), so its
  Gatys rows cover the pairs: SEEN trains, UNSEEN is only evaluated;
- photos: the training photos are scikit-image's bundled colour photos other than astronaut and
  coffee (TRAIN_PHOTOS, written to the workdir as PNGs); the evaluation photos are the 3 of
  DATA/content (astronaut, coffee, mountain_landscape). No photo is on both sides.

Methods in the table: "finetuned" (every checkpoint; step 0 = the pretrained float model),
"magenta_packaged" (the int8 model `stylejax apply --style-image` runs, the painting embedded whole),
"gatys" (reused from experiments/arbitrary_style/rows_default.csv via experiments/trained_networks'
loader: same pairs, 224 px, quickstart config, 80 L-BFGS steps, the same Evaluator).
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "experiments" / "arbitrary_style"))


def _load_cin_experiment():
  """experiments/trained_networks/run.py as a module (its file name is this one's)."""
  spec = importlib.util.spec_from_file_location("cin_experiment", ROOT / "experiments" / "trained_networks" / "run.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


cin_experiment = _load_cin_experiment()  # configures the runtime first, as every experiment

import jax  # noqa: E402
import numpy as np  # noqa: E402

import comparison  # noqa: E402  (experiments/arbitrary_style: bootstrap over pairs)
from stylejax.atomic_io import atomic_write_text  # noqa: E402
from stylejax.errors import StylejaxError  # noqa: E402
from stylejax.evaluation import metrics  # noqa: E402
from stylejax.feedforward import arbitrary  # noqa: E402
from stylejax.imaging import crops, images  # noqa: E402
from stylejax.io import magenta_release  # noqa: E402
from stylejax.methods import ghiasi  # noqa: E402
from stylejax.networks import style_prediction  # noqa: E402

SEEN = ("composition_vii", "great_wave", "mondrian_composition_1916", "starry_night", "the_scream")
UNSEEN = ("grande_jatte", "lady_with_ermine", "shipwreck_minotaur", "the_kiss", "water_lilies")
TRAIN_PHOTOS = ("chelsea.png", "rocket.jpg", "motorcycle_left.png", "hubble_deep_field.jpg")  # skimage/data/
EVAL_PHOTOS = ("astronaut", "coffee", "mountain_landscape")  # DATA/content
FIELDS = ("method", "group", "painting", "photo", "step", "train_seconds", *comparison.METRICS)
SSIM_MUST = 0.35
SIZE = 224


def prepare_folders(data: Path, work: Path) -> tuple[Path, Path]:
  """The seen paintings and the training photos as two folders (`folder:` sources)."""
  import shutil  # pylint: disable=import-outside-toplevel
  import skimage  # pylint: disable=import-outside-toplevel

  paintings, photos = work / "paintings_seen", work / "train_photos"
  paintings.mkdir(parents=True, exist_ok=True)
  photos.mkdir(parents=True, exist_ok=True)
  for stem in SEEN:
    shutil.copyfile(data / "style" / f"{stem}.jpg", paintings / f"{stem}.jpg")
  for name in TRAIN_PHOTOS:  # files bundled with scikit-image (no download)
    target = photos / (Path(name).stem + ".png")
    if not target.exists():
      images.save_png(images.load_image(str(Path(skimage.__file__).parent / "data" / name)), target)
  return paintings, photos


def train(work: Path, paintings: Path, photos: Path, args) -> None:
  """Fine-tunes until --steps or --train-minutes (wall), whichever comes first; checkpoints every
  --every steps survive the stop."""
  command = [sys.executable, "-m", "stylejax.cli", "train", "--config", "ghiasi_tiny", "--workdir", str(work / "run"),
             "--quiet", "--config.network.transformer=magenta", f"--config.styles=folder:{paintings}",
             f"--config.data.content=folder:{photos}", f"--config.data.image_size={args.train_size}",
             f"--config.style_size={args.style_size}", f"--config.optim.learning_rate={args.lr}",
             "--config.network.style_lr_scale=1.0", f"--config.loss.style_weight={args.style_weight}",
             f"--config.optim.steps={args.steps}", f"--config.checkpoint_every={args.every}",
             f"--config.keep_checkpoints={args.steps // args.every + 1}", "--config.eval_every=0",
             "--config.log_every=10"]
  print(" ".join(command), flush=True)
  try:
    subprocess.run(command, check=True, cwd=ROOT, timeout=args.train_minutes * 60)
  except subprocess.TimeoutExpired:
    print(f"stopped after {args.train_minutes} min (wall), as planned", flush=True)


def elapsed_at(workdir: Path, steps) -> dict[int, float]:
  """Wall seconds at each step from the run's images/s log (batch 4, compilation included)."""
  return cin_experiment.elapsed_at(workdir, steps)


def model_at(workdir: Path, step: int, style_size: int) -> ghiasi.GhiasiModel:
  """The fine-tuned model at `step`; step 0 is the pretrained float model it started from."""
  if step:
    return ghiasi.GhiasiModel.load(workdir, step)
  from stylejax.io import checkpoints  # pylint: disable=import-outside-toplevel

  spec = style_prediction.spec_from_config(checkpoints.read_json(workdir, "config.json")["network"])
  params = style_prediction.init_params(spec, jax.random.key(0), magenta_release.load_params())
  return ghiasi.GhiasiModel(spec=spec, params=params, features_params={}, style_size=style_size, step=0)


def evaluate(data: Path, workdir: Path, steps, style_size: int, groups=("unseen", "seen")):
  """Rows for every (step, group, painting, photo), and the images of the last step and baselines."""
  evaluator = metrics.Evaluator("alexnet", SIZE)
  photos = {s: images.resize(images.load_image(str(data / "content" / f"{s}.jpg")), SIZE) for s in EVAL_PHOTOS}
  names = {"unseen": UNSEEN, "seen": SEEN}
  paintings = {s: images.load_image(str(data / "style" / f"{s}.jpg")) for s in SEEN + UNSEEN}
  seconds = elapsed_at(workdir, [s for s in steps if s]) if any(steps) else {}
  rows, pictures = [], {}

  def score(method, group, step, model):
    for painting in names[group]:
      for photo in EVAL_PHOTOS:
        image = model.apply(photos[photo], [paintings[painting]], np.ones(1, np.float32))
        values = evaluator(image, photos[photo], paintings[painting])
        rows.append({"method": method, "group": group, "painting": painting, "photo": photo, "step": step,
                     "train_seconds": round(seconds.get(step, 0.0), 1), **values})
        pictures[method, step, photo, painting] = image
        print(f"  {method} {step} {photo} x {painting}: ssim {values['content_ssim']:.3f} "
              f"gram {values['style_gram']:.3f}", flush=True)

  packaged = arbitrary.ArbitraryStylizer()
  for group in groups:
    score("magenta_packaged", group, 0, packaged)
  for step in steps:
    model = model_at(workdir, step, style_size)
    for group in groups if step in (steps[0], steps[-1]) else ("unseen",):
      score("finetuned", group, step, model)
  return rows, pictures


def gatys(groups=("unseen", "seen")) -> list[dict]:
  data = ROOT.parent / "shared" / "data"  # only the stems matter to the loader
  out = []
  for group in groups:
    names = UNSEEN if group == "unseen" else SEEN
    kept = cin_experiment.gatys_rows([data / "content" / f"{s}.jpg" for s in EVAL_PHOTOS],
                                     [data / "style" / f"{s}.jpg" for s in names], None, None, None, run=False)
    out += [{**r, "group": group} for r in kept]
  return out


def write_rows(path: Path, rows: list[dict]) -> None:
  fmt = lambda v: str(round(v, 6)) if isinstance(v, float) else str(v)
  atomic_write_text(path, "\n".join([",".join(FIELDS)] + [",".join(fmt(r[f]) for f in FIELDS) for r in rows]) + "\n")


def read_rows(path: Path) -> list[dict]:
  import csv  # pylint: disable=import-outside-toplevel

  with open(path, newline="") as f:
    return [{k: (v if k in ("method", "group", "painting", "photo") else float(v)) for k, v in r.items()}
            for r in csv.DictReader(f)]


def _ci(values) -> str:
  mean, low, high = comparison.bootstrap_mean(values)
  return f"{mean:.3f} [{low:.3f}, {high:.3f}]"


def _diff(mine, ref, metric) -> tuple[float, float, float]:
  by_pair = {(r["photo"], r["painting"]): r[metric] for r in ref}
  return comparison.bootstrap_mean([r[metric] - by_pair[r["photo"], r["painting"]] for r in mine])


def report(rows: list[dict], command: str, settings: dict) -> str:
  """Per method/step/group: mean [95% bootstrap CI over pairs]; then the bars on the unseen pairs."""
  gatys_rows = {g: [r for r in rows if r["method"] == "gatys" and r["group"] == g] for g in ("unseen", "seen")}
  lines = ["# Ghiasi fine-tuned from Magenta, unseen paintings: results (issue 22)", "", f"Command: `{command}`", "",
           f"Settings: {settings}. Mean over photo × painting pairs [95% percentile bootstrap over pairs, "
           "10,000 resamples]; metrics at 224 px (stylejax.evaluation.metrics); Gram − Gatys is paired.", "",
           "| method | step | train s | paintings | pairs | content SSIM ↑ | AlexNet Gram ↓ | Gram − Gatys | "
           "SWD ↓ | content LPIPS |", "|---|---|---|---|---|---|---|---|---|---|"]
  keys = sorted({(r["method"], int(r["step"]), r["group"]) for r in rows},
                key=lambda k: (k[0] != "gatys", k[0] != "magenta_packaged", k[1], k[2] != "unseen"))
  for method, step, group in keys:
    mine = [r for r in rows if (r["method"], int(r["step"]), r["group"]) == (method, step, group)]
    diff = "—" if method == "gatys" else "{:+.3f} [{:+.3f}, {:+.3f}]".format(*_diff(mine, gatys_rows[group], "style_gram"))
    seconds = f"{np.median([r['train_seconds'] for r in mine]):.0f}" if method == "finetuned" else "—"
    lines.append(f"| {method} | {step if method == 'finetuned' else '—'} | {seconds} | {group} | {len(mine)} | "
                 f"{_ci([r['content_ssim'] for r in mine])} | {_ci([r['style_gram'] for r in mine])} | {diff} | "
                 f"{_ci([r['style_swd'] for r in mine])} | {_ci([r['content_lpips'] for r in mine])} |")
  fine = [r for r in rows if r["method"] == "finetuned" and r["group"] == "unseen"]
  last = max(int(r["step"]) for r in fine)
  lines += ["", f"## Bars on the unseen pairs (issue 22)", ""]
  for label, mine in ((f"fine-tuned, step {last}", [r for r in fine if int(r["step"]) == last]),
                      ("pretrained float model (step 0, before fine-tuning)", [r for r in fine if int(r["step"]) == 0]),
                      ("packaged int8 model", [r for r in rows if r["method"] == "magenta_packaged"
                                               and r["group"] == "unseen"])):
    ssim = comparison.bootstrap_mean([r["content_ssim"] for r in mine])
    gram = _diff(mine, gatys_rows["unseen"], "style_gram")
    ssim_verdict = "met" if ssim[0] >= SSIM_MUST else "**not met**"
    gram_verdict = ("met, better (interval below 0)" if gram[2] < 0 else "met (interval includes 0)" if gram[1] <= 0
                    else "**not met** (interval above 0)")
    lines += [f"- {label}: content SSIM {ssim[0]:.3f} [{ssim[1]:.3f}, {ssim[2]:.3f}] (≥ {SSIM_MUST}: {ssim_verdict}); "
              f"Gram − Gatys {gram[0]:+.3f} [{gram[1]:+.3f}, {gram[2]:+.3f}] ({gram_verdict})."]
  return "\n".join(lines) + "\n"


def write_figure(path: Path, data: Path, pictures, step: int, size: int = 128) -> None:
  """Rows: the unseen paintings; per photo four columns: the photo, Gatys (80 L-BFGS), the pretrained
  model before fine-tuning (step 0), the fine-tuned model (`step`)."""
  from matplotlib.figure import Figure  # pylint: disable=import-outside-toplevel

  cell = lambda image: crops.square(np.clip(np.asarray(image, np.float32), 0, 1), size)
  columns = [("painting", lambda photo, s: images.load_image(str(data / "style" / f"{s}.jpg")), None)]
  for photo in EVAL_PHOTOS:
    columns += [(photo, lambda photo, s: images.load_image(str(data / "content" / f"{photo}.jpg")), photo),
                ("Gatys 80", lambda photo, s: pictures["gatys", 0, photo, s], photo),
                ("Magenta\nzero-shot", lambda photo, s: pictures["finetuned", 0, photo, s], photo),
                (f"fine-tuned\n{step} steps", lambda photo, s: pictures["finetuned", step, photo, s], photo)]
  fig = Figure(figsize=(1.1 * len(columns), 1.2 * len(UNSEEN) + 0.3))
  axes = fig.subplots(len(UNSEEN), len(columns), squeeze=False)
  for r, painting in enumerate(UNSEEN):
    for c, (title, get, photo) in enumerate(columns):
      ax = axes[r, c]
      ax.imshow(cell(get(photo, painting)))
      ax.set_xticks([])
      ax.set_yticks([])
      if r == 0:
        ax.set_title(title, fontsize=6)
      if c == 0:
        ax.set_ylabel(painting, fontsize=6)
  fig.tight_layout()
  tmp = path.with_suffix(".tmp.png")
  fig.savefig(tmp, dpi=90)
  tmp.replace(path)


def gatys_images(data: Path, pairs) -> dict:
  """Gatys's results are not stored by arbitrary_style: recomputed for the figure only (80 L-BFGS)."""
  from stylejax.pixel import stylize  # pylint: disable=import-outside-toplevel

  out = {}
  for photo, painting in pairs:
    result = stylize.stylize(str(data / "content" / f"{photo}.jpg"), [str(data / "style" / f"{painting}.jpg")],
                             config="quickstart", image_size=SIZE, **{"optim.steps": 80, "log_every": 80})
    out["gatys", 0, photo, painting] = result.image
  return out


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
  parser.add_argument("--work", default=str(HERE / "workdirs"))
  parser.add_argument("--steps", type=int, default=1000, help="upper bound; --train-minutes usually stops first")
  parser.add_argument("--train-minutes", type=float, default=22.0)
  parser.add_argument("--every", type=int, default=50, help="checkpoint every N steps")
  parser.add_argument("--eval-every", type=int, default=100, help="evaluate every N steps (and the last)")
  parser.add_argument("--train-size", type=int, default=128)
  parser.add_argument("--style-size", type=int, default=128)
  parser.add_argument("--lr", type=float, default=1e-4)
  parser.add_argument("--style-weight", type=float, default=30.0)
  parser.add_argument("--train-only", action="store_true")
  parser.add_argument("--eval-only", action="store_true")
  parser.add_argument("--report-only", action="store_true")
  parser.add_argument("--figure-gatys", choices=("run", "skip"), default="run")
  args = parser.parse_args(argv)
  command = "python experiments/trained_networks_ghiasi/run.py " + " ".join(argv if argv is not None else sys.argv[1:])
  settings = {k: getattr(args, k) for k in ("train_minutes", "every", "train_size", "style_size", "lr", "style_weight")}
  data, work = Path(args.data), Path(args.work)
  if args.report_only:
    atomic_write_text(HERE / "results.md", report(read_rows(HERE / "rows.csv"), command, settings))
    print((HERE / "results.md").read_text())
    return 0
  if not args.eval_only:
    paintings, photos = prepare_folders(data, work)
    start = time.perf_counter()
    train(work, paintings, photos, args)
    print(f"training wall time {time.perf_counter() - start:.0f} s", flush=True)
    if args.train_only:
      return 0
  run = work / "run"
  saved = cin_experiment.checkpoint_steps(run) if (run / "checkpoints").exists() else []
  steps = [0, *[s for s in saved if s % args.eval_every == 0 and s != saved[-1]], *saved[-1:]]
  rows, pictures = evaluate(data, run, steps, args.style_size)
  rows += gatys()
  write_rows(HERE / "rows.csv", rows)
  atomic_write_text(HERE / "results.md", report(rows, command, settings))
  print((HERE / "results.md").read_text(), flush=True)
  if args.figure_gatys == "run":
    pictures.update(gatys_images(data, [(p, s) for p in EVAL_PHOTOS for s in UNSEEN]))
    write_figure(HERE / "figure.png", data, pictures, steps[-1])
  return 0


if __name__ == "__main__":
  try:
    sys.exit(main())
  except StylejaxError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
