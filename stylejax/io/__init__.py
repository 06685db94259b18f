"""Weights, checkpoints and run directories on disk: safe readers, atomic writers, the weight cache
(image files: stylejax.imaging)."""
