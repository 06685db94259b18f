"""Runs the Gram vs mean/variance study: calibrate, sweep each statistic's style weight, judge, report.

  python experiments/gram_vs_meanvar/run.py --data ../shared/data                # default, <= 2 h on 2 CPUs
  python experiments/gram_vs_meanvar/run.py --data ../shared/data --runlocal     # <= 15 min, bit-reproducible
  python experiments/gram_vs_meanvar/run.py --data OTHER --only-data --tag other  # any folder with content/, style/
  python experiments/gram_vs_meanvar/run.py --data ../shared/data --scale accelerator  # 512 px, every pair
  python experiments/gram_vs_meanvar/run.py --report-only [--runlocal | --tag T]  # tables again, no runs

The sweeps land in --workdir (default experiments/gram_vs_meanvar/workdirs/<tag>), one sweep per image
set, so a finished set survives an interrupted one. Tables, CSV and figures go next to this file
with the tag as suffix (results_<tag>.md, runs_<tag>.csv, curves_<tag>.png, ...).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))
sys.path.insert(0, str(HERE))

from stylejax import runtime  # noqa: E402

runtime.configure()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import analysis  # noqa: E402
import judges  # noqa: E402
import plots  # noqa: E402
import protocol  # noqa: E402
import report  # noqa: E402
from stylejax import configuration  # noqa: E402
from stylejax.errors import StylejaxError  # noqa: E402
from stylejax.evaluation import metrics, summarize  # noqa: E402
from stylejax.imaging import images  # noqa: E402
from stylejax.atomic_io import atomic_write_text  # noqa: E402
from stylejax.io.weights import load_vgg  # noqa: E402
from stylejax.pixel import optimize, stylize, sweep  # noqa: E402


def calibrate(config, pair_list) -> dict[str, float]:
  """Per statistic, the style weight whose style loss at the photo equals gram's at the reference
  weight: the median over pairs of gram's loss / the statistic's loss (one loss evaluation each)."""
  study = config.study
  loaded = load_vgg(config.loss.network.weights, arch=config.loss.network.arch)
  ratios = {s: [] for s in study.statistics}
  for pair in pair_list:
    sizes = {}
    for statistic in study.statistics:
      run_config = configuration.apply_values(config, {"loss.statistic": statistic, "content": pair.content,
                                                       "styles": (pair.style,)})
      problem = stylize.problem_from_config(run_config, loaded)
      c, s = stylize.images_at_scale(run_config, images.load_image(pair.content),
                                     [images.load_image(pair.style)], 1.0)
      targets = stylize.targets(problem, loaded.params, c, s)
      terms = optimize.evaluate(problem, jnp.asarray(c), loaded.params, targets,
                                stylize.loss_weights(run_config, loaded.arch), jax.random.key(0))
      sizes[statistic] = float(terms["style"])
    for statistic in study.statistics:
      ratios[statistic].append(sizes["gram"] / sizes[statistic])
  return {s: study.reference_gram_weight * float(np.median(r)) for s, r in ratios.items()}


def photo_baselines(config, pair_list) -> list[dict]:
  """Every judge's distance from the *photo itself* to the painting: where a result starts from."""
  evaluator = metrics.Evaluator("alexnet")
  rows = []
  for pair in pair_list:
    photo = images.resize(images.load_image(pair.content), config.image_size)
    painting = images.load_image(pair.style)
    rows.append({"set": pair.image_set, "photo": protocol.stem(pair.content), "photo_spec": pair.content,
                 "painting": protocol.stem(pair.style), "painting_spec": pair.style,
                 **evaluator(photo, photo, painting)})
  return rows


def records_of(workdir: Path, design: list[dict]) -> list[dict]:
  """Per-run metrics joined with the design's labels (sweep folders are in design order)."""
  records = []
  for name in sorted({d["sweep"] for d in design}):
    runs = summarize.summarize(workdir / name)
    members = [d for d in design if d["sweep"] == name]
    if len(runs) != len(members):
      raise StylejaxError(f"{workdir / name}: {len(runs)} runs, the design says {len(members)}")
    records += [{**d["meta"], "sweep": name, "run": r["run"], "style_weight": r["loss.style_weight"],
                 "path": str(workdir / name / r["run"]), **{k: r[k] for k in report.RUN_METRICS}}
                for d, r in zip(members, runs)]
  return records


def run_protocol(config, pair_list, workdir: Path, overwrite: bool) -> None:
  workdir.mkdir(parents=True, exist_ok=True)
  start = time.perf_counter()
  centre = calibrate(config, pair_list)
  study = config.study
  design = []
  for image_set in ("A", "B"):
    members = [p for p in pair_list if p.image_set == image_set]
    design += [{**r, "sweep": f"sweep_{image_set}"} for r in
               protocol.grid_runs(members, study.statistics, centre, study.multipliers, study.seeds)]
  design += [{**r, "sweep": "sweep_inits"} for r in
             protocol.init_runs(pair_list, study.statistics, centre, study.inits, study.init_pairs)]
  atomic_write_text(workdir / "design.json", json.dumps(
      {"config": json.loads(config.to_json_best_effort()), "centre_weights": centre,
       "pairs": [vars(p) for p in pair_list], "runs": design}, indent=1, default=str) + "\n")
  for name in sorted({d["sweep"] for d in design}, key=lambda n: (n == "sweep_inits", n)):
    sweep.run_sweep(config, [d["overrides"] for d in design if d["sweep"] == name], workdir / name,
                    overwrite=overwrite, evaluate="alexnet")
  atomic_write_text(workdir / "baselines.json", json.dumps(photo_baselines(config, pair_list), indent=1) + "\n")
  atomic_write_text(workdir / "wall.json", json.dumps({"wall_s": time.perf_counter() - start}) + "\n")


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--data", type=Path, default=None, help="folder with content/ and style/ images")
  parser.add_argument("--only-data", action="store_true",
                      help="use only --data's images (default: add the bundled photos and paintings it lacks)")
  parser.add_argument("--runlocal", action="store_true", help="the quick protocol (config arg runlocal)")
  parser.add_argument("--scale", choices=("default", "accelerator"), default="default",
                      help="accelerator: 512 px, 500 L-BFGS steps, every pair, 3 seeds, a 9-point grid")
  parser.add_argument("--tag", default=None, help="names the workdir and result files (default: the scale)")
  parser.add_argument("--workdir", type=Path, default=None)
  parser.add_argument("--overwrite", action="store_true")
  parser.add_argument("--report-only", action="store_true",
                      help="rewrite tables and figures from an earlier run's workdir, running nothing")
  args = parser.parse_args()
  arg = "runlocal" if args.runlocal else ("" if args.scale == "default" else args.scale)
  tag = args.tag or arg or "default"
  workdir = args.workdir or HERE / "workdirs" / tag
  try:
    config = configuration.load_module(str(HERE / "config.py")).get_config(arg)
    if not args.report_only:
      if workdir.exists() and any(workdir.iterdir()) and not args.overwrite:
        raise StylejaxError(f"{workdir} holds an earlier run; pass --overwrite or another --tag")
      photos, paintings = protocol.image_lists(args.data, bundled=not args.only_data)
      study = config.study
      pair_list = protocol.pairs(photos, paintings, study.photos_per_painting, study.paintings_per_set)
      run_protocol(config, pair_list, workdir, args.overwrite)
    if not (workdir / "design.json").exists():
      raise StylejaxError(f"{workdir}: no design.json; run the protocol first")
    saved = json.loads((workdir / "design.json").read_text())
    records = records_of(workdir, saved["runs"])
    judges.add_style_embedding_distance(records, workdir)
    baselines = json.loads((workdir / "baselines.json").read_text())
    judges.add_style_embedding_distance(baselines, workdir, photo_baseline=True)
    wall = json.loads((workdir / "wall.json").read_text())["wall_s"]
    print(report.write(records, baselines, saved, config, HERE, tag, wall))
    plots.write_all(records, baselines, saved, config, workdir, HERE, tag)
  except StylejaxError as error:
    print(f"error: {error}", file=sys.stderr)
    sys.exit(2)


if __name__ == "__main__":
  main()
