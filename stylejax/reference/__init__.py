"""PyTorch twins of stylejax computations, written independently from the JAX code.

Used by the parity tests and the benchmarks as the reference that stylejax is checked and timed
against. Needs the `torch` extra (`pip install stylejax[torch]`); nothing in the package imports it.
"""
