"""Ruder et al.'s pixel optimization of a clip (stylejax.configs.video_pixel), one frame at a time.

Frame t is optimized like a still (stylejax.pixel.optimize; one scale: the video's frame size) with
the objective's `temporal` term (stylejax.objectives.terms.temporal) against the earlier outputs
t - j, j in `video.long_term`, warped onto frame t by the flow F_{t->t-j}, each under its
reliability mask, reduced closest first. Later frames start from the previous output warped
(`video.init`), the first from `optim.init`. Frame 0, and frames with fewer earlier ones than J
reaches, get zero masks: one compiled program serves the whole clip.

The per-frame baseline is the same optimization without the temporal term and from the photo, at
the first frame's step count on every frame.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from stylejax import configuration
from stylejax.errors import NonFiniteLoss, StylejaxError
from stylejax.imaging import flow as flowlib
from stylejax.imaging import images
from stylejax.imaging import warp as warping
from stylejax.objectives import loss_network
from stylejax.objectives.terms import style as style_term
from stylejax.pixel import stylize
from stylejax.pixel.optimize import init_state, run_chunk
from stylejax.video.flows import ClipFlow

INITS = ("warped", "content")


def validate(config: ml_collections.ConfigDict) -> None:
  """The pixel checks, then the video block's."""
  configuration.validate(config)
  video = config.video
  offsets = tuple(video.long_term)
  if not offsets or any(not isinstance(j, int) or j <= 0 for j in offsets) or list(offsets) != sorted(set(offsets)):
    raise StylejaxError(f"video.long_term must be increasing positive frame offsets like (1, 2, 4), got {offsets}")
  if not (np.isfinite(video.temporal_weight) and video.temporal_weight >= 0):
    raise StylejaxError(f"video.temporal_weight must be >= 0, got {video.temporal_weight}")
  configuration.positive_int(video.first_frame_steps, "video.first_frame_steps")
  configuration.choice(video.init, INITS, "video.init")
  if config.image_size % 2:
    raise StylejaxError(f"image_size must be even for a video (H.264 frames), got {config.image_size}")
  if tuple(config.multiscale.scales) != (1.0,):
    raise StylejaxError("video runs optimize at the frame size only: multiscale.scales must be (1.0,)")


def _zero_temporal(config) -> ml_collections.ConfigDict:
  """The per-frame baseline's config: the same one, temporal weight 0 (the same compiled program)."""
  baseline = ml_collections.ConfigDict(config.to_dict())
  baseline.video.temporal_weight = 0.0
  return baseline


@dataclasses.dataclass
class PixelFrames:
  """Produces frame t's output given the earlier outputs; `history` of them are needed."""
  config: ml_collections.ConfigDict
  compare: bool = False  # also run the per-frame baseline (the comparison video's middle panel)

  def __post_init__(self):
    validate(self.config)
    if "temporal" not in self.config.objective.terms:
      raise StylejaxError("a video config's objective.terms must list temporal (its weight may be 0)")
    self.loaded = loss_network.load_weights(self.config.loss)
    self.problem = stylize.problem_from_config(self.config, self.loaded)
    self.weights = stylize.loss_weights(self.config, self.loaded.arch)
    self.baseline_weights = stylize.loss_weights(_zero_temporal(self.config), self.loaded.arch)
    self.styles = [images.load_image(s, self.config.max_pixels) for s in self.config.styles]
    self.offsets = tuple(self.config.video.long_term)
    self.history = max(self.offsets)
    self.init_key, self.loss_key = stylize.run_keys(self.config.seed)
    self._style_targets = None

  def _targets(self, frame, warped, masks):
    if max(frame.shape[:2]) != self.config.image_size:
      raise ValueError(f"frames of {frame.shape} for image_size {self.config.image_size}")
    _, styles_sized = stylize.images_at_scale(self.config, frame, self.styles, 1.0)
    inputs = {"content": frame, "styles": styles_sized, "previous_warped": warped, "previous_masks": masks}
    targets = {}
    for term in self.problem.terms:
      if term.name == "style" and self.config.preserve_color == "none":
        if self._style_targets is None:  # the paintings do not change from frame to frame
          self._style_targets = term.targets(self.problem.loss, self.loaded.params, inputs)
        targets[term.name] = self._style_targets
      else:
        targets[term.name] = term.targets(self.problem.loss, self.loaded.params, inputs)
    return targets

  def optimize(self, t: int, frame, init, warped, masks, steps: int, weights) -> np.ndarray:
    targets = self._targets(frame, warped, masks)
    state = init_state(self.problem, init, self.config.optim.learning_rate)
    lr = jnp.float32(self.config.optim.learning_rate)
    while int(state.step) < steps:
      state, _ = run_chunk(self.problem, self.config.log_every, state, jnp.int32(steps), self.loaded.params,
                           targets, weights, lr, self.loss_key)
      if int(state.bad_step) >= 0:
        raise NonFiniteLoss(f"frame {t + 1}: the loss became NaN or Inf at step {int(state.bad_step)}; "
                            "lower the loss weights or the learning rate")
    image = np.asarray(self.problem.to_image(state.param))
    return stylize.finish_image(self.config, image, frame)

  def _initial(self, t: int, frame) -> np.ndarray:
    blend = style_term.config_blend(self.config)
    return np.asarray(stylize.initial_image(self.config, frame, self.styles, blend,
                                            jax.random.fold_in(self.init_key, t)), np.float32)

  def __call__(self, t: int, frame: np.ndarray, previous: dict[int, np.ndarray], flows: ClipFlow):
    k, shape = len(self.offsets), frame.shape
    warped = np.zeros((k, *shape), np.float32)
    masks = []
    for i, j in enumerate(self.offsets):
      if t - j >= 0:
        warped[i] = warping.warp_np(previous[t - j], flows.flow(t, t - j))
        masks.append(flows.reliability(t, t - j))
      else:
        masks.append(np.zeros(shape[:2], np.float32))
    masks = np.stack(flowlib.long_term_masks(masks))
    first = t == 0
    steps = self.config.video.first_frame_steps if first else self.config.optim.steps
    init = self._initial(t, frame) if first or self.config.video.init == "content" else warped[0]
    out = self.optimize(t, frame, init, warped, masks, steps, self.weights)
    raw = None
    if self.compare:
      zeros = np.zeros_like(masks)
      raw = self.optimize(t, frame, self._initial(t, frame), warped, zeros, self.config.video.first_frame_steps,
                          self.baseline_weights)
    return out, raw

