"""AdaIN (Huang & Belongie 2017, arbitrary style in one forward pass): inference and a training step,
stylejax (JAX) versus a PyTorch twin, measured side by side in one run.

    python benchmarks/bench_adain.py                 # full run, writes the "adain" section
    python benchmarks/bench_adain.py --quick         # tiny sizes, a few minutes, prints only
    python benchmarks/bench_adain.py --check-only    # the agreement checks alone, prints only

The network is `stylejax.networks.adain` with the paper's decoder (width multiplier 1.0: 512 -> 256
-> 128 -> 64 -> 3, the release's layer list) and stylejax/configs/adain_tiny.py's encoder and loss: the
packaged VGG16 (lpips weights) to relu4_1 (the offline encoder; the paper's VGG19 is not on this
machine), content loss on relu4_1 against the AdaIN target, lambda = 10 x mean/std style loss on
relu1_1..relu4_1, Adam. Photos: scikit-image's; paintings: the four bundled ones.

* JAX: the product's own code -- `adain_method.METHOD.problem` (network.kind = "adain"),
  `loss_network.loss_weights`, `loop.initial_state`, the jitted `loop.compiled_step(mesh)` called as
  `loop.run` calls it (a {"content", "style"} batch, same shardings), and
  `jax.jit(adain.stylize, static_argnames=("net", "spec"))` for inference.
* PyTorch: the twins of stylejax/reference/torch_twin.py: VGG16 with the same weights and
  preprocessing, the release's AdaIN (`adaptive_instance_normalization`) and decoder layer list
  (`torch.nn.Sequential`: ReflectionPad2d, Conv2d, ReLU, nearest Upsample) holding the JAX
  parameters (HWIO -> OIHW), the same loss, torch.optim.Adam (optax.adam's defaults).

Before anything is timed, the twins are checked (the script stops with an error otherwise): stylized
outputs agree to a max abs difference < 1e-5 at every inference size and at an odd size that
exercises the pad-to-a-multiple-of-8-and-crop path, and the raw (unclipped) decoder outputs to a
relative max error < 1e-5; at the training size the float32 loss terms agree with the twin's (float32
and float64) to < 1e-4 relative and the decoder gradient to < 1e-2 relative L2; then the product's
first training step and the twin's first Adam step agree in loss and update.

Timed, JAX and torch calls interleaved (benchmarks/timing.py), median: one full training step
(encoder on photos and paintings, AdaIN, decoder forward, VGG loss, backward, Adam update) at
--train-size with --batch pairs, and inference (batch 1, photo and painting at the same size, as the
paper's timing table) at each --infer-sizes. The float32 matmul peak (benchmarks/matmul_peak.py) is
measured before and after, for the achieved FLOP rates.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

# As the user set it: importing stylejax adds its own XLA:CPU flag to XLA_FLAGS (stylejax/__init__.py).
USER_XLA_FLAGS = os.environ.get("XLA_FLAGS")

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from stylejax import runtime  # noqa: E402
runtime.configure()  # the product's process settings (glibc allocator, OPENBLAS_NUM_THREADS) before JAX starts

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from jax.sharding import Mesh, NamedSharding, PartitionSpec  # noqa: E402

from benchmarks import report  # noqa: E402
from benchmarks.adain_torch_side import (FLIP_TOLERANCE, GRAD_L2_TOLERANCE,  # noqa: E402
                                         LOSS_TOLERANCE, OUTPUT_TOLERANCE, RAW_TOLERANCE, UPDATE_L2_TOLERANCE,
                                         TorchTrainer, TwinAdaIN, check_inference, check_training,
                                         inference_pair, jax_stylize)
from benchmarks.bench_vgg import conv_flops  # noqa: E402
from benchmarks.matmul_peak import best_peaks, peaks_quietly  # noqa: E402
from benchmarks.timing import summarize, time_quietly  # noqa: E402
from stylejax.configs.adain_tiny import get_config as get_adain_config  # noqa: E402
from stylejax.feedforward import data  # noqa: E402
from stylejax.methods import adain as adain_method, base  # noqa: E402
from stylejax.objectives import loss_network  # noqa: E402
from stylejax.training import loop  # noqa: E402
from stylejax.imaging import crops, images  # noqa: E402
from stylejax.networks import adain  # noqa: E402
from stylejax.reference.torch_twin import Mismatch, to_nchw  # noqa: E402

SECTION = "adain"
TRAIN_GOAL = 1.2  # JAX training images/s at least 1.2x the twin's
INFER_GOAL = 1.0  # JAX inference time at most the twin's


# ----------------------------------------------------------------------------------------------
# FLOP counts (convolutions only)


def decoder_flops(spec: adain.DecoderSpec, height: int, width: int) -> float:
  """Forward FLOPs of the decoder's convolutions producing an (H, W) image (multiples of 8)."""
  h, w = height // adain.DOWNSAMPLING, width // adain.DOWNSAMPLING
  total = 0.0
  for cin, cout, upsample in spec.plan:
    if upsample:
      h, w = 2 * h, 2 * w
    total += 2.0 * h * w * cin * cout * 9
  return total


def encoder_flops(arch: str, size: int) -> float:
  return conv_flops(arch, size, adain.CONTENT_LAYER)


def infer_flops(problem: base.Problem, size: int) -> float:
  """Encoder on the photo and on the painting (both size x size), decoder."""
  return 2 * encoder_flops(problem.loss.arch, size) + decoder_flops(problem.spec, size, size)


def train_flops(problem: base.Problem, size: int, batch: int) -> float:
  """One training step: the decoder forward, its data and weight gradients (3x forward); VGG to
  relu4_1 on the output forward and data gradient (2x), and forward on photo and painting (2x).
  AdaIN, statistics, Adam not counted."""
  return batch * (3 * decoder_flops(problem.spec, size, size) + 4 * encoder_flops(problem.loss.arch, size))


# ----------------------------------------------------------------------------------------------
# Setup


class Setup:
  """The JAX training problem and its inputs, as `loop.run` builds them for network.kind = "adain"."""

  def __init__(self, size: int, batch: int, seed: int = 0):
    config = get_adain_config()
    with config.unlocked():
      config.network.width_multiplier = 1.0  # the paper's decoder
      config.data.image_size = size
      config.style_size = size
      config.optim.batch_size = batch
      config.seed = seed
    self.config, self.size, self.batch = config, size, batch
    self.loaded = loss_network.load_weights(config.loss)
    self.problem = adain_method.METHOD.problem(config, self.loaded, len(config.styles))
    if self.problem.spec != adain.PAPER:
      raise Mismatch(f"expected the paper's decoder, the config gives {self.problem.spec}")
    self.mesh = Mesh(np.asarray(jax.devices()), ("data",))
    if batch % self.mesh.size:
      raise SystemExit(f"--batch {batch} must be a multiple of the {self.mesh.size} devices")
    self.replicated = NamedSharding(self.mesh, PartitionSpec())
    batch_sharding = NamedSharding(self.mesh, PartitionSpec("data"))

    photos, paintings = list(config.eval_images), data.load_style_images(config.styles, size)
    content = []
    for i in range(batch):
      photo = crops.square(images.load_image(photos[i % len(photos)]), size)
      content.append(photo[:, ::-1] if (i // len(photos)) % 2 else photo)  # mirror repeats
    self.content_np = np.stack(content).astype(np.float32)
    self.style_np = np.stack([paintings[i % len(paintings)] for i in range(batch)]).astype(np.float32)
    self.batch_inputs = jax.device_put({"content": jnp.asarray(self.content_np), "style": jnp.asarray(self.style_np)},
                                       batch_sharding)
    self.vgg_params = jax.device_put(self.loaded.params, self.replicated)
    self.weights = jax.device_put(loss_network.loss_weights(config.loss, self.loaded.arch), self.replicated)
    self.base_key = jax.random.fold_in(jax.random.key(config.seed), 2)  # as loop.run
    self.params = loop.initial_state(self.problem, config.seed)["params"]
    self.step_fn = loop.compiled_step(self.mesh)

  def fresh_state(self) -> dict:
    params = jax.tree.map(jnp.asarray, self.params)
    state = {"params": params, "opt_state": self.problem.optimizer().init(params), "step": jnp.int32(0)}
    return jax.device_put(state, self.replicated)

  def step(self, state):
    return self.step_fn(self.problem, state, self.batch_inputs, {"vgg": self.vgg_params, "weights": self.weights},
                        self.base_key)


# ----------------------------------------------------------------------------------------------
# Timing


def bench_train(setup: Setup, repeats: int, warmup: int, quiet: dict) -> dict:
  box = {"state": setup.fresh_state()}
  twin = TwinAdaIN(setup.problem.loss, setup.loaded, setup.params, setup.weights)
  trainer = TorchTrainer(setup.problem, twin, to_nchw(setup.content_np), to_nchw(setup.style_np))

  def jax_step():
    box["state"], terms = setup.step(box["state"])
    jax.block_until_ready((box["state"], terms))

  times, other = time_quietly({"jax": jax_step, "torch": trainer.step}, repeats, warmup, quiet)
  flops = train_flops(setup.problem, setup.size, setup.batch)
  row = {"size": setup.size, "batch": setup.batch, "gflop": flops / 1e9, "other": other, **summarize(times, flops)}
  for f in times:
    row[f"{f}_ips"] = setup.batch / row[f"{f}_s"]
  row["ratio"] = row["jax_ips"] / row["torch_ips"]
  print(f"[train {setup.size}px batch {setup.batch}] JAX {1e3 * row['jax_s']:.0f} ms/step "
        f"({row['jax_ips']:.2f} img/s), torch {1e3 * row['torch_s']:.0f} ms/step ({row['torch_ips']:.2f} img/s); "
        f"JAX/torch images/s {row['ratio']:.2f}; other processes took {report.pct(other)} of the machine", flush=True)
  return row


def bench_inference(setup: Setup, twin: TwinAdaIN, size: int, repeats: int, warmup: int, quiet: dict,
                    first_call_s: float) -> dict:
  """`first_call_s`: JAX's first call at this shape (compile + run), timed by check_inference."""
  photo, painting = inference_pair(size, size)
  photo_j, painting_j = jnp.asarray(photo), jnp.asarray(painting[0])
  photo_t, painting_t = to_nchw(photo), to_nchw(painting)
  net, spec = setup.problem.loss, setup.problem.spec

  def jax_call():
    jax_stylize(setup.params, setup.vgg_params, photo_j, painting_j, net=net, spec=spec).block_until_ready()

  def torch_call():
    with torch.inference_mode():
      twin.stylize(photo_t, painting_t)

  times, other = time_quietly({"jax": jax_call, "torch": torch_call}, repeats, warmup, quiet)
  flops = infer_flops(setup.problem, size)
  row = {"size": size, "gflop": flops / 1e9, "other": other, "first_call_s": first_call_s,
         **summarize(times, flops)}
  row["ratio"] = row["jax_s"] / row["torch_s"]
  print(f"[inference {size}px] JAX {1e3 * row['jax_s']:.1f} ms, torch {1e3 * row['torch_s']:.1f} ms; "
        f"JAX/torch time {row['ratio']:.2f}; other processes took {report.pct(other)} of the machine", flush=True)
  return row


# ----------------------------------------------------------------------------------------------
# Report


def goal_statements(train_row, infer_rows, quick: bool, peak: dict | None, goal_size: int = 256) -> list[str]:
  out = []
  if quick or train_row is None:
    out.append("(This run used --quick or --check-only sizes, so the statements below describe it "
               "and are no verdict on the goals.)")
  if train_row is not None:
    r = train_row
    ok = r["ratio"] >= TRAIN_GOAL
    where = f"{r['size']} px, batch {r['batch']}"
    if r["size"] != goal_size:
      where += f" (the goal is stated at {goal_size} px)"
    line = (f"- Training step, JAX images/s ≥ {TRAIN_GOAL:g}× the twin's: **{'met' if ok else 'not met'}** — "
            f"{r['ratio']:.2f}× at {where} ({r['jax_ips']:.2f} vs {r['torch_ips']:.2f} images/s).")
    if not ok and peak:
      line += (f" What bounds it: the step is convolutions (decoder forward + both gradients, VGG16 to relu4_1 "
               f"four times) and JAX runs them at {100 * r['jax_gflops'] / peak['jax']:.0f}% of its matmul peak, "
               f"torch at {100 * r['torch_gflops'] / peak['torch']:.0f}% of its own; reaching {TRAIN_GOAL:g}× needs "
               f"JAX at {100 * TRAIN_GOAL * r['torch_gflops'] / peak['jax']:.0f}% of its peak.")
    out.append(line)
  if infer_rows:
    slower = [r for r in infer_rows if r["ratio"] > INFER_GOAL]
    detail = ", ".join(f"{r['size']} px {r['ratio']:.2f}" for r in infer_rows)
    out.append(f"- Inference no slower than the twin (JAX/torch time ≤ 1): **{'not met' if slower else 'met'}** — "
               f"JAX/torch time ratio {detail}"
               + (f"; slower at {', '.join(str(r['size']) + ' px' for r in slower)}." if slower else "."))
  return out


def render(args, command, machine, busy, peaks, setup, checks, infer_checks, train_row, infer_rows,
           total_s) -> str:
  n_params = int(sum(np.size(x) for x in jax.tree.leaves(setup.params)))
  peak = best_peaks(*peaks) if peaks[0] else None
  net = setup.problem.loss
  lines = report.section_start("AdaIN (Huang & Belongie, arbitrary style): stylejax versus a PyTorch twin",
                               command, machine) + [
      "The machine is shared: other processes took " + " / ".join(report.pct(b) for b in busy)
      + " of it just before / after the run; each timing loop waits for a quiet machine (up to "
      "`--wait-quiet` s) and is retried (up to `--attempts`) when other processes take more than "
      "`--max-other` of it meanwhile; the \"other load\" columns are what they took during the kept "
      f"loop. Whole run: {total_s / 60:.1f} min.",
      "",
      f"Network: `stylejax.networks.adain` with the paper's decoder ({n_params:,} parameters: reflect-padded "
      "3×3 convs 512→256, ×2, 256×3, 256→128, ×2, 128→128, 128→64, ×2, 64→64, 64→3, nearest ×2 upsampling, "
      f"ReLU, no normalisation; the product's initial parameters, `loop.initial_state`); encoder "
      f"{net.arch.upper()} (`{setup.config.loss.network.weights}`, the offline encoder; the paper's VGG19 "
      f"is not on this machine) to relu4_1; AdaIN statistics over H, W with unbiased variance + 1e-5 (the "
      f"release's `calc_mean_std`). Training: stylejax/configs/adain_tiny.py's loss (content MSE on relu4_1 against "
      f"the AdaIN target, λ = {setup.config.loss.style_weight:g} × mean/std style loss on "
      f"{', '.join(net.style_layers)}), Adam {setup.problem.learning_rate:g}, photo i paired with painting i "
      "(scikit-image photos, the four bundled paintings, all "
      f"{setup.size}×{setup.size}). Inference: photo and painting at the same size, as in the paper's "
      "timing table, batch 1, α = 1.",
      "",
      "JAX: the product's code path — `adain_method.METHOD.problem` (network.kind = adain), `loss_network.loss_weights`, "
      "and the jitted `loop.compiled_step(mesh)` called with a {content, style} batch and the shardings "
      "`loop.run` uses, one call per step, blocking on the new state; inference "
      "`jax.jit(adain.stylize, static_argnames=(\"net\", \"spec\"))`. torch: the twins of "
      "`stylejax.reference.torch_twin` — VGG16 with `Conv2d`/`F.max_pool2d` and the same weights and "
      "preprocessing, the release's `adaptive_instance_normalization` and decoder layer list "
      "(`ReflectionPad2d`, `Conv2d`, `ReLU`, `Upsample(mode=\"nearest\")`) holding the same parameters, the "
      "same loss, `torch.optim.Adam` (optax.adam's defaults); inference under `torch.inference_mode()`; "
      f"torch's default threads ({torch.get_num_threads()}).",
      "",
      f"Agreement, checked before timing (the run stops otherwise): stylized outputs (clipped to [0, 1]) agree "
      f"to a max abs difference < {OUTPUT_TOLERANCE:g}, and the raw decoder outputs (before clipping; an "
      f"untrained decoder clips many pixels) to a relative max error < {RAW_TOLERANCE:g}:",
      "",
      "| input H×W | max abs diff | clipped entries | raw output rel max err |",
      "|---|---|---|---|",
  ]
  for shape, check in infer_checks:
    raw = "—" if check["raw_err"] is None else f"{check['raw_err']:.1e}"
    lines.append(f"| {shape[0]}×{shape[1]} | {check['err']:.1e} | {100 * check['clipped']:.0f}% | {raw} |")
  c = checks
  lines += [
      "",
      f"Training loss at {setup.size} px, batch {setup.batch} (`adain.batch_loss` and its gradient w.r.t. the "
      "decoder parameters, against the twin's autograd), in float32 (what is timed): total "
      f"{c['jax']['total']:.6e} vs {c['torch']['total']:.6e}, relative error total {c['err']['total']:.1e}, style "
      f"{c['err']['style']:.1e}, content {c['err']['content']:.1e}; against the twin in float64 (the exact "
      f"reference; the JAX loss network returns float32 features whatever the input dtype, so JAX has no float64 "
      f"run): total {c['err64']['total']:.1e}, style {c['err64']['style']:.1e}, content {c['err64']['content']:.1e} "
      f"(tolerance {LOSS_TOLERANCE:g} each). Gradient relative L2 error JAX vs twin {c['grad_l2']:.1e}; against "
      f"the float64 gradient: JAX {c['jax_l2_64']:.1e}, twin float32 {c['torch_l2_64']:.1e} (tolerance "
      f"{GRAD_L2_TOLERANCE:g}; float32 rounding flips near-tied VGG max-pool windows, which moves whole gradient "
      "contributions to neighbouring pixels, so float32 gradients sit ~1e-4 apart at 256 px). "
      f"The product's first `train_step`: loss {c['step_jax']:.6e} vs {c['step_torch']:.6e}, relative error "
      f"{c['step_err']:.1e}; gradient norm relative error {c['norm_err']:.1e}; Adam's first update ≈ −lr·sign(g): "
      f"{100 * c['flipped']:.2f}% of the entries moved the other way (tolerance {100 * FLIP_TOLERANCE:g}%), over "
      f"the others the updates' relative L2 error is {c['update_l2']:.0e} (tolerance {UPDATE_L2_TOLERANCE:g}).",
      "",
  ]
  if peak:
    lines += [
        f"Matmul peak: {args.matmul_n}×{args.matmul_n} float32 matmul, median GFLOP/s, measured before and after "
        f"the timings: JAX {peaks[0]['jax']:.1f} / {peaks[1]['jax']:.1f}, torch {peaks[0]['torch']:.1f} / "
        f"{peaks[1]['torch']:.1f}. Fractions below use the higher of the two readings per framework: JAX "
        f"{peak['jax']:.1f}, torch {peak['torch']:.1f} GFLOP/s. FLOPs count convolutions only: 2·H·W·Cin·Cout·k² "
        "each; inference = VGG16 to relu4_1 on photo and painting + the decoder; a training step = 3× the "
        "decoder's forward (forward, data and weight gradients) + 2× VGG16 to relu4_1 on the output (forward, "
        "data gradient) + VGG16 to relu4_1 on the photos and on the paintings.",
        "",
    ]
  if train_row is not None:
    r = train_row
    lines += [
        f"### Training step ({r['size']} px, batch {r['batch']}; median of {args.train_repeats} steps after "
        f"{args.warmup} warmup step(s), JAX and torch steps interleaved)",
        "",
        "| px | batch | GFLOP/step | JAX ms/step | torch ms/step | JAX images/s | torch images/s "
        "| JAX/torch images/s | JAX first call (compile + step) s | JAX GFLOP/s (% of peak) "
        "| torch GFLOP/s (% of peak) | other load |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
        f"| {r['size']} | {r['batch']} | {r['gflop']:.1f} | {1e3 * r['jax_s']:.0f} "
        f"({1e3 * r['jax_spread'][0]:.0f}–{1e3 * r['jax_spread'][1]:.0f}) | {1e3 * r['torch_s']:.0f} "
        f"({1e3 * r['torch_spread'][0]:.0f}–{1e3 * r['torch_spread'][1]:.0f}) | {r['jax_ips']:.2f} | "
        f"{r['torch_ips']:.2f} | {r['ratio']:.2f}× | {c['first_call_s']:.1f} | {r['jax_gflops']:.1f} "
        f"({100 * r['jax_gflops'] / peak['jax']:.0f}%) | {r['torch_gflops']:.1f} "
        f"({100 * r['torch_gflops'] / peak['torch']:.0f}%) | {report.pct(r['other'])} |",
        "",
    ]
  if infer_rows:
    lines += [
        f"### Inference (batch 1; median of {args.infer_repeats} calls after {args.warmup} warmup call(s), JAX and "
        "torch calls interleaved)",
        "",
        "| px | GFLOP | JAX ms | torch ms | JAX/torch time | JAX first call (compile + run) s "
        "| JAX GFLOP/s (% of peak) | torch GFLOP/s (% of peak) | other load |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in infer_rows:
      lines.append(
          f"| {r['size']} | {r['gflop']:.1f} | {1e3 * r['jax_s']:.0f} "
          f"({1e3 * r['jax_spread'][0]:.0f}–{1e3 * r['jax_spread'][1]:.0f}) | {1e3 * r['torch_s']:.0f} "
          f"({1e3 * r['torch_spread'][0]:.0f}–{1e3 * r['torch_spread'][1]:.0f}) | {r['ratio']:.2f} | "
          f"{r['first_call_s']:.1f} | {r['jax_gflops']:.1f} ({100 * r['jax_gflops'] / peak['jax']:.0f}%) | "
          f"{r['torch_gflops']:.1f} ({100 * r['torch_gflops'] / peak['torch']:.0f}%) | {report.pct(r['other'])} |")
    lines.append("")
  loaded = [r for r in ([train_row] if train_row else []) + infer_rows
            if r["other"] is not None and r["other"] >= args.max_other]
  if loaded:
    lines += [f"**Warning:** other processes took {', '.join(report.pct(r['other']) for r in loaded)} of the "
              "machine during some timing loops (see \"other load\"). With fewer free cores than threads, "
              "both frameworks' thread pools wait on descheduled workers, torch's OpenMP barriers worst, so "
              "ratios measured under load say little about a quiet machine.", ""]
  lines += [f"**Goals** (issue 12: training step at least {TRAIN_GOAL:g}× the twin's images/s at 256 px; "
            "inference no slower than the twin):", ""]
  lines += goal_statements(train_row, infer_rows, args.quick or args.check_only, peak)
  return "\n".join(lines)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--quick", action="store_true",
                      help="tiny sizes, 1-2 repeats (a smoke test); prints only, never writes BENCHMARKS.md")
  parser.add_argument("--check-only", action="store_true", help="run the agreement checks only; prints only")
  parser.add_argument("--train-size", type=int, default=None, help="training crop px (default 256)")
  parser.add_argument("--batch", type=int, default=4, help="training (photo, painting) pairs per step")
  parser.add_argument("--infer-sizes", default=None, help="comma-separated inference px (default 256,512,1024)")
  parser.add_argument("--train-repeats", type=int, default=None, help="timed training steps (default 6)")
  parser.add_argument("--infer-repeats", type=int, default=None, help="timed inference calls per size (default 5)")
  parser.add_argument("--warmup", type=int, default=1, help="untimed calls of each before timing")
  parser.add_argument("--matmul-n", type=int, default=None)
  parser.add_argument("--wait-quiet", type=float, default=None,
                      help="before each timing attempt, seconds to wait at most for other processes to "
                           "leave the CPUs (0: don't wait; default 900, 0 with --quick)")
  parser.add_argument("--max-other", type=float, default=0.1,
                      help="retry a timing loop when other processes took more than this fraction of the machine")
  parser.add_argument("--attempts", type=int, default=None,
                      help="timing attempts per loop at most (default 3, 1 with --quick)")
  parser.add_argument("--torch-threads", type=int, default=None,
                      help="torch intra-op threads (default: torch's own default)")
  parser.add_argument("--no-report", action="store_true", help="print only; leave BENCHMARKS.md alone")
  parser.add_argument("--section", default=SECTION)
  args = parser.parse_args(argv)
  if args.torch_threads:
    torch.set_num_threads(args.torch_threads)
  defaults = ({"train_size": 64, "infer_sizes": "64,128", "train_repeats": 2, "infer_repeats": 2,
               "matmul_n": 512, "wait_quiet": 0.0, "attempts": 1} if args.quick else
              {"train_size": 256, "infer_sizes": "256,512,1024", "train_repeats": 6, "infer_repeats": 5,
               "matmul_n": 2048, "wait_quiet": 900.0, "attempts": 3})
  for k, v in defaults.items():
    if getattr(args, k) is None:
      setattr(args, k, v)
  infer_sizes = [int(s) for s in args.infer_sizes.split(",") if s]
  write = not (args.no_report or args.quick or args.check_only)
  quiet = dict(max_other=args.max_other, attempts=args.attempts, wait_timeout=args.wait_quiet)

  machine = report.machine_description()
  print(machine, flush=True)
  if jax.default_backend() != "cpu":
    print(f"note: JAX runs on {jax.default_backend()}, the torch twin on the CPU", flush=True)
  busy_before = report.cpu_busy_fraction()
  run_start = time.perf_counter()

  setup = Setup(args.train_size, args.batch)
  print(f"training {args.train_size} px batch {args.batch}, inference {infer_sizes} px", flush=True)
  twin = TwinAdaIN(setup.problem.loss, setup.loaded, setup.params, setup.weights)
  odd = (min(infer_sizes) + 2, min(infer_sizes) + 5)
  infer_checks = [((s, s), check_inference(setup, twin, (s, s))) for s in infer_sizes]
  infer_checks.append((odd, check_inference(setup, twin, odd)))
  checks = check_training(setup)

  peaks, train_row, infer_rows = (None, None), None, []
  if not args.check_only:
    peaks_before, _ = peaks_quietly(args.matmul_n, quiet, "before")
    train_row = bench_train(setup, args.train_repeats, args.warmup, quiet)
    infer_rows = [bench_inference(setup, twin, s, args.infer_repeats, args.warmup, quiet,
                                  dict(infer_checks)[(s, s)]["first_call_s"]) for s in infer_sizes]
    peaks_after, _ = peaks_quietly(args.matmul_n, quiet, "after")
    peaks = (peaks_before, peaks_after)
  busy_after = report.cpu_busy_fraction()
  total_s = time.perf_counter() - run_start

  if args.check_only:
    print("agreement checks passed")
    return
  command = report.command_line("bench_adain.py", argv, USER_XLA_FLAGS)
  text = render(args, command, machine, (busy_before, busy_after), peaks, setup, checks, infer_checks,
                train_row, infer_rows, total_s)
  report.publish(args.section, text, write)


if __name__ == "__main__":
  main()
