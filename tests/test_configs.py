"""Every config (each of its ARGS) builds, is locked, validates and documents every field; a config
only sets the fields its base declares; overrides are typed; a typo names the nearest known key."""

import ast
import io
import tokenize
from pathlib import Path

import pytest

from stylejax import configuration, tasks
from stylejax.errors import StylejaxError

REPO = Path(__file__).resolve().parent.parent
# An experiment's config is a product config (built on a stylejax/configs/ base, validated like one) or a
# standalone one of its own fields (e.g. experiments/style_retrieval's protocol).
_builds_on_product = lambda p: "from stylejax.configs." in p.read_text()
_EXPERIMENT_CONFIGS = sorted(p for p in REPO.glob("experiments/*/config.py") if configuration.is_config_file(p))
CONFIG_FILES = sorted([*(p for p in configuration.CONFIG_DIR.glob("*.py") if configuration.is_config_file(p)),
                       *filter(_builds_on_product, _EXPERIMENT_CONFIGS)])
STANDALONE_CONFIGS = [p for p in _EXPERIMENT_CONFIGS if not _builds_on_product(p)]
# Files that declare fields, and where: the bases, and each training method's `network` block.
BLOCKS = {**{configuration.CONFIG_DIR / name: prefix for name, prefix in
             (("base.py", ""), ("train_base.py", ""), ("loss.py", "loss."), ("retrieval.py", ""),
                                 ("temporal.py", "temporal."))},
          **{path: "network." for path in sorted((REPO / "stylejax" / "methods").glob("*.py"))}}
add_field = configuration.load_module("fields").add_field


def _name(path):
  return str(path.relative_to(REPO))


def _attribute_key(node):
  """`c.optim.steps` -> "optim.steps": the attribute chain without its root variable."""
  names = []
  while isinstance(node, ast.Attribute):
    names.append(node.attr)
    node = node.value
  return ".".join(reversed(names)) if names and isinstance(node, ast.Name) else None


def _commented_fields(source, prefix):
  """{key: comment} for every `x.a.b = value  # comment` line."""
  comments = {t.start[0]: t.string.lstrip("#").strip()
              for t in tokenize.generate_tokens(io.StringIO(source).readline) if t.type == tokenize.COMMENT}
  fields = {}
  for node in ast.walk(ast.parse(source)):
    if isinstance(node, ast.Assign) and len(node.targets) == 1 and comments.get(node.end_lineno):
      key = _attribute_key(node.targets[0])
      if key:
        fields[prefix + key] = comments[node.end_lineno]
  return fields


def _add_field_docs(source):
  """{key: doc} for every `add_field(config, "key", default, "doc")` call."""
  docs = {}
  for node in ast.walk(ast.parse(source)):
    if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "add_field":
      args = {**dict(zip(("config", "key", "default", "doc"), node.args)), **{k.arg: k.value for k in node.keywords}}
      if all(isinstance(args.get(a), ast.Constant) for a in ("key", "doc")):
        docs[args["key"].value] = args["doc"].value.strip()
  return docs


def _documented_fields():
  docs = {}
  for path, prefix in BLOCKS.items():
    docs.update(_commented_fields(path.read_text(), prefix))
  for path in CONFIG_FILES:
    docs.update(_add_field_docs(path.read_text()))
  return {key: doc for key, doc in docs.items() if doc}


CASES = [(path, arg) for path in CONFIG_FILES for arg in configuration.load_module(str(path)).ARGS]


@pytest.mark.parametrize("path,arg", CASES, ids=[f"{_name(p)}:{a}" for p, a in CASES])
def test_every_config_builds_validates_and_documents_every_field(path, arg):
  config = configuration.load_config(f"{path}:{arg}" if arg else str(path))
  tasks.validate(config)
  with pytest.raises(AttributeError, match="cannot be added since the config is locked"):
    config.loss.network.not_a_field = 1  # locked all the way down: a typo is an error
  undocumented = set(configuration.dotted_keys(config)) - set(_documented_fields())
  assert not undocumented, f"fields without a `# comment` in {[_name(p) for p in BLOCKS]} or an add_field doc: {undocumented}"


@pytest.mark.parametrize("path", STANDALONE_CONFIGS, ids=_name)
def test_standalone_experiment_configs_build_locked_and_comment_every_field(path):
  for arg in configuration.load_module(str(path)).ARGS:
    config = configuration.load_config(f"{path}:{arg}" if arg else str(path))
    with pytest.raises(AttributeError, match="cannot be added since the config is locked"):
      config.not_a_field = 1
    undocumented = set(configuration.dotted_keys(config)) - set(_commented_fields(path.read_text(), ""))
    assert not undocumented, f"{_name(path)}: fields without a `# comment`: {undocumented}"


@pytest.mark.parametrize("path", CONFIG_FILES, ids=_name)
def test_configs_do_not_unlock_and_declare_the_args_they_read(path):
  tree = ast.parse(path.read_text())
  calls = {getattr(n.func, "attr", None) for n in ast.walk(tree) if isinstance(n, ast.Call)}
  assert not calls & {"unlock", "unlocked"}, "assign declared fields; add_field declares a new one"
  compared = {c.value for n in ast.walk(tree) if isinstance(n, ast.Compare) and getattr(n.left, "id", "") == "arg"
              for c in n.comparators if isinstance(c, ast.Constant)}
  assert compared <= set(configuration.load_module(str(path)).ARGS)


SHIPPED = [(path, arg) for path, arg in CASES if path.parent == configuration.CONFIG_DIR]


@pytest.mark.parametrize("path,arg", SHIPPED, ids=[f"{p.stem}:{a}" for p, a in SHIPPED])
def test_every_shipped_config_declares_a_known_task(path, arg):
  config = configuration.load_config(f"{path.stem}:{arg}" if arg else path.stem)
  task = tasks.task_of(config)
  # A sweep is a sweep file (get_sweep); any other config runs alone.
  assert (task == "sweep") == hasattr(configuration.load_module(str(path)), "get_sweep")
  assert task in tasks.TASKS


def test_every_task_has_a_shipped_config_and_a_run_target_that_exists():
  declared = {configuration.load_config(p.stem).task for p, _ in SHIPPED}
  assert declared == set(tasks.TASKS)
  for name, task in tasks.TASKS.items():
    if task.run is not None:
      assert callable(tasks.runner(name))
    else:
      with pytest.raises(StylejaxError, match=f"run it with `stylejax {name}"):
        tasks.runner(name)


@pytest.mark.parametrize("task,needle", [(None, "declares no task"), ("paint", "task 'paint', which stylejax does "
                                                                      "not know; known tasks: stylize, sweep")])
def test_a_config_of_a_missing_or_unknown_task_is_refused(task, needle):
  c = configuration.load_config("testing")
  with c.unlocked():
    if task is None:
      del c["task"]
    else:
      c.task = task
  with pytest.raises(StylejaxError, match=needle):
    configuration.validate(c)


@pytest.mark.parametrize("name", ["cin_testing", "cyclegan_tiny", "dream"])
def test_a_negative_seed_is_one_line_for_training_and_dreams_too(name):
  # numpy's generators (data order, crops) refuse it with a traceback deep in training.
  c = configuration.apply_overrides(configuration.load_config(name), ["seed=-8"])
  with pytest.raises(StylejaxError, match="seed must be an integer"):
    tasks.validate(c)


def test_a_config_given_to_another_command_says_how_to_run_it():
  with pytest.raises(StylejaxError, match="config 'retrieval' has task 'embed', not 'stylize'; run it with "
                                          "`stylejax embed SOURCE"):
    tasks.expect(configuration.load_config("retrieval"), "stylize", "config 'retrieval'")


def test_an_undeclared_arg_is_refused():
  with pytest.raises(StylejaxError, match="takes '' or 'runlocal' after ':', got 'runlcal'"):
    configuration.load_config("quickstart:runlcal")


def test_gatys_preset_follows_the_paper():
  c = configuration.load_config("gatys")
  assert c.loss.network.arch == "vgg19" and c.loss.network.pooling == "avg" and c.optim.name == "lbfgs"
  assert c.loss.network.weights == "vgg19-caffe-jcjohnson" and c.loss.gram_norm == "gatys"
  assert c.loss.content_layers == "conv4_2" and c.image_size == 512
  assert c.loss.style_layers == "conv1_1,conv2_1,conv3_1,conv4_1,conv5_1"


def test_a_derived_config_sets_base_values_with_the_types_a_researcher_expects():
  c = configuration.load_config("testing")
  c.loss.style_weight = 1000  # an int in a float field becomes a float
  c.multiscale.scales = [0.5, 1]  # a list in a tuple field becomes a tuple
  c.image_size = 96
  assert c.loss.style_weight == 1000.0 and isinstance(c.loss.style_weight, float)
  assert c.multiscale.scales == (0.5, 1)
  configuration.validate(c)


def _write_config(tmp_path, body):
  path = tmp_path / "mine.py"
  path.write_text("from stylejax.configs.base import get_base_config\n"
                  "from stylejax.configs.fields import add_field\n\n\n"
                  "def get_config(arg=''):\n  c = get_base_config()\n" + body + "  return c\n")
  return str(path)


@pytest.mark.parametrize("line,needle", [
    ("c.optim.stpes = 3", r"mine.py:7: unknown config key 'optim.stpes'; did you mean 'optim.steps'\?"),
    ("c.imagesize = 3", r"mine.py:7: unknown config key 'imagesize'; did you mean 'image_size'\?"),
    ("c.loss.network.pooling = c.loss.network.poling", r"mine.py:7: unknown config key 'loss.network.poling'"),
    ("c.optim.steps = 2.5", r"mine.py:7: optim.steps must be int, got 2.5 \(float\)")])
def test_a_typo_in_a_config_file_names_the_line_and_the_nearest_key(tmp_path, line, needle):
  with pytest.raises(StylejaxError, match=needle) as caught:
    configuration.load_config(_write_config(tmp_path, f"  {line}\n"))
  assert "\n" not in str(caught.value)


def test_a_config_file_that_imports_the_old_configs_folder_says_where_the_configs_went(tmp_path):
  path = tmp_path / "old.py"
  path.write_text("from configs.base import get_base_config\n\n\ndef get_config(arg=''):\n  return get_base_config()\n")
  with pytest.raises(StylejaxError, match="old.py imports 'configs': the shipped configs are the package stylejax.configs"):
    configuration.load_config(str(path))


def test_a_bug_in_a_config_file_is_not_a_user_mistake(tmp_path):
  with pytest.raises(NameError):
    configuration.load_config(_write_config(tmp_path, "  c.optim.steps = undefined_name\n"))


def test_add_field_declares_a_documented_field_and_keeps_the_lock(tmp_path):
  path = _write_config(tmp_path, "  add_field(c, 'optim.warm_restarts', 2, 'restarts of the schedule')\n")
  c = configuration.load_config(path)
  assert c.optim.warm_restarts == 2
  assert configuration.apply_overrides(c, ["optim.warm_restarts=5"]).optim.warm_restarts == 5
  with pytest.raises(AttributeError):
    c.optim.warm_restrats = 1
  assert _add_field_docs((tmp_path / "mine.py").read_text()) == {"optim.warm_restarts": "restarts of the schedule"}


@pytest.mark.parametrize("key,doc,needle", [
    ("optim.steps", "x", "exists already"), ("optm.knob", "x", "'optm' is not a config block"),
    ("optim.knob", " ", "needs a doc")])
def test_add_field_refuses_misuse(key, doc, needle):
  with pytest.raises(StylejaxError, match=needle):
    add_field(configuration.load_config("testing"), key, 1, doc)


def test_overrides_are_typed():
  c = configuration.apply_overrides(configuration.load_config("testing"),
                                    ["optim.steps=7", "loss.style_weight=2e3", "multiscale.scales=(0.5, 1)",
                                     "loss.network.pooling=avg", "log_every=1e1"])
  assert c.optim.steps == 7 and c.loss.style_weight == 2000.0 and c.log_every == 10
  assert c.multiscale.scales == (0.5, 1.0) and c.loss.network.pooling == "avg"
  train = configuration.apply_overrides(configuration.load_config("cin_testing"), ["network.widths=8,16,32"])
  assert train.network.widths == (8, 16, 32)


@pytest.mark.parametrize("override,needle", [
    ("optim.stepz=3", "unknown config key 'optim.stepz'; did you mean 'optim.steps'?"),
    ("loss.netwrk.arch=vgg19", "unknown config key 'loss.netwrk.arch'; did you mean 'loss.network.arch'?"),
    ("optim=3", "unknown config key 'optim'"), ("optim.steps=1.5", "bad value"), ("nothing", "key=value")])
def test_bad_overrides(override, needle):
  with pytest.raises(StylejaxError, match=needle.replace("?", r"\?")):
    configuration.apply_overrides(configuration.load_config("testing"), [override])


def test_sweep_values_name_the_nearest_key_and_convert_numbers():
  base = configuration.load_config("testing")
  c = configuration.apply_values(base, {"loss.style_weight": 3, "optim.steps": 8.0, "styles": "great_wave"})
  assert c.loss.style_weight == 3.0 and c.optim.steps == 8 and c.styles == ("great_wave",)
  with pytest.raises(StylejaxError, match="did you mean 'loss.style_weight'"):
    configuration.apply_values(base, {"loss.style_wieght": 3})
  with pytest.raises(StylejaxError, match="bad value for optim.steps: 8.5 is float, the field is int"):
    configuration.apply_values(base, {"optim.steps": 8.5})


@pytest.mark.parametrize("override,needle", [
    ("multiscale.scales=1,0.5", "must increase"), ("style_scale=0", "style_scale"),
    ("optim.learning_rate=0", "learning_rate"), ("preserve_color=sepia", "preserve_color"),
    ("loss.network.padding=mirror", "loss.network.padding"), ("loss.gram_norm=l2", "gram_norm"),
    ("loss.network.arch=vgg11", "unknown VGG architecture"), ("seed=-1", r"seed must be an integer in \[0, 2\*\*32\)")])
def test_validation_catches_bad_values(override, needle):
  c = configuration.apply_overrides(configuration.load_config("testing"), [override])
  with pytest.raises(StylejaxError, match=needle):
    configuration.validate(c)
