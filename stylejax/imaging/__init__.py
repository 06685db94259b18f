"""The imaging layer every path uses, one responsibility per module:

  images   image files in and out: decode and validate (named images too), resize, save PNG;
  crops    centred crops: a square for a network's fixed-size input, an aspect ratio for a grid cell;
  padding  pad a batch to a multiple of a network's downsampling factor, and crop its output back;
  color    colour preservation: luminance-only transfer and histogram (mean/covariance) matching;
  grids    lay out cells into one image: photos x styles with an optional header row, strips.

It sits low: numpy, PIL, jax, `stylejax.errors` and `stylejax.atomic_io`, nothing of the networks
or the methods (a grid takes cells already computed).
"""
