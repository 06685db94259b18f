"""High-resolution coarse-to-fine stylization: wall time and peak resident memory of the real pipeline.

    python benchmarks/bench_highres.py                      # 2048 px, scales 0.25,0.5,1.0; writes "highres"
    python benchmarks/bench_highres.py --image-size 512 --no-report   # a quick look
    python benchmarks/bench_highres.py --remat both   # with and without loss.network.remat, each in its own child

Runs `stylejax.pixel.stylize.stylize` (the product's Python API: stylejax/configs/quickstart.py, i.e. L-BFGS with
the zoom line search, the packaged lpips VGG16 weights, base loss) with `multiscale.scales` and few steps per scale, in a
subprocess under `/usr/bin/time -v`, and records its wall time and peak resident set size (the
kernel's ru_maxrss of the child, as reported by `time -v`; from `getrusage(RUSAGE_CHILDREN)` where
`/usr/bin/time` is missing). While the child runs, the parent also samples the RSS of the child's
process tree every 0.2 s and kills it if it would take the machine's last memory (--mem-guard-gib),
so that a run that does not fit fails here instead of invoking the kernel's OOM killer on
whatever else runs on the machine.

If the requested run fails (out of memory, killed by the guard, or any error), the failure is
recorded and, unless --no-fallback, smaller runs are tried in turn (--fallbacks); every attempt goes
into the report. Results go to the "highres" section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)

from benchmarks import report  # noqa: E402  (standard library only: cheap in the child too)

SECTION = "highres"
GIB = 1024 ** 3


# ----------------------------------------------------------------------------------------------
# The child: one stylization, timed from the inside


def child_main(spec: dict) -> None:
  t0 = time.perf_counter()
  from stylejax import runtime  # pylint: disable=import-outside-toplevel
  runtime.configure()  # as the CLI does, then what it adds for this config
  runtime.configure_for({"loss": {"network": {"remat": bool(spec.get("extra", {}).get("loss.network.remat"))}}})
  from stylejax.pixel import stylize  # pylint: disable=import-outside-toplevel
  t_import = time.perf_counter() - t0
  overrides = {"image_size": spec["image_size"], "multiscale.scales": tuple(spec["scales"]),
               "multiscale.coarse_steps": spec["coarse_steps"], "optim.steps": spec["steps"],
               "log_every": spec["log_every"], **spec.get("extra", {})}
  t1 = time.perf_counter()
  result = stylize.stylize(spec["content"], [spec["style"]], config=spec["config"],
                           workdir=spec["workdir"], overwrite=True, quiet=True, **overrides)
  t_run = time.perf_counter() - t1
  with open(f"/proc/{os.getpid()}/status") as f:
    status = {line.split(":")[0]: line.split(":", 1)[1].strip() for line in f if ":" in line}
  out = {"import_s": t_import, "stylize_s": t_run, "image_shape": list(result.image.shape),
         "metrics": result.metrics, "vmhwm": status.get("VmHWM"), "workdir": str(result.workdir)}
  print("RESULT " + json.dumps(out), flush=True)


# ----------------------------------------------------------------------------------------------
# The parent: run, watch memory, parse /usr/bin/time -v


def _children(pid: int) -> list[int]:
  out = []
  try:
    for tid in os.listdir(f"/proc/{pid}/task"):
      with open(f"/proc/{pid}/task/{tid}/children") as f:
        out += [int(p) for p in f.read().split()]
  except OSError:
    pass
  return out


def _tree(pid: int) -> list[int]:
  pids, todo = [], [pid]
  while todo:
    p = todo.pop()
    pids.append(p)
    todo += _children(p)
  return pids


def _rss_bytes(pid: int) -> int:
  try:
    with open(f"/proc/{pid}/statm") as f:
      return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
  except (OSError, IndexError, ValueError):
    return 0


def _meminfo_bytes(field: str) -> int | None:
  """A /proc/meminfo field ("MemAvailable", "MemTotal") in bytes; None where it cannot be read."""
  try:
    with open("/proc/meminfo") as f:
      for line in f:
        if line.startswith(f"{field}:"):
          return int(line.split()[1]) * 1024
  except OSError:
    pass
  return None


def _parse_time_v(text: str) -> dict:
  out = {}
  m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
  if m:
    out["maxrss_bytes"] = int(m.group(1)) * 1024
  m = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", text)
  if m:
    parts = [float(p) for p in m.group(1).split(":")]
    out["wall_s"] = sum(p * 60 ** i for i, p in enumerate(reversed(parts)))
  m = re.search(r"Exit status: (\d+)", text)
  if m:
    out["exit_status"] = int(m.group(1))
  m = re.search(r"Command terminated by signal (\d+)", text)
  if m:
    out["signal"] = int(m.group(1))
  for key, pattern in (("user_s", r"User time \(seconds\): ([\d.]+)"),
                       ("sys_s", r"System time \(seconds\): ([\d.]+)")):
    m = re.search(pattern, text)
    if m:
      out[key] = float(m.group(1))
  return out


def run_attempt(spec: dict, guard_bytes: int, timeout: float) -> dict:
  """Runs one stylization in a subprocess; returns what happened."""
  time_bin = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None
  cmd = [sys.executable, os.path.abspath(__file__), "--child", json.dumps(spec)]
  if time_bin:
    cmd = [time_bin, "-v"] + cmd
  print(f"attempt: {spec['label']}: {' '.join(cmd[:4])} ...", flush=True)
  stderr_file = tempfile.TemporaryFile(mode="w+")
  stdout_file = tempfile.TemporaryFile(mode="w+")
  before = resource.getrusage(resource.RUSAGE_CHILDREN)
  cpu_before, own_before = report.machine_cpu_seconds(), os.times()
  t0 = time.perf_counter()
  proc = subprocess.Popen(cmd, stdout=stdout_file, stderr=stderr_file, text=True, cwd=REPO_ROOT,
                          start_new_session=True)
  sampled_peak, guard_killed, timed_out = 0, None, False
  while proc.poll() is None:
    rss = sum(_rss_bytes(p) for p in _tree(proc.pid))
    sampled_peak = max(sampled_peak, rss)
    available = _meminfo_bytes("MemAvailable")
    kill = None
    if rss > guard_bytes or (available is not None and available < 1.0 * GIB):
      guard_killed = kill = (f"tree RSS {rss / GIB:.1f} GiB, MemAvailable "
                             f"{(available or 0) / GIB:.1f} GiB (guard {guard_bytes / GIB:.1f} GiB)")
    elif time.perf_counter() - t0 > timeout:
      timed_out = kill = True
    if kill:
      for p in reversed(_tree(proc.pid)[1:]):  # the python child, not /usr/bin/time, so it reports
        try:
          os.kill(p, signal.SIGKILL)
        except OSError:
          pass
    time.sleep(0.2)
  stdout_file.seek(0)
  out_text = stdout_file.read()
  print(out_text, end="", flush=True)
  wall_parent = time.perf_counter() - t0
  after = resource.getrusage(resource.RUSAGE_CHILDREN)
  cpu_after, own_after = report.machine_cpu_seconds(), os.times()
  stderr_file.seek(0)
  stderr = stderr_file.read()
  tv = _parse_time_v(stderr) if time_bin else {}
  result = None
  for line in out_text.splitlines():
    if line.startswith("RESULT "):
      result = json.loads(line[len("RESULT "):])
  # ru_maxrss is the max over all waited-for descendants so far; meaningful if it grew with this run.
  rusage_peak = after.ru_maxrss * 1024 if after.ru_maxrss > before.ru_maxrss else None
  attempt = {"spec": spec, "returncode": proc.returncode, "wall_s_parent": wall_parent,
             "sampled_peak_bytes": sampled_peak, "guard_killed": guard_killed, "timed_out": timed_out,
             "time_v": tv, "rusage_peak_bytes": rusage_peak, "result": result,
             "ok": proc.returncode == 0 and result is not None,
             "stderr_tail": "\n".join(l for l in stderr.splitlines()
                                      if not l.startswith("\t") and "Command being timed" not in l)[-3000:]}
  peak = tv.get("maxrss_bytes") or rusage_peak
  attempt["peak_bytes"] = peak
  # Other processes' share of the machine's CPU time while the child ran: machine busy time minus
  # the child's (user + system, from getrusage of the waited-for children) and this process's own.
  attempt["others_share"] = None
  if cpu_before and cpu_after:
    total = cpu_after[0] - cpu_before[0]
    busy = cpu_after[1] - cpu_before[1]
    child_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    own = (own_after.user - own_before.user) + (own_after.system - own_before.system)
    attempt["others_share"] = max(0.0, busy - child_cpu - own) / max(total, 1e-9)
  status = "ok" if attempt["ok"] else (
      f"KILLED by the memory guard ({guard_killed})" if guard_killed else
      "TIMED OUT" if timed_out else
      f"FAILED (exit {proc.returncode}, signal {tv.get('signal')})")
  attempt["status"] = status
  print(f"attempt {spec['label']}: {status}; wall {tv.get('wall_s', wall_parent):.1f} s; peak RSS "
        f"{(peak or 0) / GIB:.2f} GiB (time -v), sampled {sampled_peak / GIB:.2f} GiB; other processes "
        f"took {100 * (attempt['others_share'] or 0):.0f}% of the CPUs meanwhile", flush=True)
  if not attempt["ok"]:
    print(attempt["stderr_tail"], flush=True)
  return attempt


# ----------------------------------------------------------------------------------------------
# Report


def _per_scale(metrics: list[dict]) -> list[dict]:
  """Per scale: size, steps, time spent (from the metrics' elapsed_s), last losses."""
  out, last_elapsed = [], 0.0
  by_scale = {}
  for m in metrics:
    by_scale.setdefault(m["scale"], []).append(m)
  for scale, ms in by_scale.items():
    end = ms[-1]["elapsed_s"]
    marks = [last_elapsed] + [m["elapsed_s"] for m in ms]
    chunks = [b - a for a, b in zip(marks, marks[1:])]
    out.append({"scale": scale, "h": ms[-1]["height"], "w": ms[-1]["width"],
                "steps": ms[-1]["step"] - (out[-1]["cum_steps"] if out else 0), "cum_steps": ms[-1]["step"],
                "s": end - last_elapsed, "chunks": chunks, "total": ms[-1]["total"], "style": ms[-1]["style"],
                "content": ms[-1]["content"]})
    last_elapsed = end
  return out


def render(attempts, command, machine, mem_total) -> str:
  lines = report.section_start("High-resolution coarse-to-fine stylization: wall time and peak memory", command,
                               machine + (f" {mem_total / GIB:.1f} GiB RAM." if mem_total else "")) + [
      "The product's pipeline, `stylejax.pixel.stylize.stylize(content, [\"starry_night\"], "
      "config=\"quickstart\", ...)` (L-BFGS with the zoom line search since the quickstart's re-tune, "
      "Adam before it; packaged lpips VGG16, base loss: content relu4_2, Gram "
      "style loss on relu1_1..relu5_1), coarse to fine, run in a subprocess under `/usr/bin/time -v`; "
      "the workdir (final.png, summary.png, metrics) is written under /tmp. Peak RSS = the child's "
      "maximum resident set size (kernel ru_maxrss via `time -v`); \"sampled\" = the largest RSS of "
      "the child's process tree seen by the parent polling every 0.2 s. Wall = `time -v`'s elapsed "
      "time of the whole child (Python start, imports, image loading, weights, all scales, writing "
      "the workdir); the per-scale times come from the pipeline's own metrics (`elapsed_s`, which "
      "includes compilation at each new size and the per-chunk loss evaluation).",
      "",
      "| attempt | content | final size (H×W) | scales | steps per scale | status | wall s | peak RSS GiB "
      "| sampled peak GiB | other processes' CPU share |",
      "|---|---|---|---|---|---|---|---|---|---|",
  ]
  for a in attempts:
    s, r = a["spec"], a["result"]
    shape = f"{r['image_shape'][0]}×{r['image_shape'][1]}" if r else f"({s['image_size']} px longer side)"
    steps = "/".join([str(s["coarse_steps"])] * (len(s["scales"]) - 1) + [str(s["steps"])])
    wall = a["time_v"].get("wall_s", a["wall_s_parent"])
    peak = a["peak_bytes"]
    others = report.pct(a["others_share"])
    lines.append(f"| {s['label']} | {s['content']} | {shape} | {', '.join(f'{x:g}' for x in s['scales'])} | "
                 f"{steps} | {a['status']} | {wall:.0f} | "
                 f"{'n/a' if peak is None else f'{peak / GIB:.2f}'} | {a['sampled_peak_bytes'] / GIB:.2f} | "
                 f"{others} |")
  for a in attempts:
    r = a["result"]
    if not r:
      continue
    lines += ["", f"Attempt \"{a['spec']['label']}\", inside the child: imports {r['import_s']:.1f} s, "
              f"`stylize` {r['stylize_s']:.1f} s; user CPU {a['time_v'].get('user_s', float('nan')):.0f} s, "
              f"system {a['time_v'].get('sys_s', float('nan')):.0f} s.", "",
              "| scale | size (H×W) | steps | s at this scale | s/step (incl. compile, targets, logging) "
              "| s per chunk of log_every steps (the first includes compilation and targets) "
              "| total loss at end | style | content |",
              "|---|---|---|---|---|---|---|---|---|"]
    for p in _per_scale(r["metrics"]):
      lines.append(f"| {p['scale']:g} | {p['h']}×{p['w']} | {p['steps']} | {p['s']:.1f} | "
                   f"{p['s'] / max(p['steps'], 1):.1f} | {', '.join(f'{c:.1f}' for c in p['chunks'])} | "
                   f"{p['total']:.4e} | {p['style']:.4e} | {p['content']:.4e} |")
  failed = [a for a in attempts if not a["ok"]]
  if failed:
    lines += ["", "Failed attempts, stderr tail:"]
    for a in failed:
      tail = a["stderr_tail"].strip().splitlines()[-6:]
      lines += ["", f"- {a['spec']['label']}: {a['status']}", "", "```", *tail, "```"]
  return "\n".join(lines)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--child", help=argparse.SUPPRESS)
  parser.add_argument("--image-size", type=int, default=2048)
  parser.add_argument("--scales", default="0.25,0.5,1.0")
  parser.add_argument("--coarse-steps", type=int, default=8, help="steps at each scale before the last")
  parser.add_argument("--steps", type=int, default=4, help="steps at the final scale")
  parser.add_argument("--log-every", type=int, default=0,
                      help="steps per jitted chunk (default: gcd of the step counts, so no chunk runs "
                           "past the step budget)")
  parser.add_argument("--content", default="astronaut",
                      help="content image (astronaut is 512 px, upsampled by the pipeline)")
  parser.add_argument("--style", default="starry_night")
  parser.add_argument("--config", default="quickstart")
  parser.add_argument("--workdir", default=None, help="default: a new directory under /tmp")
  parser.add_argument("--mem-guard-gib", type=float, default=None,
                      help="kill the child above this RSS (default: total RAM - 2 GiB)")
  parser.add_argument("--timeout", type=float, default=3600.0)
  parser.add_argument("--fallbacks", default="content=/work/shared/data/content/mountain_landscape.jpg;"
                      "image_size=1536;image_size=1024",
                      help="';'-separated changes tried in turn after a failure (cumulative)")
  parser.add_argument("--no-fallback", action="store_true")
  parser.add_argument("--remat", choices=("off", "on", "both"), default="off",
                      help="loss.network.remat (checkpointed VGG blocks): both = one child per setting")
  parser.add_argument("--no-report", action="store_true")
  parser.add_argument("--section", default=SECTION)
  args = parser.parse_args(argv)
  if args.child:
    child_main(json.loads(args.child))
    return

  machine = report.machine_description()
  print(machine, flush=True)
  mem_total = _meminfo_bytes("MemTotal")
  guard = args.mem_guard_gib * GIB if args.mem_guard_gib else (mem_total or 24 * GIB) - 2 * GIB
  scales = [float(s) for s in args.scales.split(",") if s]
  log_every = args.log_every or (math.gcd(args.coarse_steps, args.steps) if len(scales) > 1 else args.steps)
  workroot = args.workdir or tempfile.mkdtemp(prefix="stylejax-highres-", dir="/tmp")
  spec = {"label": "requested", "content": args.content, "style": args.style, "config": args.config,
          "image_size": args.image_size, "scales": scales, "coarse_steps": args.coarse_steps,
          "steps": args.steps, "log_every": log_every, "workdir": os.path.join(workroot, "requested")}
  attempts = []
  for remat in {"off": [False], "on": [True], "both": [False, True]}[args.remat]:
    label = spec["label"] + (", remat" if remat else "")
    attempts.append(run_attempt(dict(spec, label=label, extra={"loss.network.remat": remat},
                                     workdir=spec["workdir"] + ("-remat" if remat else "")),
                                guard, args.timeout))
  spec["extra"] = {"loss.network.remat": remat}  # fallbacks keep the last setting
  if not any(a["ok"] for a in attempts) and not args.no_fallback:
    for i, change in enumerate(c for c in args.fallbacks.split(";") if c):
      key, _, value = change.partition("=")
      spec = dict(spec, label=f"fallback {i + 1}: {change}", workdir=os.path.join(workroot, f"fallback{i + 1}"))
      spec[key] = int(value) if key in ("image_size", "steps", "coarse_steps") else value
      attempts.append(run_attempt(spec, guard, args.timeout))
      if attempts[-1]["ok"]:
        break

  text = render(attempts, report.command_line("bench_highres.py", argv), machine, mem_total)
  report.publish(args.section, text, not args.no_report)
  print(f"workdirs under {workroot}")
  if not any(a["ok"] for a in attempts):
    sys.exit(1)


if __name__ == "__main__":
  main()
