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

import ctypes
import ctypes.util
import functools
import sys
from collections.abc import Callable

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
