"""Runs a multi-process training job on this machine, each process with its own CPU devices.

  python -m stylejax.feedforward.launch_local --processes 2 --devices-per-process 2 -- \\
      train --config cin_testing --workdir workdirs/cin_2proc

starts `stylejax <args> --set multihost=true` once per process, as a multi-host cluster would:
process i gets JAX_COORDINATOR_ADDRESS (127.0.0.1 and a free port), JAX_NUM_PROCESSES,
JAX_PROCESS_ID=i, JAX_PLATFORMS=cpu and --xla_force_host_platform_device_count in XLA_FLAGS. The
processes talk through jax.distributed and JAX's CPU collectives (gloo). The launcher waits for all
of them; if one fails the others are stopped (they would otherwise wait for it in a collective) and
its exit code is returned.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import time

_DEVICE_COUNT_FLAG = re.compile(r"--xla_force_host_platform_device_count=\S*")


def free_port() -> int:
  with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def process_env(base: dict, process_id: int, processes: int, devices: int, port: int) -> dict:
  """The environment of process `process_id`: its place in the job and its CPU device count."""
  xla_flags = _DEVICE_COUNT_FLAG.sub("", base.get("XLA_FLAGS", "")).strip()
  return {**base, "JAX_COORDINATOR_ADDRESS": f"127.0.0.1:{port}", "JAX_NUM_PROCESSES": str(processes),
          "JAX_PROCESS_ID": str(process_id), "JAX_PLATFORMS": "cpu",
          "XLA_FLAGS": f"{xla_flags} --xla_force_host_platform_device_count={devices}".strip()}


def _stop(children: list[subprocess.Popen], grace_s: float = 5.0) -> None:
  for child in children:
    if child.poll() is None:
      child.terminate()
  deadline = time.monotonic() + grace_s
  for child in children:
    try:
      child.wait(max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
      child.kill()
      child.wait()


def launch(command: list[str], processes: int, devices: int, port: int = 0) -> int:
  """Starts `command` once per process and waits; 0 if all succeed, else the first failure's code."""
  port = port or free_port()
  children = [subprocess.Popen(command, env=process_env(dict(os.environ), i, processes, devices, port))
              for i in range(processes)]
  try:
    while True:
      codes = [child.poll() for child in children]
      failed = [code for code in codes if code not in (None, 0)]
      if failed:
        print(f"launch_local: a process exited with code {failed[0]}; stopping the others", file=sys.stderr)
        return failed[0] if failed[0] > 0 else 128 - failed[0]
      if all(code == 0 for code in codes):
        return 0
      time.sleep(0.1)
  finally:
    _stop(children)


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(prog="python -m stylejax.feedforward.launch_local",
                                   description=__doc__.split("\n\n")[0])
  parser.add_argument("--processes", type=int, default=2)
  parser.add_argument("--devices-per-process", type=int, default=2, help="CPU devices of each process")
  parser.add_argument("--port", type=int, default=0, help="coordinator port (default: a free one)")
  parser.add_argument("stylejax_args", nargs=argparse.REMAINDER,
                      help="after --: the `stylejax` arguments, e.g. train --config NAME --workdir DIR")
  args = parser.parse_args(argv)
  stylejax_args = args.stylejax_args[1:] if args.stylejax_args[:1] == ["--"] else args.stylejax_args
  if not stylejax_args or args.processes < 1 or args.devices_per_process < 1:
    parser.error("give --processes >= 1, --devices-per-process >= 1 and the stylejax arguments after --")
  command = [sys.executable, "-m", "stylejax.cli", *stylejax_args, "--set", "multihost=true"]
  # SIGTERM (e.g. from a batch system's time limit) must not orphan the children: `launch` stops
  # them on the way out.
  signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
  return launch(command, args.processes, args.devices_per_process, args.port)


if __name__ == "__main__":
  sys.exit(main())
