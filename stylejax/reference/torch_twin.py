"""PyTorch twins of VGG, the style-transfer losses and the multi-style network, in NCHW.

Written from the papers and the weight sources' documented layouts, not from the JAX code: from
stylejax they take names and layer tables only (`vgg.layer_names`, `vgg.deepest`), never its math.
Parameters come in stylejax's layouts (HWIO kernels, Flax parameter trees) or as a torchvision
state dict (OIHW); images go in as NCHW tensors, RGB in [0, 1] unless said otherwise.
"""

from __future__ import annotations

from typing import Mapping, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from stylejax.networks import vgg


class Mismatch(AssertionError):
  """A twin and stylejax disagree, or stylejax has a structure the twin does not implement."""


# ----------------------------------------------------------------------------------------------
# Layouts and errors


def to_nchw(images, dtype: torch.dtype = torch.float32) -> torch.Tensor:
  """(N, H, W, C) images, or one (H, W, C) image, from numpy or JAX as a new (N, C, H, W) tensor."""
  x = np.asarray(images)
  if x.ndim == 3:
    x = x[None]
  return torch.from_numpy(np.array(x.transpose(0, 3, 1, 2), order="C")).to(dtype)


def to_nhwc(x: torch.Tensor) -> np.ndarray:
  """An (N, C, H, W) tensor as a new (N, H, W, C) numpy array."""
  return x.detach().permute(0, 2, 3, 1).cpu().numpy().copy()


def hwio_to_oihw(kernel) -> torch.Tensor:
  return torch.from_numpy(np.array(np.asarray(kernel, np.float32).transpose(3, 2, 0, 1), order="C"))


def relative_error(a: float, b: float, scale: float | None = None) -> float:
  """|a - b| / |b|, or / |scale| where b itself is ~0 (e.g. a loss term at its own target)."""
  return abs(a - b) / max(abs(b if scale is None else scale), 1e-30)


def relative_l2(a, b) -> float:
  a, b = np.asarray(a), np.asarray(b)
  return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def relative_max(a, b) -> float:
  a, b = np.asarray(a), np.asarray(b)
  return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


# ----------------------------------------------------------------------------------------------
# Input contracts


class Preprocess(torch.nn.Module):
  """(x * scale - mean) / std per RGB channel, then RGB -> BGR when `bgr`.

  The four numbers of a weight source's contract (`Preprocessing` in stylejax holds the same four).
  Constants are made in the input's dtype at each call, so a float64 run uses exact float64 ones.
  """

  def __init__(self, scale: float = 1.0, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), bgr: bool = False):
    super().__init__()
    self.scale, self.mean, self.std, self.bgr = float(scale), tuple(mean), tuple(std), bool(bgr)

  @classmethod
  def of(cls, contract) -> "Preprocess":
    """From any object with `scale`, `mean`, `std` and `bgr` (e.g. `LoadedVGG.preprocessing`)."""
    return cls(contract.scale, contract.mean, contract.std, contract.bgr)

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(self.mean, dtype=x.dtype).view(1, 3, 1, 1)
    std = torch.tensor(self.std, dtype=x.dtype).view(1, 3, 1, 1)
    x = (x * self.scale - mean) / std
    return x[:, [2, 1, 0]] if self.bgr else x


def documented_preprocessing(fmt: str, rgb01_nhwc: np.ndarray) -> torch.Tensor:
  """Each source's input transform, written from its documentation, on RGB [0, 1] NHWC input."""
  x = torch.from_numpy(rgb01_nhwc).permute(0, 3, 1, 2).double()
  if fmt == "torchvision":
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    x = (x - mean) / std
  elif fmt == "keras":  # keras.applications.vgg19.preprocess_input: RGB->BGR, x255, minus BGR mean
    x = x[:, [2, 1, 0]] * 255.0 - torch.tensor([103.939, 116.779, 123.68]).view(1, 3, 1, 1)
  elif fmt == "caffe-jcjohnson":  # neural-style-pt: x*256, RGB->BGR, minus BGR mean
    x = x[:, [2, 1, 0]] * 256.0 - torch.tensor([103.939, 116.779, 123.68]).view(1, 3, 1, 1)
  elif fmt == "caffe-pystiche":  # pystiche caffe: normalise by mean=imagenet mean, std=1/255; to BGR
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    x = ((x - mean) * 255.0)[:, [2, 1, 0]]
  elif fmt == "lpips":  # lpips: [-1, 1], then (x - shift) / scale
    shift = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
    scale = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)
    x = ((x * 2 - 1) - shift) / scale
  else:
    raise ValueError(fmt)
  return x.float()


# ----------------------------------------------------------------------------------------------
# VGG


def convs_from_hwio(params: Mapping, arch: str) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
  """{conv name: (OIHW weight, bias)} from stylejax's {name: {"kernel": HWIO, "bias": (C,)}}.

  Convolutions missing from `params` (truncated weight files) are left out.
  """
  return {name: (hwio_to_oihw(params[name]["kernel"]),
                 torch.from_numpy(np.array(params[name]["bias"], np.float32)))
          for name in vgg.conv_names(arch) if name in params}


def convs_from_state_dict(state_dict: Mapping, arch: str) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
  """{conv name: (OIHW weight, bias)} from torchvision's `features.<i>.weight` / `.bias` keys.

  torchvision's `features` holds one module per named activation, so i is the position of the conv
  among `vgg.layer_names(arch)`.
  """
  return {name: (state_dict[f"features.{index}.weight"], state_dict[f"features.{index}.bias"])
          for index, name in enumerate(vgg.layer_names(arch)) if name.startswith("conv")}


class TorchVGG(torch.nn.Module):
  """VGG feature extractor: 3x3 convs (zero or reflect padding 1) + ReLU, 2x2 max or average pools.

  Frozen (gradients flow to the input only). `preprocess` (e.g. `Preprocess.of(contract)`) runs
  first; None feeds the input to conv1_1 as it is.
  """

  def __init__(self, arch: str, convs: Mapping[str, tuple[torch.Tensor, torch.Tensor]],
               preprocess: torch.nn.Module | None = None, pooling: str = "max", padding: str = "zero"):
    super().__init__()
    if pooling not in ("max", "avg") or padding not in ("zero", "reflect"):
      raise ValueError(f"pooling {pooling!r} / padding {padding!r}: the twin has max/avg and zero/reflect")
    self.arch, self.pooling = arch, pooling
    self.preprocess = preprocess if preprocess is not None else torch.nn.Identity()
    self.convs = torch.nn.ModuleDict()
    for name, (weight, bias) in convs.items():
      out_ch, in_ch, kh, kw = weight.shape
      conv = torch.nn.Conv2d(in_ch, out_ch, (kh, kw), padding=kh // 2,
                             padding_mode="reflect" if padding == "reflect" else "zeros")
      with torch.no_grad():
        conv.weight.copy_(weight)
        conv.bias.copy_(bias)
      self.convs[name] = conv
    self.requires_grad_(False)

  @classmethod
  def from_hwio(cls, arch: str, params: Mapping, **kwargs) -> "TorchVGG":
    return cls(arch, convs_from_hwio(params, arch), **kwargs)

  @classmethod
  def from_state_dict(cls, arch: str, state_dict: Mapping, **kwargs) -> "TorchVGG":
    return cls(arch, convs_from_state_dict(state_dict, arch), **kwargs)

  def features(self, x: torch.Tensor, layers=None) -> dict[str, torch.Tensor]:
    """Named activations of an NCHW batch: `layers`, or all when None; stops at the deepest one."""
    names = vgg.layer_names(self.arch)
    wanted = set(names if layers is None else layers)
    last = vgg.deepest(self.arch, wanted)
    x = self.preprocess(x)
    out = {}
    for name in names:
      if name.startswith("conv"):
        x = self.convs[name](x)
      elif name.startswith("relu"):
        x = F.relu(x)
      else:
        x = F.max_pool2d(x, 2) if self.pooling == "max" else F.avg_pool2d(x, 2)
      if name in wanted:
        out[name] = x
      if name == last:
        break
    return out

  def forward(self, x: torch.Tensor, layers=None) -> dict[str, torch.Tensor]:
    return self.features(x, layers)


def torch_features(state_dict: Mapping, arch: str, x_nchw: torch.Tensor, pooling: str = "max",
                   padding: str = "zero") -> dict[str, np.ndarray]:
  """All named activations of an already preprocessed NCHW batch, returned as NHWC numpy."""
  net = TorchVGG.from_state_dict(arch, state_dict, pooling=pooling, padding=padding)
  with torch.no_grad():
    return {name: to_nhwc(a) for name, a in net.features(x_nchw).items()}


# ----------------------------------------------------------------------------------------------
# Style-transfer losses (Gatys et al. 2016; mean/std matching of Huang & Belongie 2017)

STATISTICS = ("gram", "mean_var")
GRAM_NORMS = ("gatys", "hw", "chw")


def gram(features: torch.Tensor) -> torch.Tensor:
  """(N, C, H, W) -> (N, C, C): F F^T / (H W) per example."""
  f = features.flatten(2)
  return f @ f.transpose(1, 2) / f.shape[2]


def mean_std(features: torch.Tensor, eps: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor]:
  """Per example and channel: mean and sqrt(biased variance + eps) over H, W; (N, C) each."""
  f = features.flatten(2)
  return f.mean(2), torch.sqrt(f.var(2, unbiased=False) + eps)


def style_target(features: torch.Tensor, statistic: str) -> dict[str, torch.Tensor]:
  """The statistic of each example of an (N, C, H, W) batch, batched along N."""
  if statistic == "gram":
    return {"gram": gram(features)}
  if statistic == "mean_var":
    mean, std = mean_std(features)
    return {"mean": mean, "std": std}
  raise Mismatch(f"the twin implements the style statistics {STATISTICS}, not {statistic!r}")


def layer_style_loss(features: torch.Tensor, target: Mapping, statistic: str,
                     gram_norm: str = "gatys") -> torch.Tensor:
  """(N,) style loss of each example against `target` (batched along N, or broadcastable).

  gram, "gatys": sum((G - A)^2) / (4 C^2), i.e. Gatys et al.'s 1 / (4 N_l^2 M_l^2) on raw Grams;
  "hw": mean of (G - A)^2; "chw": mean of ((G - A) / C)^2. mean_var: mean over channels of the
  squared mean differences plus that of the std differences.
  """
  channels = features.shape[1]
  if statistic == "gram":
    sq = (gram(features) - target["gram"]) ** 2
    if gram_norm == "gatys":
      return sq.sum(dim=(1, 2)) / (4.0 * channels ** 2)
    if gram_norm == "hw":
      return sq.mean(dim=(1, 2))
    if gram_norm == "chw":
      return sq.mean(dim=(1, 2)) / channels ** 2
    raise Mismatch(f"the twin implements the Gram normalisations {GRAM_NORMS}, not {gram_norm!r}")
  if statistic == "mean_var":
    mean, std = mean_std(features)
    return ((mean - target["mean"]) ** 2).mean(1) + ((std - target["std"]) ** 2).mean(1)
  raise Mismatch(f"the twin implements the style statistics {STATISTICS}, not {statistic!r}")


def style_loss(features: Mapping, targets: Mapping, layer_weights: Mapping[str, float], statistic: str,
               gram_norm: str = "gatys") -> torch.Tensor:
  """(N,) weighted sum over the layers of `layer_style_loss`."""
  total = 0.0
  for layer, weight in sorted(layer_weights.items()):
    total = total + weight * layer_style_loss(features[layer], targets[layer], statistic, gram_norm)
  return total


def style_ids_tensor(style_ids) -> torch.Tensor:
  """Style ids (a sequence, numpy or JAX array, or tensor) as a new int64 tensor."""
  if isinstance(style_ids, torch.Tensor):
    return style_ids.long()
  return torch.from_numpy(np.array(style_ids, dtype=np.int64))


def select_styles(targets: Mapping, style_ids) -> dict:
  """Per-style targets (batched along the styles) re-batched as one style per example."""
  ids = style_ids_tensor(style_ids)
  return {layer: {k: v[ids] for k, v in stats.items()} for layer, stats in targets.items()}


def content_loss(features: Mapping, targets: Mapping, layer_weights: Mapping[str, float]) -> torch.Tensor:
  """Weighted sum over the layers of the mean squared feature difference (over the whole batch)."""
  return sum(weight * torch.mean((features[layer] - targets[layer]) ** 2)
             for layer, weight in sorted(layer_weights.items()))


def total_variation(x: torch.Tensor) -> torch.Tensor:
  """Mean squared difference between vertical neighbours plus that between horizontal ones."""
  dy = x[:, :, 1:, :] - x[:, :, :-1, :]
  dx = x[:, :, :, 1:] - x[:, :, :, :-1]
  return torch.mean(dy ** 2) + torch.mean(dx ** 2)


class PerceptualLoss:
  """content_weight * content + style_weight * style + tv_weight * TV of NCHW images, via a TorchVGG.

  The style term is the batch mean of each example's style loss; targets come from
  `content_targets` / `style_targets` (one per style image, see `select_styles`).
  """

  def __init__(self, net: TorchVGG, content_layers: Mapping[str, float], style_layers: Mapping[str, float],
               *, content_weight: float, style_weight: float, tv_weight: float, statistic: str = "gram",
               gram_norm: str = "gatys"):
    if statistic not in STATISTICS or gram_norm not in GRAM_NORMS:
      raise Mismatch(f"the twin implements {STATISTICS} with Gram normalisations {GRAM_NORMS}, "
                     f"not {statistic!r} / {gram_norm!r}")
    self.net = net
    self.content_layers = {k: float(v) for k, v in content_layers.items()}
    self.style_layers = {k: float(v) for k, v in style_layers.items()}
    self.layers = sorted(set(self.content_layers) | set(self.style_layers))
    self.weights = {"content": float(content_weight), "style": float(style_weight), "tv": float(tv_weight)}
    self.statistic, self.gram_norm = statistic, gram_norm

  def content_targets(self, content: torch.Tensor) -> dict[str, torch.Tensor]:
    with torch.no_grad():
      return self.net.features(content, self.content_layers)

  def style_targets(self, styles: torch.Tensor) -> dict[str, dict[str, torch.Tensor]]:
    """The style statistic of each style image of an NCHW batch, batched along the styles."""
    with torch.no_grad():
      feats = self.net.features(styles, self.style_layers)
    return {k: style_target(feats[k], self.statistic) for k in self.style_layers}

  def terms(self, x: torch.Tensor, content_targets: Mapping, style_targets: Mapping) -> dict[str, torch.Tensor]:
    feats = self.net.features(x, self.layers)
    content = content_loss(feats, content_targets, self.content_layers)
    style = style_loss(feats, style_targets, self.style_layers, self.statistic, self.gram_norm).mean()
    tv = total_variation(x)
    w = self.weights
    total = w["content"] * content + w["style"] * style + w["tv"] * tv
    return {"content": content, "style": style, "tv": tv, "total": total}


# ----------------------------------------------------------------------------------------------
# The multi-style network (Dumoulin et al. 2017: Johnson et al.'s network, conditional instance norm)

DOWNSAMPLING = 4  # two stride-2 convolutions


class ConvLayer(NamedTuple):
  cin: int
  cout: int
  kernel: int
  stride: int
  scale: int  # the output's resolution divisor relative to the (padded) input image


def stylenet_convs(channels: tuple[int, int, int], n_residual: int,
                   up_channels: tuple[int, int] | None = None) -> list[ConvLayer]:
  """The network's convolutions in order: 9x9, 3x3 s2, 3x3 s2, residual pairs, two after x2
  upsampling (to `up_channels`, by default channels[1] then channels[0]), 9x9 to RGB."""
  c1, c2, c3 = channels
  u2, u1 = up_channels or (c2, c1)
  return ([ConvLayer(3, c1, 9, 1, 1), ConvLayer(c1, c2, 3, 2, 2), ConvLayer(c2, c3, 3, 2, 4)]
          + [ConvLayer(c3, c3, 3, 1, 4)] * (2 * n_residual)
          + [ConvLayer(c3, u2, 3, 1, 2), ConvLayer(u2, u1, 3, 1, 1), ConvLayer(u1, 3, 9, 1, 1)])


class TorchStyleNet(torch.nn.Module):
  """The conditional-instance-norm network in torch (NCHW), holding a stylejax parameter tree.

  `spec` needs `n_styles`, `channels`, `n_residual` and `conditional` (and `up_channels` where the
  upsampling stages do not mirror `channels`); `params` is the Flax tree
  (`ReflectConv_<k>/Conv_0/kernel` HWIO, `ConditionalInstanceNorm_<k>/gamma|beta` (n_styles, C)).
  """

  def __init__(self, spec, params):
    super().__init__()
    if not spec.conditional:
      raise Mismatch("the twin implements the conditional network only")
    self.n_styles, self.n_residual = spec.n_styles, spec.n_residual
    self.convs = torch.nn.ModuleList()
    self.gammas = torch.nn.ParameterList()
    self.betas = torch.nn.ParameterList()
    for k, layer in enumerate(stylenet_convs(spec.channels, spec.n_residual, getattr(spec, "up_channels", None))):
      p = params[f"ReflectConv_{k}"]["Conv_0"]
      w = np.asarray(p["kernel"], np.float32)
      if w.shape != (layer.kernel, layer.kernel, layer.cin, layer.cout):
        raise Mismatch(f"ReflectConv_{k}: stylejax kernel {w.shape}, twin expects "
                       f"{(layer.kernel, layer.kernel, layer.cin, layer.cout)}")
      conv = torch.nn.Conv2d(layer.cin, layer.cout, layer.kernel, stride=layer.stride,
                             padding=layer.kernel // 2, padding_mode="reflect", bias="bias" in p)
      with torch.no_grad():
        conv.weight.copy_(hwio_to_oihw(w))
        if "bias" in p:
          conv.bias.copy_(torch.from_numpy(np.array(p["bias"], np.float32)))
      self.convs.append(conv)
      norm = params[f"ConditionalInstanceNorm_{k}"]
      self.gammas.append(torch.nn.Parameter(torch.from_numpy(np.array(norm["gamma"], np.float32))))
      self.betas.append(torch.nn.Parameter(torch.from_numpy(np.array(norm["beta"], np.float32))))
    n_stylejax = sum(1 for name in params if name.startswith("ReflectConv_"))
    if n_stylejax != len(self.convs):
      raise Mismatch(f"the stylejax network has {n_stylejax} convolutions, the twin {len(self.convs)}")

  def norm_rows(self, k) -> tuple[torch.Tensor, torch.Tensor]:
    """Norm k's (gamma, beta) rows, (n_styles, C) each."""
    return self.gammas[k], self.betas[k]

  def _conv_norm(self, k, x, w, activation=F.relu):
    x = self.convs[k](x)
    x = F.instance_norm(x, eps=1e-5)  # biased variance over H, W
    gamma, beta = self.norm_rows(k)
    x = x * (w @ gamma)[:, :, None, None] + (w @ beta)[:, :, None, None]
    return activation(x) if activation is not None else x

  def forward(self, x, w):
    """x (N, 3, H, W) in [0, 1], H and W multiples of 4; w (N, n_styles) style weights."""
    x = self._conv_norm(0, x, w)
    x = self._conv_norm(1, x, w)
    x = self._conv_norm(2, x, w)
    k = 3
    for _ in range(self.n_residual):
      x = x + self._conv_norm(k + 1, self._conv_norm(k, x, w), w, activation=None)
      k += 2
    for _ in range(2):
      x = F.interpolate(x, scale_factor=2, mode="nearest")
      x = self._conv_norm(k, x, w)
      k += 1
    return self._conv_norm(k, x, w, activation=torch.sigmoid)

  def stylize(self, x, w):
    """Any H, W: reflect-padded up to a multiple of 4 (edge-padded when a side is <= 4), cropped back."""
    h, wd = x.shape[2:]
    pad_h, pad_w = -h % DOWNSAMPLING, -wd % DOWNSAMPLING
    top, left = pad_h // 2, pad_w // 2
    mode = "reflect" if min(h, wd) > DOWNSAMPLING else "replicate"
    x = F.pad(x, (left, pad_w - left, top, pad_h - top), mode=mode)
    out = self(x, w)
    return out[:, :, top:top + h, left:left + wd]

  def flax_tree(self, tensors=None) -> dict:
    """The twin's parameters (or `tensors(param)`, e.g. their gradients) in stylejax's layout, numpy."""
    get = tensors or (lambda p: p)
    tree = {}
    for k, conv in enumerate(self.convs):
      tree[f"ReflectConv_{k}"] = {"Conv_0": {"kernel": get(conv.weight).detach().numpy().transpose(2, 3, 1, 0)}}
      if conv.bias is not None:
        tree[f"ReflectConv_{k}"]["Conv_0"]["bias"] = get(conv.bias).detach().numpy()
      tree[f"ConditionalInstanceNorm_{k}"] = {"gamma": get(self.gammas[k]).detach().numpy(),
                                              "beta": get(self.betas[k]).detach().numpy()}
    return tree


# ----------------------------------------------------------------------------------------------
# AdaIN (Huang & Belongie 2017), as released in naoto0804/pytorch-AdaIN (net.py, function.py)


def adain_mean_std(features: torch.Tensor, eps: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor]:
  """The release's calc_mean_std: per example and channel, mean and sqrt(unbiased variance + eps)."""
  n, c = features.shape[:2]
  flat = features.reshape(n, c, -1)
  return flat.mean(2).view(n, c, 1, 1), (flat.var(2) + eps).sqrt().view(n, c, 1, 1)


def adain(content: torch.Tensor, style: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
  """The release's adaptive_instance_normalization of NCHW features."""
  c_mean, c_std = adain_mean_std(content, eps)
  s_mean, s_std = adain_mean_std(style, eps)
  return (content - c_mean) / c_std * s_std + s_mean


def adain_decoder_sequential(c3: int = 256, c2: int = 128, c1: int = 64) -> torch.nn.Sequential:
  """The release's `decoder` (net.py) layer for layer; (c3, c2, c1) = (256, 128, 64) there."""
  pad, relu, up = (lambda: torch.nn.ReflectionPad2d((1, 1, 1, 1))), torch.nn.ReLU, (
      lambda: torch.nn.Upsample(scale_factor=2, mode="nearest"))
  conv = lambda i, o: torch.nn.Conv2d(i, o, (3, 3))
  return torch.nn.Sequential(
      pad(), conv(512, c3), relu(), up(),
      pad(), conv(c3, c3), relu(), pad(), conv(c3, c3), relu(), pad(), conv(c3, c3), relu(),
      pad(), conv(c3, c2), relu(), up(),
      pad(), conv(c2, c2), relu(), pad(), conv(c2, c1), relu(), up(),
      pad(), conv(c1, c1), relu(), pad(), conv(c1, 3))


def adain_vgg_sequential() -> torch.nn.Sequential:
  """The release's `vgg` (net.py): the normalised VGG19 to relu5_4, a 1x1 input conv first.

  Modules 0..30 end at relu4_1 (`vgg[:31]`); max pools use ceil_mode as the release does.
  """
  layers = [torch.nn.Conv2d(3, 3, (1, 1))]
  in_ch = 3
  for block, n_convs in enumerate((2, 2, 4, 4, 4)):
    width = (64, 128, 256, 512, 512)[block]
    for _ in range(n_convs):
      layers += [torch.nn.ReflectionPad2d((1, 1, 1, 1)), torch.nn.Conv2d(in_ch, width, (3, 3)), torch.nn.ReLU()]
      in_ch = width
    if block < 4:
      layers.append(torch.nn.MaxPool2d((2, 2), (2, 2), (0, 0), ceil_mode=True))
  return torch.nn.Sequential(*layers)


ADAIN_VGG_RELU = {"relu1_1": 4, "relu2_1": 11, "relu3_1": 18, "relu4_1": 31}  # release slices' ends


def adain_decoder_from_flax(params: Mapping) -> torch.nn.Sequential:
  """The release's decoder holding a stylejax decoder tree (`conv_<k>/kernel` HWIO, `/bias`)."""
  kernels = [np.asarray(params[f"conv_{k}"]["kernel"], np.float32) for k in range(9)]
  net = adain_decoder_sequential(kernels[0].shape[-1], kernels[4].shape[-1], kernels[6].shape[-1])
  convs = [m for m in net if isinstance(m, torch.nn.Conv2d)]
  with torch.no_grad():
    for k, (module, kernel) in enumerate(zip(convs, kernels)):
      if tuple(module.weight.shape) != tuple(kernel.transpose(3, 2, 0, 1).shape):
        raise Mismatch(f"conv_{k}: stylejax kernel {kernel.shape} does not fit the release's layer list")
      module.weight.copy_(hwio_to_oihw(kernel))
      module.bias.copy_(torch.from_numpy(np.array(params[f"conv_{k}"]["bias"], np.float32)))
  return net.requires_grad_(False)


# ----------------------------------------------------------------------------------------------
# Ghiasi et al. 2017: a style-prediction network whose embedding gives every norm's (gamma, beta)

_LPIPS_SHIFT, _LPIPS_SCALE = (-0.030, -0.088, -0.188), (0.458, 0.448, 0.450)  # lpips' ScalingLayer


def lpips_preprocess() -> Preprocess:
  """lpips' input contract: [0, 1] -> [-1, 1], then (x - shift) / scale."""
  return Preprocess(2.0, mean=tuple(1.0 + s for s in _LPIPS_SHIFT), std=_LPIPS_SCALE)


class TorchAlexNet(torch.nn.Module):
  """torchvision's AlexNet features (LPIPS weights): conv11/4 p2, pool 3/2, conv5 p2, pool 3/2, three
  conv3 p1, each conv followed by ReLU; `params` holds `Conv_<i>/kernel` HWIO and `/bias`."""

  LAYERS = ("relu1", "relu2", "relu3", "relu4", "relu5")
  _CONVS = ((11, 4, 2), (5, 1, 2), (3, 1, 1), (3, 1, 1), (3, 1, 1))  # kernel, stride, padding

  def __init__(self, params: Mapping):
    super().__init__()
    self.preprocess = lpips_preprocess()
    self.convs = torch.nn.ModuleList()
    for i, (kernel, stride, pad) in enumerate(self._CONVS):
      w = np.asarray(params[f"Conv_{i}"]["kernel"], np.float32)
      conv = torch.nn.Conv2d(w.shape[2], w.shape[3], kernel, stride=stride, padding=pad)
      with torch.no_grad():
        conv.weight.copy_(hwio_to_oihw(w))
        conv.bias.copy_(torch.from_numpy(np.array(params[f"Conv_{i}"]["bias"], np.float32)))
      self.convs.append(conv)
    self.requires_grad_(False)

  def features(self, x: torch.Tensor, layers=None) -> dict[str, torch.Tensor]:
    wanted = set(self.LAYERS if layers is None else layers)
    x, out = self.preprocess(x), {}
    for i, conv in enumerate(self.convs):
      x = F.relu(conv(x))
      if self.LAYERS[i] in wanted:
        out[self.LAYERS[i]] = x
      if i < 2:
        x = F.max_pool2d(x, 3, 2)
    return out


def channel_mean_std(features: torch.Tensor, eps: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor]:
  """(N, C) mean and sqrt(biased variance + eps) over H, W of NCHW features."""
  flat = features.flatten(2)
  return flat.mean(2), (flat.var(2, unbiased=False) + eps).sqrt()


class _OneStyleSpec(NamedTuple):
  n_styles: int
  channels: tuple[int, int, int]
  n_residual: int
  conditional: bool


class TorchExternalNormStyleNet(TorchStyleNet):
  """The multi-style network whose norms take one (gamma, beta) pair per layer from outside, each
  (N, C), instead of rows of its own. `params` has the convolutions only."""

  def __init__(self, spec, params):
    rows = {f"ConditionalInstanceNorm_{k}": {"gamma": np.ones((1, layer.cout), np.float32),
                                             "beta": np.zeros((1, layer.cout), np.float32)}
            for k, layer in enumerate(stylenet_convs(spec.channels, spec.n_residual))}
    # Placeholder rows let the parent build the convolutions; `_conv_norm` never reads them.
    super().__init__(_OneStyleSpec(1, spec.channels, spec.n_residual, True), {**params, **rows})

  def _conv_norm(self, k, x, norms, activation=F.relu):
    x = F.instance_norm(self.convs[k](x), eps=1e-5)
    gamma, beta = norms[k]
    x = x * gamma[:, :, None, None] + beta[:, :, None, None]
    return activation(x) if activation is not None else x


def _linear(dense: Mapping) -> torch.nn.Linear:
  kernel = np.asarray(dense["kernel"], np.float32)  # (in, out)
  layer = torch.nn.Linear(*kernel.shape)
  with torch.no_grad():
    layer.weight.copy_(torch.from_numpy(np.array(kernel.T, order="C")))
    layer.bias.copy_(torch.from_numpy(np.array(dense["bias"], np.float32)))
  return layer


class TorchStylePrediction(torch.nn.Module):
  """Ghiasi et al.'s style network and transformer in torch, holding a stylejax parameter tree.

  `spec` needs `features` ("vgg16" | "alexnet"), `hidden`, `transformer` (the multi-style network's
  spec); `params` is {"predictor", "head", "transformer"}; `features_params` the frozen network's
  (VGG16 conv tree or AlexNet `Conv_<i>` tree, both with LPIPS preprocessing).
  Paintings: per-channel mean and std of `layers` -> [hidden ReLU] -> linear bottleneck = embedding;
  embedding -> one linear head = [gamma_0 | beta_0 | gamma_1 | ...] of the transformer's norms.
  """

  VGG16_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")

  def __init__(self, spec, params, features_params):
    super().__init__()
    if spec.features == "vgg16":
      self.backbone, self.layers = TorchVGG.from_hwio("vgg16", features_params,
                                                      preprocess=lpips_preprocess()), self.VGG16_LAYERS
    elif spec.features == "alexnet":
      self.backbone, self.layers = TorchAlexNet(features_params), TorchAlexNet.LAYERS
    else:
      raise Mismatch(f"the twin has no {spec.features!r} features")
    predictor = params["predictor"]
    self.hidden = _linear(predictor["hidden"]) if "hidden" in predictor else None
    self.bottleneck = _linear(predictor["bottleneck"])
    self.head = _linear(params["head"]["head"])
    self.transformer = TorchExternalNormStyleNet(spec.transformer, params["transformer"])
    self.channels = [layer.cout for layer in stylenet_convs(spec.transformer.channels,
                                                             spec.transformer.n_residual)]
    if self.head.out_features != 2 * sum(self.channels):
      raise Mismatch(f"the head gives {self.head.out_features} numbers, the norms need {2 * sum(self.channels)}")

  def embedding(self, paintings: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) RGB [0, 1] paintings -> (N, D)."""
    feats = self.backbone.features(paintings, self.layers)
    stats = torch.cat([s for layer in self.layers for s in channel_mean_std(feats[layer])], dim=1)
    x = F.relu(self.hidden(stats)) if self.hidden is not None else stats
    return self.bottleneck(x)

  def norms(self, embedding: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
    flat, out, start = self.head(embedding.reshape(-1, embedding.shape[-1])), [], 0
    for c in self.channels:
      out.append((flat[:, start:start + c], flat[:, start + c:start + 2 * c]))
      start += 2 * c
    return out

  def stylize(self, photos: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) photos, any size, in the style of an (N, D) or (1, D) embedding."""
    return self.transformer.stylize(photos, self.norms(embedding))
