"""New styles for a trained CIN network (network.kind=cin_newstyle): only the new gamma/beta rows train;
every other parameter and the base's styles stay bit-identical; resume is bit-identical; bad input is
one line."""

from __future__ import annotations

import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from stylejax import configuration, devices
from stylejax.errors import StylejaxError
from stylejax.feedforward import transfer
from stylejax.io import cin_release
from stylejax.methods import cin_newstyle, registry
from stylejax.networks import stylenet
from stylejax.training import loop

from checkpoint_helpers import params_at


def config(**values):
  return configuration.apply_values(configuration.load_config("cin_newstyle:testing"), values)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
  """4 steps on multistyle26 with 2 new styles, a checkpoint every 2 steps."""
  workdir = tmp_path_factory.mktemp("newstyle") / "run"
  loop.run(config(), workdir, quiet=True)
  return workdir


def test_only_the_new_rows_change_and_the_base_styles_are_bit_identical(run):
  _, base, _ = cin_release.load("multistyle26")
  trained = params_at(run, 4)
  flat_base = dict(jax.tree_util.tree_leaves_with_path(base))
  for path, leaf in jax.tree_util.tree_leaves_with_path(trained):
    leaf, before = np.asarray(leaf), np.asarray(flat_base[path])
    if leaf.shape == before.shape:  # the convolution kernels
      np.testing.assert_array_equal(leaf, before)
    else:  # a norm's rows: 26 from the base, then the 2 new ones
      assert leaf.shape == (28, before.shape[1])
      np.testing.assert_array_equal(leaf[:26], before)
  mean = cin_newstyle.initial_rows(base, 26, 2, "mean")
  moved = [not np.array_equal(np.asarray(a), np.asarray(b)) for a, b in
           zip(jax.tree.leaves(stylenet.style_rows(trained, 26)), jax.tree.leaves(mean))]
  assert all(moved)
  # the trained network, loaded as `apply` loads it, reproduces the base's styles bit for bit
  stylizer = registry.open_checkpoint(run).load()
  assert stylizer.n_styles == 28 and stylizer.style_names[26:] == ["starry_night", "great_wave"]
  photo = np.random.default_rng(0).uniform(size=(24, 20, 3)).astype(np.float32)
  original = transfer.Stylizer.load("multistyle26")
  for style in ("0", "25"):
    np.testing.assert_array_equal(stylizer.apply([photo], style)[0], original.apply([photo], style)[0])
  assert np.abs(stylizer.apply([photo], "27")[0] - stylizer.apply([photo], "26")[0]).mean() > 1e-4


def test_resume_is_bit_identical(run, tmp_path):
  cut = tmp_path / "cut"
  shutil.copytree(run, cut)
  shutil.rmtree(cut / "checkpoints" / "4")
  compiled = loop.compiled_step(devices.data_mesh())
  before = compiled._cache_size()  # pylint: disable=protected-access
  loop.run(config(), cut, quiet=True)  # resumes from step 2
  assert compiled._cache_size() == before  # the restored state has the step-0 state's shapes and dtypes
  for resumed, reference in zip(jax.tree.leaves(params_at(cut, 4)), jax.tree.leaves(params_at(run, 4))):
    np.testing.assert_array_equal(np.asarray(resumed), np.asarray(reference))


def test_a_cin_workdir_is_a_base_too(run):
  """The run above validates as the base of another (its 28 styles then come first)."""
  loop.validate(config(**{"network.base": str(run), "styles": ("the_scream",)}))
  spec, names = transfer.network_spec(run)
  assert spec.n_styles == 28 and names[:2] == ["multistyle26:0", "multistyle26:1"]


@pytest.mark.parametrize("values, needle", [
    ({"network.base": "no/such/workdir"}, "network.base: no trained network at no/such/workdir"),
    ({"network.base": ""}, "network.base must name"),
    ({"network.n_residual": 5}, "network.base multistyle26 has n_residual=6"),
    ({"network.up_widths": ()}, "up_widths=(8, 4)"),
    ({"network.init": "random"}, "network.init must be one of mean, identity"),
])
def test_bad_config_is_one_line(values, needle):
  with pytest.raises(StylejaxError, match=needle.replace("(", r"\(").replace(")", r"\)")) as error:
    loop.validate(config(**values))
  assert "\n" not in str(error.value)

