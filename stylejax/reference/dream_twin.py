"""The PyTorch twin of a DeepDream step (google/deepdream's `make_step`), on `torch_twin.TorchVGG`.

Written from the notebook, not from stylejax's code: the objective of a layer (objective_L2's
0.5 a^2, the TF tutorial's mean, objective_guide's best-matching guide features), and one step:
roll, forward, backward, step_size / mean|g| (or / std g), roll back, clip. The shift is an
argument, so a test can give both sides the same one. Tests compare values and gradients with it;
benchmarks/bench_dream.py times it beside the jitted JAX step.
"""

from __future__ import annotations

from typing import Mapping

import torch

from stylejax.reference.torch_twin import TorchVGG


def layer_objective(acts: torch.Tensor, mask: torch.Tensor, reduction: str,
                    guide: torch.Tensor | None = None) -> torch.Tensor:
  """One layer's objective; `acts` (1, C, h, w), `mask` (C,), `guide` (n, C)."""
  c, h, w = acts.shape[1:]
  if reduction == "guided":
    x = acts[0].reshape(c, -1).T * mask  # (hw, C)
    y = guide * mask
    best = torch.argmax(x @ y.T, dim=1)
    return torch.sum(x * y[best].detach()) / (h * w)
  m = mask.view(1, c, 1, 1)
  chosen = h * w * torch.clamp(mask.sum(), min=1.0)
  if reduction == "l2":
    return 0.5 * torch.sum(m * acts * acts) / chosen
  return torch.sum(m * acts) / chosen


def dream_objective(net: TorchVGG, image: torch.Tensor, layers: Mapping[str, float], masks: Mapping[str, torch.Tensor],
                    reduction: str = "l2", guides: Mapping[str, torch.Tensor] | None = None) -> torch.Tensor:
  """sum_l w_l * objective_l of an NCHW image (1, 3, H, W) in [0, 1] (maximised by the dream)."""
  feats = net.features(image, list(layers))
  total = 0.0
  for layer, weight in layers.items():
    total = total + weight * layer_objective(feats[layer], masks[layer], reduction,
                                             None if guides is None else guides[layer])
  return total


def dream_step(net: TorchVGG, image: torch.Tensor, shift: tuple[int, int], step_size: float, layers, masks,
               reduction: str = "l2", normalize: str = "mean_abs", clip: bool = True) -> tuple[torch.Tensor, float]:
  """One `make_step` of a (1, 3, H, W) image: returns (the new image, the objective before the step)."""
  rolled = torch.roll(image, shifts=shift, dims=(2, 3)).detach().requires_grad_(True)
  value = dream_objective(net, rolled, layers, masks, reduction)
  (grad,) = torch.autograd.grad(value, rolled)
  grad = torch.roll(grad, shifts=(-shift[0], -shift[1]), dims=(2, 3))
  scale = grad.std(correction=0) if normalize == "std" else grad.abs().mean()
  out = image + step_size * grad / (scale + 1e-8)  # ascent on the response
  return (out.clamp(0.0, 1.0) if clip else out).detach(), float(value.detach())
