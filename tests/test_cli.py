"""The `stylejax` entry points: bad input is exit code 2, one line, no traceback, nothing written.

The real entry points run as subprocesses here (end to end, with a user's mistake, and absl's); the
long list of bad inputs runs through `stylejax.cli.main` in this process, which skips only start-up."""

import dataclasses
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

# Every weight source with a URL points at a file that does not exist, so a run that needs a download
# fails as it would offline, without trying the network (which tests/conftest.py refuses anyway).
_OFFLINE_SOURCES = ("import dataclasses; from stylejax.io import weights; weights.SOURCES.update("
                    "{n: dataclasses.replace(s, url=f'file:///nonexistent/stylejax-tests/{s.filename}') "
                    "for n, s in weights.SOURCES.items() if s.url}); ")
STYLEJAX = [sys.executable, "-c",
            "import sys; " + _OFFLINE_SOURCES + "from stylejax.cli import main; sys.exit(main())"]


def _run(args, cwd=None, cache=None, entry=STYLEJAX):
  env = dict(os.environ)
  if cache is not None:
    env["STYLEJAX_CACHE"] = str(cache)
  return subprocess.run(entry + list(args), capture_output=True, text=True, timeout=600, cwd=cwd, env=env)


@pytest.fixture
def offline_sources(monkeypatch):
  """In this process, what _OFFLINE_SOURCES does in a subprocess's."""
  from stylejax.io import weights  # pylint: disable=import-outside-toplevel

  for name, source in list(weights.SOURCES.items()):
    if source.url:
      monkeypatch.setitem(weights.SOURCES, name,
                          dataclasses.replace(source, url=f"file:///nonexistent/stylejax-tests/{source.filename}"))


def _assert_one_line_error(result, needle):
  assert result.returncode == 2, result.stderr
  lines = [l for l in result.stderr.splitlines() if l.strip()]
  assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
  assert needle in lines[0], lines[0]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
  root = tmp_path_factory.mktemp("inputs")
  good = root / "good.png"
  Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)).save(good)
  (root / "text.jpg").write_text("not an image")
  jpg = root / "cut.jpg"
  Image.fromarray(np.random.default_rng(1).integers(0, 255, (200, 200, 3), np.uint8)).save(jpg)
  jpg.write_bytes(jpg.read_bytes()[:3000])
  Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(root / "tiny.png")
  return root


CASES = [
    (["{root}/missing.jpg", "starry_night"], [], "image not found"),
    (["{root}/text.jpg", "starry_night"], [], "not a readable image"),
    (["{root}/good.png", "{root}/cut.jpg"], [], "truncated"),
    (["{root}/tiny.png", "starry_night"], [], "at least 32 px"),
    (["{root}/good.png", "starry_night"], ["--config.max_pixels=1000"], "pixel limit"),
    (["{root}/good.png", "starry_night"], ["--config.loss.style_layers=relu9_1"], "unknown vgg16 layer"),
    (["{root}/good.png", "starry_night"], ["--config.loss.content_weight=-1"], "content_weight must be"),
    (["{root}/good.png", "starry_night"], ["--config.loss.style_layers=relu1_1:-2"], "finite and >= 0"),
    (["{root}/good.png", "starry_night"], ["--config.optim.name=sgd"], "optim.name must be one of"),
    (["{root}/good.png", "starry_night"], ["--config.loss.statistic=wasserstein"], "loss.statistic must be"),
    (["{root}/good.png", "starry_night"], ["--config.image_size=0"], "image_size must be a positive"),
    (["{root}/good.png", "starry_night"], ["--config.optim.stepz=3"], "unknown config key"),
    (["{root}/good.png", "starry_night"], ["--config.optim.steps=many"], "bad value for optim.steps"),
    (["{root}/good.png", "starry_night"], ["--config=nonexistent"], "config 'nonexistent' not found"),
    (["{root}/good.png", "starry_night", "great_wave"], ["--style-weights=1,-1"], "style_blend weights"),
    (["{root}/good.png", "starry_night"], ["--config.loss.network.weights=vgg19-torchvision",
                                          "--config.loss.network.arch=vgg19"], "stylejax weights import"),
]


@pytest.mark.parametrize("inputs,flags,needle", CASES, ids=[c[2] for c in CASES])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, files, inputs, flags, needle, monkeypatch,
                                                            offline_sources, cli_in_process):
  workdir = tmp_path / "out"
  args = ["stylize", *[i.format(root=files) for i in inputs], "--workdir", str(workdir), "--quiet",
          "--config=testing", *flags]
  if any(f.startswith("--config=") and f != "--config=testing" for f in flags):
    args.remove("--config=testing")
  cache = tmp_path.parent / f"{tmp_path.name}-cache"
  monkeypatch.setenv("STYLEJAX_CACHE", str(cache))
  result = cli_in_process(*args)
  _assert_one_line_error(result, needle)
  assert not workdir.exists() and list(tmp_path.iterdir()) == []
  assert not cache.exists() or not any(cache.iterdir())  # no partial download left behind


def test_stylize_cli_end_to_end_and_no_overwrite(tmp_path, files, cli_in_process):
  workdir = tmp_path / "out"
  args = ["stylize", str(files / "good.png"), "starry_night", "--workdir", str(workdir),
          "--config=testing", "--quiet", "--set", "optim.steps=3"]
  assert _run(args).returncode == 0
  assert (workdir / "final.png").exists() and (workdir / "metrics.jsonl").exists()
  before = (workdir / "final.png").read_bytes()
  again = cli_in_process(*args, "--config.seed=3")
  _assert_one_line_error(again, "--overwrite")
  assert (workdir / "final.png").read_bytes() == before


@pytest.fixture
def absl_in_process(capsys):
  """`python -m stylejax.main FLAGS` in this process: absl's flag parsing and `main`, exit code and
  output as `subprocess.run` gives them (the flags are reset afterwards)."""
  from absl import flags  # pylint: disable=import-outside-toplevel
  from stylejax import main as absl_main

  def run(*args):
    capsys.readouterr()
    code = 0
    try:
      absl_main.main(absl_main._parse_flags(["stylejax.main", *map(str, args)]))  # pylint: disable=protected-access
    except SystemExit as e:
      code = e.code
    finally:
      flags.FLAGS.unparse_flags()
    captured = capsys.readouterr()
    return subprocess.CompletedProcess(["stylejax.main", *args], code, captured.out, captured.err)

  return run


def test_absl_main_entry_point(tmp_path, monkeypatch, absl_in_process):
  repo = Path(__file__).resolve().parent.parent
  entry = [sys.executable, "-m", "stylejax.main"]
  workdir = tmp_path / "m"
  ok = _run(["--config=stylejax/configs/testing.py", f"--workdir={workdir}", "--config.optim.steps=3",
             "--quiet"], cwd=repo, entry=entry)
  assert ok.returncode == 0, ok.stderr
  assert (workdir / "final.png").exists()
  monkeypatch.chdir(repo)
  bad = absl_in_process("--config=stylejax/configs/testing.py", f"--workdir={tmp_path / 'n'}",
                        "--config.optim.init=zeros", "--quiet")
  assert bad.returncode == 2 and "optim.init must be one of" in bad.stderr
  assert "Traceback" not in bad.stderr and not (tmp_path / "n").exists()


# ---------------------------------------------------------------------------------------------------
# --help: every option explained, the method choices named, and the examples run as written.


def _commands(parser=None, prefix=()):
  """(("weights", "list"), parser), (("stylize",), parser), ...: every command that runs something."""
  import argparse  # pylint: disable=import-outside-toplevel
  from stylejax import cli  # pylint: disable=import-outside-toplevel

  parser = parser or cli.build_parser()
  found = []
  for action in parser._actions:  # pylint: disable=protected-access
    if isinstance(action, argparse._SubParsersAction):  # pylint: disable=protected-access
      for name, sub in action.choices.items():
        found += _commands(sub, (*prefix, name))
  return found or [(prefix, parser)]


def test_every_option_and_argument_has_help_text():
  missing = [f"{' '.join(name)} {a.option_strings or a.dest}" for name, parser in _commands()
             for a in parser._actions if not (a.help and a.help.strip())]  # pylint: disable=protected-access
  assert not missing, f"options without help text: {missing}"


def _methods(name):
  """{key: [values]} of the "methods" lines (`  KEY  a | b | c`) in a command's --help."""
  parser = dict(_commands())[(name,)]
  lines = parser.format_help().split("methods (", 1)[1].split("\n")[1:]
  methods = {}
  for line in lines:
    if not line.startswith("  ") or line.startswith("  stylejax "):
      break
    key, _, values = line.strip().partition(" ")
    methods[key] = values.strip()
  return methods


def test_help_names_the_pixel_methods_and_each_is_accepted():
  from stylejax import configuration  # pylint: disable=import-outside-toplevel
  from stylejax.imaging import color
  from stylejax.networks import vgg
  from stylejax.objectives import losses

  every = {"optim.name": configuration.OPTIMIZERS, "optim.line_search": configuration.LINE_SEARCHES,
           "optim.init": configuration.INITS, "optim.parametrization": configuration.PARAMETRIZATIONS,
           "loss.statistic": losses.STATISTICS, "loss.gram_norm": losses.GRAM_NORMS,
           "loss.network.pooling": vgg.POOLINGS, "preserve_color": color.MODES}
  for command in ("stylize", "sweep"):
    named = {k: sorted(v.split(" | ")) for k, v in _methods(command).items()}
    assert named == {k: sorted(v) for k, v in every.items()}, command
  for key, values in every.items():
    for value in values:  # each named choice passes validation
      configuration.validate(configuration.apply_overrides(configuration.load_config("quickstart"), [f"{key}={value}"]))


def _shipped(task):
  from stylejax import configuration  # pylint: disable=import-outside-toplevel

  configs = {p.stem: configuration.load_config(p.stem) for p in sorted(configuration.CONFIG_DIR.glob("*.py"))
             if configuration.is_config_file(p)}
  return {name: c for name, c in configs.items() if c.task == task}


def test_help_names_the_training_methods_with_their_configs():
  from stylejax.methods import registry  # pylint: disable=import-outside-toplevel

  methods = _methods("train")
  assert list(methods) == list(registry.names())
  listed = {}
  for kind, text in methods.items():
    for name in text.rsplit(":", 1)[1].split(","):
      listed[name.strip()] = kind
  assert {name: c.network.kind for name, c in _shipped("train").items()} == listed
  stylizers = [name for name in registry.names() if name != "cyclegan"]  # CycleGAN runs through `translate`
  for command in ("apply", "grid"):
    assert list(_methods(command)) == [*stylizers, "magenta"]


def test_help_names_the_stylize_configs_and_the_retrieval_methods():
  from stylejax import configuration, retrieval, tasks  # pylint: disable=import-outside-toplevel

  help_text = dict(_commands())[("stylize",)].format_help()
  listed = help_text.split("configs (--config): ", 1)[1].split(" (", 1)[0]
  assert sorted(listed.split(", ")) == sorted(_shipped("stylize"))
  assert list(_methods("search")) == list(retrieval.MODES)
  for key, values in _methods("embed").items():
    for value in values.split(" (")[0].split(" | "):
      tasks.validate(configuration.apply_overrides(configuration.load_config("retrieval"), [f"{key}={value}"]))


def _examples():
  """[(command, example)] from every command's --help, in the order shown, each once."""
  found = []
  for name, parser in _commands():
    text = parser.format_help()
    if "examples:\n" in text:
      found += [(name[0], line.strip()) for line in text.split("examples:\n", 1)[1].splitlines()
                if line.startswith("  stylejax ") and (name[0], line.strip()) not in found]
  return found


# Each group of examples runs through `stylejax.cli.main` in a fresh folder that holds what a user
# would have there: photos/ and query.jpg (embed, search). So that the tests stay fast, a small image
# size (and 2 optimizer steps) is appended to a run, and pixel optimization and training go through
# the real command up to their run function, which here validates the config and reads its images
# instead of optimizing for minutes (test_stylize_cli_end_to_end and tests/test_wheel.py run stylize
# itself). Not run: the apply and grid of a trained checkpoint, weights download (the network) and
# import (a downloaded file), whose source must be a known one.
_GROUPS = {"weights": "files", "features": "files", "stylize": "dry", "train": "dry", "sweep": "sweep",
           "summarize": "sweep", "apply": "arbitrary", "grid": "arbitrary", "embed": "retrieval", "search": "retrieval",
           "index": "retrieval", "dream": "dream", "video": "arbitrary", "translate": "translate"}
_SMALL = {"dream": ["--quiet"], "sweep": ["--set", "image_size=32", "--set", "optim.steps=2", "--quiet"],
          "apply": ["--size", "64"], "grid": ["--size", "64"], "embed": ["--set", "embed.image_size=64", "--quiet"],
          "video": ["--size", "64", "--max-frames", "2", "--quiet"],  # the photos' shapes: apply's programs
          "translate": ["--size", "64", "--quiet"]}


def test_help_examples_parse_and_every_command_shows_some():
  import shlex  # pylint: disable=import-outside-toplevel
  from stylejax import cli

  examples = _examples()
  assert {command for command, _ in examples} == set(_GROUPS)
  for _, example in examples:
    cli.build_parser().parse_args(cli.expand_config_overrides(shlex.split(example)[1:]))  # no SystemExit


@pytest.mark.slow
@pytest.mark.parametrize("group", sorted(set(_GROUPS.values())))
def test_help_examples_run_as_written(group, tmp_path, monkeypatch, capsys):
  import shlex  # pylint: disable=import-outside-toplevel
  from types import SimpleNamespace
  from stylejax import cli, tasks
  from stylejax.imaging import images
  from stylejax.io import weights

  monkeypatch.chdir(tmp_path)
  rng = np.random.default_rng(0)
  (tmp_path / "photos").mkdir()
  for i in range(3):  # 2:3 like the bundled chelsea: at --size 64 both are 64x96, one program for both
    Image.fromarray(rng.integers(0, 255, (48, 72, 3), np.uint8)).save(tmp_path / "photos" / f"p{i}.png")
  Image.fromarray(rng.integers(0, 255, (48, 64, 3), np.uint8)).save(tmp_path / "query.jpg")
  if group == "arbitrary":  # a folder of frames for `video`
    shutil.copytree(tmp_path / "photos", tmp_path / "frames")
  checked = []

  def validate_and_read(config, workdir, **_):  # in place of the optimization or the training loop
    tasks.validate(config)
    for spec in (config.get("content"), *config.styles):
      if spec:
        images.load_image(spec)
    checked.append((config.task, workdir))
    return SimpleNamespace(state={"step": 0}, workdir=workdir, image=np.zeros((8, 8, 3), np.float32))  # dream -o

  monkeypatch.setattr(tasks, "runner", lambda task: validate_and_read)
  ran = 0
  for _, example in _examples():
    argv = shlex.split(example)[1:]
    command = argv[0]
    if _GROUPS[command] != group or (command, argv[1]) in (("weights", "download"), ("weights", "import")):
      if command == "weights" and group == "files":
        assert argv[2] in weights.SOURCES or argv[2] in {s.filename for s in weights.SOURCES.values()}, example
      continue
    if command in ("apply", "grid") and "--checkpoint" in argv:
      continue
    code = cli.main(argv + _SMALL.get(command, []))
    assert code == 0, f"{example}: {capsys.readouterr().err}"
    ran += 1
  assert ran
  if group == "dry":
    assert checked == [("stylize", "workdirs/quickstart"), ("stylize", "workdirs/blend"),
                       ("train", "workdirs/cin_tiny"), ("train", "workdirs/adain_tiny")]
  if group == "retrieval":
    assert "p0.png" in capsys.readouterr().out  # search found the embedded photos


def test_a_repeated_style_image_does_not_swallow_the_photos():
  from stylejax import cli  # pylint: disable=import-outside-toplevel

  args = cli.build_parser().parse_args(["apply", "--style-image", "painting.jpg", "photo.jpg", "-o", "out.png"])
  assert args.style_image == ["painting.jpg"] and args.inputs == ["photo.jpg"]
  args = cli.build_parser().parse_args(["grid", "--style-image", "x.jpg", "--style-image", "y.jpg", "a.jpg", "b.jpg",
                                        "-o", "g.png"])
  assert args.style_image == ["x.jpg", "y.jpg"] and args.inputs == ["a.jpg", "b.jpg"]


def test_summarize_a_missing_path_says_so(tmp_path, cli_in_process):
  result = cli_in_process("summarize", tmp_path / "nowhere")
  _assert_one_line_error(result, "nowhere does not exist")


@pytest.mark.parametrize("config,needle", [
    ("retrieval", "config 'retrieval' has task 'embed', not 'stylize'; run it with `stylejax embed SOURCE"),
    ("cin_testing", "has task 'train', not 'stylize'; run it with `stylejax train"),
    ("style_weight_sweep", "has task 'sweep', not 'stylize'; run it with `stylejax sweep")])
def test_stylize_refuses_a_config_of_another_task(tmp_path, config, needle, cli_in_process):
  result = cli_in_process("stylize", "astronaut", "starry_night", "--workdir", tmp_path / "w", "--config", config)
  _assert_one_line_error(result, needle)
  assert not (tmp_path / "w").exists()


@pytest.mark.parametrize("change,needle", [
    ("c.task = 'paint'", "has task 'paint', which stylejax does not know; known tasks: stylize, sweep, train"),
    ("del c['task']", "declares no task")])
def test_the_absl_entry_point_refuses_an_unknown_or_missing_task(tmp_path, change, needle, absl_in_process):
  path = tmp_path / "odd.py"
  path.write_text("from stylejax.configs.base import get_base_config\n\n\ndef get_config(arg=''):\n"
                  f"  c = get_base_config()\n  with c.unlocked():\n    {change}\n  return c\n")
  result = absl_in_process(f"--config={path}", f"--workdir={tmp_path / 'w'}")
  _assert_one_line_error(result, needle)
  assert not (tmp_path / "w").exists()


@pytest.mark.parametrize("config,needle", [
    ("retrieval", "task 'embed' needs more than a config and a workdir; run it with `stylejax embed SOURCE"),
    ("style_weight_sweep:testing", "run it with `stylejax sweep NAME")])
def test_the_absl_entry_point_says_how_to_run_a_sweep_or_an_embedding(tmp_path, config, needle, absl_in_process):
  result = absl_in_process(f"--config={config}", f"--workdir={tmp_path / 'w'}")
  _assert_one_line_error(result, needle)
  assert not (tmp_path / "w").exists()


def test_a_sweep_file_must_say_it_is_a_sweep(tmp_path, cli_in_process):
  path = tmp_path / "mine.py"
  path.write_text("from stylejax.configs import testing\n\n\ndef get_config(arg=''):\n  return testing.get_config()\n\n\n"
                  "def get_sweep(arg=''):\n  return [{'seed': 0}, {'seed': 1}]\n")
  result = cli_in_process("sweep", path, "--workdir", tmp_path / "w")
  _assert_one_line_error(result, "its get_config must set task = \"sweep\" (got 'stylize')")
  assert not (tmp_path / "w").exists()
