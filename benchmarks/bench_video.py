"""Video: frames per second of each method's per-frame path at 256 and 512 px, and what temporal
consistency adds per frame (DIS flow both ways + Ruder et al.'s reliability mask, the blend).

    python benchmarks/bench_video.py            # writes the "video" section of BENCHMARKS.md
    python benchmarks/bench_video.py --quick    # 128 px only, prints only

Timed (benchmarks/timing.py, interleaved, median of --repeats after a warm-up call), on a synthetic
pan clip (stylejax.video.synthetic) of the scikit-image astronaut at 4:3:
- magenta: `stylejax.video.stylizers.load` with the pretrained model and the bundled Starry Night
  (as `stylejax video` runs it: the photo's and the painting's embeddings are computed per frame);
- cin: `stylejax.feedforward.transfer.Stylizer` with cin_tiny's network (4 styles, width 0.5) at
  its initial parameters (speed does not depend on the values), and its PyTorch twin
  (stylejax.reference.torch_twin.TorchStyleNet, same parameters) on the same frame, the ratio;
- flow: `ClipFlow.reliability(t, t-1)` (two DIS calls and the masks) at the DIS presets;
- blend: `consistency.flow_blend` given the flow;
- pixel (256 px and below only): seconds per L-BFGS step of video_pixel's objective (with the
  temporal term) times the config's 50 steps of a later frame, an estimate, not a timed frame.
The machine is shared: absolute numbers drift; the JAX/torch ratio is measured side by side.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # `benchmarks` as run by path
from stylejax import runtime  # noqa: E402

runtime.configure()  # the product's process settings (glibc allocator, OPENBLAS_NUM_THREADS) before JAX starts

import jax  # noqa: E402
import numpy as np
import torch

from benchmarks import report, timing
from stylejax import configuration
from stylejax.feedforward import transfer
from stylejax.imaging import images
from stylejax.networks import stylenet
from stylejax.reference.torch_twin import TorchStyleNet
from stylejax.video import consistency, stylizers, synthetic
from stylejax.video import pixel as pixel_video
from stylejax.video.flows import ClipFlow


def _clip(size):
  return synthetic.make_clip("pan", images.load_image("astronaut"), (size * 3 // 4, size), 3)


def measure(size: int, repeats: int, with_pixel: bool, with_torch: bool = True) -> dict:
  clip = _clip(size)
  frame = clip.frame(1)
  magenta = stylizers.load(stylizers.NetworkChoice(style_images=("starry_night",)))
  spec = stylenet.NetworkSpec(n_styles=4, width_multiplier=0.5)
  params = stylenet.init_params(spec, jax.random.key(0))
  cin = transfer.Stylizer(spec=spec, params=params, style_names=["a", "b", "c", "d"], step=0)
  weights = transfer.parse_style("1", 4)
  twin = TorchStyleNet(spec, params).eval()
  x = torch.from_numpy(frame.transpose(2, 0, 1)[None].copy())
  w = torch.from_numpy(weights[None])

  def torch_cin():
    with torch.no_grad():
      twin.stylize(x, w)

  def flows(preset):
    def run():
      ClipFlow(clip.frame, clip.shape, preset=preset).reliability(1, 0)
    return run
  known = ClipFlow(clip.frame, clip.shape)
  back, mask = known.flow(1, 0), known.reliability(1, 0)
  previous = clip.frame(0)
  fns = {"magenta": lambda: magenta(frame), "cin": lambda: cin.apply([frame], weights, batch_size=1),
         "cin_torch": torch_cin, "flow_fast": flows("fast"), "flow_medium": flows("medium"),
         "blend": lambda: consistency.flow_blend(frame, previous, back, mask, 0.6)}
  if not with_torch:  # on an accelerator machine the CPU twin says nothing about the device
    del fns["cin_torch"]
  times = timing.time_interleaved(fns, repeats)
  result = {name: timing.median(t) for name, t in times.items()}
  if with_pixel:
    config = configuration.load_config("video_pixel")
    config.image_size = size
    frames = pixel_video.PixelFrames(config)
    steps = 3
    frames.optimize(0, frame, frame, np.zeros((3, *frame.shape), np.float32),
                    np.zeros((3, *frame.shape[:2]), np.float32), steps, frames.weights)  # compile
    began = time.perf_counter()
    frames.optimize(0, frame, frame, np.zeros((3, *frame.shape), np.float32),
                    np.zeros((3, *frame.shape[:2]), np.float32), steps, frames.weights)
    result["pixel_step"] = (time.perf_counter() - began) / steps
    result["pixel_frame"] = result["pixel_step"] * config.optim.steps
  return result


def table(results: dict) -> str:
  sizes = list(results)
  fps = lambda s: f"{1 / s:.2f}" if s else "-"
  lines = ["| per frame | " + " | ".join(f"{s} px: ms | {s} px: fps" for s in sizes) + " |",
           "|---|" + "---|---|" * len(sizes)]
  labels = {"magenta": "Magenta (pretrained), per frame", "cin": "CIN (cin_tiny network), JAX",
            "cin_torch": "CIN, PyTorch twin", "flow_fast": "flow both ways + masks, DIS fast",
            "flow_medium": "flow both ways + masks, DIS medium (default)", "blend": "blend with the warped previous output",
            "pixel_frame": "pixel (Ruder et al.), a later frame: 50 L-BFGS steps (estimate)"}
  for key, label in labels.items():
    cells = []
    for s in sizes:
      v = results[s].get(key)
      cells += [f"{1000 * v:.1f}" if v else "-", fps(v)]
    lines.append(f"| {label} | " + " | ".join(cells) + " |")
  ratio = [f"{s} px: {results[s]['cin_torch'] / results[s]['cin']:.2f}" for s in sizes]
  lines += ["", f"CIN torch time / JAX time (above 1: JAX faster), side by side: {', '.join(ratio)}.",
            "", "Pixel: the first 3 L-BFGS steps from a fresh state (whose line searches evaluate the most) "
            "times 50, so an upper estimate; fps of the networks include no flow or blending (add those rows)."]
  return "\n".join(lines)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--quick", action="store_true")
  parser.add_argument("--repeats", type=int, default=5)
  args = parser.parse_args(argv)
  # one torch thread: on these shared cores 2 OpenMP threads ran the twin 28x slower (spinning against
  # other jobs); JAX keeps its own XLA thread pool
  torch.set_num_threads(1)
  sizes = (128,) if args.quick else (256, 512)
  results = {s: measure(s, args.repeats, with_pixel=s <= 256) for s in sizes}
  markdown = "\n".join(report.section_start("Video (issue 24)", report.command_line("bench_video.py", argv),
                                            report.machine_description()) + [table(results)])
  report.publish("video", markdown, write=not args.quick)


if __name__ == "__main__":
  sys.exit(main())
