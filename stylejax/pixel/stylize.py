"""Single-image style transfer end to end: config -> images -> coarse-to-fine optimization -> workdir.

`run(config, workdir)` is what the CLI, `python -m stylejax.main` and notebooks call; `stylize(...)`
is the short Python API on top of it.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from tqdm import tqdm

from stylejax import configuration
from stylejax.imaging import color, images
from stylejax.io import weights
from stylejax.objectives import loss_network, objective
from stylejax.objectives.terms import style as style_term
from stylejax.errors import NonFiniteLoss, StylejaxError
from stylejax.evaluation.figures import summary_figure
from stylejax.pixel.optimize import PixelProblem, evaluate, init_state, run_chunk
from stylejax.io.rundir import StagedRun


@dataclasses.dataclass
class StylizeResult:
  image: np.ndarray  # (H, W, 3) float32 in [0, 1]
  metrics: list[dict]
  workdir: Path | None


def problem_from_config(config: ml_collections.ConfigDict, loaded: weights.LoadedVGG) -> PixelProblem:
  net = loss_network.from_config(config.loss, loaded)
  return PixelProblem(
      loss=net, terms=objective.terms_from_config(config, net), optimizer=config.optim.name,
      lbfgs_memory=config.optim.lbfgs_memory, parametrization=config.optim.parametrization,
      line_search=config.optim.line_search, max_linesearch_steps=config.optim.max_linesearch_steps,
      lbfgs_step=float(config.optim.lbfgs_step), line_search_candidates=config.optim.line_search_candidates)


def loss_weights(config: ml_collections.ConfigDict, arch: str) -> dict:
  """{term name: its weights} of `objective.terms`, float32 arrays, so changing them never retraces."""
  return objective.weights_from_config(config, arch)


def initial_image(config, content, styles, blend, key):
  if config.optim.init == "content":
    return content
  noise = np.asarray(jax.random.uniform(key, content.shape), np.float32)
  if config.optim.init == "noise":
    return noise
  if config.optim.init == "content_noise":  # the photo plus seeded uniform noise of +-init_noise
    return np.clip(content + config.optim.init_noise * (2 * noise - 1), 0, 1).astype(np.float32)
  mean_colour = sum(b * s.reshape(-1, 3).mean(0) for b, s in zip(blend, styles))
  return np.clip(mean_colour + 0.05 * (noise - 0.5), 0, 1).astype(np.float32)


def load_inputs(config):
  content = images.load_image(config.content, config.max_pixels)
  styles = [images.load_image(s, config.max_pixels) for s in config.styles]
  loaded = loss_network.load_weights(config.loss)
  return content, styles, loaded


def run(config: ml_collections.ConfigDict, workdir: str | Path | None = None, overwrite: bool = False,
        quiet: bool = False) -> StylizeResult:
  """Validates everything, then optimizes; writes the workdir only once all inputs are good."""
  staged = StagedRun(workdir, overwrite, "stylize") if workdir is not None else None  # refused before any work
  configuration.validate(config)
  content_full, styles_full, loaded = load_inputs(config)
  problem = problem_from_config(config, loaded)
  weights_tree = loss_weights(config, loaded.arch)
  run_dir = staged.open() if staged is not None else None
  try:
    result = _optimize(config, problem, loaded, weights_tree, content_full, styles_full, run_dir, quiet)
  except BaseException:
    if run_dir is not None:
      run_dir.abort()
    raise
  return result


def images_at_scale(config, content_full, styles_full, scale):
  """Content and style images at one scale, with histogram/luminance colour matching applied."""
  size = max(32, round(config.image_size * scale))
  content = images.resize(content_full, size)
  styles = [images.resize(s, max(32, round(config.style_scale * size))) for s in styles_full]
  if config.preserve_color == "histogram":
    styles = [color.match_histogram(s, content) for s in styles]
  elif config.preserve_color == "luminance":
    styles = [color.match_luminance(s, content) for s in styles]
  return content, styles


def targets(problem, vgg_params, content, styles, **inputs):
  """{term name: its targets} (computed once per scale) from the content and style images and any
  other `inputs` a term reads."""
  return objective.targets_of(problem.terms, problem.loss, vgg_params,
                              {"content": content, "styles": styles, **inputs})


def run_keys(seed: int):
  """(init key, loss key) of a run: the seed is the only source of randomness."""
  return jax.random.split(jax.random.key(seed))


def finish_image(config, image, content_full):
  if config.preserve_color == "luminance":
    return color.transfer_luminance(image, images.resize(content_full, image.shape[:2]))
  return image


def write_outputs(run_dir, config, image, content_full, styles_full, metrics, bad_step, steps, source):
  """config.json, final.png, summary.png and summary.json of a run (metrics.jsonl is appended live)."""
  run_dir.write_json("config.json", json.loads(config.to_json_best_effort()))
  images.save_png(image, run_dir.path("final.png"))
  summary_figure(images.resize(content_full, image.shape[:2]),
                 [images.resize(s, 256) for s in styles_full], image, metrics,
                 run_dir.path("summary.png"))
  status = "finished" if bad_step < 0 else f"stopped: non-finite loss at step {bad_step}"
  run_dir.write_json("summary.json", {"status": status, "steps": steps,
                                      "final_loss": metrics[-1] if metrics else None,
                                      "weights_source": source})


def _optimize(config, problem, loaded, weights_tree, content_full, styles_full, run_dir, quiet):
  init_key, loss_key = run_keys(config.seed)
  blend = style_term.config_blend(config)
  scales = tuple(config.multiscale.scales)
  steps_per_scale = [config.multiscale.coarse_steps] * (len(scales) - 1) + [config.optim.steps]
  progress = tqdm(total=sum(steps_per_scale), disable=quiet, desc="stylize", unit="step")
  metrics, image, done_steps, start = [], None, 0, time.perf_counter()
  bad_step = -1
  for level, (scale, steps) in enumerate(zip(scales, steps_per_scale)):
    content, styles = images_at_scale(config, content_full, styles_full, scale)
    if level == 0:
      image = initial_image(config, content, styles, blend, init_key)
    else:
      image = images.resize(image, content.shape[:2])
    term_targets = targets(problem, loaded.params, content, styles)
    state = init_state(problem, image, config.optim.learning_rate)
    lr = jnp.float32(config.optim.learning_rate)
    while int(state.step) < steps:
      state, values = run_chunk(problem, config.log_every, state, jnp.int32(steps), loaded.params,
                                term_targets, weights_tree, lr, loss_key)
      step_now = int(state.step)
      terms = evaluate(problem, state.param, loaded.params, term_targets, weights_tree, loss_key)
      record = {"scale": scale, "height": content.shape[0], "width": content.shape[1],
                "step": done_steps + step_now, "elapsed_s": round(time.perf_counter() - start, 3),
                **{k: float(v) for k, v in terms.items()}}
      metrics.append(record)
      if run_dir is not None:
        run_dir.append_jsonl("metrics.jsonl", record)
      progress.n = done_steps + step_now
      progress.set_postfix({k: f"{record[k]:.3g}" for k in ("total", *(t.name for t in problem.terms))})
      image = np.asarray(problem.to_image(state.param))
      if int(state.bad_step) >= 0:
        bad_step = done_steps + int(state.bad_step)
        break
      if run_dir is not None and config.snapshot_every and (
          (done_steps + step_now) // config.snapshot_every
          > (done_steps + step_now - config.log_every) // config.snapshot_every):
        images.save_png(image, run_dir.path(f"snapshots/step_{done_steps + step_now:06d}.png"))
    done_steps += int(state.step)
    if bad_step >= 0:
      break
  progress.close()
  image = finish_image(config, image, content_full)
  workdir_path = None
  if run_dir is not None:
    write_outputs(run_dir, config, image, content_full, styles_full, metrics, bad_step, done_steps,
                  loaded.source)
    workdir_path = run_dir.commit()
  if bad_step >= 0:
    where = f"; the last finite image (step {done_steps}) is in {workdir_path}/final.png" if workdir_path else ""
    raise NonFiniteLoss(f"the loss became NaN or Inf at step {bad_step}; stopped{where}. "
                        "Lower the learning rate or the loss weights")
  return StylizeResult(image=image, metrics=metrics, workdir=workdir_path)


def stylize(content, styles, config: str | ml_collections.ConfigDict = "quickstart",
            workdir=None, overwrite=False, quiet=True, **overrides) -> StylizeResult:
  """Python API: `stylize("astronaut", ["starry_night"], image_size=256, **{"optim.steps": 50})`."""
  cfg = configuration.load_config(config) if isinstance(config, str) else config
  as_text = lambda v: ",".join(map(str, v)) if isinstance(v, (tuple, list)) else str(v)
  cfg = configuration.apply_overrides(cfg, [f"{k}={as_text(v)}" for k, v in overrides.items()])
  cfg.content = content
  cfg.styles = tuple([styles] if isinstance(styles, str) else styles)
  return run(cfg, workdir, overwrite=overwrite, quiet=quiet)
