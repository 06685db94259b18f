"""The imaging layer's geometry and layout: centre crops, pad-to-a-multiple round trips, grids."""

import jax.numpy as jnp
import numpy as np
import pytest

from stylejax.imaging import crops, grids, padding
from stylejax import nested


def _ramp(h, w):
  """An image whose every pixel says where it came from: (row, column, 0) / 100."""
  y, x = np.mgrid[0:h, 0:w]
  return (np.stack([y, x, np.zeros_like(x)], -1) / 100).astype(np.float32)


@pytest.mark.parametrize("h, w, top, left", [(5, 8, 0, 1), (8, 5, 1, 0), (4, 4, 0, 0), (6, 9, 0, 1)])
def test_center_square_takes_the_middle_rounding_down(h, w, top, left):
  side = min(h, w)
  np.testing.assert_array_equal(crops.center_square(_ramp(h, w)), _ramp(h, w)[top:top + side, left:left + side])


def test_square_resizes_the_centre_and_a_batch_crops_the_same_on_device():
  image = _ramp(40, 60)
  image[:, :10] = 5.0  # outside the centre square: must be cropped away
  out = crops.square(image, 20)
  assert out.shape == (20, 20, 3) and out.dtype == np.float32 and out.max() <= 1
  np.testing.assert_array_equal(crops.square(image, 40), image[:, 10:50])  # right size: a crop only
  batch = jnp.asarray(image[None])
  on_device = np.asarray(crops.square_on_device(batch, 32))
  assert on_device.shape == (1, 32, 32, 3) and on_device.max() < 1.5
  np.testing.assert_array_equal(crops.square_on_device(batch, 40), image[None, :, 10:50])


def test_fill_crops_to_the_aspect_then_resizes():
  image = _ramp(40, 100)
  assert crops.fill(image, 20, 10).shape == (20, 10, 3)
  # A portrait cell from a landscape image: the middle 20 columns (already the cell's size: no resize).
  np.testing.assert_array_equal(crops.fill(image, 40, 20), image[:, 40:60])


@pytest.mark.parametrize("h, w, mode", [(5, 7, "reflect"), (8, 8, "reflect"), (9, 6, "reflect"), (9, 3, "edge"),
                                        (1, 6, "edge")])
def test_pad_to_multiple_and_crop_back_round_trip(h, w, mode):
  batch = jnp.asarray(_ramp(h, w)[None])
  padded, pads = padding.pad_to_multiple(batch, 4, mode)
  assert padded.shape[1] % 4 == 0 and padded.shape[2] % 4 == 0
  assert padded.shape[1] - h < 4 and padded.shape[2] - w < 4
  (top, bottom), (left, right) = pads
  assert 0 <= bottom - top <= 1 and 0 <= right - left <= 1  # the odd pixel at the bottom/right
  np.testing.assert_array_equal(padding.crop_padding(padded, pads), batch)


def test_photo_grid_lays_out_header_photos_and_columns():
  cell = lambda v: np.full((2, 3, 3), v, np.float32)
  photos = [cell(0.1), cell(0.2)]
  columns = [[cell(0.3), cell(0.4)], [cell(0.5), cell(0.6)]]  # columns[k][i]: photo i in style k
  grid = grids.photo_grid(photos, columns, header=[cell(0.7), cell(0.8)])
  assert grid.shape == (3 * 2, 3 * 3, 3)
  expected = [[1.0, 0.7, 0.8], [0.1, 0.3, 0.5], [0.2, 0.4, 0.6]]
  np.testing.assert_array_equal(grid[::2, ::3, 0], np.array(expected, np.float32))
  assert grids.photo_grid(photos, columns).shape == (2 * 2, 3 * 3, 3)


def test_tile_rows_of_cells():
  rows = [[_ramp(2, 3), _ramp(2, 3) + 1], [_ramp(2, 3) + 2, _ramp(2, 3) + 3]]
  tiled = grids.tile(rows)
  assert tiled.shape == (4, 6, 3)
  np.testing.assert_array_equal(tiled[2:, 3:], rows[1][1])


def test_nested_flatten_names_leaves_by_dotted_path():
  assert nested.flatten({"a": {"b": 1, "c": {"d": 2}}, "e": 3, "f": {}}) == {"a.b": 1, "a.c.d": 2, "e": 3}
