"""Free memory is given back between a run's phases: Arrow's pool always, the C library's
where it can be asked."""

from __future__ import annotations

import platform
import sys

import pyarrow as pa
import pytest

from evtxscan import memory


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
    reason="malloc_trim is glibc's",
)
def test_glibc_is_asked_to_give_free_pages_back() -> None:
    assert memory.release_free_memory() is True


def test_without_malloc_trim_nothing_is_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "_trim", lambda: None)
    assert memory.release_free_memory() is False


def test_arrow_keeps_no_freed_memory_after_it() -> None:
    """Arrow's pool returns what it kept after a large array was freed (mimalloc and
    jemalloc keep such memory for reuse unless asked; the command line gives Arrow the C
    library's allocator instead, which ``malloc_trim`` covers)."""
    try:
        pool = pa.mimalloc_memory_pool()
    except NotImplementedError:
        pytest.skip("this pyarrow was built without mimalloc")
    before = pa.default_memory_pool()
    pa.set_memory_pool(pool)
    try:
        big = pa.array(range(4_000_000), pa.int64())
        del big
        kept = _rss()
        memory.release_free_memory()
        assert _rss() < kept - (8 << 20)  # most of the array's 30 MiB is given back
    finally:
        pa.set_memory_pool(before)


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096
