"""PyTorch twin of CycleGAN: the reference's networks (junyanz/pytorch-CycleGAN-and-pix2pix,
models/networks.py `ResnetGenerator`, `NLayerDiscriminator`), its image pool's rule and one training
step of models/cycle_gan_model.py (`optimize_parameters`), in NCHW.

Written from the reference's code, not from the JAX code: the module indices are the reference's
`nn.Sequential` ones, so `state_dict()` has its keys (model.1.weight, model.10.conv_block.5.weight,
...) and a reference checkpoint loads with `load_state_dict` as it is. Only the image pool's random
draws come in from outside (`pool_draws`), because torch's and JAX's generators differ.
"""

from __future__ import annotations

import torch
from torch import nn


def _norm(channels: int, affine: bool) -> nn.Module:
  return nn.InstanceNorm2d(channels, affine=affine, track_running_stats=False)


class ResnetBlock(nn.Module):
  def __init__(self, dim: int, affine: bool):
    super().__init__()
    self.conv_block = nn.Sequential(
        nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, padding=0, bias=True), _norm(dim, affine), nn.ReLU(True),
        nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, padding=0, bias=True), _norm(dim, affine))

  def forward(self, x):
    return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
  def __init__(self, ngf: int = 64, n_blocks: int = 9, affine: bool = False, upsample: str = "transpose"):
    super().__init__()
    model = [nn.ReflectionPad2d(3), nn.Conv2d(3, ngf, 7, padding=0, bias=True), _norm(ngf, affine), nn.ReLU(True)]
    for i in range(2):
      mult = 2 ** i
      model += [nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1, bias=True),
                _norm(ngf * mult * 2, affine), nn.ReLU(True)]
    model += [ResnetBlock(ngf * 4, affine) for _ in range(n_blocks)]
    for i in range(2):
      mult = 2 ** (2 - i)
      if upsample == "resize":  # not the reference's: the checkerboard-free variant (Odena et al. 2016)
        model += [nn.Upsample(scale_factor=2, mode="nearest"), nn.ReflectionPad2d(1),
                  nn.Conv2d(ngf * mult, ngf * mult // 2, 3, padding=0, bias=True)]
      else:
        model += [nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, stride=2, padding=1, output_padding=1, bias=True)]
      model += [_norm(ngf * mult // 2, affine), nn.ReLU(True)]
    model += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, 3, 7, padding=0), nn.Tanh()]
    self.model = nn.Sequential(*model)

  def forward(self, x):
    return self.model(x)


class NLayerDiscriminator(nn.Module):
  def __init__(self, ndf: int = 64, n_layers: int = 3, affine: bool = False):
    super().__init__()
    sequence = [nn.Conv2d(3, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
    mult = 1
    for n in range(1, n_layers):
      previous, mult = mult, min(2 ** n, 8)
      sequence += [nn.Conv2d(ndf * previous, ndf * mult, 4, stride=2, padding=1, bias=True),
                   _norm(ndf * mult, affine), nn.LeakyReLU(0.2, True)]
    previous, mult = mult, min(2 ** n_layers, 8)
    sequence += [nn.Conv2d(ndf * previous, ndf * mult, 4, stride=1, padding=1, bias=True),
                 _norm(ndf * mult, affine), nn.LeakyReLU(0.2, True)]
    sequence += [nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1)]
    self.model = nn.Sequential(*sequence)

  def forward(self, x):
    return self.model(x)


class ImagePool:
  """The reference's `util/image_pool.py` rule, its coin flips and slots given (`draws`: one
  (uniform, slot) pair per image)."""

  def __init__(self, size: int):
    self.size = size
    self.images: list[torch.Tensor] = []

  def query(self, images: torch.Tensor, draws) -> torch.Tensor:
    if self.size == 0:
      return images
    out = []
    for image, (p, slot) in zip(images, draws):
      image = image.detach()[None]
      if len(self.images) < self.size:
        self.images.append(image)
        out.append(image)
      elif p > 0.5:
        out.append(self.images[slot].clone())
        self.images[slot] = image
      else:
        out.append(image)
    return torch.cat(out, 0)


class CycleGAN:
  """Two generators, two discriminators, two Adams, two pools: `step` is `optimize_parameters`."""

  def __init__(self, g_a: ResnetGenerator, g_b: ResnetGenerator, d_a: NLayerDiscriminator,
               d_b: NLayerDiscriminator, lr: float = 2e-4, beta1: float = 0.5, lambda_a: float = 10.0,
               lambda_b: float = 10.0, lambda_identity: float = 0.5, pool_size: int = 50):
    self.g_a, self.g_b, self.d_a, self.d_b = g_a, g_b, d_a, d_b
    self.lambda_a, self.lambda_b, self.lambda_identity = lambda_a, lambda_b, lambda_identity
    self.opt_g = torch.optim.Adam([*g_a.parameters(), *g_b.parameters()], lr=lr, betas=(beta1, 0.999))
    self.opt_d = torch.optim.Adam([*d_a.parameters(), *d_b.parameters()], lr=lr, betas=(beta1, 0.999))
    self.fake_a_pool, self.fake_b_pool = ImagePool(pool_size), ImagePool(pool_size)

  @staticmethod
  def _gan(prediction, real: bool):  # LSGAN: MSE against a tensor of ones or zeros
    return nn.functional.mse_loss(prediction, torch.full_like(prediction, 1.0 if real else 0.0))

  def _set_requires_grad(self, nets, flag: bool):
    for net in nets:
      for p in net.parameters():
        p.requires_grad = flag

  def step(self, real_a, real_b, pool_draws_b, pool_draws_a) -> dict:
    """One step on NCHW batches in [-1, 1]; `pool_draws_b` for fake_B's pool, `pool_draws_a` for fake_A's."""
    l1 = nn.functional.l1_loss
    fake_b = self.g_a(real_a)
    rec_a = self.g_b(fake_b)
    fake_a = self.g_b(real_b)
    rec_b = self.g_a(fake_a)
    self._set_requires_grad([self.d_a, self.d_b], False)
    self.opt_g.zero_grad()
    terms = {}
    if self.lambda_identity > 0:
      terms["idt_A"] = l1(self.g_a(real_b), real_b) * self.lambda_b * self.lambda_identity
      terms["idt_B"] = l1(self.g_b(real_a), real_a) * self.lambda_a * self.lambda_identity
    terms["G_A"] = self._gan(self.d_a(fake_b), True)
    terms["G_B"] = self._gan(self.d_b(fake_a), True)
    terms["cycle_A"] = l1(rec_a, real_a) * self.lambda_a
    terms["cycle_B"] = l1(rec_b, real_b) * self.lambda_b
    loss_g = sum(terms.values())
    loss_g.backward()
    self.opt_g.step()
    self._set_requires_grad([self.d_a, self.d_b], True)
    self.opt_d.zero_grad()
    pooled_b = self.fake_b_pool.query(fake_b, pool_draws_b)
    loss_d_a = 0.5 * (self._gan(self.d_a(real_b), True) + self._gan(self.d_a(pooled_b.detach()), False))
    loss_d_a.backward()
    pooled_a = self.fake_a_pool.query(fake_a, pool_draws_a)
    loss_d_b = 0.5 * (self._gan(self.d_b(real_a), True) + self._gan(self.d_b(pooled_a.detach()), False))
    loss_d_b.backward()
    self.opt_d.step()
    terms = {k: float(v) for k, v in terms.items()}
    terms.update(G=float(loss_g), D_A=float(loss_d_a), D_B=float(loss_d_b))
    return terms
