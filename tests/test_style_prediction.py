"""Ghiasi et al.'s style-prediction network: shapes, the embedding -> norms head, interpolation, the
PyTorch twin, and joint training with resume."""

import functools
import json
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from stylejax import configuration, tasks
from stylejax.errors import StylejaxError
from stylejax.feedforward import data, transfer
from stylejax.methods import ghiasi, registry
from stylejax.objectives import loss_network, temporal_pairs
from stylejax.training import loop
from stylejax.imaging import crops, images
from stylejax.io import alexnet_weights, magenta_release, weights
from stylejax.networks import alexnet, style_prediction, stylenet
from stylejax.reference import torch_twin
from stylejax.reference.torch_twin import to_nchw, to_nhwc

from checkpoint_helpers import params_at, write_images  # tests/: on sys.path under pytest

TRANSFORMER = stylenet.NetworkSpec(n_styles=1, width_multiplier=0.125, n_residual=1)
embed = jax.jit(style_prediction.style_embedding, static_argnums=0)  # compiled: eager VGG is slow
stylize = jax.jit(style_prediction.stylize, static_argnums=0)


def _spec(features="vgg16", embedding_dim=6, hidden=8):
  return style_prediction.GhiasiSpec(TRANSFORMER, features=features, embedding_dim=embedding_dim, hidden=hidden)


def _features_params(features, vgg16_params):
  return vgg16_params if features == "vgg16" else alexnet_weights.load_params()


def _paintings(seed, n=2, side=36):
  return np.random.default_rng(seed).random((n, side, side + 4, 3), dtype=np.float32)


def test_embedding_shapes_and_a_gamma_beta_for_every_norm(vgg16_params):
  spec = _spec()
  params = style_prediction.init_params(spec, jax.random.key(0))
  assert set(params) == {"predictor", "head", "transformer"}
  assert not any(k.startswith("ConditionalInstanceNorm") for k in params["transformer"])  # norms hold no rows
  embedding = embed(spec, params, vgg16_params, jnp.asarray(_paintings(0, n=3)))
  assert embedding.shape == (3, 6)
  assert embed(spec, params, vgg16_params, jnp.asarray(_paintings(0)[0])).shape == (6,)
  norms = style_prediction.norm_params(spec, params, embedding)
  channels = stylenet.norm_channels(TRANSFORMER)
  assert len(norms) == len(channels) == 3 + 2 * TRANSFORMER.n_residual + 3
  assert [(g.shape, b.shape) for g, b in norms] == [((3, c), (3, c)) for c in channels]
  # the head starts at gamma = 1, beta = 0 (plain instance norm) with a small dependence on the style
  gammas, betas = np.concatenate([g for g, _ in norms], 1), np.concatenate([b for _, b in norms], 1)
  assert np.abs(gammas - 1).max() < 0.5 and np.abs(betas).max() < 0.5 and np.abs(betas).max() > 0
  photos = jnp.asarray(np.random.default_rng(1).random((3, 14, 19, 3), dtype=np.float32))
  out = stylize(spec, params, photos, embedding)
  assert out.shape == photos.shape and 0 <= float(out.min()) and float(out.max()) <= 1
  # one embedding styles a whole batch; an (H, W, 3) photo comes back as one
  one = stylize(spec, params, photos, embedding[1])
  np.testing.assert_allclose(np.asarray(one[1]), np.asarray(out[1]), atol=1e-6)
  assert stylize(spec, params, photos[0], embedding[0]).shape == (14, 19, 3)


def test_interpolating_embeddings_interpolates_every_gamma_and_beta(vgg16_params):
  spec = _spec()
  params = style_prediction.init_params(spec, jax.random.key(1))
  a, b = embed(spec, params, vgg16_params, jnp.asarray(_paintings(2)))
  norms_a, norms_b = (style_prediction.norm_params(spec, params, e) for e in (a, b))
  for t in (0.0, 0.3, 1.0):
    mixed = style_prediction.interpolate(jnp.stack([a, b]), jnp.asarray([1 - t, t]))
    for (g, be), (ga, ba), (gb, bb) in zip(style_prediction.norm_params(spec, params, mixed), norms_a, norms_b):
      np.testing.assert_allclose(np.asarray(g), (1 - t) * np.asarray(ga) + t * np.asarray(gb), rtol=1e-5, atol=1e-5)
      np.testing.assert_allclose(np.asarray(be), (1 - t) * np.asarray(ba) + t * np.asarray(bb), rtol=1e-5, atol=1e-5)
  photo = jnp.asarray(np.random.default_rng(3).random((16, 16, 3), dtype=np.float32))
  ends = [np.asarray(stylize(spec, params, photo, e)) for e in (a, b)]
  assert np.abs(ends[0] - ends[1]).mean() > 1e-3  # two paintings, two styles


@pytest.mark.parametrize("features", ["vgg16", "alexnet"])
def test_torch_twin_matches_the_style_network_and_transformer(features, vgg16_params):
  spec = _spec(features, hidden=8 if features == "vgg16" else 0)
  params = style_prediction.init_params(spec, jax.random.key(2))
  features_params = _features_params(features, vgg16_params)
  paintings, photos = _paintings(4, side=32), np.random.default_rng(5).random((2, 13, 18, 3), dtype=np.float32)
  embedding = np.array(embed(spec, params, features_params, jnp.asarray(paintings)))
  out = np.asarray(stylize(spec, params, jnp.asarray(photos), jnp.asarray(embedding)))
  twin = torch_twin.TorchStylePrediction(spec, params, features_params)
  with torch.no_grad():
    twin_embedding = twin.embedding(to_nchw(paintings))
    twin_out = to_nhwc(twin.stylize(to_nchw(photos), torch.from_numpy(embedding)))
  assert torch_twin.relative_max(twin_embedding.numpy(), embedding) < 1e-5
  assert twin_out.shape == photos.shape
  np.testing.assert_allclose(twin_out, out, atol=1e-5)
  assert np.abs(out[0] - out[1]).mean() > 1e-2  # the two embeddings are two styles


def test_spec_and_config_mistakes_are_one_line_errors():
  with pytest.raises(StylejaxError, match="style features"):
    _spec("inception")
  with pytest.raises(StylejaxError, match="too small"):
    style_prediction.style_embedding(_spec("alexnet"), None, None, jnp.zeros((1, 20, 40, 3)))
  base = configuration.load_config("ghiasi_tiny")
  for values, needle in [({"network.style_features": "inception"}, "network.style_features"),
                         ({"network.embedding_dim": 0}, "network.embedding_dim"),
                         ({"style_size": 24}, "style_size")]:
    with pytest.raises(StylejaxError, match=needle):
      loop.validate(configuration.apply_values(base, values))
  loop.validate(configuration.load_config("ghiasi_paper"))


@pytest.mark.slow
def test_ghiasi_tiny_trains_lowers_the_loss_resumes_bit_identically_and_exports(tmp_path):
  photos, paintings = write_images(tmp_path / "photos", 3, 0), write_images(tmp_path / "paintings", 2, 1)
  config = configuration.apply_values(configuration.load_config("ghiasi_tiny"), {
      "data.content": f"folder:{photos}", "styles": f"folder:{paintings}", "data.image_size": 32,
      "style_size": 32, "data.max_side": 64, "network.width_multiplier": 0.125, "network.n_residual": 1,
      "network.style_features": "alexnet", "network.embedding_dim": 8, "optim.batch_size": 2,
      "optim.steps": 4, "optim.learning_rate": 1e-3, "checkpoint_every": 2, "log_every": 1,
      "eval_every": 0, "eval_images": ("astronaut",), "eval_size": 32})
  loop.validate(config)
  reference = loop.run(config, tmp_path / "ref", quiet=True)
  grid = images.load_image(str(tmp_path / "ref" / "eval" / "grid_000004.png"))
  assert grid.shape == (32, 32 * 3, 3)  # the photo, then the first two paintings' styles

  # the loss of a fixed batch of (photo, painting) pairs, before and after the four steps
  loaded = weights.load_vgg("vgg16-lpips")
  problem = registry.get(config.network.kind).problem(config, loaded, 2)
  assert isinstance(problem.spec, style_prediction.GhiasiSpec) and problem.spec.features == "alexnet"
  content = np.stack([data.training_images(data.open_source(config.data.content, max_side=64), 32, 0)[i]
                      for i in range(2)])
  style = np.stack([data.training_images(data.open_style_source(config.styles, 64), 32, 1, flip=True)[i]
                    for i in range(2)])
  w = loss_network.loss_weights(config.loss, "vgg16")
  features_params = alexnet_weights.load_params()
  batch_loss = jax.jit(ghiasi.batch_loss, static_argnums=(0, 1))
  loss = lambda params: float(batch_loss(problem.loss, problem.spec, params, loaded.params, features_params,
                                         jnp.asarray(content), jnp.asarray(style), w, jax.random.key(0))[0])
  assert loss(reference.state["params"]) < loss(loop.initial_state(problem, config.seed)["params"])
  # with the temporal term (stylejax.objectives.temporal_pairs): the same terms plus weight x "temporal"
  motion = temporal_pairs.TemporalSettings(weight=50.0, max_shift=2.0, max_rotation=1.0, max_zoom=0.02)
  args = (problem.loss, problem.spec, reference.state["params"], loaded.params, features_params,
          jnp.asarray(content), jnp.asarray(style), w, jax.random.key(0), 0)
  plain_total, plain_terms = batch_loss(*args)
  total, terms = jax.jit(ghiasi.batch_loss, static_argnums=(0, 1, 10))(*args, motion)
  assert float(terms["temporal"]) > 0 and float(terms["content"]) == pytest.approx(float(plain_terms["content"]), rel=1e-5)
  assert float(total) == pytest.approx(float(plain_total) + 50.0 * float(terms["temporal"]), rel=1e-5)

  # resume from step 2 (as after a crash that lost checkpoint 4): the same bits at step 4
  shutil.copytree(tmp_path / "ref", tmp_path / "run")
  shutil.rmtree(tmp_path / "run" / "checkpoints" / "4")
  resumed = loop.run(config, tmp_path / "run", quiet=True)
  assert int(resumed.state["step"]) == 4
  for a, b in zip(jax.tree.leaves(params_at(tmp_path / "ref", 4)), jax.tree.leaves(params_at(tmp_path / "run", 4))):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  metrics = lambda d: [(l["step"], l["total"]) for l in map(json.loads, (d / "metrics.jsonl").read_text().splitlines())]
  assert metrics(tmp_path / "run") == metrics(tmp_path / "ref") and len(metrics(tmp_path / "ref")) == 4

  # the export: a trained run's embedding of any paintings, and the model behind apply/grid
  model = ghiasi.GhiasiModel.load(tmp_path / "ref")
  assert model.step == 4 and model.style_size == 32
  paintings = [images.load_image(str(p)) for p in sorted((tmp_path / "paintings").iterdir())]
  embed = ghiasi.load_embedder(tmp_path / "ref" / "checkpoints")
  vectors = embed(paintings)
  assert vectors.shape == (2, 8) and vectors.dtype == np.float32
  np.testing.assert_array_equal(vectors, model.embed(paintings))
  assert model.stylize(content, vectors).shape == content.shape
  assert model.grid(list(content), paintings).shape == (64, 32 * 3, 3)
  # apply (what `stylejax apply --style-image` calls): alpha 0 is the photo's own style; a blend of
  # one painting is that painting
  photo = content[0]
  np.testing.assert_allclose(model.apply(photo, paintings, np.array([1.0, 0.0]), alpha=0.0),
                             np.clip(model.stylize(photo, model.embed([photo])[0]), 0, 1), atol=1e-6)
  np.testing.assert_allclose(model.apply(photo, paintings, np.array([0.0, 1.0])),
                             np.clip(model.stylize(photo, vectors[1]), 0, 1), atol=1e-6)
  assert model.apply(photo, paintings, np.array([0.5, 0.5]), mask=np.ones((8, 8, 3), np.float32)).shape == photo.shape
  with pytest.raises(StylejaxError, match="no checkpoint at step 3"):
    ghiasi.GhiasiModel.load(tmp_path / "ref", step=3)

  # retrieval (`stylejax embed --set embed.network=ghiasi --set embed.checkpoint=WORKDIR`): the style
  # vector is the unit embedding, the content vector comes from the style network's AlexNet
  from stylejax.retrieval import embedder  # pylint: disable=import-outside-toplevel  (loads faiss)
  retrieval_config = configuration.apply_values(configuration.load_config("retrieval"), {
      "embed.network": "ghiasi", "embed.checkpoint": str(tmp_path / "ref"), "embed.image_size": 32,
      "embed.batch_size": 2, "embed.content_grid": 1})
  tasks.validate(retrieval_config)
  retrieval_embedder, description = embedder.Embedder.from_config(retrieval_config)
  assert description["network"] == "ghiasi" and description["step"] == 4
  squares = np.stack([crops.square(p, 32) for p in paintings])
  style_vectors, content_vectors = retrieval_embedder(squares)
  expected = model.embed(squares)
  np.testing.assert_allclose(style_vectors, expected / np.linalg.norm(expected, axis=1, keepdims=True), atol=1e-5)
  assert content_vectors.shape[0] == 2

  # the CLI's shorthand for those two settings: `stylejax embed FOLDER --index DIR --checkpoint WORKDIR`
  from stylejax import cli  # pylint: disable=import-outside-toplevel
  code = cli.main(["embed", str(tmp_path / "photos"), "--index", str(tmp_path / "idx"), "--quiet",
                   "--checkpoint", str(tmp_path / "ref"), "--set", "embed.image_size=32", "--set", "embed.batch_size=2",
                   "--set", "embed.content_grid=1"])
  assert code == 0
  described = json.loads((tmp_path / "idx" / "embedding.json").read_text())
  assert described["identity"]["model"]["network"] == "ghiasi", described["identity"]["model"]


@pytest.mark.slow
def test_magenta_transformer_starts_from_the_pretrained_float_model_and_fine_tunes(tmp_path):
  from stylejax.networks import magenta_arbitrary  # pylint: disable=import-outside-toplevel

  spec = style_prediction.GhiasiSpec(TRANSFORMER, transformer_kind="magenta")
  pretrained = magenta_release.load_params()
  params = style_prediction.init_params(spec, jax.random.key(0), pretrained)
  painting, photo = _paintings(6, n=1, side=40), np.random.default_rng(7).random((1, 24, 20, 3), dtype=np.float32)
  embedding = embed(spec, params, {}, jnp.asarray(painting))
  float_model = {f: jax.jit(functools.partial(getattr(magenta_arbitrary, f), quantize=False))
                 for f in ("style_embedding", "stylize")}  # eagerly, every layer compiles on its own
  np.testing.assert_allclose(np.asarray(embedding), np.asarray(float_model["style_embedding"](
      pretrained, jnp.asarray(painting))), atol=1e-5)
  np.testing.assert_allclose(np.asarray(stylize(spec, params, jnp.asarray(photo), embedding)), np.asarray(
      float_model["stylize"](pretrained, jnp.asarray(photo), embedding)), atol=1e-5)
  with pytest.raises(StylejaxError, match="100 dimensions"):
    style_prediction.GhiasiSpec(TRANSFORMER, transformer_kind="magenta", embedding_dim=8)

  photos, paintings = write_images(tmp_path / "photos", 2, 0), write_images(tmp_path / "paintings", 1, 1)
  config = configuration.apply_values(configuration.load_config("ghiasi_tiny"), {
      "network.transformer": "magenta", "data.content": f"folder:{photos}", "styles": f"folder:{paintings}",
      "data.image_size": 32, "style_size": 32, "data.max_side": 64, "optim.batch_size": 1, "optim.steps": 2,
      "optim.learning_rate": 1e-4, "network.style_lr_scale": 1.0, "checkpoint_every": 2, "log_every": 1,
      "eval_every": 0, "eval_images": ("astronaut",), "eval_size": 32})
  result = loop.run(config, tmp_path / "run", quiet=True)
  assert np.isfinite(result.last_terms["total"])
  moved = [float(np.abs(np.asarray(a) - np.asarray(b)).max())
           for a, b in zip(jax.tree.leaves(result.state["params"]), jax.tree.leaves(params))]
  assert max(moved) > 0  # fine-tuned from the pretrained weights
  model = ghiasi.GhiasiModel.load(tmp_path / "run")
  assert model.spec.magenta and model.embed([painting[0]]).shape == (1, 100)
