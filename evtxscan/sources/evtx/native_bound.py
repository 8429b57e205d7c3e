"""An address-space bound around one call into native parser code (pyevtx-rs).

On some damaged records pyevtx-rs allocates without end (found by fuzzing: a value
descriptor claiming more bytes than the record holds; the process grew to 24 GB and was
killed by the kernel). The call runs in native code holding the interpreter lock, so no
check of ours can run meanwhile. For the length of one call the process's address-space
limit (``RLIMIT_AS``) is set to what it uses now plus :data:`HEADROOM_BYTES`: a runaway
allocation then fails inside pyevtx-rs, which reports it as a panic
(``pyo3_runtime.PanicException``) that the caller turns into an error of that chunk.

The limit is process-wide, so only the main thread sets it (as signals reach only the main
thread, :mod:`evtxscan.sources.evtx.cpu_limit`); elsewhere, and where ``resource`` or
``/proc`` are not there, calls run unbounded. A lower limit set by the user is kept. The
first bounded call sets ``RUST_BACKTRACE=0`` for the process: printing a panic's backtrace
needs more memory than the bound leaves, and stalls (the panic's message is still printed,
and the chunk's integrity error names it).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from evtxscan.sources.evtx.cpu_limit import statm_bytes

try:
    import resource
except ImportError:  # not on this platform: no bound
    resource = None  # type: ignore[assignment]

#: Address space one native call may add (rendering a record needs a few MiB at most).
HEADROOM_BYTES = 256 << 20


def virtual_bytes() -> int:
    """This process's address-space size (0 where ``/proc`` is not there)."""
    return statm_bytes(0)


@contextmanager
def address_space_bound(headroom: int = HEADROOM_BYTES) -> Iterator[None]:
    """Within the block, allocations past the current address space plus ``headroom``
    fail (main thread only; see the module docstring)."""
    if resource is None or threading.current_thread() is not threading.main_thread():
        yield
        return
    used = virtual_bytes()
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = used + headroom
    infinite = resource.RLIM_INFINITY
    if not used or (soft != infinite and soft <= limit) or (hard != infinite and hard < limit):
        yield  # unknown size, or a tighter limit already set: leave it
        return
    os.environ["RUST_BACKTRACE"] = "0"
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
