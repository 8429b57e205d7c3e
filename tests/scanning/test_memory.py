"""Free memory is given back between a scan's phases where the C library can be asked."""

from __future__ import annotations

import platform
import sys

import pytest

from evtxscan.scanning import memory


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
    reason="malloc_trim is glibc's",
)
def test_glibc_is_asked_to_give_free_pages_back() -> None:
    assert memory.release_free_memory() is True


def test_without_malloc_trim_nothing_is_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "_trim", lambda: None)
    assert memory.release_free_memory() is False
