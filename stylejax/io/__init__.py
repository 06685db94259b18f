"""Weights, images and run directories on disk: safe readers, atomic writers, the weight cache."""
