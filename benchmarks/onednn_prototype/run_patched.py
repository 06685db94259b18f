"""python run_patched.py MODULE ARGS...: runs benchmarks.MODULE.main(ARGS) with the oneDNN dispatch patched in
(when STYLEJAX_DNNL=1)."""
import os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__))); sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from stylejax.networks import conv as conv_mod
if os.environ.get("STYLEJAX_DNNL") == "1":
  from dnnl_jax import make_dispatch
  conv_mod._cpu_conv = make_dispatch(conv_mod._cpu_conv)
  print("oneDNN dispatch on", flush=True)
import importlib
mod = importlib.import_module("benchmarks." + sys.argv[1])
mod.main(sys.argv[2:])
