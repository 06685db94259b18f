"""The temporal term of Ruder et al. 2016 ("Artistic style transfer for videos", Eq. 7-8): the image
against earlier stylized frames warped onto it, each weighted per pixel by its reliability mask,

  L_temporal = sum_k (1 / D) sum_x c_k(x) |image(x) - warped_k(x)|^2,   D = H * W * 3,

with k over the frames J back (`video.long_term`, e.g. (1,) short-term only, or (1, 2, 4)) and the
long-term masks c_k reduced closest first (stylejax.imaging.flow.long_term_masks). The runner
(stylejax.video.pixel) passes the warped frames and masks as inputs "previous_warped" (K, H, W, 3)
and "previous_masks" (K, H, W); the first frame has none, and then the term is 0 (zero masks: the
same compiled program serves every frame).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from stylejax.errors import StylejaxError
from stylejax.objectives.terms.base import Term, register


@register
@dataclasses.dataclass(frozen=True)
class Temporal(Term):
  name = "temporal"
  fields = {"video.temporal_weight": "its factor in the sum",
            "video.long_term": "the frames back compared, e.g. (1,) or (1, 2, 4)"}
  n_previous: int = 1

  @classmethod
  def _video(cls, config):
    if "video" not in config:
      raise StylejaxError("objective term 'temporal' reads the video.* fields: use a video config "
                          "(stylejax/configs/video_pixel.py) and `stylejax video`")
    return config.video

  @classmethod
  def from_config(cls, config, net) -> Temporal:
    return cls(n_previous=len(cls._video(config).long_term))

  @classmethod
  def weights(cls, config, arch: str) -> dict:
    return {"weight": jnp.float32(cls._video(config).temporal_weight)}

  def targets(self, net, params, inputs) -> dict:
    content = jnp.asarray(inputs["content"])
    k = self.n_previous
    warped = inputs.get("previous_warped")
    if warped is None:  # no earlier frame: nothing to agree with
      return {"warped": jnp.zeros((k, *content.shape), jnp.float32),
              "masks": jnp.zeros((k, *content.shape[:2]), jnp.float32)}
    masks = jnp.asarray(inputs["previous_masks"], jnp.float32)
    if warped.shape != (k, *content.shape) or masks.shape != (k, *content.shape[:2]):
      raise ValueError(f"temporal targets {warped.shape} / {masks.shape} for {k} frames of {content.shape}")
    return {"warped": jnp.asarray(warped, jnp.float32), "masks": masks}

  def value(self, image, features, targets, weights, key) -> jax.Array:
    squared = (image[None] - targets["warped"]) ** 2  # (K, H, W, 3)
    return jnp.sum(jnp.mean(targets["masks"][..., None] * squared, axis=(1, 2, 3)))
