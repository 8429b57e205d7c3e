"""Closing a file's mapping while something still views it (a sampling profiler holding a
frame, as Dask's workers run) is not a reading error: the mapping is unmapped later."""

from __future__ import annotations

import mmap
from pathlib import Path

import numpy as np

from evtxscan.sources.inputs import Source, close_content, open_source


def test_a_viewed_mapping_closes_later(tmp_path: Path) -> None:
    path = tmp_path / "log.bin"
    path.write_bytes(bytes(range(256)) * 64)
    content = open_source(Source("file", str(path)))
    assert isinstance(content, mmap.mmap)
    view = np.frombuffer(content, dtype=np.uint8)  # exports a pointer into the mapping
    close_content(content)  # would raise BufferError from mmap.close()
    assert not content.closed and int(view[255]) == 255
    del view
    close_content(content)
    assert content.closed
    close_content(b"bytes need no closing")
