"""VGG16/VGG19 in Flax with the activations named as the papers name them.

`features(params, images, layers, ...)` is the pure entry point: frozen parameters in, a dict of
named activations out. The network is built only up to the deepest layer asked for.
"""

from __future__ import annotations

import functools
from typing import Iterable, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp

from stylejax.errors import StylejaxError
from stylejax.networks import conv
from stylejax.networks.pooling import max_pool_2x2
from stylejax.networks.preprocessing import Preprocessing

CONVS_PER_BLOCK = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}
BLOCK_WIDTHS = (64, 128, 256, 512, 512)
POOLINGS = ("max", "avg")
PADDINGS = ("zero", "reflect")


def check_arch(arch: str) -> None:
  if arch not in CONVS_PER_BLOCK:
    raise StylejaxError(f"unknown VGG architecture {arch!r}; choose one of {sorted(CONVS_PER_BLOCK)}")


@functools.cache
def layer_names(arch: str) -> tuple[str, ...]:
  """All named activations in forward order: conv1_1, relu1_1, ..., pool1, conv2_1, ..."""
  check_arch(arch)
  names = []
  for block, n_convs in enumerate(CONVS_PER_BLOCK[arch], start=1):
    for i in range(1, n_convs + 1):
      names += [f"conv{block}_{i}", f"relu{block}_{i}"]
    names.append(f"pool{block}")
  return tuple(names)


@functools.cache
def conv_names(arch: str) -> tuple[str, ...]:
  return tuple(n for n in layer_names(arch) if n.startswith("conv"))


def conv_shapes(arch: str) -> dict[str, tuple[tuple[int, ...], tuple[int, ...]]]:
  """{conv name: (kernel HWIO shape, bias shape)} for the feature extractor."""
  shapes, in_ch = {}, 3
  for name in conv_names(arch):
    out_ch = BLOCK_WIDTHS[int(name[4]) - 1]
    shapes[name] = ((3, 3, in_ch, out_ch), (out_ch,))
    in_ch = out_ch
  return shapes


def check_layers(arch: str, layers: Iterable[str]) -> tuple[str, ...]:
  known = layer_names(arch)
  layers = tuple(layers)
  unknown = [n for n in layers if n not in known]
  if unknown:
    raise StylejaxError(f"unknown {arch} layer(s) {unknown}; names look like conv4_2, relu1_1, pool3")
  if not layers:
    raise StylejaxError("no VGG layers were asked for")
  return layers


def deepest(arch: str, layers: Iterable[str]) -> str:
  order = layer_names(arch)
  return max(check_layers(arch, layers), key=order.index)


class VGG(nn.Module):
  """The convolutional part of VGG, NHWC, stopping after `last_layer`.

  Returns every named activation up to `last_layer`; under `jit`, unused ones cost nothing.
  """

  arch: str = "vgg19"
  pooling: str = "max"
  padding: str = "zero"
  last_layer: str = "pool5"
  first_layer: str = "conv1_1"  # a later one runs the network from there (`features`' remat path)

  @nn.compact
  def __call__(self, x) -> dict[str, jax.Array]:
    out = {}
    names = layer_names(self.arch)
    for name in names[names.index(self.first_layer):]:
      if name.startswith("conv"):
        if self.padding == "reflect":
          x = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
        x = conv.Conv(conv_shapes(self.arch)[name][1][0], 3,
                      padding="VALID" if self.padding == "reflect" else ((1, 1), (1, 1)), name=name)(x)
      elif name.startswith("relu"):
        x = nn.relu(x)
      else:
        x = (max_pool_2x2(x) if self.pooling == "max"
             else nn.avg_pool(x, (2, 2), strides=(2, 2)))
      out[name] = x
      if name == self.last_layer:
        break
    return out


def features(params: Mapping, images: jax.Array, layers: Iterable[str], *, arch: str = "vgg19",
             preprocessing: Preprocessing, pooling: str = "max", padding: str = "zero",
             compute_dtype=None, remat: bool = False) -> dict[str, jax.Array]:
  """Named VGG activations of RGB [0, 1] `images`, (N, H, W, 3) or (H, W, 3).

  `params` maps conv names to {"kernel": HWIO, "bias": (C,)}; `preprocessing` is the weight
  source's input contract. `compute_dtype` (e.g. bfloat16) runs the convolutions in that dtype
  after the preprocessing, which stays float32. `remat` wraps each block (conv{b}_1 .. pool{b}) in
  `jax.checkpoint`: a gradient then keeps only the blocks' inputs and the activations asked for,
  and recomputes the rest of a block during its backward pass (same values; less memory, one more
  forward pass). Pure: works under jit, vmap and grad.
  """
  if pooling not in POOLINGS:
    raise StylejaxError(f"unknown pooling {pooling!r}; choose one of {POOLINGS}")
  if padding not in PADDINGS:
    raise StylejaxError(f"unknown padding {padding!r}; choose one of {PADDINGS}")
  layers = check_layers(arch, layers)
  single = images.ndim == 3
  x = preprocessing(images[None] if single else images)
  if compute_dtype is not None:
    x = x.astype(compute_dtype)
    params = jax.tree.map(lambda p: p.astype(compute_dtype), params)
  last = deepest(arch, layers)
  if remat:
    acts = _rematerialised(params, x, arch, pooling, padding, last)
  else:
    acts = VGG(arch=arch, pooling=pooling, padding=padding, last_layer=last).apply({"params": params}, x)
  return {n: acts[n][0] if single else acts[n] for n in layers}


def _rematerialised(params, x, arch, pooling, padding, last_layer) -> dict[str, jax.Array]:
  """Every named activation up to `last_layer`, each block run as its own checkpointed `VGG`."""
  names = layer_names(arch)
  names = names[:names.index(last_layer) + 1]
  acts = {}
  for block in sorted({n[4] for n in names}):  # conv3_1, relu3_1, pool3: the block's digit
    in_block = [n for n in names if n[4] == block]
    model = VGG(arch=arch, pooling=pooling, padding=padding, first_layer=in_block[0], last_layer=in_block[-1])
    block_params = {n: params[n] for n in in_block if n.startswith("conv")}
    acts.update(jax.checkpoint(lambda p, x, model=model: model.apply({"params": p}, x))(block_params, x))
    x = acts[in_block[-1]]
  return acts


def init_params(key: jax.Array, arch: str = "vgg19") -> dict:
  """Random He-initialised parameters, for tests and benchmarks that need no real weights."""
  params = {}
  for name, (kshape, bshape) in conv_shapes(arch).items():
    key, k1, k2 = jax.random.split(key, 3)
    fan_in = kshape[0] * kshape[1] * kshape[2]
    params[name] = {"kernel": jax.random.normal(k1, kshape) * jnp.sqrt(2.0 / fan_in),
                    "bias": 0.01 * jax.random.normal(k2, bshape)}
  return params
