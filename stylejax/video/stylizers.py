"""One frame in, its stylization out, for every network method, through the paths `stylejax apply`
uses: the pretrained Magenta model (no checkpoint), any arbitrary-style checkpoint (AdaIN, the AdaIN
release's decoder.pth, ghiasi), fixed-style networks (cin, cin_newstyle, stylebank; `stylejax.methods.registry`
reads which) and CycleGAN
generators (vintagify, a reference .pth, a training workdir: its A -> B generator, as `stylejax translate`).
Style blends, alpha, masks, CIN strength and colour preservation work per frame as they do on photos.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

from stylejax.errors import StylejaxError
from stylejax.feedforward import arbitrary, transfer, translation
from stylejax.imaging import images
from stylejax.io import cyclegan_weights
from stylejax.methods import registry

NETWORK_METHODS = ("magenta", "cin", "cin_newstyle", "stylebank", "adain", "ghiasi", "cyclegan")  # `--method` for a network; "pixel" is optimization


@dataclasses.dataclass(frozen=True)
class NetworkChoice:
  """What `stylejax video` was asked to run with a network (also what run.json records)."""
  method: str | None = None  # None: what the checkpoint holds, or magenta without one
  checkpoint: str | None = None
  style_images: tuple[str, ...] = ()
  style_weights: str = ""
  alpha: float = 1.0
  mask: str | None = None
  style: str = "0"  # CIN: index or blend
  strength: float = 1.0  # CIN
  preserve_color: bool = False
  step: int | None = None
  encoder: str | None = None


def _kind(choice: NetworkChoice):
  """(method name, the checkpoint or None), checked against --method."""
  if choice.checkpoint is None:
    if choice.method not in (None, "magenta"):
      raise StylejaxError(f"--method {choice.method} needs --checkpoint (a trained {choice.method} network); "
                          "without one the pretrained model is --method magenta")
    return "magenta", None
  # A generator .pth reads like AdaIN's decoder.pth until opened: --method cyclegan says which.
  if choice.method == "cyclegan" or choice.checkpoint == cyclegan_weights.VINTAGIFY:
    if choice.method not in (None, "cyclegan"):
      raise StylejaxError(f"{choice.checkpoint} holds a cyclegan network, not --method {choice.method}")
    return "cyclegan", None
  checkpoint = registry.open_checkpoint(choice.checkpoint)
  kind = "adain" if checkpoint.kind == registry.RELEASE else checkpoint.kind
  if choice.method not in (None, kind):
    raise StylejaxError(f"{choice.checkpoint} holds a {kind} network, not --method {choice.method}")
  return kind, checkpoint


def network_method(choice: NetworkChoice) -> str:
  return _kind(choice)[0]


def load(choice: NetworkChoice) -> Callable[[np.ndarray], np.ndarray]:
  """frame (H, W, 3) [0, 1] -> its stylization, same shape; inputs checked before any frame runs."""
  kind, checkpoint = _kind(choice)
  if kind == "cyclegan":
    if choice.style_images:
      raise StylejaxError(f"{choice.checkpoint} is a CycleGAN generator: it has its own style (no --style-image)")
    translator = translation.Translator.open(choice.checkpoint, choice.step)
    translator.params("AtoB")
    return lambda frame: translator.apply([frame], "AtoB", batch_size=1)[0]
  if checkpoint is not None and not checkpoint.arbitrary:  # cin, cin_newstyle, stylebank: fixed styles
    if choice.style_images:
      raise StylejaxError(f"{choice.checkpoint} is a {kind} network of fixed styles: choose one with --style")
    stylizer = checkpoint.load(choice.step)
    weights = transfer.parse_style(choice.style, stylizer.n_styles)
    if not 0 <= choice.strength <= 1:
      raise StylejaxError(f"--strength must be in [0, 1], got {choice.strength}")
    return lambda frame: stylizer.apply([frame], weights, strength=choice.strength,
                                        preserve_color=choice.preserve_color, batch_size=1)[0]
  if not choice.style_images:
    raise StylejaxError(f"--method {kind} takes the painting(s) with --style-image")
  weights = arbitrary.parse_weights(choice.style_weights, len(choice.style_images))
  if choice.mask is not None and choice.style_weights:
    raise StylejaxError("--mask places each style image on its own region; --style-weights blends them")
  paintings = [images.load_image(s) for s in choice.style_images]
  mask = images.load_image(choice.mask) if choice.mask is not None else None
  model = arbitrary.ArbitraryStylizer() if checkpoint is None else checkpoint.load(choice.step, choice.encoder)
  return lambda frame: model.apply(frame, paintings, weights, choice.alpha, mask, choice.preserve_color)
