"""Makes the README figure: a few content photos x paintings from ../shared/data, stylized.

  python experiments/readme_figure.py --data ../shared/data    # writes docs/content_x_style.png
"""

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from PIL import Image  # noqa: E402

from stylejax import configuration  # noqa: E402
from stylejax.imaging import images
from stylejax.pixel import sweep

CONTENTS = ("astronaut", "mountain_landscape")
STYLES = ("starry_night", "great_wave", "composition_vii")


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
  parser.add_argument("--size", type=int, default=192)
  parser.add_argument("--steps", type=int, default=80)
  args = parser.parse_args()
  base = configuration.apply_values(configuration.load_config("quickstart"),
                                    {"image_size": args.size, "optim.steps": args.steps})
  contents = [str(args.data / "content" / f"{c}.jpg") for c in CONTENTS]
  styles = [str(args.data / "style" / f"{s}.jpg") for s in STYLES]
  runs = [{"content": c, "styles": (s,)} for c in contents for s in styles]
  with tempfile.TemporaryDirectory() as tmp:
    dirs = sweep.run_sweep(base, runs, Path(tmp) / "figure")
    fig, axes = plt.subplots(len(contents) + 1, len(styles) + 1, figsize=(2.6 * (len(styles) + 1),
                                                                        2.3 * (len(contents) + 1)))
    for ax in axes.flat:
      ax.axis("off")
    for j, s in enumerate(styles):
      axes[0, j + 1].imshow(images.resize(images.load_image(s), 256))
    for i, c in enumerate(contents):
      axes[i + 1, 0].imshow(images.resize(images.load_image(c), 256))
      for j in range(len(styles)):
        axes[i + 1, j + 1].imshow(Image.open(dirs[i * len(styles) + j] / "final.png"))
    fig.suptitle(f"stylejax quickstart config (VGG16, Gram, Adam {args.steps} steps, {args.size} px)", fontsize=9)
    fig.tight_layout()
    out = ROOT / "docs" / "content_x_style.png"
    fig.savefig(out, dpi=80)
    print(f"wrote {out}")


if __name__ == "__main__":
  main()
