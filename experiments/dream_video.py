"""DeepDream on video: warping error (Lai et al. 2018, the input's DIS flow and masks) of frames dreamt
alone (carry 0) against frames dreamt from the previous dream carried along the flow (carry 0.5, 1),
on synthetic camera pans of photos (stylejax.video.synthetic), with the shipped `dream` config
(4 octaves x 10 steps, VGG16 relu4_3) at a small size.

  nice -n 10 python experiments/dream_video.py --data ../shared/data --size 160 --frames 6
"""

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from stylejax import configuration  # noqa: E402
from stylejax.evaluation import temporal  # noqa: E402
from stylejax.imaging import images  # noqa: E402
from stylejax.video import dream as video_dream  # noqa: E402
from stylejax.video import run as video_run  # noqa: E402
from stylejax.video import synthetic  # noqa: E402
from stylejax.video.flows import ClipFlow  # noqa: E402

PHOTOS = ("content/mountain_landscape.jpg", "content/coffee.jpg")
CARRIES = (0.0, 0.5, 1.0)


def measure(photo: Path, size: int, n: int, sets: list[str]) -> dict:
  height = size * 3 // 4 // 2 * 2
  clip = synthetic.make_clip("pan", images.load_image(str(photo)), (height, size), n)
  config = configuration.apply_overrides(configuration.load_config("dream"), [f"image_size={size}", *sets])
  frame = lambda t: clip.frames[t].astype(np.float32) / 255.0
  flows = ClipFlow(frame, clip.shape)
  forward = [flows.flow(t, t + 1) for t in range(n - 1)]
  masks = [flows.reliability(t, t + 1, motion_boundaries=False) for t in range(n - 1)]
  row = {"photo": photo.name, "frames": n, "shape": list(clip.shape),
         "input": temporal.warping_error(clip.frames, forward, masks)}
  for carry in CARRIES:
    began = time.perf_counter()
    outs, _, _ = video_run.stylize_clip(video_dream.DreamFrames(config, carry), frame, n, flows)
    row[f"carry_{carry}"] = temporal.warping_error(outs, forward, masks)
    row[f"carry_{carry}_s"] = round(time.perf_counter() - began, 1)
    print(photo.name, carry, row[f"carry_{carry}"], flush=True)
  return row


def main():
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--data", required=True, help="the shared data folder (content/*.jpg)")
  parser.add_argument("--size", type=int, default=160)
  parser.add_argument("--frames", type=int, default=6)
  parser.add_argument("--set", action="append", default=[], help="dream config override")
  parser.add_argument("--out", default=None, help="also write the rows as JSON here")
  args = parser.parse_args()
  rows = [measure(Path(args.data) / p, args.size, args.frames, args.set) for p in PHOTOS]
  print(json.dumps(rows, indent=2))
  if args.out:
    Path(args.out).write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
  main()
