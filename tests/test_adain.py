"""AdaIN (Huang & Belongie 2017): the layer, the inference controls, the decoder against the release's
torch layer list, import of the release's weight files, and training with resume."""

import json
import os
import pickle
import shutil
import zipfile

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from stylejax import configuration
from stylejax.errors import StylejaxError
from stylejax.feedforward import data, transfer
from stylejax.methods import adain as adain_method, registry
from stylejax.training import loop
from stylejax.imaging import images
from stylejax.io import adain_release, safe_unpickle, weights
from stylejax.networks import adain, vgg
from stylejax.objectives import loss_network, temporal_pairs
from stylejax.networks import preprocessing
from stylejax.reference import torch_twin
from stylejax.reference.torch_twin import to_nchw, to_nhwc

from checkpoint_helpers import params_at, write_images  # tests/: on sys.path under pytest

VGG16_NET = loss_network.LossNetwork(arch="vgg16", preprocessing=preprocessing.LPIPS, pooling="max",
                                     padding="zero", content_layers=("relu4_1",),
                                     style_layers=adain.ENCODER_LAYERS, statistic="mean_var")


def _features(seed, shape):
  return np.abs(np.random.default_rng(seed).standard_normal(shape)).astype(np.float32)


def _relative_max(a, b):
  return torch_twin.relative_max(np.asarray(a), np.asarray(b))


# --- the layer and the inference controls -------------------------------------------------------

def test_adain_gives_the_content_the_style_statistics_and_matches_the_release():
  content, style = _features(0, (2, 5, 6, 4)), _features(1, (2, 7, 3, 4))
  ours = np.asarray(adain.adain(jnp.asarray(content), jnp.asarray(style)))
  flat = lambda x: x.reshape(x.shape[0], -1, x.shape[-1]).astype(np.float64)
  s_mean, s_std = flat(style).mean(1), np.sqrt(flat(style).var(1, ddof=1) + 1e-5)
  c_var = flat(content).var(1, ddof=1)
  np.testing.assert_allclose(flat(ours).mean(1), s_mean, rtol=1e-5, atol=1e-6)
  # the output's std is sigma_s scaled by sqrt(var_c / (var_c + eps)): eps enters as in the release
  np.testing.assert_allclose(flat(ours).std(1, ddof=1), s_std * np.sqrt(c_var / (c_var + 1e-5)), rtol=1e-5)
  twin = to_nhwc(torch_twin.adain(to_nchw(content), to_nchw(style)))
  np.testing.assert_allclose(ours, twin, rtol=1e-5, atol=1e-6)


def test_alpha_style_weights_and_mask_controls():
  fc = jnp.asarray(_features(2, (6, 8, 4)))
  f1, f2 = jnp.asarray(_features(3, (5, 5, 4)) * 3 + 1), jnp.asarray(_features(4, (4, 6, 4)) * 0.5)
  np.testing.assert_array_equal(np.asarray(adain.target(fc, [f1], alpha=0.0)), np.asarray(fc))
  one = np.asarray(adain.target(fc, [f1]))
  np.testing.assert_allclose(one, np.asarray(adain.adain(fc, f1)), rtol=1e-6)
  half = np.asarray(adain.target(fc, [f1], alpha=0.5))
  np.testing.assert_allclose(half, 0.5 * one + 0.5 * np.asarray(fc), rtol=1e-6)
  # interpolation: endpoints are the single styles, the middle is the mean of their targets
  ends = [np.asarray(adain.target(fc, [f1, f2], style_weights=w)) for w in ([1.0, 0.0], [0.0, 1.0], [0.5, 0.5])]
  np.testing.assert_allclose(ends[0], one, rtol=1e-6)
  np.testing.assert_allclose(ends[1], np.asarray(adain.adain(fc, f2)), rtol=1e-6)
  np.testing.assert_allclose(ends[2], (ends[0] + ends[1]) / 2, rtol=1e-5, atol=1e-6)
  # mask: left half painting 0, right half painting 1, each with its own region's statistics
  labels = np.zeros((12, 16), np.int32)
  labels[:, 8:] = 1  # given at twice the feature resolution: resized to 6 x 8
  masked = np.asarray(adain.target(fc, [f1, f2], mask=jnp.asarray(labels)))
  for region, f in ((np.s_[:, :4], f1), (np.s_[:, 4:], f2)):
    expected = np.asarray(adain.adain(fc[region], f))
    np.testing.assert_allclose(masked[region], expected, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_stylize_alpha_zero_decodes_the_content_features_and_keeps_any_size():
  vgg_params = vgg.init_params(jax.random.key(0), "vgg16")
  spec = adain.DecoderSpec(width_multiplier=0.125)
  params = adain.init_params(spec, jax.random.key(1))
  rng = np.random.default_rng(5)
  content, style = jnp.asarray(rng.random((32, 40, 3), np.float32)), jnp.asarray(rng.random((24, 24, 3), np.float32))
  stylize = jax.jit(adain.stylize, static_argnames=("net", "spec"))  # eager: ~190 small compiles
  plain = stylize(params, vgg_params, content, style, alpha=0.0, net=VGG16_NET, spec=spec)
  decoded = jax.jit(lambda p, v, c: adain.decode(spec, p, adain.encode(v, VGG16_NET, c)[adain.CONTENT_LAYER]))(
      params, vgg_params, content)
  np.testing.assert_allclose(np.asarray(plain), np.clip(np.asarray(decoded), 0, 1), atol=1e-6)
  odd = stylize(params, vgg_params, content[:29, :35], style, net=VGG16_NET, spec=spec)
  assert odd.shape == (29, 35, 3) and float(odd.min()) >= 0 and float(odd.max()) <= 1
  with pytest.raises(StylejaxError, match="style_weights"):
    adain.stylize(params, vgg_params, content, [style, style], style_weights=[1.0, 0.0],
                  mask=np.zeros((4, 4), np.int32), net=VGG16_NET, spec=spec)
  with pytest.raises(StylejaxError, match="16 px"):
    adain.stylize(params, vgg_params, content[:8], style, net=VGG16_NET, spec=spec)


def test_decoder_matches_the_release_layer_list_in_torch():
  params = adain.init_params(adain.PAPER, jax.random.key(2))
  features = _features(6, (2, 3, 4, 512))
  ours = np.asarray(jax.jit(adain.decode, static_argnums=0)(adain.PAPER, params, jnp.asarray(features)))
  with torch.no_grad():
    twin = to_nhwc(torch_twin.adain_decoder_from_flax(params)(to_nchw(features)))
  assert ours.shape == twin.shape == (2, 24, 32, 3)
  assert _relative_max(ours, twin) < 1e-5


# --- the release's weight files -----------------------------------------------------------------

def _save(module, path, legacy):
  torch.save(module.state_dict(), str(path), _use_new_zipfile_serialization=not legacy)


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_release_weight_files_import_with_their_preprocessing(tmp_path, legacy):
  torch.manual_seed(0)
  encoder, decoder = torch_twin.adain_vgg_sequential().eval(), torch_twin.adain_decoder_sequential().eval()
  with torch.no_grad():  # the release's input conv: RGB [0, 1] -> BGR 0-255 minus the mean pixel
    encoder[0].weight.copy_(torch.eye(3)[[2, 1, 0]].view(3, 3, 1, 1) * 255.0)
    encoder[0].bias.copy_(-torch.tensor([103.939, 116.779, 123.68]))
  _save(encoder, tmp_path / "vgg_normalised.pth", legacy)
  _save(decoder, tmp_path / "decoder.pth", legacy)
  keys = set(safe_unpickle.load_torch_checkpoint(str(tmp_path / "decoder.pth")))
  assert {"1.weight", "1.bias", "28.weight"} <= keys and len(keys) == 18
  assert {"0.weight", "2.weight", "29.bias", "51.weight"} <= set(
      safe_unpickle.load_torch_checkpoint(str(tmp_path / "vgg_normalised.pth")))

  loaded = weights.load_vgg(str(tmp_path / "vgg_normalised.pth"))  # format from the file name
  assert loaded.arch == "vgg19" and loaded.preprocessing == preprocessing.Preprocessing()
  net = loss_network.LossNetwork(arch="vgg19", preprocessing=loaded.preprocessing, pooling="max",
                                 padding="reflect", content_layers=("relu4_1",),
                                 style_layers=adain.ENCODER_LAYERS, statistic="mean_var")
  decoder_params = adain_release.read_decoder(str(tmp_path / "decoder.pth"))
  rng = np.random.default_rng(7)
  content, style = rng.random((1, 16, 24, 3), np.float32), rng.random((1, 24, 16, 3), np.float32)
  ours = jax.jit(adain.encode, static_argnums=1)(loaded.params, net, jnp.asarray(content))  # eager: slow
  with torch.no_grad():
    x = to_nchw(content)
    for layer, end in torch_twin.ADAIN_VGG_RELU.items():
      assert _relative_max(ours[layer], to_nhwc(encoder[:end](x))) < 1e-5, layer
    # the release's test.py: decoder(adain(vgg(content), vgg(style))), clipped when saved
    t = torch_twin.adain(encoder[:31](x), encoder[:31](to_nchw(style)))
    expected = to_nhwc(decoder(t).clamp(0, 1))
  out = jax.jit(adain.stylize, static_argnames=("net",))(decoder_params, loaded.params, jnp.asarray(content),
                                                        jnp.asarray(style[0]), net=net)
  assert _relative_max(out, expected) < 1e-4


class _Payload:
  def __init__(self, marker):
    self.marker = marker

  def __reduce__(self):
    return (os.system, (f"touch {self.marker}",))


def test_bad_release_files_are_clear_errors(tmp_path):
  small = torch.nn.Sequential(torch.nn.Conv2d(3, 3, (1, 1)), torch.nn.ReflectionPad2d(1), torch.nn.Conv2d(3, 8, 3))
  for legacy in (False, True):
    path = tmp_path / f"vgg_normalised_{legacy}.pth"
    _save(small, path, legacy)
    with pytest.raises(StylejaxError, match="not the release's vgg_normalised"):
      adain_release.read_vgg_normalised(str(path))
    with pytest.raises(StylejaxError, match="decoder has 9"):
      adain_release.read_decoder(str(path))
    raw = path.read_bytes()
    path.write_bytes(raw[:len(raw) // 2])  # truncated
    with pytest.raises(StylejaxError, match="truncated"):
      adain_release.read_decoder(str(path))
  decoder = torch_twin.adain_decoder_sequential(16, 8, 4)  # a decoder of other widths
  _save(decoder, tmp_path / "decoder.pth", False)
  with pytest.raises(StylejaxError, match="conv_0 has shape"):
    adain_release.read_decoder(str(tmp_path / "decoder.pth"))
  with torch.no_grad():
    decoder[1].bias[0] = float("nan")
  _save(decoder, tmp_path / "decoder.pth", False)
  with pytest.raises(StylejaxError, match="NaN"):
    adain_release.read_decoder(str(tmp_path / "decoder.pth"))
  marker = tmp_path / "pwned"
  with zipfile.ZipFile(tmp_path / "evil.pth", "w") as z:  # tampered: the pickle asks for os.system
    z.writestr("archive/data.pkl", pickle.dumps({"1.weight": _Payload(marker)}, protocol=2))
  with pytest.raises(StylejaxError, match="refusing to load"):
    adain_release.read_decoder(str(tmp_path / "evil.pth"))
  assert not marker.exists()


# --- training -----------------------------------------------------------------------------------

@pytest.mark.slow
def test_adain_tiny_trains_lowers_the_loss_and_resumes_bit_identically(tmp_path):
  photos, paintings = write_images(tmp_path / "photos", 3, 0), write_images(tmp_path / "paintings", 2, 1)
  config = configuration.apply_values(configuration.load_config("adain_tiny"), {
      "data.content": f"folder:{photos}", "styles": f"folder:{paintings}", "data.image_size": 32,
      "style_size": 32, "data.max_side": 64, "network.width_multiplier": 0.125, "optim.batch_size": 2,
      "optim.steps": 4, "optim.learning_rate": 1e-4, "checkpoint_every": 2, "log_every": 1,
      "eval_every": 0, "eval_images": ("astronaut",), "eval_size": 32})
  loop.validate(config)
  reference = loop.run(config, tmp_path / "ref", quiet=True)
  grid = images.load_image(str(tmp_path / "ref" / "eval" / "grid_000004.png"))
  assert grid.shape == (32, 32 * 3, 3)  # the photo, then the first two paintings

  # the loss of a fixed batch of (photo, painting) pairs, before and after the four steps
  loaded = weights.load_vgg("vgg16-lpips")
  problem = registry.get(config.network.kind).problem(config, loaded, 2)
  assert isinstance(problem.spec, adain.DecoderSpec)
  content = np.stack([data.training_images(data.open_source(config.data.content, max_side=64), 32, 0)[i]
                      for i in range(2)])
  style = np.stack([data.training_images(data.open_style_source(config.styles, 64), 32, 1, flip=True)[i]
                    for i in range(2)])
  w = loss_network.loss_weights(config.loss, "vgg16")
  batch_loss = jax.jit(adain_method.batch_loss, static_argnums=(0, 1, 8, 9))  # eager: ~350 small compiles
  loss = lambda params: float(batch_loss(problem.loss, problem.spec, params, loaded.params,
                                               jnp.asarray(content), jnp.asarray(style), w, jax.random.key(0))[0])
  assert loss(reference.state["params"]) < loss(loop.initial_state(problem, config.seed)["params"])
  # with the temporal term (stylejax.objectives.temporal_pairs): the same terms plus weight x "temporal"
  motion = temporal_pairs.TemporalSettings(weight=50.0, max_shift=2.0, max_rotation=1.0, max_zoom=0.02)
  args = (problem.loss, problem.spec, reference.state["params"], loaded.params, jnp.asarray(content),
          jnp.asarray(style), w, jax.random.key(0), 0)
  plain_total, plain_terms = batch_loss(*args)
  total, terms = batch_loss(*args, motion)
  assert float(terms["temporal"]) > 0 and float(terms["style"]) == pytest.approx(float(plain_terms["style"]), rel=1e-5)
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
  with pytest.raises(StylejaxError, match="adain network"):  # `apply --checkpoint` reads CIN runs
    transfer.Stylizer.load(tmp_path / "ref")


def test_adain_config_mistakes_are_one_line_errors():
  base = configuration.load_config("adain_tiny")
  for values, needle in [({"network.kind": "johnson"}, "network.kind"),
                         ({"loss.content_layers": "relu3_1"}, "relu4_1"),
                         ({"data.image_size": 36}, "multiple of 8"),
                         ({"data.crop_scale": (0.5, 1.0)}, "crop_scale")]:
    with pytest.raises(StylejaxError, match=needle):
      loop.validate(configuration.apply_values(base, values))
