"""Shared by the training tests of the arbitrary-style networks: tiny image folders and checkpoint reads."""

import numpy as np
import orbax.checkpoint as ocp

from stylejax.imaging import images


def write_images(folder, n, seed):
  """`n` random PNGs of different heights in a new `folder`."""
  folder.mkdir(parents=True)
  rng = np.random.default_rng(seed)
  for i in range(n):
    images.save_png(rng.uniform(size=(40 + 8 * i, 48, 3)).astype(np.float32), folder / f"image{i}.png")
  return folder


def params_at(workdir, step):
  """The network parameters a training workdir saved at `step`."""
  manager = ocp.CheckpointManager((workdir / "checkpoints").absolute(), item_names=("params", "train"))
  restored = manager.restore(step, args=ocp.args.Composite(params=ocp.args.StandardRestore()))
  manager.close()
  return restored["params"]
