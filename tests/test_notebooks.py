"""The notebooks in ``notebooks/`` run top to bottom on the bundled demo data, and are
committed without outputs.

Each notebook is executed with nbclient in a ``python3`` kernel (ipykernel, from the test
extra) whose working directory is ``notebooks/``; a cell that raises fails the test.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
EXPECTED = ["01-quickstart.ipynb", "02-explore-a-collection.ipynb", "03-write-a-signature.ipynb"]
CELL_TIMEOUT = 120  # seconds; a notebook takes about 5


def test_the_notebooks_are_there() -> None:
    assert [p.name for p in NOTEBOOKS] == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_without_outputs(path: Path) -> None:
    notebook = json.loads(path.read_text(encoding="utf-8"))
    assert notebook["metadata"]["kernelspec"]["name"] == "python3"
    for index, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [], f"cell {index} has outputs"
            assert cell["execution_count"] is None, f"cell {index} has an execution count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path: Path) -> None:
    nbformat = pytest.importorskip("nbformat", reason="installed by the test extra")
    nbclient = pytest.importorskip("nbclient", reason="installed by the test extra")
    pytest.importorskip("ipykernel", reason="installed by the test extra")
    pytest.importorskip("matplotlib", reason="installed by the test extra")
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    started = time.monotonic()
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as exc:
        pytest.fail(f"{path.name} failed:\n{exc}")
    elapsed = time.monotonic() - started
    errors = [
        output
        for cell in notebook.cells
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]
    assert not errors
    assert elapsed < 60, f"{path.name} took {elapsed:.0f} s"
