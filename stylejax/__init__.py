"""stylejax: neural style transfer in JAX/Flax."""

import os as _os

# XLA:CPU's concurrency-optimized scheduler deadlocked here (jax 0.10.2) on a vmapped step that
# mixes convolutions with batched eigh (the mean_cov loss in a sweep of 3 runs): every thread
# waited on a futex forever. The plain scheduler ran that case, but larger batches and images
# still hung, so sweeps also run mean_cov one run per program on CPU (stylejax/pixel/sweep.py). The flag
# only affects the CPU backend, and must be set before JAX creates that backend, hence here.
_FLAG = "--xla_cpu_enable_concurrency_optimized_scheduler"
if _FLAG not in _os.environ.get("XLA_FLAGS", ""):
  _os.environ["XLA_FLAGS"] = f"{_os.environ.get('XLA_FLAGS', '')} {_FLAG}=false".strip()

from stylejax.errors import StylejaxError  # noqa: E402

__version__ = "0.1.0"
__all__ = ["StylejaxError", "__version__"]
