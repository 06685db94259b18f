"""Notebooks are thin; each is executed here at tiny size so it cannot rot."""

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_at_tiny_size(path, monkeypatch, tmp_path):
  monkeypatch.setenv("STYLEJAX_NOTEBOOK_TINY", "1")
  notebook = nbformat.read(path, as_version=4)
  NotebookClient(notebook, timeout=600, kernel_name="python3",
                 resources={"metadata": {"path": str(tmp_path)}}).execute()
  errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])
            if o.get("output_type") == "error"]
  assert not errors


def test_there_are_notebooks():
  assert {p.name for p in NOTEBOOKS} >= {"gatys_walkthrough.ipynb", "read_results.ipynb", "multistyle_demo.ipynb"}
