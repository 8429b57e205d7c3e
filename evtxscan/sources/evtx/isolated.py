"""pyevtx-rs run in a child process, so that nothing it does on a hostile chunk ends a scan.

pyevtx-rs is native code. On some damaged records it allocates without bound; under the
address-space bound (:mod:`evtxscan.sources.evtx.native_bound`) an allocation then fails,
and what follows depends on which allocator failed: the parse arena panics (caught, the
chunk gets an error) but the global allocator aborts the whole process ("memory allocation
of N bytes failed", SIGABRT; found by fuzzing: a 21 KB file whose array values expand to
7.7 MB of XML and about 240 MB inside pyevtx-rs). No check in the process survives an abort.

So where the platform can fork, chunk images are rendered by a forked child, a *render
server* (:mod:`evtxscan.sources.evtx.render_server`), under limits on address space
(:data:`HEADROOM_BYTES` more than it uses when a chunk starts) and CPU time
(:data:`CPU_SECONDS` per chunk). It streams each record's XML (or error) over a pipe as it
goes, so a crash loses only the records after it; its stderr (where Rust prints panics and
allocation failures) goes to a file whose last line names the crash in the chunk's error.
The parent waits at most :data:`WALL_SECONDS` and keeps checking the file's time budget.

One server renders chunk after chunk: forking a child per chunk cost 20 to 60 ms in a
reading process (its page tables copied and torn down), more than rendering the chunk,
and logs whose records the decoder leaves to the renderer paid it for every chunk. A
server that crashed, ran out of time or was stopped is replaced at the next chunk.
"""

from __future__ import annotations

import os
import select
import signal
import time
from collections.abc import Iterator
from typing import IO

from evtxscan.sources.budget import check as check_budget
from evtxscan.sources.evtx.native_bound import HEADROOM_BYTES
from evtxscan.sources.evtx.render_server import END, RawItem, RawRenderer, RenderServer, server_for

__all__ = [
    "CPU_SECONDS",
    "HEADROOM_BYTES",
    "WALL_SECONDS",
    "RawItem",
    "can_isolate",
    "render_isolated",
]

#: CPU seconds one chunk may take (one chunk image renders in milliseconds).
CPU_SECONDS = 30
#: Seconds the parent waits for a server that neither ends the chunk nor writes.
WALL_SECONDS = 120.0

_SIGNAL_NUMBERS = {int(number) for number in signal.Signals}


def can_isolate() -> bool:
    """Whether chunks can be rendered in a child process here."""
    return hasattr(os, "fork")


def render_isolated(image: bytes, render: RawRenderer) -> Iterator[RawItem]:
    """``render(image)``'s items, produced in a render server (forked from this process,
    one per thread and renderer); a server that crashes, runs out of time or is stopped
    ends the items with a ``("stop", 0, reason)`` item."""
    for attempt in range(2):
        server = server_for(render)
        items: list[RawItem] = []
        stderr_at = server.stderr_size()
        finished = ended = False
        status = 0
        try:
            sent = server.send(image, CPU_SECONDS, HEADROOM_BYTES)
            if sent:
                ended, finished = _receive(server.responses, items)
        finally:
            if not finished:  # it crashed, left, or is stopped here (out of time, budget)
                status = server.stop(kill=not ended)
        if finished:
            yield from items
            return
        if (not sent or _left_unasked(status, items)) and attempt == 0:
            continue  # it had left (idle) before this chunk reached it: a new one renders it
        yield from items
        if not items or items[-1][0] != "stop":
            reason = _crash_reason(status, server.stderr, stderr_at)
            if reason:
                yield ("stop", 0, reason)
        return


def _left_unasked(status: int, items: list[RawItem]) -> bool:
    """Whether a server ended without rendering the chunk sent: it had left, idle, and
    never read it (a server that fails on a chunk exits with status 70, or by a signal)."""
    return not items and os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def _receive(fd: int, items: list[RawItem]) -> tuple[bool, bool]:
    """Read the server's frames into ``items``: (whether it ended: the chunk's end frame or
    the pipe closed, not out of time; whether the chunk ended). The file's time budget is
    checked while waiting (it may raise)."""
    deadline = time.monotonic() + WALL_SECONDS
    buffer = b""
    while True:
        check_budget()
        left = deadline - time.monotonic()
        if left <= 0:
            return False, False
        ready, _, _ = select.select([fd], [], [], min(left, 0.5))
        if not ready:
            continue
        data = os.read(fd, 1 << 20)
        if not data:
            return True, False
        buffer += data
        while len(buffer) >= 8:
            size = int.from_bytes(buffer[:8], "little")
            if len(buffer) < 8 + size:
                break
            frame, buffer = buffer[8 : 8 + size], buffer[8 + size :]
            if frame == END:
                return True, True
            items.append(RenderServer.item(frame))


def _crash_reason(status: int, stderr: IO[bytes], start: int) -> str | None:
    """Why the server ended early (None when it ended normally); what it printed since
    ``start`` of its stderr file names the crash."""
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
        return None
    stderr.seek(start)
    lines = [line.strip() for line in stderr.read()[-4096:].decode(errors="replace").splitlines()]
    said = next((line for line in reversed(lines) if line and not line.startswith("note:")), "")
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        name = signal.Signals(number).name if number in _SIGNAL_NUMBERS else str(number)
        known = {
            int(signal.SIGKILL): "was killed (SIGKILL: out of time or memory)",
            int(signal.SIGXCPU): f"used its {CPU_SECONDS} s of CPU time",
        }
        how = known.get(number, f"crashed ({name})")
    else:
        how = f"failed (exit status {os.WEXITSTATUS(status)})"
    return f"pyevtx-rs {how} on the chunk" + (f": {said[:200]}" if said else "")
