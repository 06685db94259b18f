"""Pixel optimization (Gatys et al.): the image is the parameter; single runs and vmapped sweeps."""
