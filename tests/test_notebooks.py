"""Every notebook in notebooks/ runs top to bottom in a real Jupyter kernel (nbclient), without error.

The notebooks assert the claims their text makes about the numbers, so a change that moves a number
a notebook interprets fails here.  The kernel is this interpreter (the virtual environment's python,
with doseesc installed), whatever kernel specifications other installations may have left: the spec
manager is given no folders, so it falls back to ipykernel's own spec, built from ``sys.executable``.

One kernel runs every notebook (starting one and importing numpy, scipy and matplotlib again costs
about 2-3 s of CPU per notebook); before each notebook its namespace is emptied (``%reset -f``: a
notebook that forgets an import still fails), its figures closed and matplotlib's settings restored
to their defaults, so a notebook sees what a fresh kernel shows it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
CELL_TIMEOUT_S = 300
FRESH = """%reset -f
import matplotlib
import matplotlib.pyplot
matplotlib.pyplot.close("all")
matplotlib.rcdefaults()
%reset -f"""
"""The first cell run for each notebook: the shared kernel as a fresh one would be."""


def test_the_six_worked_examples_are_there():
    assert [p.name[:3] for p in NOTEBOOKS] == ["01_", "02_", "03_", "04_", "05_", "06_"]


def this_interpreters_kernel() -> KernelManager:
    km = KernelManager(kernel_name="python3", kernel_spec_manager=KernelSpecManager(kernel_dirs=[]))
    assert km.kernel_spec.argv[0] == sys.executable
    return km


@pytest.fixture(scope="module")
def kernel() -> Iterator[KernelManager]:
    km = this_interpreters_kernel()
    km.start_kernel(cwd=str(NOTEBOOKS[0].parent))
    try:
        yield km
    finally:
        km.shutdown_kernel(now=True)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_without_error(kernel: KernelManager, path: Path):
    if not kernel.is_alive():  # an earlier notebook killed it
        kernel.restart_kernel(now=True)
    nb = nbformat.read(path, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(FRESH))
    client = NotebookClient(nb, km=kernel, timeout=CELL_TIMEOUT_S, record_timing=False)
    try:
        client.execute()  # raises CellExecutionError, naming the cell, on any error
    finally:
        if client.kc is not None:
            client.kc.stop_channels()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    assert any("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.outputs)
