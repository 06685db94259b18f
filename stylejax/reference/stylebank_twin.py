"""The PyTorch twin of StyleBank (Chen et al. 2017) and of its two training steps, in NCHW.

Written from the paper and the most used reimplementation (jxcodetw/Stylebank networks.py: a loop over
the batch sending each example through its style's bank; one Adam step per branch), not from the JAX
code: from stylejax it takes the parameter layout only (`stylejax.networks.stylebank`'s tree, HWIO
kernels, banks stacked on a leading style axis) and the same network description: reflect-padded
convs, instance norm without affine, nearest x2 + conv in the decoder, sigmoid output.

The step twins hold three torch.optim.Adam, as stylejax keeps three states: the banks' and the
encoder/decoder's for the stylising branch, and the encoder/decoder's for the auto-encoder branch.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import torch
import torch.nn.functional as F

from stylejax.reference.torch_twin import Mismatch, PerceptualLoss, hwio_to_oihw, select_styles, style_ids_tensor

EPSILON = 1e-5


def _param(kernel_hwio) -> torch.nn.Parameter:
  return torch.nn.Parameter(hwio_to_oihw(kernel_hwio))


def _conv(x, weight, stride=1, bias=None):
  pad = weight.shape[-1] // 2
  return F.conv2d(F.pad(x, (pad, pad, pad, pad), mode="reflect"), weight, bias, stride=stride)


def _conv_norm_relu(x, weight, stride=1):
  return F.relu(F.instance_norm(_conv(x, weight, stride), eps=EPSILON))


class TorchStyleBank(torch.nn.Module):
  """Encoder, per-style banks and decoder holding a stylejax StyleBank parameter tree (float32)."""

  def __init__(self, params: Mapping):
    super().__init__()
    enc, dec, banks = params["encoder"], params["decoder"], params["banks"]
    if sorted(enc) != ["conv0", "conv1", "conv2"] or sorted(dec) != ["conv0", "conv1", "conv2"]:
      raise Mismatch(f"the twin implements 3 encoder and 3 decoder convs, got {sorted(enc)} / {sorted(dec)}")
    self.encoder = torch.nn.ParameterList([_param(enc[f"conv{i}"]["kernel"]) for i in range(3)])
    self.decoder = torch.nn.ParameterList([_param(dec[f"conv{i}"]["kernel"]) for i in range(3)])
    self.decoder_bias = torch.nn.Parameter(torch.from_numpy(np.array(dec["conv2"]["bias"], np.float32)))
    # Bank layer i of every style: (n_styles, O, I, k, k).
    self.banks = torch.nn.ParameterList([
        torch.nn.Parameter(torch.from_numpy(np.array(np.asarray(banks[f"conv{i}"]["kernel"], np.float32)
                                                     .transpose(0, 4, 3, 1, 2), order="C")))
        for i in range(len(banks))])
    self.n_styles = int(self.banks[0].shape[0])

  def encode(self, x):
    x = _conv_norm_relu(x, self.encoder[0])
    x = _conv_norm_relu(x, self.encoder[1], stride=2)
    return _conv_norm_relu(x, self.encoder[2], stride=2)

  def bank(self, z, style: int):
    for layer in self.banks:
      z = _conv_norm_relu(z, layer[style])
    return z

  def decode(self, z):
    for i in range(2):
      z = _conv_norm_relu(F.interpolate(z, scale_factor=2, mode="nearest"), self.decoder[i])
    return torch.sigmoid(_conv(z, self.decoder[2], bias=self.decoder_bias))

  def forward(self, x, style_ids=None):
    """x (N, 3, H, W), H and W multiples of 4. With style_ids: example i through bank style_ids[i]
    (the reference's loop); without: the auto-encoder branch."""
    z = self.encode(x)
    if style_ids is not None:
      z = torch.cat([self.bank(z[i:i + 1], int(s)) for i, s in enumerate(style_ids)])
    return self.decode(z)

  def fused(self, x, weights):
    """Linear fusion: sum_k w_k bank_k(z) + (1 - sum_k w_k) z, weights (N, n_styles)."""
    z = self.encode(x)
    out = (1 - weights.sum(dim=1))[:, None, None, None] * z
    for k in range(self.n_styles):
      out = out + weights[:, k, None, None, None] * self.bank(z, k)
    return self.decode(out)

  def flax_tree(self, tensors=None) -> dict:
    """The twin's parameters (or `tensors(param)`, e.g. gradients) in stylejax's layout, numpy."""
    get = tensors or (lambda p: p)
    hwio = lambda p: get(p).detach().numpy().transpose(2, 3, 1, 0)
    decoder = {f"conv{i}": {"kernel": hwio(p)} for i, p in enumerate(self.decoder)}
    decoder["conv2"]["bias"] = get(self.decoder_bias).detach().numpy()
    return {"encoder": {f"conv{i}": {"kernel": hwio(p)} for i, p in enumerate(self.encoder)},
            "decoder": decoder,
            "banks": {f"conv{i}": {"kernel": get(p).detach().numpy().transpose(0, 3, 4, 2, 1)}
                      for i, p in enumerate(self.banks)}}


class TorchStyleBankTrainer:
  """The twin network and its two Adams; `stylising_step(ids)` and `autoencoder_step()` are one
  training step of each branch on `content` (NCHW); `loss` is the twin perceptual loss and
  `style_targets` its targets, batched along the trained styles (index style_id - n_base)."""

  def __init__(self, params: Mapping, loss: PerceptualLoss, style_targets: Mapping, content: torch.Tensor,
               learning_rate: float, n_base: int = 0):
    self.net = TorchStyleBank(params)
    self.loss, self.style_targets, self.content, self.n_base = loss, style_targets, content, n_base
    autoencoder = list(self.net.encoder) + list(self.net.decoder) + [self.net.decoder_bias]
    self.bank_opt = torch.optim.Adam(self.net.banks.parameters(), lr=learning_rate)  # optax's defaults
    self.ae_opt = torch.optim.Adam(autoencoder, lr=learning_rate) if not n_base else None  # stylising branch
    self.reconstruction_opt = torch.optim.Adam(autoencoder, lr=learning_rate) if not n_base else None
    if n_base:  # a new-bank run: the base's banks, encoder and decoder never change
      for p in autoencoder:
        p.requires_grad_(False)

  def stylising_step(self, style_ids) -> dict:
    ids = style_ids_tensor(style_ids)
    for opt in (self.bank_opt, self.ae_opt):
      if opt is not None:
        opt.zero_grad(set_to_none=True)
    outputs = self.net(self.content, ids)
    terms = self.loss.terms(outputs, self.loss.content_targets(self.content),
                            select_styles(self.style_targets, ids - self.n_base))
    terms["total"].backward()
    if self.n_base:  # only the new banks learn: the base's rows of each stacked kernel keep their values
      for layer in self.net.banks:
        layer.grad[:self.n_base] = 0
      old = [layer.detach()[:self.n_base].clone() for layer in self.net.banks]
    self.bank_opt.step()
    if self.ae_opt is not None:
      self.ae_opt.step()
    if self.n_base:
      with torch.no_grad():
        for layer, rows in zip(self.net.banks, old):
          layer[:self.n_base] = rows
    return {k: float(v.detach()) for k, v in terms.items()}

  def autoencoder_step(self) -> float:
    if self.reconstruction_opt is None:
      raise Mismatch("a new-bank run has no auto-encoder step")
    self.reconstruction_opt.zero_grad(set_to_none=True)
    loss = torch.mean((self.net(self.content) - self.content) ** 2)
    loss.backward()
    self.reconstruction_opt.step()
    return float(loss.detach())
