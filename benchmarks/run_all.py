"""Runs every benchmark in turn; each rewrites its own section of BENCHMARKS.md.

  python benchmarks/run_all.py                     # the full set (well over an hour on 2 CPU cores)
  python benchmarks/run_all.py --only vgg,pixel    # some of them (names: the scripts' bench_NAME.py)
"""

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
NAMES = ["conv_backends", "vgg", "pixel", "highres", "sweep", "stylenet", "adain", "retrieval", "quickstart", "dream", "video",
         "multistyle26", "stylebank", "cyclegan"]

if __name__ == "__main__":
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--only", default="", help="comma-separated benchmark names; empty: all of them")
  args = parser.parse_args()
  chosen = [n for n in args.only.split(",") if n] or NAMES
  unknown = sorted(set(chosen) - set(NAMES))
  if unknown:
    print(f"error: unknown benchmark(s) {unknown}; choose from {NAMES}", file=sys.stderr)
    sys.exit(2)
  for name in chosen:
    print(f"== bench_{name}.py", flush=True)
    subprocess.run([sys.executable, str(HERE / f"bench_{name}.py")], check=True)
