"""Every notebook in notebooks/ runs top to bottom in a real Jupyter kernel (nbclient), without error.

The notebooks assert the claims their text makes about the numbers, so a change that moves a number
a notebook interprets fails here.  The kernel is this interpreter (the virtual environment's python,
with doseesc installed), whatever kernel specifications other installations may have left: the spec
manager is given no folders, so it falls back to ipykernel's own spec, built from ``sys.executable``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
CELL_TIMEOUT_S = 300


def test_the_six_worked_examples_are_there():
    assert [p.name[:3] for p in NOTEBOOKS] == ["01_", "02_", "03_", "04_", "05_", "06_"]


def this_interpreters_kernel() -> KernelManager:
    km = KernelManager(kernel_name="python3", kernel_spec_manager=KernelSpecManager(kernel_dirs=[]))
    assert km.kernel_spec.argv[0] == sys.executable
    return km


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_without_error(path: Path):
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        km=this_interpreters_kernel(),
        timeout=CELL_TIMEOUT_S,
        record_timing=False,
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()  # raises CellExecutionError, naming the cell, on any error
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    assert any("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.outputs)
