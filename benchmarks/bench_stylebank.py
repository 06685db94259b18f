"""StyleBank (Chen et al. 2017): the new-bank training step (encoder/decoder and old banks frozen) and
the base's stylising step, stylejax (JAX) versus the PyTorch twin, side by side in one run.

    python benchmarks/bench_stylebank.py              # writes the "stylebank" section of BENCHMARKS.md
    python benchmarks/bench_stylebank.py --quick      # tiny sizes, prints only

The problem is stylejax/configs/stylebank_tiny.py's with the paper's widths (32, 64, 128; width
multiplier 1.0), 2 bank layers, VGG16 (packaged lpips weights) with the base config's layers (content
relu3_3; style relu1_2, relu2_2, relu3_3, relu4_3), Adam. The base has 4 styles; the new-bank run adds
one. The content batch is made of scikit-image photos.

* JAX: the product's own code -- `stylebank.METHOD.problem`, `init_state` (a new-bank run restores
  its base from a workdir this script writes with `loop.run`, 1 step), and the jitted
  `loop.compiled_step(mesh)` called as `loop.run` calls it (same shardings). The base row keeps the
  step index at 0, so every timed call is a stylising step (the auto-encoder step, 1 in T+1, is far
  cheaper: no VGG).
* PyTorch: stylejax/reference/stylebank_twin.py (the network as modules holding the same parameters,
  each example through its bank in a loop as the reference implementation does, torch.optim.Adam)
  with torch_twin.py's VGG16 and perceptual loss.

Before timing, each first step is checked: the loss terms of JAX and the twin agree to 1e-3 relative.
Timed: median of interleaved calls (benchmarks/timing.py); images/s = batch / step time.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

USER_XLA_FLAGS = os.environ.get("XLA_FLAGS")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from stylejax import runtime  # noqa: E402
runtime.configure()  # the product's process settings (glibc allocator, OPENBLAS_NUM_THREADS) before JAX starts

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from jax.sharding import NamedSharding, PartitionSpec  # noqa: E402

from benchmarks import report  # noqa: E402
from benchmarks.timing import summarize, time_quietly  # noqa: E402
from stylejax import configuration, devices  # noqa: E402
from stylejax.feedforward import data  # noqa: E402
from stylejax.imaging import crops, images  # noqa: E402
from stylejax.methods import stylebank  # noqa: E402
from stylejax.objectives import loss_network  # noqa: E402
from stylejax.reference.stylebank_twin import TorchStyleBankTrainer  # noqa: E402
from stylejax.reference.torch_twin import Mismatch, PerceptualLoss, Preprocess, TorchVGG, to_nchw  # noqa: E402
from stylejax.training import loop  # noqa: E402

SECTION = "stylebank"
MUST, AIM = 1.0, 1.2  # JAX images/s over the twin's (issue 22)
LOSS_TOLERANCE = 1e-3


def base_config(size: int, batch: int, style_size: int, width: float):
  c = configuration.load_config("stylebank_tiny")
  return configuration.apply_values(c, {"data.image_size": size, "optim.batch_size": batch,
                                        "style_size": style_size, "network.width_multiplier": width,
                                        "optim.steps": 1, "checkpoint_every": 1, "eval_every": 0,
                                        "eval_size": 32})


class Side:
  """One run's JAX problem and inputs (placed as `loop.run` places them) and its torch twin."""

  def __init__(self, config, content: np.ndarray, loaded):
    method = stylebank.METHOD
    styles = data.style_image_list(config.styles)
    self.problem = method.problem(config, loaded, len(styles))
    self.mesh = devices.data_mesh()
    replicated = NamedSharding(self.mesh, PartitionSpec())
    style_images = data.load_style_images(styles, config.style_size)
    frozen = {"vgg": loaded.params,
              "targets": stylebank.style_targets(self.problem, loaded.params, jnp.asarray(style_images)),
              "weights": loss_network.loss_weights(config.loss, loaded.arch)}
    self.frozen = jax.device_put(frozen, replicated)
    self.state0 = jax.device_put(loop.initial_state(self.problem, config.seed), replicated)
    self.batch = {"content": jax.device_put(content, NamedSharding(self.mesh, PartitionSpec(devices.DATA_AXIS)))}
    self.key = jax.random.key(0)
    self.step_fn = loop.compiled_step(self.mesh)
    w = loss_network.loss_weights(config.loss, loaded.arch)
    twin_vgg = TorchVGG.from_hwio(loaded.arch, loaded.params, preprocess=Preprocess.of(loaded.preprocessing))
    self.twin_loss = PerceptualLoss(twin_vgg, jax.device_get(w["content_layers"]), jax.device_get(w["style_layers"]),
                                    content_weight=float(w["content"]), style_weight=float(w["style"]),
                                    tv_weight=float(w["tv"]))
    self.twin_targets = self.twin_loss.style_targets(to_nchw(style_images))
    self.trainer = TorchStyleBankTrainer(jax.device_get(self.state0["params"]), self.twin_loss, self.twin_targets,
                                         to_nchw(content), config.optim.learning_rate, n_base=self.problem.n_base)
    self.ids = np.asarray(jax.random.randint(jax.random.fold_in(jax.random.fold_in(self.key, 0), 0),
                                             (content.shape[0],), self.problem.n_base, self.problem.spec.n_styles))
    self.state = self.state0

  def jax_step(self):
    """One stylising step (the step index stays 0: the base's alternation never reaches its AE step)."""
    state = {**self.state, "step": self.state0["step"]}
    self.state, terms = self.step_fn(self.problem, state, self.batch, self.frozen, self.key)
    jax.block_until_ready((self.state, terms))
    return terms

  def torch_step(self):
    return self.trainer.stylising_step(self.ids)

  def check(self, name: str) -> None:
    ours = {k: float(v) for k, v in self.jax_step().items()}
    twin = self.torch_step()
    errs = {k: abs(ours[k] - twin[k]) / max(abs(twin[k]), 1e-12) for k in ("content", "style", "total")}
    print(f"[{name}] first step: JAX total {ours['total']:.6e}, torch {twin['total']:.6e}; rel err "
          + ", ".join(f"{k} {v:.1e}" for k, v in errs.items()), flush=True)
    if not max(errs.values()) < LOSS_TOLERANCE:
      raise Mismatch(f"{name}: JAX and the twin disagree on the first step's loss: {errs}")


def content_batch(size: int, batch: int) -> np.ndarray:
  photos = ["astronaut", "coffee", "chelsea", "rocket"]
  return np.stack([crops.square(images.load_image(photos[i % len(photos)]), size) for i in range(batch)]
                  ).astype(np.float32)


def bench(side: Side, name: str, batch: int, repeats: int, warmup: int, quiet: dict) -> dict:
  times, other = time_quietly({"jax": side.jax_step, "torch": side.torch_step}, repeats, warmup, quiet)
  row = {"name": name, "other": other, **summarize(times)}
  for f in ("jax", "torch"):
    row[f"{f}_ips"] = batch / row[f"{f}_s"]
  row["ratio"] = row["jax_ips"] / row["torch_ips"]
  print(f"[{name}] JAX {1e3 * row['jax_s']:.0f} ms ({row['jax_ips']:.2f} img/s), torch {1e3 * row['torch_s']:.0f} ms "
        f"({row['torch_ips']:.2f} img/s); JAX/torch images/s {row['ratio']:.2f}; other processes "
        f"{report.pct(other)}", flush=True)
  return row


def verdict(ratio: float) -> str:
  if ratio >= AIM:
    return "met, aim met too"
  return "met, aim not met" if ratio >= MUST else "**not met**"


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--quick", action="store_true", help="tiny sizes; prints only")
  parser.add_argument("--size", type=int, default=None, help="training crop px (default 128)")
  parser.add_argument("--batch", type=int, default=None, help="images per step (default 4)")
  parser.add_argument("--repeats", type=int, default=None, help="timed steps of each (default 6)")
  parser.add_argument("--warmup", type=int, default=1)
  parser.add_argument("--wait-quiet", type=float, default=None, help="seconds to wait for a quiet machine")
  parser.add_argument("--max-other", type=float, default=0.1)
  parser.add_argument("--attempts", type=int, default=None)
  parser.add_argument("--no-report", action="store_true", help="print only; leave BENCHMARKS.md alone")
  args = parser.parse_args(argv)
  d = ({"size": 32, "batch": 2, "repeats": 2, "wait_quiet": 0.0, "attempts": 1, "width": 0.25, "style_size": 32}
       if args.quick else {"size": 128, "batch": 4, "repeats": 6, "wait_quiet": 900.0, "attempts": 3,
                           "width": 1.0, "style_size": 128})
  size, batch = args.size or d["size"], args.batch or d["batch"]
  repeats = args.repeats or d["repeats"]
  quiet = dict(max_other=args.max_other, attempts=args.attempts or d["attempts"],
               wait_timeout=d["wait_quiet"] if args.wait_quiet is None else args.wait_quiet)
  torch.manual_seed(0)

  config = base_config(size, batch, d["style_size"], d["width"])
  loaded = loss_network.load_weights(config.loss)
  content = content_batch(size, batch)
  with tempfile.TemporaryDirectory() as tmp:
    base_dir = os.path.join(tmp, "base")
    loop.run(config, base_dir, quiet=True)  # the base a new bank is trained on
    new_config = configuration.apply_values(config, {"network.base": base_dir, "styles": ("the_scream",)})
    sides = {"base stylising step": Side(config, content, loaded), "new-bank step": Side(new_config, content, loaded)}
    for name, side in sides.items():
      side.check(name)
    rows = [bench(side, name, batch, repeats, args.warmup, quiet) for name, side in sides.items()]

  machine = report.machine_description()
  lines = report.section_start("StyleBank: new-bank and stylising steps, JAX vs the torch twin",
                               report.command_line("bench_stylebank.py", argv, USER_XLA_FLAGS), machine)
  lines += [f"{size} px crops, batch {batch}, widths 32/64/128 x {d['width']}, 2 bank layers, VGG16 loss "
            "(content relu3_3; style relu1_2..relu4_3). Median of interleaved steps; JAX/torch = images/s ratio "
            f"(issue 22 goal for the bank step: >= {MUST}, aim >= {AIM}).", "",
            "| step | JAX ms | torch ms | JAX img/s | torch img/s | JAX/torch | other processes | goal |",
            "|---|---|---|---|---|---|---|---|"]
  for r in rows:
    goal = verdict(r["ratio"]) if r["name"] == "new-bank step" else "-"
    lines.append(f"| {r['name']} | {1e3 * r['jax_s']:.0f} | {1e3 * r['torch_s']:.0f} | {r['jax_ips']:.2f} | "
                 f"{r['torch_ips']:.2f} | {r['ratio']:.2f} | {report.pct(r['other'])} | {goal} |")
  report.publish(SECTION, "\n".join(lines) + "\n", write=not (args.quick or args.no_report))


if __name__ == "__main__":
  main()
