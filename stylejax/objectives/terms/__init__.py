"""Objective terms: each module here is one named, pure term of a pixel objective (see `base.Term`).

Importing this package registers the built-in terms (content, style, tv, dream, temporal);
`stylejax.objectives.objective` sums the ones a config lists in `objective.terms`.
"""

from stylejax.objectives.terms import content, dream, style, tv  # noqa: F401  (registers them)
from stylejax.objectives.terms import temporal  # noqa: F401  (video configs only: stylejax/configs/video_pixel.py)
from stylejax.objectives.terms.base import REGISTRY, Term, lookup, names, register

__all__ = ["REGISTRY", "Term", "lookup", "names", "register", "content", "dream", "style", "temporal", "tv"]
