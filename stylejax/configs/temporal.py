"""The `temporal` block of every training config: the temporal term of feed-forward training
(`stylejax.objectives.temporal_pairs`: a second frame by a random small camera motion with exact
flow, and the masked warped-output loss). Off unless `temporal.weight > 0`; every field is commented.
"""

import ml_collections


def get_temporal_config() -> ml_collections.ConfigDict:
  t = ml_collections.ConfigDict()
  t.weight = 0.0  # the temporal term's weight; 0 trains without it (Huang et al. 2017 / ReCoNet when > 0)
  t.max_shift = 4.0  # frame 2 = frame 1 moved by up to this many px along each axis
  t.max_rotation = 1.0  # ... rotated by up to this many degrees about the centre
  t.max_zoom = 0.02  # ... scaled by a factor in [1 - max_zoom, 1 + max_zoom]
  t.noise = 0.01  # ... plus Gaussian noise of this std (images in [0, 1]); the stability term
  return t
