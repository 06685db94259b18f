"""An independent PyTorch VGG used as the reference in parity tests.

It is built from the state dict as torchvision would lay it out (OIHW), and applies each source's
documented preprocessing written out by hand, so both the weight conversion and the input contract
of stylejax are checked against something that shares no code with them.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from stylejax.networks import vgg


def torch_features(state_dict: dict, arch: str, x_nchw: torch.Tensor, pooling: str = "max",
                   padding: str = "zero") -> dict[str, np.ndarray]:
  """All named activations of an already preprocessed NCHW batch, returned as NHWC numpy."""
  out = {}
  x = x_nchw
  for index, name in enumerate(vgg.layer_names(arch)):
    if name.startswith("conv"):
      if padding == "reflect":
        x = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), state_dict[f"features.{index}.weight"],
                     state_dict[f"features.{index}.bias"])
      else:
        x = F.conv2d(x, state_dict[f"features.{index}.weight"], state_dict[f"features.{index}.bias"],
                     padding=1)
    elif name.startswith("relu"):
      x = F.relu(x)
    else:
      x = F.max_pool2d(x, 2) if pooling == "max" else F.avg_pool2d(x, 2)
    out[name] = x.permute(0, 2, 3, 1).numpy()
  return out


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
