"""Temporal-loss fine-tunes of two pretrained networks (Huang et al. 2017 / ReCoNet: the output-level
warped loss, stylejax.objectives.temporal_pairs), each beside the same fine-tune without the term, so
`run.py --part finetuned` can compare their videos.

  python experiments/video_consistency/finetune.py --work workdirs/video_finetune

Per network, one run per --weights value (temporal.weight; 0 is the per-frame baseline), same seed,
data and steps:
- cin: `cin_newstyle` from the pretrained multistyle26, network.trainable=all, great_wave as the new
  style (style 26), Adam 1e-3, 128 px crops, batch 4;
- ghiasi: `ghiasi_tiny` with network.transformer=magenta (Magenta's pretrained lite model, both
  networks trainable), the five SEEN paintings of experiments/trained_networks_ghiasi (great_wave
  among them), Adam 1e-4, style weight 10, 128 px crops, batch 4.
Training photos: scikit-image's chelsea, rocket, motorcycle_left and hubble_deep_field (none of them
is in the clips, which are made from astronaut and mountain_landscape; coffee is their foreground).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SHARED = ROOT.parent / "shared" / "data"
DATA = SHARED if SHARED.is_dir() else Path("/work/shared/data")
TRAIN_PHOTOS = ("chelsea.png", "rocket.jpg", "motorcycle_left.png", "hubble_deep_field.jpg")  # skimage/data/
PAINTINGS = ("composition_vii", "great_wave", "mondrian_composition_1916", "starry_night", "the_scream")

COMMON = ["--quiet", "--config.eval_every=0", "--config.log_every=10", "--config.data.image_size=128",
          "--config.optim.batch_size=4"]
NETWORKS = {
    "cin": ["--config", "cin_newstyle", "--config.network.trainable=all", f"--config.styles={DATA / 'style' / 'great_wave.jpg'}",
            "--config.optim.learning_rate=1e-3"],
    "ghiasi": ["--config", "ghiasi_tiny", "--config.network.transformer=magenta", "--config.style_size=128",
               "--config.optim.learning_rate=1e-4", "--config.network.style_lr_scale=1.0",
               "--config.loss.style_weight=10"],
}


def prepare(work: Path) -> tuple[Path, Path]:
  import skimage  # pylint: disable=import-outside-toplevel

  from stylejax.imaging import images  # pylint: disable=import-outside-toplevel

  photos, paintings = work / "train_photos", work / "paintings"
  photos.mkdir(parents=True, exist_ok=True)
  paintings.mkdir(parents=True, exist_ok=True)
  for name in TRAIN_PHOTOS:
    target = photos / (Path(name).stem + ".png")
    if not target.exists():
      images.save_png(images.load_image(str(Path(skimage.__file__).parent / "data" / name)), target)
  for stem in PAINTINGS:
    shutil.copyfile(DATA / "style" / f"{stem}.jpg", paintings / f"{stem}.jpg")
  return photos, paintings


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--work", default=str(HERE / "workdirs" / "finetune"))
  parser.add_argument("--networks", nargs="+", default=list(NETWORKS), choices=list(NETWORKS))
  parser.add_argument("--weights", nargs="+", type=float, default=[0.0, 2000.0])
  parser.add_argument("--steps", type=int, nargs=2, default=[300, 150], metavar=("CIN", "GHIASI"))
  args = parser.parse_args(argv)
  work = Path(args.work)
  photos, paintings = prepare(work)
  steps = dict(zip(NETWORKS, args.steps))
  for network in args.networks:
    for weight in args.weights:
      workdir = work / f"{network}_temporal{weight:g}"
      command = [sys.executable, "-m", "stylejax.cli", "train", *NETWORKS[network], "--workdir", str(workdir),
                 *COMMON, f"--config.data.content=folder:{photos}", f"--config.temporal.weight={weight}",
                 f"--config.optim.steps={steps[network]}", f"--config.checkpoint_every={steps[network]}"]
      if network == "ghiasi":
        command.append(f"--config.styles=folder:{paintings}")
      print(" ".join(command), flush=True)
      began = time.perf_counter()
      subprocess.run(command, check=True, cwd=ROOT)
      print(f"{workdir}: {time.perf_counter() - began:.0f} s", flush=True)


if __name__ == "__main__":
  sys.exit(main())
