"""Moved to `stylejax.imaging.images`. This alias stays only until the training code being rewritten
(stylejax/feedforward/train.py, stylejax/methods/) imports from there; delete it then."""

from stylejax.imaging.images import (BUNDLED_PAINTINGS, MAX_PIXELS, MIN_SIDE, NAMED_IMAGES,  # noqa: F401
                                     SKIMAGE_PHOTOS, load_image, png_bytes, resize, save_png, to_uint8)
