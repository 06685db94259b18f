"""DeepDream: one dream step at 512 px, JAX against its PyTorch twin, and the peak memory of a tiled
2048 px step against the untiled one.

  python benchmarks/bench_dream.py                      # writes the "dream" section of BENCHMARKS.md
  python benchmarks/bench_dream.py --size 128 --memory-size 512 --no-report     # quick look

The step: roll by up to +-32 px, VGG16 (the packaged vgg16-lpips weights) forward to relu4_3 and
back, step / mean|g|, roll back, clip (stylejax.pixel.dream.step; the twin is
stylejax.reference.dream_twin.dream_step, eager PyTorch). Both are timed interleaved, in one process.
Memory: XLA's buffer assignment of the compiled step (`compiled.memory_analysis()`: temporaries
plus arguments and outputs), untiled and with 512 px tiles; nothing is run at 2048 px.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from stylejax import runtime  # noqa: E402
runtime.configure()  # the product's process settings (glibc allocator, OPENBLAS_NUM_THREADS) before JAX starts

USER_XLA_FLAGS = os.environ.get("XLA_FLAGS")  # before stylejax adds its own

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from benchmarks import report, timing  # noqa: E402
from stylejax import configuration  # noqa: E402
from stylejax.objectives import loss_network  # noqa: E402
from stylejax.pixel import dream  # noqa: E402
from stylejax.reference import dream_twin  # noqa: E402
from stylejax.reference.torch_twin import Preprocess, TorchVGG, to_nchw  # noqa: E402


def _setup(layer: str, tile_size: int = 0):
  config = configuration.load_config("dream")
  config.dream.layers = layer
  config.dream.tile_size = tile_size
  loaded = loss_network.load_weights(config.loss)
  net = loss_network.from_config(config.loss, loaded)
  problem = dream.problem_from_config(config, net)
  return config, loaded, problem, dream.weights_from_config(config, problem)


def time_step(size: int, layer: str, repeats: int) -> dict:
  config, loaded, problem, weights = _setup(layer)
  loop = dream.loop_from_config(config)
  image = jnp.asarray(np.random.default_rng(0).uniform(0, 1, (size, size, 3)).astype(np.float32))
  step_size = jnp.float32(config.dream.step_size)
  key = jax.random.key(0)
  jax_step = lambda: jax.block_until_ready(dream.step(problem, loop, image, loaded.params, {"dream": None},
                                                       weights, step_size, key))
  net = TorchVGG.from_hwio("vgg16", loaded.params, preprocess=Preprocess.of(loaded.preprocessing))
  x = to_nchw(np.asarray(image)[None])
  masks = {layer: torch.ones(int(weights["dream"]["channels"][layer].shape[0]))}
  rng = np.random.default_rng(1)
  torch_step = lambda: dream_twin.dream_step(net, x, tuple(int(s) for s in rng.integers(-32, 33, 2)),
                                             float(step_size), {layer: 1.0}, masks)
  times = timing.time_interleaved({"jax": jax_step, "torch": torch_step}, repeats=repeats, warmup=1)
  row = timing.summarize(times)
  row["ratio"] = row["jax_s"] / row["torch_s"]
  return row


def step_memory(size: int, layer: str, tile_size: int) -> dict:
  """Bytes XLA assigns to the compiled step (temporaries; arguments + outputs), compile only."""
  config, loaded, problem, weights = _setup(layer, tile_size)
  loop = dream.loop_from_config(config)
  image = jax.ShapeDtypeStruct((size, size, 3), jnp.float32)
  compiled = dream.step.lower(problem, loop, image, loaded.params, {"dream": None}, weights,
                              jnp.float32(config.dream.step_size), jax.random.key(0)).compile()
  analysis = compiled.memory_analysis()
  return {"temp": analysis.temp_size_in_bytes,
          "io": analysis.argument_size_in_bytes + analysis.output_size_in_bytes - analysis.alias_size_in_bytes}


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--size", type=int, default=512, help="side of the timed step's image")
  parser.add_argument("--layer", default="relu4_3")
  parser.add_argument("--repeats", type=int, default=5)
  parser.add_argument("--memory-size", type=int, default=2048, help="side of the image whose step memory is read")
  parser.add_argument("--tile-size", type=int, default=512)
  parser.add_argument("--no-report", action="store_true", help="print only; leave BENCHMARKS.md alone")
  parser.add_argument("--output", default=report.DEFAULT_PATH)
  args = parser.parse_args(argv)
  busy_before = report.cpu_busy_fraction()
  row = time_step(args.size, args.layer, args.repeats)
  busy_after = report.cpu_busy_fraction()
  untiled = step_memory(args.memory_size, args.layer, 0)
  tiled = step_memory(args.memory_size, args.layer, args.tile_size)
  mib = lambda b: f"{b / 2**20:,.0f} MiB"
  verdict = report.goal_verdict(row["ratio"], must=1.0, aim=1.0)
  lines = report.section_start("dream", report.command_line("bench_dream.py", argv, USER_XLA_FLAGS),
                               report.machine_description())
  lines += [
      f"One DeepDream step (roll, VGG16 to {args.layer} and back, step / mean|g|, clip) on a "
      f"{args.size}x{args.size} image, the packaged vgg16-lpips weights; median of {args.repeats} interleaved "
      f"calls after a warm-up. CPU busy with other processes: {report.pct(busy_before)} before, "
      f"{report.pct(busy_after)} after.", "",
      "| step | median s | min..max s |", "|---|---|---|",
      f"| JAX (`stylejax.pixel.dream.step`, jitted) | {row['jax_s']:.3f} | "
      f"{row['jax_spread'][0]:.3f}..{row['jax_spread'][1]:.3f} |",
      f"| PyTorch twin (`stylejax.reference.dream_twin.dream_step`) | {row['torch_s']:.3f} | "
      f"{row['torch_spread'][0]:.3f}..{row['torch_spread'][1]:.3f} |", "",
      f"JAX / PyTorch: **{row['ratio']:.2f}x** (goal <= 1.0x: {verdict}).", "",
      f"Memory of the compiled step at {args.memory_size}x{args.memory_size} (XLA's buffer assignment, "
      "`compiled.memory_analysis()`; compiled, not run):", "",
      "| step | temporaries | arguments + outputs |", "|---|---|---|",
      f"| untiled | {mib(untiled['temp'])} | {mib(untiled['io'])} |",
      f"| tiles of {args.tile_size} px (`dream.tile_size={args.tile_size}`) | {mib(tiled['temp'])} | "
      f"{mib(tiled['io'])} |", "",
      f"Tiled temporaries: {tiled['temp'] / untiled['temp']:.2f}x the untiled ones. The tiles run one after "
      "the other (`lax.map`), so the network's activations are those of one tile.",
  ]
  report.publish("dream", "\n".join(lines), not args.no_report, args.output)


if __name__ == "__main__":
  main()
