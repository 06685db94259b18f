"""stylejax: neural style transfer in JAX/Flax."""

from stylejax.errors import StylejaxError

__version__ = "0.1.0"
__all__ = ["StylejaxError", "__version__"]
