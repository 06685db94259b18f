"""PyTorch twin of training new styles' (gamma, beta) alone (stylejax.methods.cin_newstyle), in NCHW.

The conditional-instance-norm network of `torch_twin.TorchStyleNet` with every convolution and the
base's first `n_base` rows frozen (buffers, no gradient): the new styles' rows are its only
parameters. One step: a new style per example, the network's outputs through `PerceptualLoss`
against that style's target, backward, `torch.optim.Adam` (optax.adam's defaults) on the new rows.
Written from Dumoulin et al. 2017 (Sec. 4.3), not from the JAX code.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from stylejax.reference.torch_twin import PerceptualLoss, TorchStyleNet, select_styles, style_ids_tensor


class TorchNewStyleNet(TorchStyleNet):
  """`TorchStyleNet` whose convolutions and first `n_base` style rows are frozen."""

  def __init__(self, spec, params, n_base: int):
    super().__init__(spec, params)
    self.n_base = n_base
    for conv in self.convs:
      conv.requires_grad_(False)
    gammas, betas = list(self.gammas), list(self.betas)
    for k, (gamma, beta) in enumerate(zip(gammas, betas)):
      self.register_buffer(f"base_gamma_{k}", gamma.detach()[:n_base].clone())
      self.register_buffer(f"base_beta_{k}", beta.detach()[:n_base].clone())
    self.gammas = torch.nn.ParameterList([torch.nn.Parameter(g.detach()[n_base:].clone()) for g in gammas])
    self.betas = torch.nn.ParameterList([torch.nn.Parameter(b.detach()[n_base:].clone()) for b in betas])

  def norm_rows(self, k):
    return (torch.cat([getattr(self, f"base_gamma_{k}"), self.gammas[k]]),
            torch.cat([getattr(self, f"base_beta_{k}"), self.betas[k]]))

  def new_rows(self, tensors=None) -> dict:
    """The new rows (or `tensors(param)`, e.g. their gradients) in `stylenet.style_rows`'s layout."""
    get = tensors or (lambda p: p)
    return {f"ConditionalInstanceNorm_{k}": {"gamma": get(g).detach().numpy(), "beta": get(b).detach().numpy()}
            for k, (g, b) in enumerate(zip(self.gammas, self.betas))}


class NewStyleStep:
  """One training step of the new rows on a fixed content batch (NCHW)."""

  def __init__(self, net: TorchNewStyleNet, loss: PerceptualLoss, new_style_images: torch.Tensor,
               content: torch.Tensor, learning_rate: float):
    self.net, self.loss, self.content = net, loss, content
    self.targets = loss.style_targets(new_style_images)  # batched along the new styles
    self.opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=learning_rate)
    self.generator = torch.Generator().manual_seed(0)

  def terms(self, new_ids) -> dict:
    """Loss terms with example i in new style new_ids[i] (0 = the first new style)."""
    ids = style_ids_tensor(new_ids)
    weights = F.one_hot(ids + self.net.n_base, self.net.n_styles).to(self.content.dtype)
    outputs = self.net.stylize(self.content, weights)
    return self.loss.terms(outputs, self.loss.content_targets(self.content), select_styles(self.targets, ids))

  def step(self, new_ids=None) -> dict:
    if new_ids is None:
      n_new = self.net.n_styles - self.net.n_base
      new_ids = torch.randint(n_new, (self.content.shape[0],), generator=self.generator)
    self.opt.zero_grad(set_to_none=True)
    terms = self.terms(new_ids)
    terms["total"].backward()
    self.opt.step()
    return {k: float(v.detach()) for k, v in terms.items()}


def flat_rows(rows: dict) -> np.ndarray:
  """A `style_rows` tree as one vector, in sorted layer order (as jax.tree.leaves orders dicts)."""
  return np.concatenate([np.ravel(np.asarray(rows[layer][name])) for layer in sorted(rows)
                         for name in sorted(rows[layer])])
