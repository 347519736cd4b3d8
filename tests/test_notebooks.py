"""Every notebook runs top to bottom (as CI runs it) without an error."""

import os
import pathlib

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import REAL_MODEL_ENV

NOTEBOOKS = sorted((pathlib.Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))


def test_notebooks_exist():
    assert [p.name for p in NOTEBOOKS] == ["01_quickstart.ipynb", "02_real_photos.ipynb",
                                         "03_training.ipynb", "04_targets.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path, tmp_path):
    if path.name.startswith("02") and not os.environ.get(REAL_MODEL_ENV):
        pytest.skip(f"{path.name} needs ResNet50's ImageNet weights (a download) or "
                    f"{REAL_MODEL_ENV}; neither is available")
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [o for cell in notebook.cells if cell.cell_type == "code"
              for o in cell.outputs if o.output_type == "error"]
    assert not errors
    figures = sum(any(k.startswith("image/") for k in o.get("data", {})) for cell in notebook.cells
                  if cell.cell_type == "code" for o in cell.outputs)
    assert figures >= 3
