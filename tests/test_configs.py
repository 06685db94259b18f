"""Every config builds, is locked, validates; overrides are typed; the testing config is tiny."""

from pathlib import Path

import pytest

from stylejax import configuration
from stylejax.errors import StylejaxError

CONFIGS = sorted(p.stem for p in configuration.CONFIG_DIR.glob("*.py") if not p.stem.endswith("base"))


@pytest.mark.parametrize("name", CONFIGS)
@pytest.mark.parametrize("arg", ["", "runlocal"])
def test_every_config_builds_and_validates(name, arg):
  config = configuration.load_config(f"{name}:{arg}" if arg else name)
  configuration.validate(config)
  with pytest.raises(AttributeError):
    config.not_a_field = 1  # locked: typos are errors


def test_gatys_preset_follows_the_paper():
  c = configuration.load_config("gatys")
  assert c.vgg.arch == "vgg19" and c.vgg.pooling == "avg" and c.optim.name == "lbfgs"
  assert c.loss.content_layers == "conv4_2" and c.image_size == 512
  assert c.loss.style_layers == "conv1_1,conv2_1,conv3_1,conv4_1,conv5_1"


def test_overrides_are_typed():
  c = configuration.apply_overrides(configuration.load_config("testing"),
                                    ["optim.steps=7", "loss.style_weight=2e3", "multiscale.scales=0.5,1",
                                     "vgg.pooling=avg"])
  assert c.optim.steps == 7 and c.loss.style_weight == 2000.0
  assert c.multiscale.scales == (0.5, 1.0) and c.vgg.pooling == "avg"


@pytest.mark.parametrize("override,needle", [
    ("optim.stepz=3", "unknown config key"), ("optim.steps=1.5", "bad value"),
    ("nothing", "key=value")])
def test_bad_overrides(override, needle):
  with pytest.raises(StylejaxError, match=needle):
    configuration.apply_overrides(configuration.load_config("testing"), [override])


@pytest.mark.parametrize("override,needle", [
    ("multiscale.scales=1,0.5", "must increase"), ("style_scale=0", "style_scale"),
    ("optim.learning_rate=0", "learning_rate"), ("preserve_color=sepia", "preserve_color"),
    ("vgg.padding=mirror", "vgg.padding"), ("loss.gram_norm=l2", "gram_norm"),
    ("vgg.arch=vgg11", "unknown VGG architecture")])
def test_validation_catches_bad_values(override, needle):
  c = configuration.apply_overrides(configuration.load_config("testing"), [override])
  with pytest.raises(StylejaxError, match=needle):
    configuration.validate(c)
