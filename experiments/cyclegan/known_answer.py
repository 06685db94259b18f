"""CycleGAN on a task whose answer is known: domain B is domain A through a fixed invertible colour
matrix M, and A and B are drawn from disjoint image lists, so no (a, Ma) pair is ever seen.

  python experiments/cyclegan/known_answer.py data  --workdir workdirs/cyclegan_known   # A/, B/, test/ (--split)
  python experiments/cyclegan/known_answer.py train --workdir workdirs/cyclegan_known [--steps N --learning-rate LR]
  python experiments/cyclegan/known_answer.py eval  --workdir workdirs/cyclegan_known   # results.json, curves.png

`eval` scores every saved checkpoint on the held-out images (full images, longer side 128 px):
PSNR of G_A(x) against the true M x, PSNR of G_B(M x) against x, and the cycle G_B(G_A(x)) against x,
next to the identity baseline (PSNR of x against M x). Images: the scikit-image photos and the shared
data folder (../shared/data, or --shared); the lists below never share an image.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

# M: mostly a channel rotation (R <- B, G <- R, B <- G) with some mixing; rows sum to 1 and entries
# are >= 0, so [0, 1] images stay in [0, 1]; circulant with |eigenvalues| 1, 0.56, 0.56: invertible.
M = np.array([[0.1, 0.2, 0.7], [0.7, 0.1, 0.2], [0.2, 0.7, 0.1]], np.float32)
SKIMAGE = Path(__import__("importlib").util.find_spec("skimage").origin).parent / "data"
LISTS = {  # disjoint: the same picture (skimage's and the shared astronaut) stays in one list
    "A": ["skimage:chelsea.png", "skimage:rocket.jpg", "skimage:hubble_deep_field.jpg",
          "content/mountain_landscape.jpg", "style/great_wave.jpg", "style/starry_night.jpg",
          "style/the_kiss.jpg", "style/water_lilies.jpg"],
    "B": ["skimage:coffee.png", "skimage:ihc.png", "skimage:motorcycle_left.png", "style/composition_vii.jpg",
          "style/grande_jatte.jpg", "style/lady_with_ermine.jpg", "style/the_scream.jpg"],
    "test": ["skimage:astronaut.png", "content/astronaut.jpg", "skimage:retina.jpg",
             "style/mondrian_composition_1916.jpg", "style/shipwreck_minotaur.jpg"],
}
TRAIN_SIDE = 160  # training images: longer side
TEST_SIDE = 128  # held-out images: longer side


# --standardise: every image's channels moved to this mean and standard deviation (then clipped).
# The reference generator cannot see an image's global colour: its first conv is followed by an
# instance norm, so G(a x + d) = G(x) for any a > 0 and colour d (tests/test_cyclegan.py). On photos
# whose mean colours differ, x -> M x is not a function it can represent; on standardised photos it is.
STANDARD_MEAN, STANDARD_STD = 0.45, 0.2


def standardise(image: np.ndarray) -> np.ndarray:
  mean, std = image.mean(axis=(0, 1)), image.std(axis=(0, 1)) + 1e-6
  return np.clip(STANDARD_MEAN + STANDARD_STD * (image - mean) / std, 0.0, 1.0).astype(np.float32)


TRANSFORMS = {  # name: B = transform(A) on [0, 1] images
    "matrix": lambda image: np.clip(image @ M.T, 0.0, 1.0),
    "invert": lambda image: 1.0 - image,  # the affine colour map x -> 1 - x (-I plus an offset)
}


def transform(image: np.ndarray, name: str = "matrix") -> np.ndarray:
  return TRANSFORMS[name](image)


def transform_of(workdir: Path) -> str:
  """The transform `data` used for this workdir (data/transform.txt; runs before it: matrix)."""
  path = workdir / "data" / "transform.txt"
  return path.read_text().strip() if path.exists() else "matrix"


def psnr(a: np.ndarray, b: np.ndarray) -> float:
  return float(10 * np.log10(1.0 / max(np.mean((a - b) ** 2), 1e-12)))


def _load(spec: str, shared: Path, side: int, standardised: bool = False) -> np.ndarray:
  from stylejax.imaging import images  # pylint: disable=import-outside-toplevel
  path = SKIMAGE / spec.split(":", 1)[1] if spec.startswith("skimage:") else shared / spec
  image = images.resize(images.load_image(str(path)), side)
  return standardise(image) if standardised else image


TILE = 80  # --split tiles: the training pool cut into TILE x TILE tiles (images at longer side TILE_SIDE)
TILE_SIDE = 320


def make_tiles(workdir: Path, shared: Path, standardised: bool = False, transform_name: str = "matrix") -> None:
  """A/ and B/ from the same pool of images (LISTS' A and B together), cut into tiles dealt out like
  a checkerboard: neighbouring tiles go to opposite sides, so both domains hold the same kinds of
  picture while no tile (no pixel) is on both sides: no (a, M a) pair is ever seen. The held-out
  images (LISTS' test) are other pictures."""
  from stylejax.imaging import images  # pylint: disable=import-outside-toplevel
  counts = {"A": 0, "B": 0}
  for group in ("A", "B", "test"):
    (workdir / "data" / group).mkdir(parents=True, exist_ok=True)
  for index, spec in enumerate(LISTS["A"] + LISTS["B"]):
    image = _load(spec, shared, TILE_SIDE)
    stem = Path(spec.split(":")[-1]).stem
    for row in range(image.shape[0] // TILE):
      for col in range(image.shape[1] // TILE):
        side = "A" if (row + col + index) % 2 == 0 else "B"
        tile = image[row * TILE:(row + 1) * TILE, col * TILE:(col + 1) * TILE]
        tile = standardise(tile) if standardised else tile
        tile = transform(tile, transform_name) if side == "B" else tile
        images.save_png(tile, workdir / "data" / side / f"{stem}_{row}_{col}.png")
        counts[side] += 1
  for spec in LISTS["test"]:
    images.save_png(_load(spec, shared, TEST_SIDE, standardised),
                    workdir / "data" / "test" / f"{Path(spec.split(':')[-1]).stem}.png")
  (workdir / "data" / "transform.txt").write_text(transform_name + "\n")
  print(f"wrote {workdir / 'data'}: A {counts['A']} tiles, B {counts['B']} tiles, test {len(LISTS['test'])} images")


def make_data(workdir: Path, shared: Path, train_side: int = TRAIN_SIDE, standardised: bool = False,
              transform_name: str = "matrix") -> None:
  from stylejax.imaging import images  # pylint: disable=import-outside-toplevel
  names = [s for group in LISTS.values() for s in group]
  assert len(set(names)) == len(names)
  for group, specs in LISTS.items():
    folder = workdir / "data" / group
    folder.mkdir(parents=True, exist_ok=True)
    for spec in specs:
      image = _load(spec, shared, TEST_SIDE if group == "test" else train_side, standardised)
      if group == "B":
        image = transform(image, transform_name)
      images.save_png(image, folder / f"{Path(spec.split(':')[-1]).stem}.png")
  (workdir / "data" / "transform.txt").write_text(transform_name + "\n")
  print(f"wrote {workdir / 'data'}: " + ", ".join(f"{g} {len(s)}" for g, s in LISTS.items()))


def config_for(workdir: Path, steps: int, learning_rate: float, decay_steps: int | None = None,
               checkpoints: int = 6, overrides: tuple[str, ...] = ()):
  """cyclegan_tiny without the identity loss (it would pull G_A towards the identity, which is not
  the answer here), the last `decay_steps` (default: a quarter) decaying linearly to 0, `checkpoints`
  checkpoints kept for the curves, then `overrides` ("network.n_layers_d=1", as the CLI's --config.X=V)."""
  from stylejax import configuration  # pylint: disable=import-outside-toplevel
  decay = steps // 4 if decay_steps is None else decay_steps
  config = configuration.apply_values(configuration.load_config("cyclegan_tiny"), {
      "data.content": f"folder:{workdir / 'data'}", "network.lambda_identity": 0.0,
      "network.constant_steps": steps - decay, "network.decay_steps": decay, "optim.steps": steps,
      "optim.learning_rate": learning_rate, "checkpoint_every": max(1, steps // checkpoints), "keep_checkpoints": max(10, checkpoints),
      "eval_images": (str(workdir / "data" / "test" / "astronaut.png"),)})
  return configuration.apply_overrides(config, list(overrides))


def evaluate(workdir: Path) -> dict:
  import jax  # pylint: disable=import-outside-toplevel
  from stylejax.feedforward import translation  # pylint: disable=import-outside-toplevel
  from stylejax.imaging import images  # pylint: disable=import-outside-toplevel
  from stylejax.io import checkpoints  # pylint: disable=import-outside-toplevel

  run = workdir / "run"
  test = [images.load_image(str(p)) for p in sorted((workdir / "data" / "test").glob("*.png"))]
  name = transform_of(workdir)
  targets = [transform(x, name) for x in test]
  identity = float(np.mean([psnr(x, t) for x, t in zip(test, targets)]))
  # A second floor: one constant image, the mean colour of domain B's training images (knowable
  # without any pair). On standardised images it scores well (about 14 dB): beating identity alone
  # is not evidence of learning there.
  colour = np.mean([images.load_image(str(p)).mean(axis=(0, 1)) for p in sorted((workdir / "data" / "B").glob("*.png"))],
                   axis=0)
  constant = float(np.mean([psnr(np.broadcast_to(colour, t.shape), t) for t in targets]))
  manager = checkpoints.manager(run)
  steps = sorted(manager.all_steps())
  manager.close()
  rows = []
  for step in steps:
    t = translation.Translator.load_workdir(run, step)
    there = t.apply(test, "AtoB", batch_size=1)
    back = t.apply(there, "BtoA", batch_size=1)
    inverse = t.apply(targets, "BtoA", batch_size=1)
    rows.append({"step": step,
                 "psnr_G_A_vs_Mx": float(np.mean([psnr(p, y) for p, y in zip(there, targets)])),
                 "psnr_G_B_vs_x": float(np.mean([psnr(p, x) for p, x in zip(inverse, test)])),
                 "psnr_cycle": float(np.mean([psnr(p, x) for p, x in zip(back, test)])),
                 "l1_cycle": float(np.mean([np.abs(p - x).mean() for p, x in zip(back, test)]))})
    print(rows[-1], flush=True)
  print(f"baselines on the held-out images: identity {identity:.2f} dB, constant (B's mean colour) {constant:.2f} dB")
  result = {"identity_psnr_x_vs_Mx": identity, "constant_psnr_B_mean_colour": constant, "transform": name,
            "matrix": M.tolist(), "test_images": LISTS["test"],
            "checkpoints": rows, "jax": jax.__version__}
  (workdir / "results.json").write_text(json.dumps(result, indent=1) + "\n")
  _figure(workdir, result, test[:3], translation.Translator.load_workdir(run))
  return result


def _figure(workdir: Path, result: dict, photos, translator) -> None:
  import matplotlib  # pylint: disable=import-outside-toplevel
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
  from stylejax.imaging import grids, images  # pylint: disable=import-outside-toplevel
  rows = result["checkpoints"]
  fig, ax = plt.subplots(figsize=(6, 3.5))
  s = [r["step"] for r in rows]
  ax.plot(s, [r["psnr_G_A_vs_Mx"] for r in rows], "o-", label="G_A(x) vs M x")
  ax.plot(s, [r["psnr_G_B_vs_x"] for r in rows], "s-", label="G_B(M x) vs x")
  ax.plot(s, [r["psnr_cycle"] for r in rows], "^-", label="G_B(G_A(x)) vs x")
  ax.axhline(result["identity_psnr_x_vs_Mx"], color="gray", ls="--", label="identity: x vs M x")
  ax.axhline(result["constant_psnr_B_mean_colour"], color="gray", ls=":", label="constant: B's mean colour")
  ax.set_xlabel("step")
  ax.set_ylabel("PSNR (dB), held-out")
  ax.legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(workdir / "curves.png", dpi=100)
  from stylejax.imaging import crops  # pylint: disable=import-outside-toplevel
  photos = [crops.square(x, TEST_SIDE) for x in photos]
  cells = [[x, transform(x, result["transform"]), *translator.cycle(x)[1:]] for x in photos]
  images.save_png(grids.tile(cells), workdir / "held_out_grid.png")


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("what", choices=["data", "train", "eval"])
  parser.add_argument("--workdir", default="workdirs/cyclegan_known")
  parser.add_argument("--shared", default=str(Path(__file__).resolve().parents[3] / "shared" / "data"),
                      help="the shared data folder (content/, style/)")
  parser.add_argument("--steps", type=int, default=1200)
  parser.add_argument("--learning-rate", type=float, default=1e-3)
  parser.add_argument("--decay-steps", type=int, default=None,
                      help="steps of linear decay at the end (default: a quarter of --steps; the reference: half)")
  parser.add_argument("--checkpoints", type=int, default=6, help="checkpoints saved (evenly spaced)")
  parser.add_argument("--split", choices=["images", "tiles"], default="tiles",
                      help="data: A and B from disjoint image lists (7-8 images each), or disjoint tiles of one pool")
  parser.add_argument("--train-side", type=int, default=TRAIN_SIDE,
                      help="--split images: training images' longer side (crops are cut from them)")
  parser.add_argument("--standardise", action="store_true",
                      help="every image's (or tile's) channels to mean 0.45, std 0.2 (see standardise)")
  parser.add_argument("--transform", choices=sorted(TRANSFORMS), default="matrix",
                      help="how B is made from A (matrix: the colour matrix M; invert: 1 - x)")
  parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                      help="train: a config value over the experiment's, e.g. network.n_layers_d=1 (repeatable)")
  args = parser.parse_args(argv)
  workdir = Path(args.workdir)
  if args.what == "data":
    if args.split == "tiles":
      make_tiles(workdir, Path(args.shared), args.standardise, args.transform)
    else:
      make_data(workdir, Path(args.shared), args.train_side, args.standardise, args.transform)
  elif args.what == "train":
    from stylejax.training import loop  # pylint: disable=import-outside-toplevel
    result = loop.run(config_for(workdir, args.steps, args.learning_rate, args.decay_steps, args.checkpoints,
                                 tuple(args.set)), workdir / "run")
    print(f"trained to step {int(result.state['step'])}")
  else:
    evaluate(workdir)
  return 0


if __name__ == "__main__":
  sys.exit(main())
