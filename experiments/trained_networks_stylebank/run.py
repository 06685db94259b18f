"""StyleBank on 2 CPU cores (issue 22): a small base on four paintings, then new banks for held-out
paintings with the base's encoder/decoder frozen; content SSIM and AlexNet Gram distance at 224 px
against 80 L-BFGS steps of Gatys on the same pairs (experiments/arbitrary_style/rows_default.csv).

  python experiments/trained_networks_stylebank/run.py --data ../shared/data
  python experiments/trained_networks_stylebank/run.py --data ../shared/data --eval-only   # tables and figure again

Workdirs go to workdirs/stylebank_experiment/{base,newbank} (rerunning resumes them). Outputs next to
this file: results.md, rows.csv, newbank.png.
"""

from __future__ import annotations

import argparse
import ast
import csv
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "experiments" / "arbitrary_style"))

import numpy as np  # noqa: E402

import comparison  # noqa: E402  (experiments/arbitrary_style: bootstrap over pairs)
from stylejax import configuration  # noqa: E402
from stylejax.evaluation import metrics  # noqa: E402
from stylejax.feedforward.stylebank_stylizer import StyleBankStylizer  # noqa: E402
from stylejax.imaging import crops, images  # noqa: E402
from stylejax.training import loop  # noqa: E402

BASE_STYLES = ("starry_night", "great_wave", "composition_vii", "the_scream")  # stylebank_tiny's (bundled copies)
NEW_STYLES = ("grande_jatte", "the_kiss", "water_lilies")  # held out: never seen by the base
GATYS_ROWS = REPO / "experiments" / "arbitrary_style" / "rows_default.csv"


def _parse_sets(items) -> dict:
  """["loss.style_weight=10", ...] -> {"loss.style_weight": 10.0}: config overrides (values as Python literals)."""
  values = {}
  for item in items or ():
    key, _, text = item.partition("=")
    try:
      values[key.strip()] = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError):
      values[key.strip()] = text.strip()
  return values


def _train_stage(config, workdir: Path) -> float:
  """Trains (or resumes) one workdir; returns the training wall seconds spent on it over all invocations
  (kept in workdir/train_seconds.json, so a resumed or --eval-only run still reports them)."""
  record = workdir / "train_seconds.json"
  before = json.loads(record.read_text())["seconds"] if record.exists() else 0.0
  t0 = time.perf_counter()
  loop.run(config, workdir, quiet=True)
  total = before + time.perf_counter() - t0
  record.write_text(json.dumps({"seconds": total}))
  return total


def base_config(base_steps: int, base_sets: dict):
  return configuration.apply_values(configuration.load_config("stylebank_tiny"),
                                    {"optim.steps": base_steps, **base_sets})


def new_config(data: Path, workdirs: Path, new_steps: int, new_sets: dict):
  return configuration.apply_values(configuration.load_config("stylebank_newbank"),
                                    {"network.base": str(workdirs / "base"), "optim.steps": new_steps,
                                     "styles": tuple(str(data / "style" / f"{s}.jpg") for s in NEW_STYLES),
                                     **new_sets})


def train(data: Path, workdirs: Path, base_steps: int, new_steps: int, base_sets: dict | None = None,
          new_sets: dict | None = None, only_base: bool = False) -> dict:
  seconds = {"base": _train_stage(base_config(base_steps, base_sets or {}), workdirs / "base")}
  if not only_base:
    seconds["newbank"] = _train_stage(new_config(data, workdirs, new_steps, new_sets or {}), workdirs / "newbank")
  return seconds


def recorded_seconds(workdirs: Path) -> dict:
  seconds = {}
  for stage in ("base", "newbank"):
    record = workdirs / stage / "train_seconds.json"
    if record.exists():
      seconds[stage] = json.loads(record.read_text())["seconds"]
  return seconds


def evaluate(data: Path, workdirs: Path, size: int):
  stylizer = StyleBankStylizer.load(workdirs / "newbank")
  evaluator = metrics.Evaluator("alexnet", size)
  photos = sorted((data / "content").glob("*.jpg"))
  rows, results = [], {}
  for index, name in enumerate(stylizer.style_names):
    painting = Path(name).stem
    group = "new bank" if index >= len(BASE_STYLES) else "base"
    style_image = images.load_image(name)
    for photo_path in photos:
      photo = images.resize(images.load_image(str(photo_path)), size)
      result = np.clip(stylizer.apply([photo], str(index))[0], 0, 1)
      results[photo_path.stem, painting] = result
      rows.append({"method": "stylebank", "group": group, "photo": photo_path.stem, "painting": painting,
                   **evaluator(result, photo, style_image)})
  return rows, results, photos


def gatys_rows() -> list[dict]:
  with GATYS_ROWS.open() as f:
    rows = [r for r in csv.DictReader(f) if r["method"] == "gatys"]
  return [{**r, **{k: float(r[k]) for k in comparison.METRICS}} for r in rows]


def write_figure(path: Path, data: Path, results, photos, size: int = 160) -> None:
  """Rows: the photos; columns: the photo, then each new bank's result; a header row of the paintings."""
  from stylejax.imaging import grids  # pylint: disable=import-outside-toplevel
  from stylejax.io import outputs  # pylint: disable=import-outside-toplevel

  cell = lambda image: crops.square(image, size)
  header = [cell(images.load_image(str(data / "style" / f"{s}.jpg"))) for s in NEW_STYLES]
  photo_cells = [cell(images.resize(images.load_image(str(p)), 224)) for p in photos]
  columns = [[cell(results[p.stem, s]) for p in photos] for s in NEW_STYLES]
  outputs.save_image(grids.photo_grid(photo_cells, columns, header=header), path)


def report(rows, gatys, seconds: dict, size: int, command: str) -> str:
  lines = ["# StyleBank on 2 CPU cores: a base, then new banks on held-out paintings (issue 22)", "",
           f"Command: `{command}`", ""]
  if seconds:
    lines += [f"Training wall time on shared CPU cores (other sessions were running): base "
              f"{seconds['base']:.0f} s, new banks {seconds['newbank']:.0f} s, total "
              f"{seconds['base'] + seconds['newbank']:.0f} s.", ""]
  lines += [f"Metrics at {size} px (stylejax.evaluation.metrics): content SSIM to the photo (higher keeps more "
            "of it), AlexNet Gram distance to the painting (lower is closer). Mean [95% bootstrap CI] over "
            "photo x painting pairs.", "",
            "| network | pairs | content SSIM | style Gram | Gatys 80 L-BFGS, same pairs: SSIM | Gatys Gram | "
            "Gram: stylebank - gatys (paired) |", "|---|---|---|---|---|---|---|"]
  for group in ("base", "new bank"):
    mine = [r for r in rows if r["group"] == group]
    keys = {(r["photo"], r["painting"]) for r in mine}
    theirs = [g for g in gatys if (g["photo"], g["painting"]) in keys]
    fmt = lambda vals: "{:.3f} [{:.3f}, {:.3f}]".format(*comparison.bootstrap_mean(vals)) if vals else "n/a"
    diff = "n/a"
    if theirs:
      by_pair = {(g["photo"], g["painting"]): g["style_gram"] for g in theirs}
      d = [r["style_gram"] - by_pair[r["photo"], r["painting"]] for r in mine if (r["photo"], r["painting"]) in by_pair]
      diff = fmt(d)
    lines.append(f"| {group} | {len(mine)} | {fmt([r['content_ssim'] for r in mine])} | "
                 f"{fmt([r['style_gram'] for r in mine])} | {fmt([g['content_ssim'] for g in theirs])} | "
                 f"{fmt([g['style_gram'] for g in theirs])} | {diff} |")
  lines += ["", "Per pair:", "", "| group | photo | painting | content SSIM | style Gram |", "|---|---|---|---|---|"]
  lines += [f"| {r['group']} | {r['photo']} | {r['painting']} | {r['content_ssim']:.3f} | {r['style_gram']:.3f} |"
            for r in rows]
  return "\n".join(lines) + "\n"


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--data", default="../shared/data", help="folder with content/ and style/")
  parser.add_argument("--workdirs", default="workdirs/stylebank_experiment")
  parser.add_argument("--base-steps", type=int, default=300)
  parser.add_argument("--new-steps", type=int, default=180)
  parser.add_argument("--size", type=int, default=224)
  parser.add_argument("--base-set", action="append", metavar="KEY=VALUE",
                      help="override of stylebank_tiny for the base (repeatable), e.g. loss.style_weight=10")
  parser.add_argument("--new-set", action="append", metavar="KEY=VALUE",
                      help="override of stylebank_newbank for the new banks (repeatable)")
  parser.add_argument("--only-base", action="store_true", help="train the base alone, then stop")
  parser.add_argument("--eval-only", action="store_true", help="no training: evaluate the workdirs as they are")
  args = parser.parse_args(argv)
  data, workdirs = Path(args.data), Path(args.workdirs)
  if not args.eval_only:
    seconds = train(data, workdirs, args.base_steps, args.new_steps, _parse_sets(args.base_set),
                    _parse_sets(args.new_set), args.only_base)
    print(f"training wall seconds: {seconds}")
    if args.only_base:
      return 0
  seconds = recorded_seconds(workdirs)
  rows, results, photos = evaluate(data, workdirs, args.size)
  with (HERE / "rows.csv").open("w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
  write_figure(HERE / "newbank.png", data, results, photos)
  command = "python experiments/trained_networks_stylebank/run.py " + " ".join(sys.argv[1:] if argv is None else argv)
  text = report(rows, gatys_rows(), seconds if len(seconds) == 2 else {}, args.size, command.strip())
  (HERE / "results.md").write_text(text)
  print(text)
  return 0


if __name__ == "__main__":
  sys.exit(main())
