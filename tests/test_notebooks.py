"""Notebooks are thin; each is executed here at tiny size so it cannot rot.

Every notebook's code cells run in order in one namespace of the test process (as a kernel runs them,
without a kernel's start-up and imports: ~5 s each). One notebook also runs in a real Jupyter kernel,
so that the notebooks' format and the kernel set-up are tested too.
"""

import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
IN_A_KERNEL = "gatys_walkthrough.ipynb"


def _code_cells(path: Path) -> list[str]:
  return [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_at_tiny_size(path, monkeypatch, tmp_path):
  monkeypatch.setenv("STYLEJAX_NOTEBOOK_TINY", "1")
  monkeypatch.setenv("MPLBACKEND", "Agg")
  monkeypatch.chdir(tmp_path)  # what the notebook writes stays in tmp_path
  monkeypatch.setattr(sys, "path", list(sys.path))  # a notebook's sys.path.insert ends with the test
  modules_before = set(sys.modules)
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel

  namespace = {"__name__": "__main__"}
  try:
    for index, source in enumerate(_code_cells(path)):
      exec(compile(source, f"{path.name}, cell {index + 1}", "exec"), namespace)  # pylint: disable=exec-used
  finally:
    plt.close("all")
    # Modules a notebook imported from its own folders (e.g. an experiment's analysis.py) are forgotten:
    # another notebook may import a different file of the same name.
    kept = (str(REPO / "stylejax"), sys.prefix)  # the package itself, and a virtualenv inside the checkout
    for name in set(sys.modules) - modules_before:
      origin = getattr(sys.modules[name], "__file__", None) or ""
      if origin.startswith(str(REPO)) and not origin.startswith(kept):
        del sys.modules[name]


@pytest.mark.slow
def test_a_notebook_runs_in_a_jupyter_kernel(monkeypatch, tmp_path):
  monkeypatch.setenv("STYLEJAX_NOTEBOOK_TINY", "1")
  notebook = nbformat.read(REPO / "notebooks" / IN_A_KERNEL, as_version=4)
  NotebookClient(notebook, timeout=600, kernel_name="python3",
                 resources={"metadata": {"path": str(tmp_path)}}).execute()
  errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])
            if o.get("output_type") == "error"]
  assert not errors
  assert any(c.get("outputs") for c in notebook.cells if c.cell_type == "code")  # the kernel ran the cells


def test_there_are_notebooks():
  assert {p.name for p in NOTEBOOKS} >= {"gatys_walkthrough.ipynb", "read_results.ipynb", "multistyle_demo.ipynb"}
  assert all(_code_cells(p) for p in NOTEBOOKS)
