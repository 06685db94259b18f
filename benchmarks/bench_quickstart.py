"""Re-tunes the quickstart for its wall-time budget: which settings stylize most strongly in ~2 min?

    python benchmarks/bench_quickstart.py [--data ../shared/data] [--budget 120]   # ~1 hour, writes BENCHMARKS.md
    python benchmarks/bench_quickstart.py --quick      # 64 px, a few steps, 1 held-out pair; prints only

1. Tuning: every candidate stylizes the quickstart pair (astronaut x starry_night) through
   `stylejax.pixel.stylize.run`, each in a fresh subprocess timed from start to exit (imports,
   weights, compilation, optimization, writing the workdir: what `make quickstart` waits for). A
   candidate with steps=FIT first runs 2 chunks to measure its compile overhead and per-step time,
   then gets as many steps as fit in `--fit-margin` x `--budget` and is re-run and re-timed.
2. Selection: among candidates within the budget whose content LPIPS is at most the old
   quickstart's + `--content-bound`, the lowest style score (mean over the three AlexNet style
   distances of candidate / old quickstart) wins; the old quickstart wins if nothing beats it.
3. Held out: the old quickstart and the winner on photos x paintings it was not tuned on; per pair
   metrics and the mean paired difference (winner - old) with a 95% bootstrap CI over pairs.

Metrics: `stylejax.evaluation.metrics.Evaluator` (content LPIPS and SSIM vs the photo; Gram, mean-std
and sliced-Wasserstein style distances in AlexNet, a network the optimization never saw).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import report  # noqa: E402

SECTION = "quickstart"
FIT = "fit"  # steps: as many as fit in the budget, measured
# The quickstart before the re-tune (stylejax/configs/quickstart.py at the time), on top of stylejax/configs/base.py.
BEFORE = {"image_size": 256, "optim.name": "adam", "optim.learning_rate": 0.03, "optim.steps": 80,
          "log_every": 10}
# No higher style weight: at 1e4 the content gradient hardly steers either optimizer (content init;
# 3x and 10x the weight moved the content loss after 40 steps by < 1%), so it buys no stylization.
LBFGS = {k: v for k, v in BEFORE.items() if k != "optim.learning_rate"}  # lbfgs ignores learning_rate
CANDIDATES = {
    "before": BEFORE,
    "adam": {**BEFORE, "optim.steps": FIT},
    "adam_lr0.05": {**BEFORE, "optim.learning_rate": 0.05, "optim.steps": FIT},
    "adam_320px": {**BEFORE, "image_size": 320, "optim.steps": FIT},
    "lbfgs_zoom": {**LBFGS, "optim.name": "lbfgs", "optim.line_search": "zoom", "optim.steps": FIT},
    "lbfgs_zoom_320px": {**LBFGS, "image_size": 320, "optim.name": "lbfgs", "optim.line_search": "zoom",
                         "optim.steps": FIT},
    "lbfgs_none": {**LBFGS, "optim.name": "lbfgs", "optim.line_search": "none", "optim.lbfgs_step": 1.0,
                   "optim.steps": FIT},
}
TUNING = ("astronaut", "starry_night")
HELD_OUT_CONTENTS = "coffee.jpg,mountain_landscape.jpg,chelsea"
HELD_OUT_STYLES = "great_wave.jpg,the_kiss.jpg,water_lilies.jpg"
STYLE_KEYS = ("style_gram", "style_mean_std", "style_swd")
METRIC_KEYS = ("content_lpips", "content_ssim") + STYLE_KEYS
NOISY = 0.1  # retry a timed run when other processes took more of the machine than this


# ----------------------------------------------------------------------------------------------
# One stylization in a fresh process


def child_main(spec: dict) -> None:
  from stylejax.configs.base import get_base_config  # pylint: disable=import-outside-toplevel
  from stylejax import configuration  # pylint: disable=import-outside-toplevel
  from stylejax.errors import StylejaxError  # pylint: disable=import-outside-toplevel
  from stylejax.pixel import stylize  # pylint: disable=import-outside-toplevel

  values = {**spec["values"], "content": spec["content"], "styles": (spec["style"],)}
  config = configuration.apply_values(get_base_config(), values)
  try:
    with report.OtherLoad() as load:
      start = time.perf_counter()
      out = stylize.run(config, spec["workdir"], overwrite=True, quiet=True)
      stylize_s = time.perf_counter() - start
    np.save(spec["image_out"], out.image)
    result = {"ok": True, "status": "ok", "stylize_s": stylize_s, "others": load.fraction,
              "elapsed": [m["elapsed_s"] for m in out.metrics], "steps": out.metrics[-1]["step"]}
  except StylejaxError as e:  # e.g. a non-finite loss: a failed candidate, not a failed benchmark
    result = {"ok": False, "status": f"failed: {e}"}
  Path(spec["result_out"]).write_text(json.dumps(result))


def run_child(values: dict, content: str, style: str, tmp: Path, label: str, args) -> dict:
  """Runs one stylization in a subprocess (retried while the machine was busy); its result + wall_s."""
  best = None
  for attempt in range(args.attempts):
    if args.wait_quiet > 0:
      report.wait_for_quiet(threshold=NOISY, timeout=args.wait_quiet)
    spec = {"values": values, "content": content, "style": style, "workdir": str(tmp / label),
            "image_out": str(tmp / f"{label}.npy"), "result_out": str(tmp / f"{label}.json")}
    Path(spec["result_out"]).unlink(missing_ok=True)
    start, timeout = time.perf_counter(), max(600.0, 5 * args.budget)
    try:
      proc = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], capture_output=True,
                            text=True, cwd=report.REPO_ROOT, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
      return {"ok": False, "status": f"timed out after {timeout:.0f} s", "wall_s": timeout}
    wall = time.perf_counter() - start
    if proc.returncode != 0 or not Path(spec["result_out"]).exists():
      raise RuntimeError(f"{label}: child exited {proc.returncode}\n{proc.stderr[-3000:]}")
    result = {**json.loads(Path(spec["result_out"]).read_text()), "wall_s": wall,
              "image": spec["image_out"]}
    print(f"  {label}: {result['status']}, {wall:.1f} s wall"
          + (f", {result['steps']} steps, others {report.pct(result['others'])}" if result["ok"] else ""),
          flush=True)
    if not result["ok"] or (result["others"] or 0) < NOISY:
      return result
    if best is None or result["others"] < best["others"]:
      best = result
    if args.attempts > 1:
      print(f"  busy machine during attempt {attempt + 1}; " + ("retrying" if attempt + 1 < args.attempts
                                                               else "keeping the least noisy"), flush=True)
  return best


def fit_steps(values: dict, tmp: Path, label: str, args) -> tuple[int | None, dict]:
  """Steps that fit args.fit_margin * args.budget, from a 2-chunk run: (steps or None, that run)."""
  chunk = values["log_every"]
  probe = run_child({**values, "optim.steps": 2 * chunk}, *TUNING, tmp, f"{label}.probe", args)
  if not probe["ok"]:
    return None, probe
  per_step = (probe["elapsed"][1] - probe["elapsed"][0]) / chunk  # the second chunk: compiled already
  spare = args.fit_margin * args.budget - probe["wall_s"]
  steps = 2 * chunk + max(0, math.floor(spare / per_step / chunk)) * chunk
  probe["per_step_s"] = per_step
  return min(steps, args.max_steps), probe


# ----------------------------------------------------------------------------------------------
# Metrics and statistics


def paired(before: list[float], after: list[float], resamples: int = 10_000) -> dict:
  """Mean of after - before over pairs, its standard error and a 95% percentile-bootstrap CI."""
  d = np.asarray(after) - np.asarray(before)
  n = len(d)
  means = np.random.default_rng(0).choice(d, (resamples, n)).mean(1)
  return {"before": float(np.mean(before)), "after": float(np.mean(after)), "diff": float(d.mean()),
          "se": float(d.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan,
          "lo": float(np.percentile(means, 2.5)), "hi": float(np.percentile(means, 97.5)),
          "fell": int((d < 0).sum()), "n": n}


def style_score(metrics: dict, reference: dict) -> float:
  """Mean over the AlexNet style distances of metrics / reference (< 1: closer to the painting)."""
  return float(np.mean([metrics[k] / reference[k] for k in STYLE_KEYS]))


def choose(rows: dict, budget: float, bound: float) -> tuple[str, float]:
  """The eligible candidate with the lowest style score; (name, the content LPIPS bound used)."""
  limit = rows["before"]["metrics"]["content_lpips"] + bound
  eligible = ["before"] + [n for n, r in rows.items() if r["eligible"] and r["wall_s"] <= budget
                           and r["metrics"]["content_lpips"] <= limit]  # the status quo stays eligible
  return min(eligible, key=lambda n: (rows[n]["score"], n != "before")), limit


def verdict(summary: dict) -> str:
  style = [summary[k] for k in STYLE_KEYS]
  if style[0]["n"] < 3:
    head = f"Too few held-out pairs ({style[0]['n']}) to judge stylization strength."
  elif all(s["hi"] < 0 for s in style):
    head = ("**Stronger stylization** on the held-out pairs: all three AlexNet style distances fell, "
            "every 95% CI below 0.")
  elif all(s["diff"] < 0 for s in style):
    head = ("All three AlexNet style distances fell on average, but not every 95% CI excludes 0: at most "
            "weak evidence of stronger stylization.")
  else:
    rose = ", ".join(k for k in STYLE_KEYS if summary[k]["diff"] >= 0)
    head = f"Not stronger stylization: {rose} did not fall on average."
  lp, ss = summary["content_lpips"], summary["content_ssim"]
  return (f"{head} Content: LPIPS {lp['diff']:+.3f} [{lp['lo']:+.3f}, {lp['hi']:+.3f}] (higher = further "
          f"from the photo), SSIM {ss['diff']:+.3f} [{ss['lo']:+.3f}, {ss['hi']:+.3f}] (lower = further).")


# ----------------------------------------------------------------------------------------------
# Report


def _settings(values: dict) -> str:
  return ", ".join(f"{k.split('.')[-1]}={v}" for k, v in values.items() if k != "log_every")


def render(args, command, machine, rows, chosen, limit, held, summary) -> str:
  lines = report.section_start("Quickstart re-tune: stylization bought by the ~2-minute budget", command,
                               machine)
  lines += [
      f"Every run is `stylejax.pixel.stylize.run` in a fresh process; **wall** = that process from start to "
      f"exit (imports, weights, compilation, optimization, writing the workdir), the cost of `make "
      f"quickstart` minus set-up. Budget {args.budget:.0f} s; steps=fit candidates got as many steps as "
      f"{args.fit_margin:g} x budget allowed after a 2-chunk probe. Metrics (`stylejax.evaluation.metrics`, "
      "224 px): content LPIPS and SSIM vs the photo; style distances Gram / mean-std / sliced "
      "Wasserstein in **AlexNet** (the optimization used VGG16); score = their mean ratio to the old "
      "quickstart's (< 1: closer to the painting). Others = other processes' share of the CPUs.", "",
      f"### Tuning pair ({' x '.join(TUNING)})", "",
      "| candidate | settings | steps | s/step | wall s (in stylize) | others | LPIPS | SSIM | Gram | mean-std | SWD "
      "| score | within budget & bound |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
  for name, r in rows.items():
    if not r["eligible"]:
      lines.append(f"| {name} | {_settings(r['values'])} | | | | | {r['status']} | | | | | | no |")
      continue
    m, ok = r["metrics"], r["wall_s"] <= args.budget and r["metrics"]["content_lpips"] <= limit
    per_step = f"{r['per_step_s']:.2f}" if "per_step_s" in r else ""
    lines.append(f"| {'**' + name + '**' if name == chosen else name} | {_settings(r['values'])} | "
                 f"{r['steps']} | {per_step} | {r['wall_s']:.0f} ({r['stylize_s']:.0f}) | {report.pct(r['others'])} | "
                 + " | ".join(f"{m[k]:.3f}" for k in METRIC_KEYS) + f" | {r['score']:.3f} | "
                 f"{'yes' if ok else 'no'} |")
  lines += ["", f"Chosen: **{chosen}** (content LPIPS bound {limit:.3f} = old + {args.content_bound:g})."
            + (" No candidate beat the old quickstart within the budget and bound." if chosen == "before"
               else "")
            + (f" The old quickstart itself took {rows['before']['wall_s']:.0f} s, over the budget."
               if rows["before"]["wall_s"] > args.budget else ""), ""]
  if held:
    lines += [f"### Held-out pairs: old quickstart -> {chosen}", "",
              "| content | style | wall s | " + " | ".join(METRIC_KEYS) + " |", "|---|---|---|"
              + "---|" * len(METRIC_KEYS)]
    for h in held:
      b, a = h["before"]["metrics"], h["after"]["metrics"]
      lines.append(f"| {Path(h['content']).name} | {Path(h['style']).name} | {h['before']['wall_s']:.0f} -> "
                   f"{h['after']['wall_s']:.0f} | " + " | ".join(f"{b[k]:.3f} -> {a[k]:.3f}" for k in METRIC_KEYS)
                   + " |")
    lines += ["", f"Mean over {len(held)} pairs; difference = {chosen} - old, 95% percentile-bootstrap CI "
              "(10,000 resamples of pairs) and ± standard error; pairs share photos and paintings, so "
              "they are not independent and the CIs are optimistic.", "",
              "| metric | old | new | difference | 95% CI | ± SE | pairs where it fell |",
              "|---|---|---|---|---|---|---|"]
    for k, s in summary.items():
      lines.append(f"| {k} | {s['before']:.3f} | {s['after']:.3f} | {s['diff']:+.3f} | [{s['lo']:+.3f}, "
                   f"{s['hi']:+.3f}] | {s['se']:.3f} | {s['fell']}/{s['n']} |")
    lines += ["", verdict(summary)]
  if args.quick:
    lines += ["", "(--quick: tiny sizes and steps, a smoke test; these numbers say nothing about the quickstart.)"]
  return "\n".join(lines)


def recommendation(chosen: str, values: dict) -> str:
  body = "\n".join(f"  c.{k} = {v!r}" for k, v in values.items())
  return f"Recommended stylejax/configs/quickstart.py values ({chosen}):\n{body}"


# ----------------------------------------------------------------------------------------------
# Main


def _image(spec: str, folder: Path) -> str:
  """A file under --data/<content|style>/, else a named image (chelsea, great_wave, ...)."""
  from stylejax.imaging import images  # pylint: disable=import-outside-toplevel
  if (folder / spec).is_file():
    return str(folder / spec)
  if Path(spec).stem in images.NAMED_IMAGES:
    return Path(spec).stem
  raise SystemExit(f"{folder / spec}: not found (pass --data, or a named image: {', '.join(images.NAMED_IMAGES)})")


def scaled(values: dict, quick: bool) -> dict:
  """--quick: a quarter of the size, a tenth of the steps, chunks of 2."""
  if not quick:
    return dict(values)
  out = {**values, "image_size": values["image_size"] // 4, "log_every": 2}
  if out["optim.steps"] != FIT:
    out["optim.steps"] = max(2, out["optim.steps"] // 10)
  return out


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--child", help=argparse.SUPPRESS)
  parser.add_argument("--data", default=str(report.REPO_ROOT.parent / "shared" / "data"),
                      help="folder with content/ and style/ images for the held-out pairs")
  parser.add_argument("--quick", action="store_true", help="smoke test: 64 px, a few steps, 1 held-out pair")
  parser.add_argument("--budget", type=float, default=120.0, help="wall seconds a quickstart may take")
  parser.add_argument("--fit-margin", type=float, default=0.9, help="steps=fit aim at this share of the budget")
  parser.add_argument("--max-steps", type=int, default=None, help="cap for steps=fit (default 1000; --quick 12)")
  parser.add_argument("--content-bound", type=float, default=0.05,
                      help="a candidate's content LPIPS may exceed the old quickstart's by this much")
  parser.add_argument("--candidates", default=",".join(CANDIDATES), help="comma-separated subset (before is always run)")
  parser.add_argument("--contents", default=None, help=f"held-out photos (default {HELD_OUT_CONTENTS}; --quick chelsea)")
  parser.add_argument("--styles", default=None, help=f"held-out paintings (default {HELD_OUT_STYLES}; --quick great_wave.jpg)")
  parser.add_argument("--attempts", type=int, default=None, help="tries per timed run on a busy machine (default 3; --quick 1)")
  parser.add_argument("--wait-quiet", type=float, default=None,
                      help="seconds to wait, at most, for a quiet machine before each run (default 900; --quick 0)")
  parser.add_argument("--report", action="store_true", help="write the section even with --quick")
  parser.add_argument("--no-report", action="store_true", help="print only; leave BENCHMARKS.md alone")
  args = parser.parse_args(argv)
  if args.child:
    child_main(json.loads(args.child))
    return
  quick = args.quick
  defaults = {"max_steps": 12 if quick else 1000, "contents": "chelsea" if quick else HELD_OUT_CONTENTS,
              "styles": "great_wave.jpg" if quick else HELD_OUT_STYLES, "attempts": 1 if quick else 3,
              "wait_quiet": 0.0 if quick else 900.0}
  for k, v in defaults.items():
    if getattr(args, k) is None:
      setattr(args, k, v)
  names = ["before"] + [n for n in args.candidates.split(",") if n and n != "before"]
  unknown = [n for n in names if n not in CANDIDATES]
  if unknown:
    raise SystemExit(f"unknown candidates {unknown}; known: {', '.join(CANDIDATES)}")
  data = Path(args.data).resolve()  # the children run in the repo root
  pairs = [(_image(c, data / "content"), _image(s, data / "style"))
           for c in args.contents.split(",") if c for s in args.styles.split(",") if s]

  from stylejax.evaluation.metrics import Evaluator  # pylint: disable=import-outside-toplevel
  from stylejax.imaging import images  # pylint: disable=import-outside-toplevel
  machine = report.machine_description()
  print(machine, flush=True)
  evaluator = Evaluator()
  measure = lambda r, c, s: evaluator(np.load(r["image"]), images.load_image(c), images.load_image(s))
  rows = {}
  with tempfile.TemporaryDirectory(prefix="stylejax-quickstart-") as tmp:
    tmp = Path(tmp)
    print(f"tuning on {' x '.join(TUNING)}:", flush=True)
    for name in names:
      values, probe = scaled(CANDIDATES[name], quick), {}
      if values["optim.steps"] == FIT:
        steps, probe = fit_steps(values, tmp, name, args)
        if steps is None:
          rows[name] = {"values": values, "eligible": False, "status": probe["status"]}
          continue
        values["optim.steps"] = steps
      r = run_child(values, *TUNING, tmp, name, args)
      rows[name] = {**r, "values": values, "eligible": r["ok"]}
      if "per_step_s" in probe:
        rows[name]["per_step_s"] = probe["per_step_s"]
      if r["ok"]:
        rows[name]["metrics"] = measure(r, *TUNING)
    if not rows["before"]["eligible"]:
      raise SystemExit(f"the old quickstart failed: {rows['before']['status']}")
    for r in rows.values():
      if r["eligible"]:
        r["score"] = style_score(r["metrics"], rows["before"]["metrics"])
    chosen, limit = choose(rows, args.budget, args.content_bound)
    print(f"chosen: {chosen}", flush=True)

    held = []
    if chosen != "before":
      print("held-out pairs:", flush=True)
      for i, (content, style) in enumerate(pairs):
        runs = {side: run_child(rows[name]["values"], content, style, tmp, f"held{i}.{side}", args)
                for side, name in (("before", "before"), ("after", chosen))}
        if all(r["ok"] for r in runs.values()):
          held.append({"content": content, "style": style,
                       **{side: {**r, "metrics": measure(r, content, style)} for side, r in runs.items()}})
    summary = {k: paired([h["before"]["metrics"][k] for h in held], [h["after"]["metrics"][k] for h in held])
               for k in METRIC_KEYS} if held else {}

  text = render(args, report.command_line("bench_quickstart.py", argv), machine, rows, chosen, limit, held,
                summary)
  report.publish(SECTION, text, (not args.no_report) and (args.report or not quick))
  print(recommendation(chosen, rows[chosen]["values"]))


if __name__ == "__main__":
  main()
