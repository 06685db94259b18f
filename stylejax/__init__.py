"""stylejax: neural style transfer in JAX/Flax.

Its modules set no global state when imported (environment, XLA flags, JAX config, matplotlib
backend); the programs' process-wide settings live in `stylejax.runtime`.
"""

from stylejax.errors import StylejaxError

__version__ = "0.1.0"
__all__ = ["StylejaxError", "__version__"]
