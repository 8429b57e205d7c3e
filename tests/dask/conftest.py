"""One LocalCluster of two single-threaded worker *processes* for the Dask tests (a
cluster takes seconds to start, so the tests share it); skipped when the ``dask`` extra
is not installed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

NEEDS = "the dask extra is not installed (pip install -e '.[dask]')"
pytest.importorskip("distributed", reason=NEEDS)


@pytest.fixture(scope="session")
def scenarios(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The scenario suite written once (symptoms, context near them, noise)."""
    from evtxscan.synth.scenarios import standard_collection

    root = tmp_path_factory.mktemp("scenarios")
    standard_collection(noise=15).write(root)
    return root


@pytest.fixture(scope="session")
def client() -> Iterator[Any]:
    from evtxscan.dask import connect

    with connect("local:2") as started:
        yield started


def _assert_same_result(local: Any, remote: Any) -> None:
    """Every table of two scan results identical: values, dtypes, categories, order."""
    for name in ("diagnoses", "timeline", "hosts", "integrity", "daily"):
        pd.testing.assert_frame_equal(getattr(local, name), getattr(remote, name), obj=name)


@pytest.fixture(scope="session")
def same_result() -> Callable[[Any, Any], None]:
    """Asserts that two scan results are identical, table by table."""
    return _assert_same_result
