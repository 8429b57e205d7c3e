"""Memory freed between a run's phases given back to the system.

Two allocators keep freed memory for reuse: the C library's (Python objects' arenas and
numpy arrays) and Arrow's pool (mimalloc or jemalloc: pandas' Arrow-backed text and every
Arrow array). So after reading a collection (many short-lived batches), after correlating
it and after writing its CSV timelines, a process holds tens of MB it no longer uses, and
the next phase's peak stacks on top of them. With glibc, ``malloc_trim`` returns the C
library's pages (as Dask's workers do; elsewhere that part does nothing); Arrow's pool is
asked to return what it keeps unused (the command line gives Arrow the C library's
allocator; a notebook or other library use keeps pyarrow's own). On 200 distinct
machines' logs, writing the CSV timelines left 32 MiB so held in a library process, half
in each allocator.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import os
import sys
from collections.abc import Callable, Iterator

import pyarrow as pa


@functools.cache
def _trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim: Callable[[int], int] = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (e.g. musl): nothing to call
        return None
    return trim


def release_free_memory() -> bool:
    """Give the allocators' free pages back to the system; whether the C library's could
    be asked (Arrow's pool always is)."""
    pa.default_memory_pool().release_unused()
    trim = _trim()
    if trim is None:
        return False
    trim(0)
    return True


@contextlib.contextmanager
def arrow_from_malloc() -> Iterator[None]:
    """Arrow buffers from the C library's allocator while a scan or nightly run called as a
    library (a notebook) runs, as the command line has them for the whole process.

    pyarrow's default pool, mimalloc, keeps freed memory in per-thread heaps: 200 distinct
    machines' scan peaked at 319 MiB with it and 266 MiB without, coll200d at 234-243 and
    205-209 MiB, no faster. A pool the user chose is kept: ``ARROW_DEFAULT_MEMORY_POOL``
    set, or a default pool other than mimalloc. Buffers remember their pool, so arrays made
    meanwhile (by other threads too) stay valid once the default is put back."""
    before = pa.default_memory_pool()
    if "ARROW_DEFAULT_MEMORY_POOL" in os.environ or before.backend_name != "mimalloc":
        yield
        return
    pa.set_memory_pool(pa.system_memory_pool())
    try:
        yield
    finally:
        if pa.default_memory_pool().backend_name == "system":  # unless changed meanwhile
            pa.set_memory_pool(before)
