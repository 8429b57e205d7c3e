"""Free memory is given back between a run's phases: Arrow's pool always, the C library's
where it can be asked."""

from __future__ import annotations

import platform
import sys
from pathlib import Path

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


def test_a_library_scan_gives_arrow_the_c_librarys_allocator_meanwhile(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """While it runs, unless the user chose a pool; the pool before is put back after."""
    try:
        mimalloc = pa.mimalloc_memory_pool()
    except NotImplementedError:
        pytest.skip("this pyarrow was built without mimalloc")
    before = pa.default_memory_pool()
    monkeypatch.delenv("ARROW_DEFAULT_MEMORY_POOL", raising=False)
    try:
        pa.set_memory_pool(mimalloc)
        with memory.arrow_from_malloc():
            assert pa.default_memory_pool().backend_name == "system"
        assert pa.default_memory_pool().backend_name == "mimalloc"
        monkeypatch.setenv("ARROW_DEFAULT_MEMORY_POOL", "mimalloc")  # the user's choice
        with memory.arrow_from_malloc():
            assert pa.default_memory_pool().backend_name == "mimalloc"
    finally:
        pa.set_memory_pool(before)


def test_the_scan_api_reads_with_the_c_librarys_allocator(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import evtxscan
    from evtxscan.scanning import pipeline

    seen: list[str] = []
    real = pipeline.ScanPipeline.scan

    def recorded(self: pipeline.ScanPipeline, *args: object, **kwargs: object) -> object:
        seen.append(pa.default_memory_pool().backend_name)
        return real(self, *args, **kwargs)  # type: ignore[arg-type]

    try:
        mimalloc = pa.mimalloc_memory_pool()
    except NotImplementedError:
        pytest.skip("this pyarrow was built without mimalloc")
    monkeypatch.delenv("ARROW_DEFAULT_MEMORY_POOL", raising=False)
    monkeypatch.setattr(pipeline.ScanPipeline, "scan", recorded)
    before = pa.default_memory_pool()
    pa.set_memory_pool(mimalloc)
    try:
        evtxscan.scan(tmp_path, workers=1)
        assert seen == ["system"] and pa.default_memory_pool().backend_name == "mimalloc"
    finally:
        pa.set_memory_pool(before)
