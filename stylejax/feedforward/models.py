"""Which network a `--checkpoint` holds, and how to load it: the one place keyed by `network.kind`.

A checkpoint is a training workdir (its config.json's `network.kind`) or the published AdaIN
release's decoder.pth. Two families:
- fixed styles (`cin`): `transfer.Stylizer`, a style is an index or a blend of the trained ones;
- arbitrary styles (`adain`, the AdaIN release, `ghiasi`): an `arbitrary.ArbitraryModel`, any
  painting at apply time.

A new kind is one more entry of `KINDS` (a loader and its family).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable

from stylejax.errors import StylejaxError
from stylejax.feedforward import checkpoints

RELEASE = "adain-release"  # the kind of a decoder.pth file


def _cin(path: Path, step: int | None, encoder: str | None):
  from stylejax.feedforward import transfer  # pylint: disable=import-outside-toplevel

  _refuse_encoder(encoder, "cin")
  return transfer.Stylizer.load(path, step)


def _adain(path: Path, step: int | None, encoder: str | None):
  from stylejax.feedforward import adain_stylizer  # pylint: disable=import-outside-toplevel

  _refuse_encoder(encoder, "adain")
  return adain_stylizer.AdainStylizer.from_workdir(path, step)


def _ghiasi(path: Path, step: int | None, encoder: str | None):
  from stylejax.networks import style_prediction  # pylint: disable=import-outside-toplevel

  _refuse_encoder(encoder, "ghiasi")
  return style_prediction.GhiasiModel.load(path, step)  # its `apply` is an ArbitraryModel's


def _adain_release(path: Path, step: int | None, encoder: str | None):
  from stylejax.feedforward import adain_stylizer  # pylint: disable=import-outside-toplevel

  if step is not None:
    raise StylejaxError(f"{path} is a release file with one set of weights; drop --step")
  return adain_stylizer.AdainStylizer.from_release(path, encoder)


def _refuse_encoder(encoder: str | None, kind: str) -> None:
  if encoder is not None:
    raise StylejaxError(f"--encoder goes with the AdaIN release's decoder.pth; a {kind} workdir names its "
                        "own encoder in config.json")


@dataclasses.dataclass(frozen=True)
class Kind:
  arbitrary: bool  # True: styles are paintings given at apply time (--style-image)
  load: Callable  # (checkpoint path, step or None, encoder path or None) -> the model


KINDS = {
    "cin": Kind(arbitrary=False, load=_cin),
    "adain": Kind(arbitrary=True, load=_adain),
    "ghiasi": Kind(arbitrary=True, load=_ghiasi),
    RELEASE: Kind(arbitrary=True, load=_adain_release),
}


@dataclasses.dataclass(frozen=True)
class Checkpoint:
  """A checkpoint whose kind is known (read cheaply, before any weights): what apply and grid check
  their options against. `eval_images` and `paintings` are the run's (empty for a release file):
  the grid's default rows and, for arbitrary kinds, its default columns."""
  path: Path
  kind: str
  eval_images: tuple[str, ...] = ()
  paintings: tuple[str, ...] = ()

  @property
  def arbitrary(self) -> bool:
    return KINDS[self.kind].arbitrary

  def load(self, step: int | None = None, encoder: str | None = None):
    return KINDS[self.kind].load(self.path, step, encoder)


def open_checkpoint(checkpoint: str | Path) -> Checkpoint:
  """The kind of a training workdir (or its checkpoints/ folder), or of the release's decoder.pth."""
  path = Path(checkpoint)
  if path.is_file():
    return Checkpoint(path=path, kind=RELEASE)
  try:
    workdir = checkpoints.find_workdir(path)
  except StylejaxError:
    raise StylejaxError(f"no trained network at {path}: --checkpoint takes a training workdir (config.json "
                        "and checkpoints/) or the AdaIN release's decoder.pth") from None
  kind = checkpoints.network_kind(workdir)
  if kind not in KINDS:
    raise StylejaxError(f"{workdir} trained a {kind!r} network; apply and grid read {', '.join(sorted(KINDS))}")
  config = checkpoints.read_json(workdir, "config.json")
  paintings = ()
  if KINDS[kind].arbitrary:
    listed = checkpoints.read_json(workdir, "styles.json")
    paintings = tuple(str(p) for p in listed[:3]) if isinstance(listed, list) else ()  # as the eval grid
  return Checkpoint(path=workdir, kind=kind, eval_images=tuple(str(p) for p in config.get("eval_images", ())),
                    paintings=paintings)
