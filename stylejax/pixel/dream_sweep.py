"""Dream sweeps: layers, channels, step sizes and seeds dreamt as one vmapped program, and their
contact sheet (one row per layer).

A dream sweep file is a sweep file (`get_config` + `get_sweep`, run by `stylejax sweep`) whose
config is built on configs/dream.py. Runs that share the structure of the loop (the network, the
terms besides the dream layers, `DreamLoop`, the octave sizes, the steps, the photo and the guide)
share one compiled step: the dream term holds the union of their layers, and each run's weights
are zero on the layers it does not dream on, so the layer and channel choices, the step size and
the seed are stacked on a run axis and the step is `vmap`ped over it. Settings that change the
image shapes (octaves, octave_scale, image_size) compile one program per distinct shape group.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

from stylejax import configuration
from stylejax.atomic_io import atomic_write_text
from stylejax.errors import StylejaxError
from stylejax.imaging import grids, images
from stylejax.io.rundir import StagedRun
from stylejax.objectives.terms import dream as dream_term
from stylejax.pixel import dream

SHEET_CELL = 192  # longer side of a contact sheet's cell, in px


def is_dream_config(config) -> bool:
  """A config built on configs/dream.py (it declares the loop's fields)."""
  return "dream" in config and "octaves" in config.dream


@functools.partial(jax.jit, static_argnames=("problem", "loop"))
def batched_step(problem, loop, images_, params, targets, weights, step_sizes, keys):
  """`dream.step` vmapped over the leading run axis of the images, weights, step sizes and keys."""
  one = lambda x, w, s, k: dream.step(problem, loop, x, params, targets, w, s, k)
  return jax.vmap(one)(images_, weights, step_sizes, keys)


@dataclasses.dataclass
class _Run:
  index: int
  config: object
  overrides: dict
  sizes: list

  @property
  def group(self):
    c = self.config
    structure = dream.loop_from_config(c)
    return (json.dumps({k: v for k, v in json.loads(c.to_json_best_effort()).items()
                        if k not in ("seed", "dream")}, sort_keys=True, default=str),
            c.dream.network, c.dream.objective, c.dream.guide, c.dream.guide_size, c.dream.octaves,
            c.dream.octave_scale, c.dream.steps, structure)


def run_sweep(base, sweep: list[dict], workdir: str | Path, overwrite: bool = False, quiet: bool = False) -> list[Path]:
  """Runs every override of `sweep` on `base` (a dream config); returns the run folders in order."""
  staged = StagedRun(workdir, overwrite, "sweep")
  if not sweep:
    raise StylejaxError("the sweep is empty")
  configs = [configuration.apply_values(base, o) for o in sweep]
  runs = []
  for i, (config, overrides) in enumerate(zip(configs, sweep)):
    dream.validate(config)
    runs.append(_Run(i, config, overrides, None))
  groups: dict = {}
  for run in runs:
    groups.setdefault(run.group, []).append(run)
  root = staged.open()
  try:
    atomic_write_text(root.path("sweep.json"), json.dumps(
        {"base": json.loads(base.to_json_best_effort()), "runs": sweep}, indent=2, default=str) + "\n")
    progress = tqdm(total=len(runs), disable=quiet, desc="dream sweep", unit="run")
    finals = {}
    for members in groups.values():
      for run, image in zip(members, _dream_group(members, root)):
        finals[run.index] = image
      progress.update(len(members))
    progress.close()
    sheet, rows = contact_sheet(runs, finals)
    images.save_png(sheet, root.path("contact_sheet.png"))
    atomic_write_text(root.path("contact_sheet.json"), json.dumps(rows, indent=1) + "\n")
    root.commit()
  except BaseException:
    root.abort()
    raise
  return [Path(workdir) / f"run_{r.index:04d}" for r in runs]


def _dream_group(members: list[_Run], root: StagedRun) -> list[np.ndarray]:
  """One compiled program for the group's runs; writes each run's folder, returns their dreams."""
  first = members[0].config
  inputs = dream.load_inputs(first)
  net, params = dream.network_and_params(first)
  union = tuple(sorted(set().union(*(dream_term.Dream.from_config(r.config, net).layers for r in members))))
  problem = dream.problem_from_config(first, net, union)
  loop = dream.loop_from_config(first)
  stack = lambda trees: jax.tree.map(lambda *xs: jnp.stack(xs), *trees)
  weights = stack([dream.weights_from_config(r.config, problem) for r in members])
  step_sizes = jnp.asarray([r.config.dream.step_size for r in members], jnp.float32)
  run_keys = jnp.stack([jax.random.key(r.config.seed) for r in members])
  sizes = dream.octave_sizes(*inputs["photo"].shape[:2], first.dream.octaves, first.dream.octave_scale)
  dream.check_sizes(sizes)
  bases = dream.octave_images(inputs["photo"], sizes)
  detail = jnp.zeros((len(members), *bases[0].shape), jnp.float32)
  metrics = [[] for _ in members]
  for octave, base in enumerate(bases):
    base = jnp.asarray(base)
    targets = dream.targets_at(problem, params, inputs, np.asarray(base), first)
    batch = base[None] + jax.vmap(lambda d: dream.upsample(d, base.shape[:2]))(detail)
    if loop.clip:
      batch = jnp.clip(batch, 0.0, 1.0)
    for i in range(first.dream.steps):
      keys = jax.vmap(lambda k: dream.step_key(k, octave, i))(run_keys)
      batch, values = batched_step(problem, loop, batch, params, targets, weights, step_sizes, keys)
    detail = batch - base[None]
    values = jax.device_get(values)
    for j in range(len(members)):
      metrics[j].append({"octave": octave, "height": int(base.shape[0]), "width": int(base.shape[1]),
                         **{k: float(v[j]) for k, v in values.items()}})
  out = np.asarray(batch, np.float32)
  for j, run in enumerate(members):
    run_dir = StagedRun(root.path(f"run_{run.index:04d}")).open()
    for record in metrics[j]:
      run_dir.append_jsonl("metrics.jsonl", record)
    run_dir.write_json("config.json", json.loads(run.config.to_json_best_effort()))
    run_dir.write_json("overrides.json", run.overrides)
    images.save_png(out[j], run_dir.path("final.png"))
    run_dir.commit()
  return list(out)


def contact_sheet(runs: list[_Run], finals: dict[int, np.ndarray]) -> tuple[np.ndarray, list[dict]]:
  """One row per dream.layers value (in sweep order), its runs left to right in sweep order; rows
  shorter than the longest are filled with white. Returns the sheet and what each row shows."""
  rows: dict[str, list[_Run]] = {}
  for run in runs:
    rows.setdefault(run.config.dream.layers, []).append(run)
  cells = {i: images.resize(image, SHEET_CELL) for i, image in finals.items()}
  h, w = next(iter(cells.values())).shape[:2]
  width = max(len(r) for r in rows.values())
  blank = np.ones((h, w, 3), np.float32)
  sheet = grids.tile([[cells[r.index] for r in row] + [blank] * (width - len(row)) for row in rows.values()])
  described = [{"row": k, "layers": layers, "runs": [{"run": f"run_{r.index:04d}", **{
      key: value for key, value in r.overrides.items() if key != "dream.layers"}} for r in row]}
               for k, (layers, row) in enumerate(rows.items())]
  return sheet, described
