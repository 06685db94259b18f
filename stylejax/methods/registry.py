"""Every trained method by name (the config's `network.kind`), and what a `--checkpoint` holds.

Adding a method means adding one module that defines a `stylejax.methods.base.Method` and one line
here; the training loop, `apply` and `grid` find it by name. A checkpoint is a training workdir (its
config.json's `network.kind`), the published AdaIN release's decoder.pth, or a pretrained CIN network
by name (`multistyle26`, stylejax.io.cin_release). Two families:
- fixed styles (`cin`, `cin_newstyle`: new styles added to a trained one; `stylebank`): a style is an index or a
  blend of the trained ones;
- arbitrary styles (`adain`, the AdaIN release, `ghiasi`): any painting at apply time.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from stylejax.errors import StylejaxError
from stylejax.feedforward import adain_stylizer
from stylejax.io import checkpoints, cin_release
from stylejax.methods import adain, cin, cin_newstyle, cyclegan, ghiasi, stylebank
from stylejax.methods.base import Method

METHODS: dict[str, Method] = {m.name: m for m in (cin.METHOD, adain.METHOD, ghiasi.METHOD, cin_newstyle.METHOD,
                                                  stylebank.METHOD, cyclegan.METHOD)}
RELEASE = "adain-release"  # the kind of a decoder.pth file: inference only


def get(name: str) -> Method:
  if name not in METHODS:
    raise StylejaxError(f"network.kind must be one of {', '.join(METHODS)}, got {name!r}")
  return METHODS[name]


def names() -> tuple[str, ...]:
  return tuple(METHODS)


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
    return self.kind == RELEASE or METHODS[self.kind].arbitrary

  def load(self, step: int | None = None, encoder: str | None = None):
    if self.kind == RELEASE:
      if step is not None:
        raise StylejaxError(f"{self.path} is a release file with one set of weights; drop --step")
      return adain_stylizer.AdainStylizer.from_release(self.path, encoder)
    return METHODS[self.kind].load(self.path, step, encoder)


def open_checkpoint(checkpoint: str | Path) -> Checkpoint:
  """The kind of a training workdir (or its checkpoints/ folder), or of the release's decoder.pth."""
  path = Path(checkpoint)
  if cin_release.is_release(checkpoint):
    return Checkpoint(path=path, kind=cin.METHOD.name)
  if path.is_file():
    return Checkpoint(path=path, kind=RELEASE)
  try:
    workdir = checkpoints.find_workdir(path)
  except StylejaxError:
    raise StylejaxError(f"no trained network at {path}: --checkpoint takes a training workdir (config.json "
                        "and checkpoints/), the AdaIN release's decoder.pth, or a pretrained CIN network "
                        f"({', '.join(cin_release.RELEASES)})") from None
  kind = checkpoints.network_kind(workdir)
  if kind not in METHODS:
    raise StylejaxError(f"{workdir} trained a {kind!r} network; apply and grid read "
                        f"{', '.join(sorted([*METHODS, RELEASE]))}")
  config = checkpoints.read_json(workdir, "config.json")
  paintings = ()
  if METHODS[kind].arbitrary:
    listed = checkpoints.read_json(workdir, "styles.json")
    paintings = tuple(str(p) for p in listed[:3]) if isinstance(listed, list) else ()  # as the eval grid
  return Checkpoint(path=workdir, kind=kind, eval_images=tuple(str(p) for p in config.get("eval_images", ())),
                    paintings=paintings)
