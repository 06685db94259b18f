"""VGG16/19 gradient w.r.t. the image through conv5_1 (bench_vgg's computation): torch twin, stylejax
(XLA), stylejax with the oneDNN conv, interleaved in one process."""
import os, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
import jax, jax.numpy as jnp, numpy as np, torch
from dnnl_jax import dnnl_conv
from benchmarks import bench_vgg
from stylejax.networks import conv as conv_mod, vgg
from stylejax.reference.torch_twin import to_nchw, relative_l2

xla_conv = conv_mod._cpu_conv
sizes = [int(s) for s in (sys.argv[1] if len(sys.argv) > 1 else "256").split(",")]
reps = 7
for arch in ("vgg16", "vgg19"):
  for size in sizes:
    params = vgg.init_params(jax.random.PRNGKey(0), arch)
    images = jax.random.uniform(jax.random.PRNGKey(1), (1, size, size, 3), jnp.float32)
    conv_mod._cpu_conv = xla_conv
    _, g_xla = bench_vgg.jax_grad_fn(arch)
    a = np.asarray(g_xla(images, params))
    conv_mod._cpu_conv = dnnl_conv
    _, g_dnnl = bench_vgg.jax_grad_fn(arch)
    b = np.asarray(g_dnnl(images, params))
    conv_mod._cpu_conv = xla_conv
    model = bench_vgg.torch_twin(arch, params)
    it = to_nchw(images)
    _, gt = bench_vgg.torch_loss_and_grad(model, it)
    print(arch, size, "rel L2 dnnl vs xla", relative_l2(b, a), "dnnl vs torch", relative_l2(b.transpose(0, 3, 1, 2), gt.numpy()))
    fns = {"torch": lambda: bench_vgg.torch_loss_and_grad(model, it), "xla": lambda: g_xla(images, params).block_until_ready(),
           "dnnl": lambda: g_dnnl(images, params).block_until_ready()}
    for f in fns.values():
      f()
    t = {k: [] for k in fns}
    for _ in range(reps):
      for k, f in fns.items():
        t0 = time.perf_counter(); f(); t[k].append(time.perf_counter() - t0)
    med = {k: float(np.median(v)) for k, v in t.items()}
    print(arch, size, {k: f"{1e3*v:.0f} ms" for k, v in med.items()},
          f"torch/xla {med['torch']/med['xla']:.2f}x  torch/dnnl {med['torch']/med['dnnl']:.2f}x", flush=True)
