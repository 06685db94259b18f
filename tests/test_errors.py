"""Both sides of the error rule: a user's mistake is one line on stderr and exit code 2; a bug keeps
its traceback and another exit code, even when it happens inside a config file or a checkpoint read."""

import json
import subprocess
import sys
from pathlib import Path

import orbax.checkpoint
import pytest

from stylejax import cli
from stylejax.errors import StylejaxError
from stylejax.feedforward import transfer

REPO = Path(__file__).resolve().parent.parent


def _config_file(tmp_path, line):
  path = tmp_path / "mine.py"
  path.write_text("from stylejax.configs.base import get_base_config\n\n\n"
                  f"def get_config(arg=''):\n  c = get_base_config()\n  {line}\n  return c\n")
  return path


def _one_line(stderr):
  lines = [l for l in stderr.splitlines() if l.strip()]
  assert len(lines) == 1 and "Traceback" not in stderr, stderr
  return lines[0]


def _stylize(tmp_path, *flags):
  return cli.main(["stylize", "astronaut", "starry_night", "--workdir", str(tmp_path / "out"), "--quiet", *flags])


@pytest.mark.parametrize("flags,needle", [
    (["--config=testing", "--config.optim.stpes=3"], "unknown config key 'optim.stpes'; did you mean 'optim.steps'?"),
    (["--config=testing", "--set", "loss.netwrk.arch=vgg19"], "did you mean 'loss.network.arch'?"),
    (["--config=testing", "--config.optim.steps"], "must look like key=value"),
    (["--config=testing:runlcal"], "takes '' or 'lbfgs' after ':', got 'runlcal'"),
    (["--config={config}"], "mine.py:6: unknown config key 'optim.stpes'; did you mean 'optim.steps'?")])
def test_a_typo_is_one_line_and_exit_2(tmp_path, capsys, flags, needle):
  config = _config_file(tmp_path, "c.optim.stpes = 3")
  assert _stylize(tmp_path, *[f.format(config=config) for f in flags]) == 2
  assert needle in _one_line(capsys.readouterr().err)
  assert not (tmp_path / "out").exists()


def test_a_bug_in_a_config_file_escapes_the_cli_with_its_traceback(tmp_path):
  config = _config_file(tmp_path, "c.optim.steps = undefined_name")
  with pytest.raises(NameError) as caught:
    _stylize(tmp_path, f"--config={config}")
  assert Path(caught.traceback[-1].path).name == "mine.py"  # the traceback points at the config's line


def _absl_main(*flags):
  return subprocess.run([sys.executable, "-m", "stylejax.main", *flags], capture_output=True, text=True,
                        timeout=300, cwd=REPO)


def test_absl_entry_point_typo_is_one_line_but_a_bug_keeps_its_traceback(tmp_path):
  typo = _absl_main("--config=stylejax/configs/testing.py", f"--workdir={tmp_path / 'a'}", "--config.optim.stpes=3")
  assert typo.returncode == 2
  assert "unknown config key 'optim.stpes'; did you mean 'optim.steps'?" in _one_line(typo.stderr)
  bug = _absl_main(f"--config={_config_file(tmp_path, 'c.optim.steps = undefined_name')}",
                   f"--workdir={tmp_path / 'b'}")
  assert bug.returncode not in (0, 2) and "bad flags" not in bug.stderr
  assert "Traceback" in bug.stderr and "NameError: name 'undefined_name'" in bug.stderr
  assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


class _FailingManager:
  """Stands in for orbax's CheckpointManager: one saved step whose restore raises `error`."""
  error = None

  def __init__(self, directory, *args, **kwargs):
    del args, kwargs
    self.directory = directory

  def latest_step(self):
    return 1

  def all_steps(self):
    return [1]

  def restore(self, step, args):
    raise self.error

  def close(self):
    pass


def _wrapped(cause):
  try:
    try:
      raise cause
    except Exception as e:
      raise Exception("Encountered error while reading array index") from e  # what orbax raises
  except Exception as wrapper:  # pylint: disable=broad-except
    return wrapper


@pytest.mark.parametrize("error,damaged", [
    (KeyError("Item 'params' was not found in the checkpoint"), True),
    (ValueError("Requested shape: (2, 8) is not compatible with the stored shape: (2, 16)"), True),
    (FileNotFoundError("manifest.ocdbt"), True),
    (_wrapped(ValueError("DATA_LOSS: Error reading")), True),
    (RuntimeError("a bug"), False), (_wrapped(ZeroDivisionError("a bug")), False)])
def test_only_a_damaged_checkpoint_is_a_user_mistake(tmp_path, monkeypatch, error, damaged):
  (tmp_path / "checkpoints").mkdir()
  (tmp_path / "config.json").write_text(json.dumps({"network": {
      "widths": [8, 16, 32], "width_multiplier": 0.25, "n_residual": 1, "conditional": True}}))
  (tmp_path / "styles.json").write_text(json.dumps(["a", "b"]))
  monkeypatch.setattr(orbax.checkpoint, "CheckpointManager", _FailingManager)
  monkeypatch.setattr(_FailingManager, "error", error)
  if damaged:
    with pytest.raises(StylejaxError, match="checkpoint 1 cannot be read: missing, damaged or saved by another"):
      transfer.Stylizer.load(tmp_path)
  else:
    with pytest.raises(type(error)) as caught:
      transfer.Stylizer.load(tmp_path)
    assert caught.value is error
