"""PyTorch twin of one temporal fine-tune step (cin_newstyle with network.trainable=all and
temporal.weight > 0; stylejax.objectives.temporal_pairs), in NCHW.

The conditional-instance-norm network of `torch_twin.TorchStyleNet` with every parameter trainable,
the VGG perceptual loss of `torch_twin.PerceptualLoss`, plus the output-level warped loss of Huang
et al. 2017 / ReCoNet (Gao et al. 2018) on a synthetic second frame:

  temporal = mean over examples of sum_x c(x) |O_2(x) - warp(O_1, F_{2->1})(x)|^2 / (3 max(sum_x c(x), 1)),

warp sampling bilinearly at x + F(x) with coordinates clamped to the image (border replication),
c(x) = 1 where x + F(x) lies inside the image. Frame 2 is frame 1 seen by a camera moved by a random
shift, rotation and zoom about the image centre, plus clipped Gaussian noise. Then backward and
`torch.optim.Adam` (optax.adam's defaults) on all parameters.

Written from the papers and the config block's documented meaning (shift in px per axis, rotation
in degrees, zoom as a relative scale, noise std), not from the JAX code. For a parity check,
`TemporalObjective.terms` takes given (frames 2, flows, masks), e.g. the JAX side's own pairs;
without them it draws its own with a torch generator (same shapes and work, different numbers).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from stylejax.reference.torch_twin import PerceptualLoss, TorchStyleNet, select_styles, style_ids_tensor, to_nchw


def _grid(h: int, w: int, dtype) -> tuple[torch.Tensor, torch.Tensor]:
  return torch.meshgrid(torch.arange(h, dtype=dtype), torch.arange(w, dtype=dtype), indexing="ij")


def warp(images: torch.Tensor, flows: torch.Tensor) -> torch.Tensor:
  """(N, C, H, W) images sampled at x + flow(x), bilinearly, border pixels replicated.

  flows: (N, H, W, 2), [..., 0] horizontal (column) and [..., 1] vertical (row) displacement in px.
  `grid_sample` with align_corners=True puts -1 and +1 at the centres of the first and last pixels,
  so pixel coordinate x maps to 2x / (W - 1) - 1; padding_mode="border" clamps the coordinates.
  (The float32 round trip through normalised coordinates moves samples by ~1e-7 * W px: at 256 px
  a white-noise image differs from exact-coordinate sampling by up to ~3e-5.)
  """
  _, _, h, w = images.shape
  rows, cols = _grid(h, w, flows.dtype)
  x = (cols + flows[..., 0]) * (2.0 / max(w - 1, 1)) - 1.0
  y = (rows + flows[..., 1]) * (2.0 / max(h - 1, 1)) - 1.0
  return F.grid_sample(images, torch.stack([x, y], dim=-1), mode="bilinear", padding_mode="border",
                       align_corners=True)


def in_frame(flows: torch.Tensor) -> torch.Tensor:
  """(N, H, W) masks in the flows' dtype: 1 where x + flow(x) lies inside the image."""
  h, w = flows.shape[1:3]
  rows, cols = _grid(h, w, flows.dtype)
  x, y = cols + flows[..., 0], rows + flows[..., 1]
  return ((x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)).to(flows.dtype)


def camera_flows(h: int, w: int, shifts: torch.Tensor, angles_deg: torch.Tensor, zooms: torch.Tensor) -> torch.Tensor:
  """(N, H, W, 2) flows F_{2->1} of N camera motions: pixel x of frame 2 shows frame 1 at
  p = c + zoom R(angle) (x - c) + shift, c the image centre; shifts (N, 2) as (x, y) px."""
  rows, cols = _grid(h, w, shifts.dtype)
  x, y = cols - (w - 1) / 2, rows - (h - 1) / 2
  angle = torch.deg2rad(angles_deg)[:, None, None]
  zoom, cos, sin = zooms[:, None, None], torch.cos(angle), torch.sin(angle)
  source_x = zoom * (cos * x - sin * y) + (w - 1) / 2 + shifts[:, 0, None, None]
  source_y = zoom * (sin * x + cos * y) + (h - 1) / 2 + shifts[:, 1, None, None]
  return torch.stack([source_x - cols, source_y - rows], dim=-1)


def camera_pairs(frames: torch.Tensor, settings, generator: torch.Generator | None = None):
  """(frames 2, flows, masks) for (N, 3, H, W) frames 1 in [0, 1]: a random motion per example,
  shift U(-max_shift, max_shift) px per axis, rotation U(-max_rotation, max_rotation) degrees, zoom
  U(1 - max_zoom, 1 + max_zoom), then Gaussian noise of std `noise`, clipped to [0, 1]."""
  n, _, h, w = frames.shape
  uniform = lambda shape, half: (2 * torch.rand(shape, generator=generator, dtype=frames.dtype) - 1) * half
  flows = camera_flows(h, w, uniform((n, 2), settings.max_shift), uniform((n,), settings.max_rotation),
                       1 + uniform((n,), settings.max_zoom))
  with torch.no_grad():
    moved = warp(frames, flows)
    if settings.noise:
      moved = (moved + settings.noise * torch.randn(moved.shape, generator=generator, dtype=moved.dtype)).clamp(0, 1)
  return moved, flows, in_frame(flows)


def warped_loss(outputs_1: torch.Tensor, outputs_2: torch.Tensor, flows: torch.Tensor, masks: torch.Tensor):
  """Mean over the examples of the masked mean of |O_2 - warp(O_1, F)|^2 over pixels and channels."""
  squared = masks[:, None] * (outputs_2 - warp(outputs_1, flows)) ** 2
  per_example = squared.sum(dim=(1, 2, 3)) / (outputs_1.shape[1] * masks.sum(dim=(1, 2)).clamp(min=1.0))
  return per_example.mean()


def pairs_to_torch(frames_2, flows, masks, dtype: torch.dtype = torch.float32):
  """(N, H, W, 3) frames, (N, H, W, 2) flows and (N, H, W) masks (numpy or JAX) as the twin's tensors."""
  as_tensor = lambda a: torch.from_numpy(np.array(np.asarray(a), order="C")).to(dtype)
  return to_nchw(frames_2, dtype), as_tensor(flows), as_tensor(masks)


class TemporalObjective:
  """The perceptual loss of one style per example plus `settings.weight` times the temporal term.

  `style_targets` are batched along the styles from `first_target_style` on (`PerceptualLoss.style_targets`
  of those styles' images); `settings` has weight, max_shift, max_rotation, max_zoom and noise.
  """

  def __init__(self, loss: PerceptualLoss, style_targets, settings, first_target_style: int = 0):
    self.loss, self.style_targets, self.settings = loss, style_targets, settings
    self.first_target_style = first_target_style

  def terms(self, net: TorchStyleNet, content: torch.Tensor, style_ids, pairs=None,
            generator: torch.Generator | None = None) -> dict:
    """{"content", "style", "tv", "temporal", "total"} of NCHW `content` with example i in style
    style_ids[i]; `pairs` = (frames 2, flows, masks) as tensors, or None to draw them."""
    ids = style_ids_tensor(style_ids)
    weights = F.one_hot(ids, net.n_styles).to(content.dtype)
    outputs = net.stylize(content, weights)
    terms = self.loss.terms(outputs, self.loss.content_targets(content),
                            select_styles(self.style_targets, ids - self.first_target_style))
    frames_2, flows, masks = pairs if pairs is not None else camera_pairs(content, self.settings, generator)
    temporal = warped_loss(outputs, net.stylize(frames_2, weights), flows, masks)
    return {**terms, "temporal": temporal, "total": terms["total"] + self.settings.weight * temporal}


class TemporalFineTuneStep:
  """One fine-tune step of every parameter of `net` on a fixed NCHW content batch: a random style
  of [first_style, net.n_styles) per example (the new styles of cin_newstyle), fresh pairs."""

  def __init__(self, net: TorchStyleNet, objective: TemporalObjective, content: torch.Tensor,
               learning_rate: float, first_style: int = 0):
    self.net, self.objective, self.content, self.first_style = net, objective, content, first_style
    self.params = list(net.parameters())
    if not all(p.requires_grad for p in self.params):
      raise ValueError("the temporal fine-tune trains every parameter of the network")
    self.opt = torch.optim.Adam(self.params, lr=learning_rate)  # optax.adam's defaults
    self.generator = torch.Generator().manual_seed(0)

  def terms(self, style_ids, pairs=None) -> dict:
    return self.objective.terms(self.net, self.content, style_ids, pairs, self.generator)

  def step(self, style_ids=None, pairs=None) -> dict:
    if style_ids is None:
      style_ids = self.first_style + torch.randint(self.net.n_styles - self.first_style, (self.content.shape[0],),
                                                   generator=self.generator)
    self.opt.zero_grad(set_to_none=True)
    terms = self.terms(style_ids, pairs)
    terms["total"].backward()
    self.opt.step()
    return {k: float(v.detach()) for k, v in terms.items()}
