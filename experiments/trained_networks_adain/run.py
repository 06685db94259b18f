"""AdaIN trained from scratch on a CPU in at most 30 minutes, judged on paintings and photos it never
saw (issue 22): content SSIM (bar >= 0.35) and AlexNet Gram distance at 224 px against 80 L-BFGS steps
of Gatys on the same pairs. A recipe search: several short time-boxed runs, one per --tag, each
evaluated the same way, then one longer run of the best.

  python experiments/trained_networks_adain/run.py --data ../shared/data --tag w25 --train-only --train-minutes 8
  python experiments/trained_networks_adain/run.py --data ../shared/data --tag w25 --eval-only --groups unseen
  python experiments/trained_networks_adain/run.py --tag w25 --report-only   # results_w25.md from rows_w25.csv
  python experiments/trained_networks_adain/run.py --summary                 # one table over every rows_*.csv

`stylejax train --config adain_tiny` (frozen VGG16 encoder, decoder from random init) on the SEEN
paintings x the TRAINING photos in WORK/<tag>/, stopped after --train-minutes (wall). Every
--eval-every-th checkpoint (and the last) is evaluated on the UNSEEN paintings x the EVALUATION photos;
the last one on the seen paintings too. Split, photos, Gatys rows, metrics and intervals are
experiments/trained_networks_ghiasi/run.py's, imported from it.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))


def _load_ghiasi_experiment():
  """experiments/trained_networks_ghiasi/run.py as a module (its file name is this one's)."""
  spec = importlib.util.spec_from_file_location("ghiasi_experiment",
                                                ROOT / "experiments" / "trained_networks_ghiasi" / "run.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


G = _load_ghiasi_experiment()  # configures the runtime first, as every experiment

import numpy as np  # noqa: E402

from stylejax import nested  # noqa: E402
from stylejax.atomic_io import atomic_write_text  # noqa: E402
from stylejax.configs import adain_tiny  # noqa: E402
from stylejax.errors import StylejaxError  # noqa: E402
from stylejax.evaluation import figures, metrics  # noqa: E402
from stylejax.feedforward.adain_stylizer import AdainStylizer  # noqa: E402
from stylejax.imaging import crops, images  # noqa: E402
from stylejax.training import run_config  # noqa: E402

# The recipe knobs, as the summary names them; any other key that differs from adain_tiny is listed too.
KNOBS = {"width": "network.width_multiplier", "size": "data.image_size", "style_size": "style_size",
         "lr": "optim.learning_rate", "batch": "optim.batch_size", "style_weight": "loss.style_weight"}
BOOKKEEPING = ("styles", "data.content", "optim.steps", "checkpoint_every", "keep_checkpoints", "eval_every",
               "log_every")  # where and how long, not what is learned


def check_data(data: Path) -> None:
  wanted = [data / "style" / f"{s}.jpg" for s in G.SEEN + G.UNSEEN]
  wanted += [data / "content" / f"{s}.jpg" for s in G.EVAL_PHOTOS]
  missing = [str(p) for p in wanted if not p.is_file()]
  if missing:
    raise StylejaxError(f"--data {data}: missing {len(missing)} image(s), e.g. {missing[0]}")


def train(workdir: Path, paintings: Path, photos: Path, args) -> None:
  """From scratch until --steps or --train-minutes (wall), whichever comes first; checkpoints every
  --every steps survive the stop."""
  command = [sys.executable, "-m", "stylejax.cli", "train", "--config", "adain_tiny", "--workdir", str(workdir),
             "--quiet"]
  sets = [f"styles=folder:{paintings}", f"data.content=folder:{photos}",
          f"network.width_multiplier={args.width}", f"data.image_size={args.train_size}",
          f"style_size={args.train_size}", f"optim.learning_rate={args.lr}", f"optim.batch_size={args.batch}",
          f"loss.style_weight={args.style_weight}", f"optim.steps={args.steps}", f"checkpoint_every={args.every}",
          f"keep_checkpoints={args.steps // args.every + 1}", "eval_every=0", "log_every=10", *args.set]
  for s in sets:  # --set comes last, so it wins over the flags above
    command += ["--set", s]
  print(" ".join(command), flush=True)
  try:
    subprocess.run(command, check=True, cwd=ROOT, timeout=args.train_minutes * 60)
  except subprocess.TimeoutExpired:
    print(f"stopped after {args.train_minutes} min (wall), as planned", flush=True)
  except subprocess.CalledProcessError as e:
    raise StylejaxError(f"stylejax train failed (exit {e.returncode}); its message is above") from None


def checkpoint_steps(workdir: Path) -> list[int]:
  steps = G.cin_experiment.checkpoint_steps(workdir) if (workdir / "checkpoints").is_dir() else []
  if not steps:
    raise StylejaxError(f"{workdir}: no checkpoints; train first (--train-only with the same --work and --tag)")
  return steps


def elapsed_at(workdir: Path, steps, batch: int) -> dict[int, float]:
  """Wall seconds at each step (compilation included) from the images/s log; the shared helper
  assumes batch 4, and its seconds scale with the batch."""
  return {s: t * batch / 4 for s, t in G.elapsed_at(workdir, steps).items()}


def recipe(workdir: Path) -> dict:
  """The run's settings from its config.json: the knobs, then any other key changed from adain_tiny."""
  used = nested.flatten(json.loads((workdir / "config.json").read_text()))
  default = nested.flatten(run_config.config_json(adain_tiny.get_config()))
  out = {name: used[key] for name, key in KNOBS.items()}
  out.update({k: v for k, v in used.items() if k not in KNOBS.values() and k not in BOOKKEEPING
              and default.get(k) != v})
  return out


def progress(workdir: Path) -> dict:
  """Steps reached in the time box (last logged step, may be past the last checkpoint) and its seconds."""
  last = int(json.loads((workdir / "metrics.jsonl").read_text().splitlines()[-1])["step"])
  batch = int(recipe(workdir)["batch"])
  return {"steps_logged": last, "seconds_logged": round(elapsed_at(workdir, [last], batch)[last], 1)}


def evaluate(data: Path, workdir: Path, steps, groups):
  """Rows for every (step, group, painting, photo): the last step on every group, the others unseen
  only; and the last step's images (for the figure)."""
  evaluator = metrics.Evaluator("alexnet", G.SIZE)
  photos = {s: images.resize(images.load_image(str(data / "content" / f"{s}.jpg")), G.SIZE) for s in G.EVAL_PHOTOS}
  paintings = {s: images.load_image(str(data / "style" / f"{s}.jpg")) for s in G.SEEN + G.UNSEEN}
  names = {"unseen": G.UNSEEN, "seen": G.SEEN}
  seconds = elapsed_at(workdir, steps, int(recipe(workdir)["batch"]))
  rows, pictures = [], {}
  for step in steps:
    model = AdainStylizer.from_workdir(workdir, step)
    for group in groups if step == steps[-1] else ("unseen",):
      for painting in names[group]:
        for photo in G.EVAL_PHOTOS:
          image = model.apply(photos[photo], [paintings[painting]], np.ones(1, np.float32))
          values = evaluator(image, photos[photo], paintings[painting])
          rows.append({"method": "adain", "group": group, "painting": painting, "photo": photo, "step": step,
                       "train_seconds": round(seconds[step], 1), **values})
          if step == steps[-1]:
            pictures["adain", step, photo, painting] = image
          print(f"  adain {step} {photo} x {painting}: ssim {values['content_ssim']:.3f} "
                f"gram {values['style_gram']:.3f}", flush=True)
  return rows, pictures


def describe(settings: dict) -> str:
  return ", ".join(f"{k}={v}" for k, v in settings.items())


def bars(mine: list[dict], gatys_rows: list[dict]) -> tuple[str, str, str, str]:
  """(SSIM, Gram − Gatys, SSIM verdict, Gram verdict) on the unseen pairs; the Gram bar is met when
  the paired interval includes or is below 0 (issue 22)."""
  ssim = G.comparison.bootstrap_mean([r["content_ssim"] for r in mine])
  gram = G._diff(mine, gatys_rows, "style_gram")
  ssim_verdict = "met" if ssim[0] >= G.SSIM_MUST else "**not met**"
  gram_verdict = ("met, better (interval below 0)" if gram[2] < 0 else "met (interval includes 0)" if gram[1] <= 0
                  else "**not met** (interval above 0)")
  return ("{:.3f} [{:.3f}, {:.3f}]".format(*ssim), "{:+.3f} [{:+.3f}, {:+.3f}]".format(*gram), ssim_verdict,
          gram_verdict)


def report(rows: list[dict], command: str, tag: str, meta: dict) -> str:
  """Per step/group: mean [95% CI over pairs]; then the bars at the last checkpoint, unseen pairs."""
  gatys_rows = {g: [r for r in rows if r["method"] == "gatys" and r["group"] == g] for g in ("unseen", "seen")}
  lines = [f"# AdaIN from scratch, unseen paintings: results, recipe `{tag}` (issue 22)", "",
           f"Command: `{meta.get('command', command)}`",
           "", f"Settings: {describe(meta['settings'])}. Training reached step {meta['steps_logged']} "
           f"({meta['seconds_logged']:.0f} s logged, compilation included). Mean over photo × painting pairs "
           "[95% percentile bootstrap over pairs, 10,000 resamples]; metrics at 224 px "
           "(stylejax.evaluation.metrics); Gram − Gatys is paired.", "",
           "| method | step | train s | paintings | pairs | content SSIM ↑ | AlexNet Gram ↓ | Gram − Gatys | "
           "SWD ↓ | content LPIPS |", "|---|---|---|---|---|---|---|---|---|---|"]
  keys = sorted({(r["method"], int(r["step"]), r["group"]) for r in rows},
                key=lambda k: (k[0] != "gatys", k[1], k[2] != "unseen"))
  for method, step, group in keys:
    mine = [r for r in rows if (r["method"], int(r["step"]), r["group"]) == (method, step, group)]
    diff = "—" if method == "gatys" else "{:+.3f} [{:+.3f}, {:+.3f}]".format(
        *G._diff(mine, gatys_rows[group], "style_gram"))
    seconds = f"{np.median([r['train_seconds'] for r in mine]):.0f}" if method == "adain" else "—"
    lines.append(f"| {method} | {step if method == 'adain' else '—'} | {seconds} | {group} | {len(mine)} | "
                 f"{G._ci([r['content_ssim'] for r in mine])} | {G._ci([r['style_gram'] for r in mine])} | "
                 f"{diff} | {G._ci([r['style_swd'] for r in mine])} | {G._ci([r['content_lpips'] for r in mine])} |")
  last, mine = last_unseen(rows)
  ssim, gram, ssim_verdict, gram_verdict = bars(mine, gatys_rows["unseen"])
  lines += ["", "## Bars on the unseen pairs (issue 22)", "",
            f"- step {last}: content SSIM {ssim} (≥ {G.SSIM_MUST}: {ssim_verdict}); Gram − Gatys {gram} "
            f"({gram_verdict})."]
  return "\n".join(lines) + "\n"


def last_unseen(rows: list[dict]) -> tuple[int, list[dict]]:
  adain = [r for r in rows if r["method"] == "adain" and r["group"] == "unseen"]
  last = max(int(r["step"]) for r in adain)
  return last, [r for r in adain if int(r["step"]) == last]


def write_figure(path: Path, data: Path, pictures, step: int, size: int = 128) -> None:
  """Rows: the unseen paintings; the painting, then per photo: the photo, AdaIN at `step`, and Gatys
  (80 L-BFGS) when its images were computed."""
  cell = lambda image: crops.square(np.clip(np.asarray(image, np.float32), 0, 1), size)
  titles = ["painting"]
  for photo in G.EVAL_PHOTOS:
    titles += [photo, f"AdaIN {step}"] + (["Gatys 80"] if ("gatys", 0, photo, G.UNSEEN[0]) in pictures else [])
  rows = []
  for painting in G.UNSEEN:
    cells = [cell(images.load_image(str(data / "style" / f"{painting}.jpg")))]
    for photo in G.EVAL_PHOTOS:
      cells += [cell(images.load_image(str(data / "content" / f"{photo}.jpg"))),
                cell(pictures["adain", step, photo, painting])]
      if ("gatys", 0, photo, painting) in pictures:
        cells.append(cell(pictures["gatys", 0, photo, painting]))
    rows.append((painting, cells))
  figures.labelled_grid(path, rows, titles, inches=1.1)


def summary() -> str:
  """The recipe-search table: each tag's last checkpoint on the unseen pairs."""
  paths = sorted(HERE.glob("rows_*.csv"))
  if not paths:
    raise StylejaxError(f"no rows_*.csv in {HERE}; run --eval-only first")
  lines = ["| tag | settings | steps reached | checkpoint | train s | content SSIM ↑ | AlexNet Gram ↓ | "
           "Gram − Gatys | bars (SSIM, Gram) |", "|---|---|---|---|---|---|---|---|---|"]
  for path in paths:
    tag = path.stem[len("rows_"):]
    rows = G.read_rows(path)
    meta = json.loads((HERE / f"settings_{tag}.json").read_text())  # written with the rows
    last, mine = last_unseen(rows)
    ssim, gram, ssim_verdict, gram_verdict = bars(mine, [r for r in rows if r["method"] == "gatys"
                                                          and r["group"] == "unseen"])
    lines.append(f"| {tag} | {describe(meta['settings'])} | {meta['steps_logged']} | {last} | "
                 f"{mine[0]['train_seconds']:.0f} | {ssim} | {G._ci([r['style_gram'] for r in mine])} | {gram} | "
                 f"{ssim_verdict}; {gram_verdict} |")
  return "\n".join(lines) + "\n"


def colour_check(data: Path, workdir: Path) -> str:
  """Does the last checkpoint follow the painting's colours, and how much of the style loss can see
  colour? Per painting: the mean RGB of the astronaut stylised at 224 px beside the painting's own;
  then, at the training scale (64 px photo, painting at the decoder's style side), each style layer's
  mean and std terms (squared differences of the per-channel statistics, averaged over channels)."""
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel
  from stylejax import configuration  # pylint: disable=import-outside-toplevel
  from stylejax.io import weights  # pylint: disable=import-outside-toplevel
  from stylejax.objectives import loss_network  # pylint: disable=import-outside-toplevel

  step = checkpoint_steps(workdir)[-1]
  model = AdainStylizer.from_workdir(workdir, step)
  photo = images.load_image(str(data / "content" / "astronaut.jpg"))
  lines = [f"{workdir.name}, step {step}: mean RGB of the stylised astronaut (224 px) | of the painting"]
  for name in ("starry_night", "the_scream", "the_kiss", "water_lilies"):
    painting = images.load_image(str(data / "style" / f"{name}.jpg"))
    out = model.apply(images.resize(photo, G.SIZE), [painting], np.ones(1, np.float32))
    lines.append(f"  {name}: {np.round(out.mean((0, 1)), 3)} | {np.round(painting.mean((0, 1)), 3)}")
  loaded = weights.load_vgg("vgg16-lpips")
  net = loss_network.from_config(configuration.load_config("adain_tiny").loss, loaded)
  layers = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
  lines.append("style terms per layer at the training scale (mean term + std term), adain_tiny's VGG16:")
  for name in ("starry_night", "the_scream"):
    painting = images.load_image(str(data / "style" / f"{name}.jpg"))
    out = model.apply(images.resize(photo, 64), [painting], np.ones(1, np.float32))
    ours = net.features(loaded.params, jnp.asarray(out)[None], layers)
    theirs = net.features(loaded.params, jnp.asarray(model.painting(painting))[None], layers)
    terms = []
    for layer in layers:
      a, b = np.asarray(ours[layer])[0], np.asarray(theirs[layer])[0]
      term = np.mean((a.mean((0, 1)) - b.mean((0, 1))) ** 2) + np.mean((a.std((0, 1)) - b.std((0, 1))) ** 2)
      terms.append(f"{layer} {term:.3f}")
    lines.append(f"  {name}: " + ", ".join(terms))
  return "\n".join(lines) + "\n"


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
  parser.add_argument("--work", default=str(HERE / "workdirs"))
  parser.add_argument("--tag", default="default", help="names the run: WORK/<tag>/, rows_<tag>.csv, ...")
  parser.add_argument("--steps", type=int, default=100_000, help="upper bound; --train-minutes stops first")
  parser.add_argument("--train-minutes", type=float, default=30.0)
  parser.add_argument("--every", type=int, default=100, help="checkpoint every N steps")
  parser.add_argument("--eval-every", type=int, default=500, help="evaluate every N steps (and the last)")
  parser.add_argument("--width", type=float, default=0.25, help="network.width_multiplier")
  parser.add_argument("--train-size", type=int, default=64, help="data.image_size and style_size")
  parser.add_argument("--lr", type=float, default=5e-4)
  parser.add_argument("--batch", type=int, default=4)
  parser.add_argument("--style-weight", type=float, default=10.0)
  parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                      help="any other config override (repeatable), passed to stylejax train")
  parser.add_argument("--groups", default="unseen,seen", help="painting groups to evaluate: unseen[,seen]")
  parser.add_argument("--train-only", action="store_true")
  parser.add_argument("--eval-only", action="store_true")
  parser.add_argument("--report-only", action="store_true")
  parser.add_argument("--summary", action="store_true", help="print the recipe-search table over rows_*.csv")
  parser.add_argument("--colour-check", action="store_true",
                      help="print whether --tag's last checkpoint follows the paintings' colours, and the style terms per layer")
  parser.add_argument("--figure-gatys", choices=("run", "skip"), default="skip",
                      help="recompute the 15 Gatys images for the figure (~9 min on one core)")
  args = parser.parse_args(argv)
  command = "python experiments/trained_networks_adain/run.py " + " ".join(argv if argv is not None else sys.argv[1:])
  if not re.fullmatch(r"[A-Za-z0-9_.-]+", args.tag):
    raise StylejaxError(f"--tag must be letters, digits, '_', '.', '-' (it names files), got {args.tag!r}")
  if any("=" not in s for s in args.set):
    raise StylejaxError(f"--set must look like KEY=VALUE, got {[s for s in args.set if '=' not in s][0]!r}")
  if min(args.every, args.eval_every, args.steps) < 1:
    raise StylejaxError("--every, --eval-every and --steps must be at least 1")
  groups = tuple(g for g in args.groups.split(",") if g)
  if "unseen" not in groups or not set(groups) <= {"unseen", "seen"}:
    raise StylejaxError(f"--groups must be unseen or unseen,seen (the bars are on unseen), got {args.groups!r}")
  rows_path, results_path = HERE / f"rows_{args.tag}.csv", HERE / f"results_{args.tag}.md"
  settings_path = HERE / f"settings_{args.tag}.json"
  if args.summary:
    print(summary(), end="")
    return 0
  if args.report_only:
    if not rows_path.exists() or not settings_path.exists():
      raise StylejaxError(f"{rows_path.name} or {settings_path.name} missing; run --eval-only --tag {args.tag} first")
    atomic_write_text(results_path, report(G.read_rows(rows_path), command, args.tag,
                                           json.loads(settings_path.read_text())))
    print(results_path.read_text())
    return 0
  data, work = Path(args.data), Path(args.work)
  workdir = work / args.tag
  check_data(data)
  if args.colour_check:
    print(colour_check(data, workdir), end="")
    return 0
  if not args.eval_only:
    if (workdir / "checkpoints").exists():
      raise StylejaxError(f"{workdir} already holds a run; each recipe trains from scratch once: "
                          "choose another --tag (or delete it)")
    paintings, photos = G.prepare_folders(data, work)  # shared by every tag
    start = time.perf_counter()
    train(workdir, paintings, photos, args)
    print(f"training wall time {time.perf_counter() - start:.0f} s", flush=True)
    if args.train_only:
      return 0
  saved = checkpoint_steps(workdir)
  steps = [s for s in saved if s % args.eval_every == 0 and s != saved[-1]] + saved[-1:]
  start = time.perf_counter()
  rows, pictures = evaluate(data, workdir, steps, groups)
  rows += G.gatys(groups)
  meta = {"settings": recipe(workdir), **progress(workdir), "command": command}
  G.write_rows(rows_path, rows)
  atomic_write_text(settings_path, json.dumps(meta, indent=1) + "\n")
  atomic_write_text(results_path, report(rows, command, args.tag, meta))
  print(results_path.read_text(), flush=True)
  print(f"evaluation wall time {time.perf_counter() - start:.0f} s", flush=True)
  if args.figure_gatys == "run":
    pictures.update(G.gatys_images(data, [(p, s) for p in G.EVAL_PHOTOS for s in G.UNSEEN]))
  write_figure(HERE / f"figure_{args.tag}.png", data, pictures, steps[-1])
  return 0


if __name__ == "__main__":
  try:
    sys.exit(main())
  except StylejaxError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
