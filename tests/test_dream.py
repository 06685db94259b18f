"""DeepDream (stylejax/pixel/dream.py, objectives/terms/dream.py): the objective and its gradient
against a PyTorch twin, a step raises the chosen activation, octave and tile shapes for odd sizes,
tiled gradients equal untiled ones inside a tile, seeds give the same bits, bad names are one line."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from stylejax import cli, configuration
from stylejax.errors import StylejaxError
from stylejax.networks import preprocessing
from stylejax.objectives.loss_network import LossNetwork
from stylejax.objectives.terms import dream as dream_term
from stylejax.pixel import dream
from stylejax.pixel.optimize import PixelProblem
from stylejax.reference import dream_twin
from stylejax.reference.torch_twin import Preprocess, TorchVGG, to_nchw, to_nhwc

LAYERS = ("relu1_2", "relu2_1")  # a tiny VGG16: the first two blocks, random weights


def _net():
  return LossNetwork(arch="vgg16", preprocessing=preprocessing.LPIPS, pooling="max", padding="zero",
                     content_layers=("relu1_2",), style_layers=("relu1_2",), statistic="gram")


def _problem(reduction="l2", layers=LAYERS):
  return PixelProblem(loss=_net(), terms=(dream_term.Dream(layers=layers, reduction=reduction),))


def _weights(layer_weights, channels=()):
  counts = {"relu1_2": 64, "relu2_1": 128, "relu1_1": 64}
  return {"dream": {"weight": jnp.float32(1.0),
                    "layers": {k: jnp.float32(layer_weights.get(k, 0.0)) for k in counts},
                    "channels": dream_term.masks(channels, counts)}}


_gradient = jax.jit(dream.gradient, static_argnums=(0, 1))  # eager, each op would compile on its own


def _image(shape, seed=0):
  return np.random.default_rng(seed).uniform(0.1, 0.9, shape).astype(np.float32)


@pytest.fixture(scope="module")
def small_vgg(vgg16_params):
  return {k: v for k, v in vgg16_params.items() if k[4] in "12"}


@pytest.mark.parametrize("reduction,channels", [("l2", ()), ("mean", (3, 17)), ("guided", (5, 9, 30))])
def test_objective_value_and_gradient_match_the_torch_twin(small_vgg, reduction, channels):
  image, guide = _image((20, 18, 3)), _image((12, 14, 3), seed=1)
  layer_weights = {"relu1_2": 0.5, "relu2_1": 1.0}
  problem, weights = _problem(reduction), _weights(layer_weights, channels)
  targets = {"dream": problem.terms[0].targets(problem.loss, small_vgg, {"guide": guide})}
  key = jax.random.key(0)
  values, grad = _gradient(problem, dream.DreamLoop(), jnp.asarray(image), small_vgg, targets, weights, key)

  net = TorchVGG.from_hwio("vgg16", small_vgg, preprocess=Preprocess.of(preprocessing.LPIPS))
  masks = {k: torch.from_numpy(np.array(weights["dream"]["channels"][k])) for k in layer_weights}
  guides = None
  if reduction == "guided":
    feats = net.features(to_nchw(guide[None]), list(layer_weights))
    guides = {k: v[0].reshape(v.shape[1], -1).T for k, v in feats.items()}
  x = to_nchw(image[None]).requires_grad_(True)
  twin = dream_twin.dream_objective(net, x, layer_weights, masks, reduction, guides)
  (twin_grad,) = torch.autograd.grad(twin, x)
  np.testing.assert_allclose(float(values["dream"]), -float(twin.detach()), rtol=1e-5)  # the term is minus the response
  np.testing.assert_allclose(np.asarray(grad), -to_nhwc(twin_grad)[0], rtol=2e-4, atol=1e-6 * float(np.abs(grad).max()))


def test_a_step_raises_the_chosen_activation_and_matches_the_twin_step(small_vgg):
  image = _image((24, 24, 3))
  problem, weights = _problem(layers=("relu2_1",)), _weights({"relu2_1": 1.0}, channels=(7,))
  loop = dream.DreamLoop(jitter=4)
  key = jax.random.key(3)
  new, values = dream.step(problem, loop, jnp.asarray(image), small_vgg, {"dream": None}, weights,
                           jnp.float32(0.02), key)
  # The same step in PyTorch, given the roll the JAX step drew.
  shift = tuple(int(s) for s in jax.random.randint(jax.random.split(key)[0], (2,), -4, 5))
  net = TorchVGG.from_hwio("vgg16", small_vgg, preprocess=Preprocess.of(preprocessing.LPIPS))
  masks = {"relu2_1": torch.from_numpy(np.array(weights["dream"]["channels"]["relu2_1"]))}
  twin, value = dream_twin.dream_step(net, to_nchw(image[None]), shift, 0.02, {"relu2_1": 1.0}, masks)
  np.testing.assert_allclose(-float(values["dream"]), value, rtol=1e-5)
  np.testing.assert_allclose(np.asarray(new), to_nhwc(twin)[0], atol=1e-5)
  response = lambda x: float(dream_twin.dream_objective(net, to_nchw(np.asarray(x)[None]), {"relu2_1": 1.0}, masks))
  assert response(new) > 1.05 * response(image)  # channel 7 of relu2_1 responds more after one step

  compiled = dream.step._cache_size()  # weights and step size are arguments: no retrace
  dream.step(problem, loop, new, small_vgg, {"dream": None}, _weights({"relu2_1": 2.0}, (1, 2)),
             jnp.float32(0.01), jax.random.key(4))
  assert dream.step._cache_size() == compiled


def test_octave_and_tile_shapes_for_odd_sizes():
  assert dream.octave_sizes(101, 67, 4, 1.4) == [(36, 24), (51, 34), (72, 48), (101, 67)]  # rounded in turn
  assert dream.octave_sizes(33, 33, 1, 1.4) == [(33, 33)]
  for height, width, tile in ((101, 67, 32), (33, 97, 33), (64, 64, 32)):
    rows, cols, th, tw = dream.tile_grid(height, width, tile)
    assert th <= tile and tw <= tile and 0 <= rows * th - height < rows and 0 <= cols * tw - width < cols
  assert dream.upsample(jnp.zeros((37, 24, 3)), (52, 34)).shape == (52, 34, 3)


def test_tiled_gradients_agree_with_untiled_inside_a_tile(small_vgg):
  image = jnp.asarray(_image((41, 39, 3)))
  problem, weights = _problem(layers=("relu1_2",)), _weights({"relu1_2": 1.0})
  key = jax.random.key(5)
  whole_values, whole = _gradient(problem, dream.DreamLoop(), image, small_vgg, {"dream": None}, weights, key)
  tiled_values, tiled = _gradient(problem, dream.DreamLoop(tile_size=32), image, small_vgg, {"dream": None},
                                       weights, key)
  assert tiled.shape == image.shape
  # relu1_2 sees 5x5 pixels, so its gradient at a pixel reads 9x9: pixels 4 px away from the image's
  # edges and the tiles' borders get the untiled gradient.
  rows, cols, th, tw = dream.tile_grid(41, 39, 32)
  offset = np.asarray(dream.tile_offset(jax.random.split(key)[1], th, tw))
  m = 4

  def inside(length, size, shift):
    pos, rolled = np.arange(length), (np.arange(length) + shift) % length  # where the roll put each pixel
    return (rolled % size >= m) & (rolled % size < size - m) & (rolled < length - m) & (pos >= m) & (pos < length - m)
  keep = inside(41, th, offset[0])[:, None] & inside(39, tw, offset[1])[None, :]
  assert keep.mean() > 0.15
  np.testing.assert_allclose(np.asarray(tiled)[keep], np.asarray(whole)[keep], rtol=1e-4,
                             atol=1e-5 * float(np.abs(whole).max()))
  assert not np.allclose(np.asarray(tiled), np.asarray(whole))  # at the borders they differ: the test sees tiles
  np.testing.assert_allclose(float(tiled_values["dream"]), float(whole_values["dream"]), rtol=0.2)


def test_the_same_seed_gives_the_same_bits(small_vgg):
  config = configuration.load_config("dream:testing")
  config.dream.layers, config.dream.octaves, config.dream.steps = "relu1_2", 1, 2
  problem = dream.problem_from_config(config, _net())
  weights = dream.weights_from_config(config, problem)
  loop = dream.DreamLoop(jitter=8, tile_size=32)  # random rolls and tile offsets
  inputs = {"photo": _image((45, 37, 3)), "styles": []}
  sizes = dream.octave_sizes(45, 37, 1, 1.4)
  runs = [dream.dream(problem, loop, inputs, small_vgg, weights, config, sizes)[0] for _ in range(2)]
  config.seed = 1
  other = dream.dream(problem, loop, inputs, small_vgg, weights, config, sizes)[0]
  assert runs[0].shape == (45, 37, 3) and runs[0].dtype == np.float32
  assert np.array_equal(runs[0], runs[1]) and not np.array_equal(runs[0], other)


@pytest.mark.parametrize("argv,needle", [
    (["--layer", "relu9_9"], "dream.layers: vgg16 has no layer 'relu9_9'"),
    (["--network", "alexnet", "--layer", "relu4_3"], "dream.layers: alexnet has no layer 'relu4_3'"),
    (["--network", "mobilenet_v2", "--layer", "expanded_conv_3", "--channels", "32"],
     "dream.channels: expanded_conv_3 has 32 channels"),
    (["--channels", "a,b"], "dream.channels must be comma-separated channel numbers"),
    (["--set", "objective.terms=dream,content", "--network", "alexnet", "--layer", "relu3"], "read VGG features")])
def test_bad_layer_or_channel_names_are_one_line_and_exit_2(argv, needle, tmp_path, capsys):
  code = cli.main(["dream", "astronaut", "--workdir", str(tmp_path / "run"), "--quiet", *argv])
  err = capsys.readouterr().err
  assert code == 2 and needle in err and err.count("\n") == 1, err
  assert not (tmp_path / "run").exists()


def test_stylize_mixes_a_dream_term_on_the_loss_network_only():
  config = configuration.load_config("testing")
  config.objective.terms = "content,dream"
  config.dream.layers = "relu3_1"
  configuration.validate(config)
  config.dream.network, config.dream.layers = "alexnet", "relu3"
  with pytest.raises(StylejaxError, match="dream.network=vgg"):
    configuration.validate(config)
  weights = dream_term.Dream.weights(configuration.load_config("dream:testing"), "vgg16", ("relu1_1",))
  assert set(weights["layers"]) == {"relu1_1", "relu2_2"} and float(weights["layers"]["relu1_1"]) == 0.0
  assert dataclasses.replace(_problem().terms[0], layers=("relu1_1",)).layers == ("relu1_1",)


def test_a_sweep_over_layers_and_step_sizes_is_one_program_equal_to_the_runs_alone(small_vgg):
  from stylejax.pixel import dream_sweep  # pylint: disable=import-outside-toplevel

  image = jnp.asarray(_image((24, 24, 3)))
  loop, key = dream.DreamLoop(jitter=4), jax.random.key(3)
  runs = [({"relu2_1": 1.0}, (7,), 0.02), ({"relu1_2": 1.0}, (), 0.01)]
  union = _problem(layers=("relu1_2", "relu2_1"))
  stack = lambda trees: jax.tree.map(lambda *xs: jnp.stack(xs), *trees)
  batch, _ = dream_sweep.batched_step(union, loop, jnp.stack([image, image]), small_vgg, {"dream": None},
                                      stack([_weights(w, c) for w, c, _ in runs]),
                                      jnp.asarray([s for *_, s in runs], jnp.float32), jnp.stack([key, key]))
  for i, (layer_weights, channels, step_size) in enumerate(runs):
    alone, _ = dream.step(_problem(layers=tuple(layer_weights)), loop, image, small_vgg, {"dream": None},
                          _weights(layer_weights, channels), jnp.float32(step_size), key)
    np.testing.assert_allclose(np.asarray(batch[i]), np.asarray(alone), atol=2e-6)


def test_a_mixed_objective_sums_the_dream_and_content_terms(small_vgg):
  """Dream on a layer while keeping the photo's content: the loop's objective is the pixel
  objective's weighted sum, the dream term entering as minus the response."""
  from stylejax.objectives.terms.content import Content  # pylint: disable=import-outside-toplevel

  photo, image = _image((20, 18, 3), seed=2), _image((20, 18, 3))
  problem = PixelProblem(loss=_net(), terms=(dream_term.Dream(layers=("relu2_1",)), Content(layers=("relu1_2",))))
  weights = {**_weights({"relu2_1": 1.0}), "content": {"weight": jnp.float32(3.0),
                                                       "layers": {"relu1_2": jnp.float32(1.0)}}}
  targets = {"dream": None, "content": problem.terms[1].targets(problem.loss, small_vgg, {"content": photo})}
  values, grad = _gradient(problem, dream.DreamLoop(), jnp.asarray(image), small_vgg, targets, weights,
                           jax.random.key(0))
  assert set(values) == {"dream", "content", "total"} and float(values["dream"]) < 0 < float(values["content"])
  np.testing.assert_allclose(float(values["total"]), float(values["dream"]) + 3.0 * float(values["content"]),
                             rtol=1e-6)
  assert grad.shape == image.shape and bool(jnp.all(jnp.isfinite(grad)))


def test_lucid_transforms_pad_and_resample_the_same_way_for_the_same_key():
  from stylejax.imaging import transforms  # pylint: disable=import-outside-toplevel

  image = jnp.asarray(_image((15, 13, 3)))
  lucid = jax.jit(transforms.lucid)
  out = lucid(image, jax.random.key(0))
  assert out.shape == (15 + 2 * transforms.PAD, 13 + 2 * transforms.PAD, 3)
  assert np.array_equal(np.asarray(out), np.asarray(lucid(image, jax.random.key(0))))
  assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0  # bilinear: inside the pixels' range
