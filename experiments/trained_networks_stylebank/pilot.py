"""Pilot of the new-bank recipe (issue 22): new banks for the held-out paintings on an already trained
base, with config overrides; prints the new banks' content SSIM, Gram distance and paired Gram - Gatys
(mean [95% bootstrap CI]) and appends that line to --log. Used to pick `loss.style_weight` of
stylebank_newbank:

  python experiments/trained_networks_stylebank/run.py --data ../shared/data --workdirs W --only-base
  python experiments/trained_networks_stylebank/pilot.py --data ../shared/data --base W/base \\
      --workdir W/pilots/sw10 --steps 180 loss.style_weight=10
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

import run  # noqa: E402
from stylejax.evaluation import metrics  # noqa: E402
from stylejax.feedforward.stylebank_stylizer import StyleBankStylizer  # noqa: E402
from stylejax.imaging import images  # noqa: E402


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--data", default="../shared/data")
  parser.add_argument("--base", required=True, help="a trained stylebank_tiny workdir")
  parser.add_argument("--workdir", required=True, help="the new banks' workdir")
  parser.add_argument("--steps", type=int, default=180)
  parser.add_argument("--size", type=int, default=224)
  parser.add_argument("--log", default="", help="append the summary line to this file")
  parser.add_argument("sets", nargs="*", metavar="KEY=VALUE", help="stylebank_newbank overrides")
  args = parser.parse_args(argv)
  data, workdir = Path(args.data), Path(args.workdir)
  config = run.configuration.apply_values(run.new_config(data, Path("."), args.steps, run._parse_sets(args.sets)),
                                          {"network.base": args.base})
  t0 = time.perf_counter()
  run.loop.run(config, workdir, quiet=True)
  seconds = time.perf_counter() - t0
  stylizer = StyleBankStylizer.load(workdir)
  evaluator = metrics.Evaluator("alexnet", args.size)
  gatys = {(g["photo"], g["painting"]): g["style_gram"] for g in run.gatys_rows()}
  ssim, gram, diff = [], [], []
  for index, name in enumerate(stylizer.style_names[len(run.BASE_STYLES):], len(run.BASE_STYLES)):
    painting, style_image = Path(name).stem, images.load_image(name)
    for photo_path in sorted((data / "content").glob("*.jpg")):
      photo = images.resize(images.load_image(str(photo_path)), args.size)
      m = evaluator(np.clip(stylizer.apply([photo], str(index))[0], 0, 1), photo, style_image)
      ssim.append(m["content_ssim"])
      gram.append(m["style_gram"])
      diff.append(m["style_gram"] - gatys[photo_path.stem, painting])
  fmt = lambda v: "{:.3f} [{:.3f}, {:.3f}]".format(*run.comparison.bootstrap_mean(v))
  line = (f"{workdir.name} steps={args.steps} {' '.join(args.sets)} train_s={seconds:.0f} SSIM {fmt(ssim)} "
          f"Gram {fmt(gram)} Gram-Gatys {fmt(diff)}")
  print(line)
  if args.log:
    with open(args.log, "a") as f:
      f.write(line + "\n")
  return 0


if __name__ == "__main__":
  sys.exit(main())
