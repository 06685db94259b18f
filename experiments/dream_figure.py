"""Makes the README's DeepDream figure: one photo dreamt at several layers of two networks, and a
guided dream, with the shipped `dream` config (google/deepdream's loop: 4 octaves x 10 steps).

  python experiments/dream_figure.py --data ../shared/data    # writes docs/dream_layers.png
"""

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from stylejax import configuration  # noqa: E402
from stylejax.imaging import images  # noqa: E402
from stylejax.pixel import dream  # noqa: E402

PHOTO = "content/mountain_landscape.jpg"
ROWS = (("vgg", ("relu3_3", "relu4_3", "relu5_3")),
        ("mobilenet_v2", ("expanded_conv_3", "expanded_conv_6", "expanded_conv_10")))
GUIDE = ("style/great_wave.jpg", "relu4_3")  # on VGG16


_DONE = {}


def _dream(photo, size, network, layer, guide=None):
  if (network, layer, guide) in _DONE:
    return _DONE[network, layer, guide]
  values = {"content": photo, "image_size": size, "dream.network": network, "dream.layers": layer}
  if guide:
    values.update({"dream.objective": "guided", "dream.guide": guide, "dream.guide_size": size})
  config = configuration.apply_values(configuration.load_config("dream"), values)
  print(network, layer, "guided" if guide else "", flush=True)
  _DONE[network, layer, guide] = dream.run(config, quiet=True).image
  return _DONE[network, layer, guide]


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
  parser.add_argument("--size", type=int, default=256)
  args = parser.parse_args()
  photo = str(args.data / PHOTO)
  original = images.resize(images.load_image(photo), args.size)
  fig, axes = plt.subplots(len(ROWS) + 1, 4, figsize=(4 * 2.8, (len(ROWS) + 1) * 2.1))
  for ax in axes.flat:
    ax.axis("off")
  for i, (network, layers) in enumerate(ROWS):
    axes[i, 0].imshow(original)
    axes[i, 0].set_title("photo", fontsize=8)
    for j, layer in enumerate(layers):
      axes[i, j + 1].imshow(_dream(photo, args.size, network, layer))
      axes[i, j + 1].set_title(f"{'VGG16' if network == 'vgg' else 'MobileNet-v2'} {layer}", fontsize=8)
  guide, layer = GUIDE
  axes[-1, 0].imshow(original)
  axes[-1, 0].set_title("photo", fontsize=8)
  axes[-1, 1].imshow(images.resize(images.load_image(str(args.data / guide)), args.size))
  axes[-1, 1].set_title("guide", fontsize=8)
  axes[-1, 2].imshow(_dream(photo, args.size, "vgg", layer, str(args.data / guide)))
  axes[-1, 2].set_title(f"guided dream, VGG16 {layer}", fontsize=8)
  axes[-1, 3].imshow(_dream(photo, args.size, "vgg", layer))
  axes[-1, 3].set_title(f"unguided, VGG16 {layer}", fontsize=8)
  fig.suptitle(f"stylejax dream (config `dream`: 4 octaves x 10 steps, jitter 32, {args.size} px)", fontsize=9)
  fig.tight_layout()
  out = ROOT / "docs" / "dream_layers.png"
  fig.savefig(out, dpi=80)
  print(f"wrote {out}")


if __name__ == "__main__":
  main()
