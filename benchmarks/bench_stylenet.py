"""Multi-style network (Dumoulin et al. 2017, conditional instance norm): training step and inference,
stylejax (JAX) versus a PyTorch twin, measured side by side in one run.

    python benchmarks/bench_stylenet.py                 # full run, writes the "stylenet" section
    python benchmarks/bench_stylenet.py --quick         # tiny sizes, a few minutes, prints only
    python benchmarks/bench_stylenet.py --check-only    # the agreement checks alone, prints only

The network is `stylejax.networks.stylenet` with the paper's widths (32, 64, 128; width multiplier 1.0, 5
residual blocks) and --styles styles; the training problem is stylejax/configs/cin_multistyle.py's (VGG16
with the packaged lpips weights, style Gram loss "gatys" on relu1_2, relu2_2, relu3_3, relu4_3,
content MSE on relu3_3, Adam 1e-3), with the styles taken from that config (cycled when --styles
asks for more) and the content batch made of scikit-image photos.

* JAX: the product's own code -- `cin.METHOD.problem`, `cin.style_targets`,
  `loss_network.loss_weights`, the jitted `loop.compiled_step(mesh)` called as `loop.run` calls it
  (same shardings), and `jax.jit(stylenet.stylize, static_argnums=0)` for inference.
* PyTorch: the twins of stylejax/reference/torch_twin.py: the same network as a `torch.nn.Module`
  (Conv2d with padding_mode="reflect", F.instance_norm + per-example gamma/beta = style_weights @
  rows, nearest x2 upsampling, sigmoid), holding the JAX parameters (HWIO -> OIHW); a VGG16 with
  the same weights and preprocessing; the same loss; torch.optim.Adam (same defaults as optax.adam).

Before anything is timed, the twins are checked (the script stops with an error otherwise):
stylized outputs agree to a max abs difference < 1e-4 at every inference size and at an odd size
that exercises the pad-to-a-multiple-of-4-and-crop path; at the training size, with fixed style ids
per example, the loss terms agree to < 1e-4 relative and the parameter gradients to a small
relative L2 error; then the product's first training step and the twin's first Adam step, with the
style ids the product draws at step 0, agree in loss and parameter update. Parameters are the
product's initial ones with every style's (gamma, beta) row perturbed, so that the style ids matter.

Timed, JAX and torch calls interleaved (benchmarks/timing.py), median: one full training step
(network forward, VGG loss, backward, Adam update) at --train-size with --batch images, and
inference (batch 1) at each --infer-sizes. The float32 matmul peak (benchmarks/matmul_peak.py) is
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
from benchmarks.bench_vgg import conv_flops  # noqa: E402
from benchmarks.matmul_peak import best_peaks, peaks_quietly  # noqa: E402
from benchmarks.stylenet_torch_side import (F64_TOLERANCE, FLIP_TOLERANCE, GRAD_L2_TOLERANCE,  # noqa: E402
                                            LOSS_TOLERANCE, OUTPUT_TOLERANCE, UPDATE_L2_TOLERANCE,
                                            TorchTrainer, TwinObjective, blend_weights, check_inference,
                                            check_training, inference_image, jax_stylize)
from benchmarks.timing import summarize, time_quietly  # noqa: E402
from stylejax.configs.cin_multistyle import get_config as get_cin_config  # noqa: E402
from stylejax.feedforward import data  # noqa: E402
from stylejax.methods import base, cin  # noqa: E402
from stylejax.objectives import loss_network  # noqa: E402
from stylejax.training import loop  # noqa: E402
from stylejax.imaging import crops, images  # noqa: E402
from stylejax.io import weights  # noqa: E402
from stylejax.networks import stylenet, vgg  # noqa: E402
from stylejax.reference.torch_twin import Mismatch, TorchStyleNet, stylenet_convs, to_nchw  # noqa: E402

SECTION = "stylenet"
TRAIN_GOAL = 1.2  # JAX training images/s at least 1.2x the twin's
INFER_GOAL = 1.0  # JAX inference time at most the twin's


# ----------------------------------------------------------------------------------------------
# FLOP counts (convolutions only)


def stylenet_flops(spec: stylenet.NetworkSpec, height: int, width: int) -> float:
  """Forward FLOPs of the network's convolutions on an input padded up to a multiple of 4."""
  d = stylenet.DOWNSAMPLING
  h, w = -(-height // d) * d, -(-width // d) * d
  return sum(2.0 * (h // c.scale) * (w // c.scale) * c.cin * c.cout * c.kernel ** 2
             for c in stylenet_convs(spec.channels, spec.n_residual))


def train_flops(problem: base.Problem, size: int, batch: int) -> float:
  """One training step: the network forward, its data and weight gradients (3x forward); VGG on the
  output forward and data gradient (2x forward, to the deepest loss layer); VGG on the content
  forward (to the deepest content layer). Adam, norms, losses not counted."""
  loss_layers = set(problem.loss.content_layers) | set(problem.loss.style_layers)
  per_image = (3 * stylenet_flops(problem.spec, size, size)
               + 2 * conv_flops(problem.loss.arch, size, vgg.deepest(problem.loss.arch, loss_layers))
               + conv_flops(problem.loss.arch, size, vgg.deepest(problem.loss.arch, problem.loss.content_layers)))
  return batch * per_image


# ----------------------------------------------------------------------------------------------
# Setup


class Setup:
  """The JAX training problem and its inputs, as `loop.run` builds them."""

  def __init__(self, n_styles: int, size: int, batch: int, style_size: int, seed: int = 0):
    config = get_cin_config()
    base_styles = tuple(config.styles)
    styles = tuple(base_styles[i % len(base_styles)] for i in range(n_styles))
    with config.unlocked():
      config.styles = styles
      config.style_size = style_size
      config.data.image_size = size
      config.optim.batch_size = batch
      config.seed = seed
    self.config, self.size, self.batch, self.styles = config, size, batch, styles
    self.loaded = weights.load_vgg(config.loss.network.weights, arch=config.loss.network.arch, fmt=config.loss.network.format or None)
    self.problem = cin.METHOD.problem(config, self.loaded, n_styles)
    spec = self.problem.spec
    if spec.channels != (32, 64, 128) or spec.n_residual != 5 or not spec.conditional:
      raise Mismatch(f"expected the paper's network (widths 32/64/128, 5 residual blocks, "
                     f"conditional), the config gives {spec}")
    self.mesh = Mesh(np.asarray(jax.devices()), ("data",))
    if batch % self.mesh.size:
      raise SystemExit(f"--batch {batch} must be a multiple of the {self.mesh.size} devices")
    replicated = NamedSharding(self.mesh, PartitionSpec())
    self.batch_sharding = NamedSharding(self.mesh, PartitionSpec("data"))

    self.style_images = data.load_style_images(styles, style_size)
    photos = list(config.eval_images)
    content = []
    for i in range(batch):
      photo = crops.square(images.load_image(photos[i % len(photos)]), size)
      content.append(photo[:, ::-1] if (i // len(photos)) % 2 else photo)  # mirror repeats
    self.content_np = np.stack(content).astype(np.float32)
    self.content = jax.device_put(jnp.asarray(self.content_np), self.batch_sharding)

    self.vgg_params = jax.device_put(self.loaded.params, replicated)
    self.targets = jax.device_put(
        cin.style_targets(self.problem, self.loaded.params, jnp.asarray(self.style_images)), replicated)
    self.weights = jax.device_put(loss_network.loss_weights(config.loss, self.loaded.arch), replicated)
    self.base_key = jax.random.fold_in(jax.random.key(config.seed), 2)  # as loop.run
    state = loop.initial_state(self.problem, config.seed)
    self.params = perturb_style_rows(state["params"], seed)
    self.replicated = replicated
    self.step_fn = loop.compiled_step(self.mesh)

  def fresh_state(self) -> dict:
    params = jax.tree.map(jnp.asarray, self.params)
    state = {"params": params, "opt_state": self.problem.optimizer().init(params), "step": jnp.int32(0)}
    return jax.device_put(state, self.replicated)

  def step(self, state):
    return self.step_fn(self.problem, state, {"content": self.content},
                        {"vgg": self.vgg_params, "targets": self.targets, "weights": self.weights}, self.base_key)

  def product_style_ids(self, step: int) -> np.ndarray:
    """The style ids `cin.Cin.train_step` draws at `step` (its key derivation, reproduced)."""
    key = jax.random.fold_in(self.base_key, step)
    return np.asarray(jax.random.randint(jax.random.fold_in(key, 0), (self.batch,), 0, self.problem.spec.n_styles))


def perturb_style_rows(params, seed: int):
  """Every (gamma, beta) row made different (init has gamma = 1, beta = 0 for every style)."""
  rng = np.random.default_rng(seed + 1)
  out = jax.tree.map(np.asarray, params)
  out = {name: dict(leaves) for name, leaves in out.items()}
  for name, leaves in out.items():
    if name.startswith("ConditionalInstanceNorm_"):
      leaves["gamma"] = (1.0 + 0.2 * rng.standard_normal(leaves["gamma"].shape)).astype(np.float32)
      leaves["beta"] = (0.2 * rng.standard_normal(leaves["beta"].shape)).astype(np.float32)
  return jax.tree.map(jnp.asarray, out)


# ----------------------------------------------------------------------------------------------
# Timing


def bench_train(setup: Setup, objective: TwinObjective, repeats: int, warmup: int, quiet: dict) -> dict:
  box = {"state": setup.fresh_state()}
  trainer = TorchTrainer(setup.problem, setup.params, objective, to_nchw(setup.content_np))

  def jax_step():
    box["state"], terms = setup.step(box["state"])
    jax.block_until_ready((box["state"], terms))

  fns = {"jax": jax_step, "torch": trainer.step}
  times, other = time_quietly(fns, repeats, warmup, quiet)
  flops = train_flops(setup.problem, setup.size, setup.batch)
  row = {"size": setup.size, "batch": setup.batch, "gflop": flops / 1e9, "other": other,
         **summarize(times, flops)}
  for f in times:
    row[f"{f}_ips"] = setup.batch / row[f"{f}_s"]
  row["ratio"] = row["jax_ips"] / row["torch_ips"]
  print(f"[train {setup.size}px batch {setup.batch}] JAX {1e3 * row['jax_s']:.0f} ms/step "
        f"({row['jax_ips']:.2f} img/s), torch {1e3 * row['torch_s']:.0f} ms/step ({row['torch_ips']:.2f} img/s); "
        f"JAX/torch images/s {row['ratio']:.2f}; other processes took {report.pct(other)} of the machine", flush=True)
  return row


def bench_inference(spec, params, twin: TorchStyleNet, size: int, repeats: int, warmup: int, quiet: dict,
                    first_call_s: float) -> dict:
  """`first_call_s`: JAX's first call at this shape (compile + run), timed by check_inference."""
  image = inference_image(size, size)
  w = blend_weights(spec.n_styles)
  image_j, w_j = jnp.asarray(image), jnp.asarray(w)
  image_t, w_t = to_nchw(image), torch.from_numpy(w)[None]

  def torch_call():
    with torch.inference_mode():
      twin.stylize(image_t, w_t)

  fns = {"jax": lambda: jax_stylize(spec, params, image_j, w_j).block_until_ready(), "torch": torch_call}
  times, other = time_quietly(fns, repeats, warmup, quiet)
  flops = stylenet_flops(spec, size, size)
  row = {"size": size, "gflop": flops / 1e9, "other": other, "first_call_s": first_call_s,
         **summarize(times, flops)}
  row["ratio"] = row["jax_s"] / row["torch_s"]
  print(f"[inference {size}px] JAX {1e3 * row['jax_s']:.1f} ms, torch {1e3 * row['torch_s']:.1f} ms; "
        f"JAX/torch time {row['ratio']:.2f}; other processes took {report.pct(other)} of the machine", flush=True)
  return row


# ----------------------------------------------------------------------------------------------
# Report


def goal_statements(train_row, infer_rows, quick: bool, goal_size: int = 256) -> list[str]:
  out = []
  if quick or train_row is None:
    out.append("(This run used --quick or --check-only sizes, so the statements below describe it "
               "and are no verdict on the goals.)")
  if train_row is not None:
    ok = train_row["ratio"] >= TRAIN_GOAL
    where = f"{train_row['size']} px, batch {train_row['batch']}"
    if train_row["size"] != goal_size:
      where += f" (the goal is stated at {goal_size} px)"
    out.append(f"- Training step, JAX images/s ≥ {TRAIN_GOAL:g}× the twin's: **{'met' if ok else 'not met'}** — "
               f"{train_row['ratio']:.2f}× at {where} ({train_row['jax_ips']:.2f} vs "
               f"{train_row['torch_ips']:.2f} images/s).")
  if infer_rows:
    slower = [r for r in infer_rows if r["ratio"] > INFER_GOAL]
    detail = ", ".join(f"{r['size']} px {r['ratio']:.2f}" for r in infer_rows)
    out.append(f"- Inference no slower than the twin (JAX/torch time ≤ 1): **{'not met' if slower else 'met'}** — "
               f"JAX/torch time ratio {detail}"
               + (f"; slower at {', '.join(str(r['size']) + ' px' for r in slower)}." if slower else "."))
  return out


def render(args, command, machine, busy, peaks, setup, checks, infer_checks, train_row, infer_rows,
           total_s) -> str:
  spec = setup.problem.spec
  n_params = int(sum(np.size(x) for x in jax.tree.leaves(setup.params)))
  peak = best_peaks(*peaks)
  lines = report.section_start(
      "Multi-style network (Dumoulin et al., conditional instance norm): stylejax versus a PyTorch twin",
      command, machine) + [
      "The machine is shared: other processes took " + " / ".join(report.pct(b) for b in busy)
      + " of it just before / after the run; each timing loop waits for a quiet machine (up to "
      "`--wait-quiet` s) and is retried (up to `--attempts`) when other processes take more than "
      "`--max-other` of it meanwhile; the \"other load\" columns are what they took during the kept "
      f"loop. Whole run: {total_s / 60:.1f} min.",
      "",
      f"Network: `stylejax.networks.stylenet` with {spec.n_styles} styles, widths {spec.channels}, "
      f"{spec.n_residual} residual blocks ({n_params:,} parameters): reflect-padded 9×9 s1, 3×3 s2, 3×3 s2 "
      "convs, residual blocks conv–CIN–ReLU–conv–CIN + skip, two (nearest ×2, 3×3 conv, CIN, ReLU), "
      "9×9 conv, CIN, sigmoid; conditional instance norm = biased variance over H, W, ε 1e-5, "
      "(γ, β) = style weights @ per-style rows; inputs reflect-padded to a multiple of 4 and cropped "
      "back. Parameters: the product's initial ones (`loop.initial_state`) with every style's (γ, β) "
      "row perturbed (γ = 1 + 0.2·N(0,1), β = 0.2·N(0,1)) so that the style choice matters.",
      "",
      "Training problem: stylejax/configs/cin_multistyle.py — VGG16 with the packaged lpips weights "
      "(`load_vgg(\"vgg16-lpips\")`), LPIPS preprocessing, style loss Σ over "
      + ", ".join(setup.problem.loss.style_layers) + " of Σ(G−A)²/(4C²) with G = FᵀF/(H·W), content "
      "loss MSE at " + ", ".join(setup.problem.loss.content_layers)
      + f", style weight {float(setup.weights['style']):g}, content weight "
      f"{float(setup.weights['content']):g}, TV weight {float(setup.weights['tv']):g}, Adam "
      f"{setup.problem.learning_rate:g}; style images {', '.join(setup.styles)} at "
      f"{setup.config.style_size} px; content batch: {setup.batch} scikit-image photos "
      f"({', '.join(setup.config.eval_images)}, mirrored when repeated) at {setup.size} px, the same "
      "batch every step (data loading is not timed); a random style per example and step.",
      "",
      "JAX: the product's code path — `cin.METHOD.problem`, `cin.style_targets`, "
      "`loss_network.loss_weights`, and the jitted `loop.compiled_step(mesh)` called with the shardings "
      "`loop.run` uses, one call per step, blocking on the new state; inference "
      "`jax.jit(stylenet.stylize, static_argnums=0)`. torch: the twins of `stylejax.reference.torch_twin` — the "
      "network as a `torch.nn.Module` (`Conv2d(padding_mode=\"reflect\")`, `F.instance_norm` + "
      "per-example γ/β, `F.interpolate(mode=\"nearest\")`) holding the same parameters (HWIO→OIHW), "
      "VGG16 with `Conv2d`/`F.max_pool2d` and the same weights and preprocessing, the same loss, "
      "`torch.optim.Adam` (optax.adam's defaults); inference under `torch.inference_mode()`; "
      f"torch's default threads ({torch.get_num_threads()}).",
      "",
      "Agreement, checked before timing (the run stops otherwise): stylized outputs (style blend "
      f"0.3/0.7 of styles 0 and 1) agree to a max abs difference < {OUTPUT_TOLERANCE:g}:",
      "",
      "| input H×W | max abs diff |",
      "|---|---|",
  ]
  for shape, check in infer_checks:
    lines.append(f"| {shape[0]}×{shape[1]} | {check['err']:.1e} |")
  c = checks
  lines += [
      "",
      f"Training loss at {setup.size} px, batch {setup.batch}, with the fixed style ids {c['ids']} "
      "(`cin.batch_loss` and its gradient w.r.t. the network parameters, against the twin's "
      "autograd). In float64 (both run in double precision, style targets recomputed): relative "
      f"error total {c['err64']['total']:.0e}, style {c['err64']['style']:.0e}, content "
      f"{c['err64']['content']:.0e}, gradient relative L2 error {c['grad_l2_64']:.0e} (tolerance "
      f"{F64_TOLERANCE:g} each). In float32 (what is timed): total {c['jax']['total']:.6e} vs "
      f"{c['torch']['total']:.6e}, relative error total {c['err']['total']:.1e}, style "
      f"{c['err']['style']:.1e}, content {c['err']['content']:.1e} (tolerance {LOSS_TOLERANCE:g}); "
      f"gradient relative L2 error {c['grad_l2']:.1e} (tolerance {GRAD_L2_TOLERANCE:g}); each float32 "
      f"gradient against the float64 one: JAX {c['jax_l2_64']:.1e}, torch {c['torch_l2_64']:.1e} "
      "(float32 rounding flips near-tied VGG max-pool windows, which moves whole gradient "
      "contributions to neighbouring pixels; a handful of pixels hold most of the difference). "
      "The product's first `train_step` (the style ids it draws at step 0, "
      f"{c['product_ids']}, given to the twin as well): loss {c['step_jax']:.6e} vs {c['step_torch']:.6e}, "
      f"relative error {c['step_err']:.1e}; gradient norm relative error {c['norm_err']:.1e}; Adam's "
      "first update is ≈ −lr·sign(g), so an entry with a small gradient can move the other way in the "
      f"other framework: {100 * c['flipped']:.2f}% of the entries did (tolerance "
      f"{100 * FLIP_TOLERANCE:g}%), and over the others the updates' relative L2 error is "
      f"{c['update_l2']:.0e} (tolerance {UPDATE_L2_TOLERANCE:g}).",
      "",
  ]
  if peaks[1]:
    lines += [
        f"Matmul peak: {args.matmul_n}×{args.matmul_n} float32 matmul, median GFLOP/s, measured "
        f"before and after the timings: JAX {peaks[0]['jax']:.1f} / {peaks[1]['jax']:.1f}, torch "
        f"{peaks[0]['torch']:.1f} / {peaks[1]['torch']:.1f}. Fractions below use the higher of the two "
        f"readings per framework: JAX {peak['jax']:.1f}, torch {peak['torch']:.1f} GFLOP/s. FLOPs count "
        "convolutions only: 2·H·W·Cin·Cout·k² each; a training step = 3× the network's forward "
        "(forward, data and weight gradients) + 2× VGG16 forward to the deepest loss layer on the "
        "output (forward, data gradient) + VGG16 forward to the content layer on the content batch.",
        "",
    ]
  if train_row is not None:
    r = train_row
    lines += [
        f"### Training step ({r['size']} px, batch {r['batch']}; median of {args.train_repeats} steps "
        f"after {args.warmup} warmup step(s), JAX and torch steps interleaved)",
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
        f"### Inference (batch 1; median of {args.infer_repeats} calls after {args.warmup} warmup "
        "call(s), JAX and torch calls interleaved)",
        "",
        "| px | GFLOP | JAX ms | torch ms | JAX/torch time | JAX first call (compile + run) s "
        "| JAX GFLOP/s (% of peak) | torch GFLOP/s (% of peak) | other load |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in infer_rows:
      lines.append(
          f"| {r['size']} | {r['gflop']:.1f} | {1e3 * r['jax_s']:.1f} "
          f"({1e3 * r['jax_spread'][0]:.1f}–{1e3 * r['jax_spread'][1]:.1f}) | {1e3 * r['torch_s']:.1f} "
          f"({1e3 * r['torch_spread'][0]:.1f}–{1e3 * r['torch_spread'][1]:.1f}) | {r['ratio']:.2f} | "
          f"{r['first_call_s']:.2f} | {r['jax_gflops']:.1f} ({100 * r['jax_gflops'] / peak['jax']:.0f}%) | "
          f"{r['torch_gflops']:.1f} ({100 * r['torch_gflops'] / peak['torch']:.0f}%) | {report.pct(r['other'])} |")
    lines.append("")
  loaded = [r for r in ([train_row] if train_row else []) + infer_rows
            if r["other"] is not None and r["other"] >= args.max_other]
  if loaded:
    lines += [f"**Warning:** other processes took {', '.join(report.pct(r['other']) for r in loaded)} of the "
              "machine during some timing loops (see \"other load\"). With fewer free cores than "
              "threads, torch's OpenMP parallel regions stall at their barriers (on this 2-core "
              "machine under load, the twin's 64 px inference took ~1.2 s with 2 threads and ~37 ms "
              "with 1), so ratios measured under load say little about a quiet machine.", ""]
  lines += [f"**Goals** (training step at least {TRAIN_GOAL:g}× the twin's images/s at 256 px; "
            "inference no slower than the twin):", ""]
  lines += goal_statements(train_row, infer_rows, args.quick or args.check_only)
  return "\n".join(lines)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--quick", action="store_true",
                      help="tiny sizes, 1-2 repeats (a smoke test); prints only, never writes BENCHMARKS.md")
  parser.add_argument("--check-only", action="store_true", help="run the agreement checks only; prints only")
  parser.add_argument("--styles", type=int, default=4, help="number of styles of the network")
  parser.add_argument("--train-size", type=int, default=None, help="training crop px (default 256)")
  parser.add_argument("--batch", type=int, default=None,
                      help="training batch (default 4 on CPU, else stylejax/configs/cin_multistyle.py's)")
  parser.add_argument("--style-size", type=int, default=None, help="style image px (default the config's)")
  parser.add_argument("--infer-sizes", default=None, help="comma-separated inference px (default 256,512,1024)")
  parser.add_argument("--train-repeats", type=int, default=None, help="timed training steps (default 8)")
  parser.add_argument("--infer-repeats", type=int, default=None, help="timed inference calls per size (default 7)")
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
  cpu = jax.default_backend() == "cpu"
  defaults = ({"train_size": 64, "infer_sizes": "64,128", "train_repeats": 2, "infer_repeats": 2,
               "matmul_n": 512, "wait_quiet": 0.0, "attempts": 1, "style_size": 64} if args.quick else
              {"train_size": 256, "infer_sizes": "256,512,1024", "train_repeats": 8, "infer_repeats": 7,
               "matmul_n": 2048, "wait_quiet": 900.0, "attempts": 3, "style_size": None})
  for k, v in defaults.items():
    if getattr(args, k) is None:
      setattr(args, k, v)
  if args.batch is None:
    args.batch = 4 if cpu else int(get_cin_config().optim.batch_size)
  if args.style_size is None:
    args.style_size = int(get_cin_config().style_size)
  infer_sizes = [int(s) for s in args.infer_sizes.split(",") if s]
  write = not (args.no_report or args.quick or args.check_only)
  quiet = dict(max_other=args.max_other, attempts=args.attempts, wait_timeout=args.wait_quiet)

  machine = report.machine_description()
  print(machine, flush=True)
  if not cpu:
    print(f"note: JAX runs on {jax.default_backend()}, the torch twin on the CPU", flush=True)
  busy_before = report.cpu_busy_fraction()
  run_start = time.perf_counter()

  setup = Setup(args.styles, args.train_size, args.batch, args.style_size)
  print(f"{args.styles} styles, training {args.train_size} px batch {args.batch}, style images "
        f"{args.style_size} px, inference {infer_sizes} px", flush=True)
  objective = TwinObjective(setup.problem, setup.loaded, setup.style_images, setup.weights)
  spec, params = setup.problem.spec, setup.params
  twin = TorchStyleNet(spec, params).eval()
  for p in twin.parameters():
    p.requires_grad_(False)
  odd = (min(infer_sizes) + 2, min(infer_sizes) + 3)
  infer_checks = [((s, s), check_inference(spec, params, twin, (s, s))) for s in infer_sizes]
  infer_checks.append((odd, check_inference(spec, params, twin, odd)))
  checks = check_training(setup, objective)

  peaks, train_row, infer_rows = (None, None), None, []
  if not args.check_only:
    peaks_before, _ = peaks_quietly(args.matmul_n, quiet, "before")
    train_row = bench_train(setup, objective, args.train_repeats, args.warmup, quiet)
    infer_rows = [bench_inference(spec, params, twin, s, args.infer_repeats, args.warmup, quiet,
                                  dict(infer_checks)[(s, s)]["first_call_s"]) for s in infer_sizes]
    peaks_after, _ = peaks_quietly(args.matmul_n, quiet, "after")
    peaks = (peaks_before, peaks_after)
  busy_after = report.cpu_busy_fraction()
  total_s = time.perf_counter() - run_start

  if args.check_only:
    print("agreement checks passed")
    return
  command = report.command_line("bench_stylenet.py", argv, USER_XLA_FLAGS)
  text = render(args, command, machine, (busy_before, busy_after), peaks, setup, checks, infer_checks,
                train_row, infer_rows, total_s)
  report.publish(args.section, text, write)


if __name__ == "__main__":
  main()
