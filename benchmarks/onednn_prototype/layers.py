"""Single convolutions of multistyle26 / CycleGAN / VGG at 256 px: forward time, stylejax's XLA conv
vs the oneDNN conv vs torch (oneDNN inside), interleaved."""
import os, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
import jax, jax.numpy as jnp, numpy as np, torch
from dnnl_jax import dnnl_conv
from stylejax.networks import conv as conv_mod

torch.set_num_threads(2)
SHAPES = [  # name, H, Cin, Cout, k, stride
    ("ms26 conv1 9x9 3->32", 256, 3, 32, 9, 1), ("ms26 res 3x3 128", 64, 128, 128, 3, 1),
    ("ms26 down 3x3 s2 32->64", 256, 32, 64, 3, 2), ("ms26 last 9x9 32->3", 256, 32, 3, 9, 1),
    ("cyclegan 7x7 3->64", 256, 3, 64, 7, 1), ("cyclegan res 3x3 256", 64, 256, 256, 3, 1),
    ("cyclegan last 7x7 64->3", 256, 64, 3, 7, 1),
    ("vgg conv1_2 64", 256, 64, 64, 3, 1), ("vgg conv3 256", 64, 256, 256, 3, 1)]
rng = np.random.default_rng(0)
for name, h, ci, co, k, s in SHAPES:
  p = (k - 1) // 2
  pads = ((p, p), (p, p))
  x = jnp.asarray(rng.standard_normal((1, h, h, ci)), jnp.float32)
  kk = jnp.asarray(rng.standard_normal((k, k, ci, co)), jnp.float32) * 0.05
  f_xla = jax.jit(lambda x, kk: conv_mod.conv2d(x, kk, stride=s, padding=pads))
  f_dnnl = jax.jit(lambda x, kk: dnnl_conv(x, kk, s, pads))
  xt = torch.from_numpy(np.asarray(x).transpose(0, 3, 1, 2).copy())
  kt = torch.from_numpy(np.asarray(kk).transpose(3, 2, 0, 1).copy())
  f_t = lambda: torch.nn.functional.conv2d(xt, kt, stride=s, padding=p)
  err = float(jnp.max(jnp.abs(f_xla(x, kk) - f_dnnl(x, kk))))
  fns = {"xla": lambda: f_xla(x, kk).block_until_ready(), "dnnl": lambda: f_dnnl(x, kk).block_until_ready(),
         "torch": lambda: f_t()}
  t = {k_: [] for k_ in fns}
  with torch.no_grad():
    for f in fns.values():
      f(); f()
    for _ in range(15):
      for k_, f in fns.items():
        t0 = time.perf_counter(); f(); t[k_].append(time.perf_counter() - t0)
  m = {k_: 1e3 * float(np.median(v)) for k_, v in t.items()}
  print(f"{name:28s} xla {m['xla']:7.2f} ms  dnnl {m['dnnl']:7.2f} ms  torch {m['torch']:7.2f} ms  err {err:.1e}", flush=True)
