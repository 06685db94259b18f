"""CycleGAN: generator inference and one training step, stylejax (JAX) versus the PyTorch twin
(stylejax/reference/cyclegan_twin.py, the reference's modules), measured side by side in one run.

    python benchmarks/bench_cyclegan.py                 # writes the "cyclegan" section of BENCHMARKS.md
    python benchmarks/bench_cyclegan.py --quick         # small sizes, prints only

* JAX: `jax.jit(cyclegan.translate, static_argnums=0)` (inference: pad to a multiple of 4, the
  ResNet-9 generator, crop) and the training loop's own compiled step (`loop.compiled_step(mesh)`,
  called with the loop's shardings): G_A, G_B, D_A, D_B, both Adams, both image pools.
* PyTorch: the twin's `ResnetGenerator` under `torch.no_grad()` (the same padding done with
  F.pad(mode="reflect")), and `CycleGAN.step` (`optimize_parameters` of the reference), holding the
  JAX parameters.

The twins are checked first: inference outputs agree to < 1e-4 at the smallest size. Timed calls are
interleaved (benchmarks/timing.py), median of --repeats. Batch 1, ResNet-9, ngf = ndf = 64 (the paper).
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from stylejax import runtime  # noqa: E402
runtime.configure()  # the product's process settings (glibc allocator, OPENBLAS_NUM_THREADS) before JAX starts

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from jax.sharding import NamedSharding, PartitionSpec  # noqa: E402

from benchmarks import report  # noqa: E402
from benchmarks.timing import summarize, time_interleaved  # noqa: E402
from stylejax import devices  # noqa: E402
from stylejax.io import cyclegan_weights  # noqa: E402
from stylejax.methods import cyclegan as method  # noqa: E402
from stylejax.networks import cyclegan  # noqa: E402
from stylejax.reference import cyclegan_twin as twin  # noqa: E402
from stylejax.training import loop  # noqa: E402

SECTION = "cyclegan"
INFER_MUST, INFER_AIM = 1.0, 0.8
TRAIN_MUST, TRAIN_AIM = 1.0, 0.85


def _tensors(state):
  return {k: torch.from_numpy(np.array(v)) for k, v in state.items()}


def _nchw(x):
  return torch.from_numpy(np.ascontiguousarray(np.asarray(x, np.float32).transpose(0, 3, 1, 2)))


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--quick", action="store_true", help="64/128 px inference, 64 px training; print only")
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--infer-sizes", default="256,512,1024")
  parser.add_argument("--train-size", type=int, default=256)
  args = parser.parse_args(argv)
  sizes = [64, 128] if args.quick else [int(s) for s in args.infer_sizes.split(",")]
  train_size = 64 if args.quick else args.train_size

  problem = method.CycleGanProblem(
      method="cyclegan", generator=cyclegan.GeneratorSpec(9, 64), discriminator=cyclegan.DiscriminatorSpec(64),
      crop=train_size, pool_size=50, lambda_a=10.0, lambda_b=10.0, lambda_identity=0.5, learning_rate=2e-4,
      beta1=0.5, constant_steps=100, decay_steps=100)
  state = method.init_state(problem, jax.random.key(0))
  g_spec = problem.generator
  torch_g = twin.ResnetGenerator(64, 9).eval()
  torch_g.load_state_dict(_tensors(cyclegan_weights.generator_to_reference(g_spec, state["params"]["G_A"])))
  translate = jax.jit(cyclegan.translate, static_argnums=0)

  def torch_translate(photo):
    with torch.no_grad():
      return ((torch_g(_nchw(photo[None] * 2 - 1)) + 1) / 2).numpy()

  rng = np.random.default_rng(0)
  check = rng.uniform(size=(sizes[0], sizes[0], 3)).astype(np.float32)
  diff = np.abs(np.asarray(translate(g_spec, state["params"]["G_A"], check)) - torch_translate(check)[0].transpose(1, 2, 0)).max()
  if diff > 1e-4:
    raise SystemExit(f"JAX and torch generators disagree: max abs difference {diff}")

  rows = []
  for size in sizes:
    photo = rng.uniform(size=(size, size, 3)).astype(np.float32)
    times = time_interleaved({"jax": lambda: translate(g_spec, state["params"]["G_A"], photo).block_until_ready(),
                              "torch": lambda: torch_translate(photo)}, repeats=args.repeats)
    rows.append((f"generator inference {size} px", summarize(times)))
    print(rows[-1], flush=True)

  mesh = devices.data_mesh()
  replicated, sharded = NamedSharding(mesh, PartitionSpec()), NamedSharding(mesh, PartitionSpec(devices.DATA_AXIS))
  step = loop.compiled_step(mesh)
  batch = jax.device_put({d: rng.uniform(size=(1, train_size, train_size, 3)).astype(np.float32) for d in "AB"}, sharded)
  jax_state = {"s": jax.device_put(state, replicated)}
  frozen, base_key = jax.device_put({}, replicated), jax.random.key(1)

  def jax_step():
    jax_state["s"], terms = step(problem, jax_state["s"], batch, frozen, base_key)
    jax.block_until_ready(terms)

  nets = {}
  for name in ("G_A", "G_B"):
    nets[name] = twin.ResnetGenerator(64, 9)
    nets[name].load_state_dict(_tensors(cyclegan_weights.generator_to_reference(g_spec, state["params"][name])))
  for name in ("D_A", "D_B"):
    nets[name] = twin.NLayerDiscriminator(64)
    nets[name].load_state_dict(_tensors(cyclegan_weights.discriminator_to_reference(
        problem.discriminator, state["discriminators"][name])))
  reference = twin.CycleGAN(nets["G_A"], nets["G_B"], nets["D_A"], nets["D_B"])
  real_a, real_b = (_nchw(np.asarray(batch[d]) * 2 - 1) for d in "AB")
  draws = [(float(c), int(s)) for c, s in zip(*map(np.asarray, image_pool_draws()))]
  times = time_interleaved({"jax": jax_step, "torch": lambda: reference.step(real_a, real_b, draws, draws)},
                           repeats=args.repeats)
  rows.append((f"training step {train_size} px (G_A, G_B, D_A, D_B), batch 1", summarize(times)))
  print(rows[-1], flush=True)

  lines = report.section_start("CycleGAN: ResNet-9 generator inference and one training step, JAX vs the torch twin",
                               report.command_line("bench_cyclegan.py", argv), report.machine_description())
  lines += [f"Load average while measured: {os.getloadavg()[0]:.1f} (a shared 2-core machine: the ratios, taken "
            "from interleaved calls, mean more than the times).", "",
            "| measurement | JAX s (median) | torch s (median) | JAX / torch | must / aim | verdict |",
            "|---|---|---|---|---|---|"]
  for name, row in rows:
    ratio = row["jax_s"] / row["torch_s"]
    must, aim = (TRAIN_MUST, TRAIN_AIM) if name.startswith("training") else (INFER_MUST, INFER_AIM)
    lines.append(f"| {name} | {row['jax_s']:.3f} | {row['torch_s']:.3f} | {ratio:.2f} | {must} / {aim} | "
                 f"{report.goal_verdict(ratio, must, aim)} |")
  report.publish(SECTION, "\n".join(lines) + "\n", write=not args.quick)
  return 0


def image_pool_draws():
  """The torch pool's coin and slot for its one image per step (the pool fills in the first 50 steps)."""
  from stylejax.feedforward import image_pool  # pylint: disable=import-outside-toplevel
  return image_pool.draws(jax.random.key(2), 1, 50)


if __name__ == "__main__":
  sys.exit(main())
