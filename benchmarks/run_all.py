"""Runs every benchmark in turn; each rewrites its own section of BENCHMARKS.md.

  python benchmarks/run_all.py          # the full set (about an hour on 2 CPU cores)
"""

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = ["bench_vgg.py", "bench_pixel.py", "bench_highres.py", "bench_sweep.py", "bench_stylenet.py",
           "bench_adain.py", "bench_retrieval.py", "bench_quickstart.py"]

if __name__ == "__main__":
  for script in SCRIPTS:
    print(f"== {script}", flush=True)
    subprocess.run([sys.executable, str(HERE / script)], check=True)
