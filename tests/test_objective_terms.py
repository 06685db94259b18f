"""Pixel objectives are sums of registered terms: a new term is one class the optimizer picks up by
name, its value and gradient are the sum's, its weights never retrace, an unknown name is one line."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from stylejax import configuration
from stylejax.configs.fields import add_field
from stylejax.errors import StylejaxError
from stylejax.objectives import objective, terms
from stylejax.networks import preprocessing
from stylejax.objectives.terms import base as term_base
from stylejax.pixel import optimize, stylize

# What problem_from_config reads of loaded weights; no parameters: the toy term reads no features,
# so the loss network must not run at all.
NO_VGG = type("Loaded", (), {"arch": "vgg16", "preprocessing": preprocessing.LPIPS})()


@dataclasses.dataclass(frozen=True)
class Brightness(terms.Term):
  """A toy term: pulls every pixel towards the content photo's mean brightness."""
  name = "brightness"
  fields = {"objective.brightness_weight": "its factor in the sum"}

  @classmethod
  def weights(cls, config, arch):
    return {"weight": jnp.float32(config.objective.brightness_weight)}

  def targets(self, net, params, inputs):
    return {"level": jnp.float32(np.mean(inputs["content"]))}

  def value(self, image, features, targets, weights, key):
    return jnp.mean((image - targets["level"])**2)


@pytest.fixture
def registered(monkeypatch):
  monkeypatch.setattr(term_base, "REGISTRY", dict(term_base.REGISTRY))
  terms.register(Brightness)


def _config(names, brightness_weight=0.5):
  config = configuration.load_config("testing")
  add_field(config, "objective.brightness_weight", brightness_weight, "its factor in the sum")
  config.objective.terms = names
  config.loss.tv_weight = 0.25
  return config


@pytest.mark.parametrize("names,needle", [
    ("content,glow", "objective.terms: unknown objective term 'glow'; choose from content, dream, style, tv"),
    ("style,style", "objective.terms: a term is listed twice"),
    (" , ", "objective.terms: no terms given")])
def test_a_bad_term_list_is_one_line(names, needle):
  config = configuration.load_config("testing")
  config.objective.terms = names
  with pytest.raises(StylejaxError, match=needle) as caught:
    configuration.validate(config)
  assert "\n" not in str(caught.value)


def test_builtin_terms_document_fields_the_pixel_config_has():
  keys = set(configuration.dotted_keys(configuration.load_config("testing")))
  keys |= set(configuration.dotted_keys(configuration.load_config("video_pixel")))  # the temporal term's video.*
  for name, term in terms.REGISTRY.items():
    assert term.name == name and term.fields and set(term.fields) <= keys, name
    assert all(doc.strip() for doc in term.fields.values()), name
  assert configuration.load_config("quickstart").objective.terms == ",".join(objective.GATYS)


def test_a_registered_term_is_summed_by_the_optimizer_and_its_weight_never_retraces(registered):
  rng = np.random.default_rng(0)
  content = rng.uniform(size=(8, 8, 3)).astype(np.float32)
  image = rng.uniform(0.2, 0.8, size=(8, 8, 3)).astype(np.float32)
  config = _config("brightness")
  problem = stylize.problem_from_config(config, NO_VGG)
  assert [type(t) for t in problem.terms] == [Brightness]
  targets = stylize.targets(problem, None, content, [])
  weights = stylize.loss_weights(config, "vgg16")
  key = jax.random.key(0)
  level = np.float32(content.mean())
  value = np.mean((image.astype(np.float64) - level)**2)
  grad = 0.5 * 2 * (image.astype(np.float64) - level) / image.size

  values = optimize.evaluate(problem, jnp.asarray(image), None, targets, weights, key)
  assert set(values) == {"brightness", "total"}
  np.testing.assert_allclose(float(values["brightness"]), value, rtol=1e-6)
  np.testing.assert_allclose(float(values["total"]), 0.5 * value, rtol=1e-6)
  ours = jax.grad(lambda x: optimize.loss_terms(problem, x, None, targets, weights, key)["total"])(image)
  np.testing.assert_allclose(np.asarray(ours), grad, rtol=1e-5)

  # One Adam step moves each pixel by lr * g / (|g| + eps) against its gradient.
  lr = 0.01
  state = optimize.init_state(problem, image, lr)
  state, start = optimize.step(problem, state, jnp.int32(5), None, targets, weights, jnp.float32(lr), key)
  np.testing.assert_allclose(float(start), 0.5 * value, rtol=1e-6)
  np.testing.assert_allclose(np.asarray(state.param), np.clip(image - lr * grad / (np.abs(grad) + 1e-8), 0, 1),
                             atol=1e-6)
  compiled = optimize.step._cache_size()
  for factor in (3.0, 0.0):
    scaled = {"brightness": {"weight": weights["brightness"]["weight"] * factor}}
    state, _ = optimize.step(problem, state, jnp.int32(5), None, targets, scaled, jnp.float32(lr), key)
  assert optimize.step._cache_size() == compiled

  # With tv the sum is taken in the listed order, each term logged under its name.
  config = _config("brightness,tv")
  problem = stylize.problem_from_config(config, NO_VGG)
  values = optimize.evaluate(problem, jnp.asarray(image), None, stylize.targets(problem, None, content, []),
                             stylize.loss_weights(config, "vgg16"), key)
  x = image.astype(np.float64)
  tv = np.mean((x[1:] - x[:-1])**2) + np.mean((x[:, 1:] - x[:, :-1])**2)
  assert set(values) == {"brightness", "tv", "total"}
  np.testing.assert_allclose(float(values["total"]), 0.5 * value + 0.25 * tv, rtol=1e-6)
