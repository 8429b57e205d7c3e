"""pyevtx-rs run in a child process, so that nothing it does on a hostile chunk ends a scan.

pyevtx-rs is native code. On some damaged records it allocates without bound; under the
address-space bound (:mod:`evtxscan.sources.evtx.native_bound`) an allocation then fails,
and what follows depends on which allocator failed: the parse arena panics (caught, the
chunk gets an error) but the global allocator aborts the whole process ("memory allocation
of N bytes failed", SIGABRT; found by fuzzing: a 21 KB file whose array values expand to
7.7 MB of XML and about 240 MB inside pyevtx-rs). No check in the process survives an abort.

So where the platform can fork, a chunk image is rendered by a forked child under limits
on address space (:data:`HEADROOM_BYTES` more than the parent uses) and CPU time
(:data:`CPU_SECONDS`). The child streams each record's XML (or error) over a pipe as it
goes, so a crash loses only the records after it; its stderr (where Rust prints panics and
allocation failures) goes to a file whose last line names the crash in the chunk's error.
The parent waits at most :data:`WALL_SECONDS` and keeps checking the file's time budget.
Forking costs a few milliseconds; only records the decoder leaves to the renderer pay it.
"""

from __future__ import annotations

import contextlib
import faulthandler
import os
import pickle
import select
import signal
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import IO

from evtxscan.sources.budget import check as check_budget
from evtxscan.sources.evtx.cpu_limit import statm_bytes

try:
    import resource
except ImportError:  # no resource limits on this platform: the child runs unbounded
    resource = None  # type: ignore[assignment]

#: Address space the child may add to what it inherits (one chunk's XML needs a few MiB).
HEADROOM_BYTES = 256 << 20
#: CPU seconds a child may use (one chunk image renders in milliseconds).
CPU_SECONDS = 30
#: Seconds the parent waits for a child that neither ends nor writes.
WALL_SECONDS = 120.0

#: What the child sends per record: ("record", number, xml), ("error", 0, text) for a record
#: pyevtx-rs refuses, ("stop", 0, text) when it gives up on the chunk.
RawItem = tuple[str, int, str]
RawRenderer = Callable[[bytes], Iterator[RawItem]]

_SIGNAL_NUMBERS = {int(number) for number in signal.Signals}


def can_isolate() -> bool:
    """Whether chunks can be rendered in a child process here."""
    return hasattr(os, "fork")


def render_isolated(image: bytes, render: RawRenderer) -> Iterator[RawItem]:
    """``render(image)``'s items, produced in a forked child; a child that crashes, runs
    out of time or is killed ends the items with a ``("stop", 0, reason)`` item."""
    with tempfile.TemporaryFile() as stderr:
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            _child(image, render, read_end, write_end, stderr)
        os.close(write_end)
        items: list[RawItem] = []
        ended = False
        try:
            with os.fdopen(read_end, "rb") as pipe:
                ended = _receive(pipe, items)
        finally:
            status = _reap(pid, kill=not ended)
        yield from items
        if not items or items[-1][0] != "stop":
            reason = _crash_reason(status, stderr)
            if reason:
                yield ("stop", 0, reason)


def _child(
    image: bytes, render: RawRenderer, read_end: int, write_end: int, err: IO[bytes]
) -> None:
    code = 0
    try:
        os.close(read_end)
        os.dup2(err.fileno(), 2)
        faulthandler.disable()  # a crash is reported by the parent, not dumped by the child
        os.environ["RUST_BACKTRACE"] = "0"  # a backtrace needs memory the bound does not leave
        _limit_child()
        with os.fdopen(write_end, "wb", buffering=1 << 16) as out:
            for item in render(image):
                frame = pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)
                out.write(len(frame).to_bytes(8, "little") + frame)
                out.flush()  # sent now: a crash later loses only what follows
    except BaseException:  # anything at all: the parent reads what was sent
        code = 70
    finally:
        os._exit(code)


def _limit_child() -> None:
    if resource is None:
        return
    used = statm_bytes(0)
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = used + HEADROOM_BYTES
    infinite = resource.RLIM_INFINITY
    if used and (soft == infinite or soft > limit) and (hard == infinite or hard >= limit):
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if soft == resource.RLIM_INFINITY or soft > CPU_SECONDS:
        top = CPU_SECONDS + 1 if hard == resource.RLIM_INFINITY else min(hard, CPU_SECONDS + 1)
        resource.setrlimit(resource.RLIMIT_CPU, (min(CPU_SECONDS, top), top))


def _receive(pipe: IO[bytes], items: list[RawItem]) -> bool:
    """Read the child's frames into ``items`` until it closes the pipe (True) or takes too
    long (False). The file's time budget is checked while waiting (it may raise)."""
    deadline = time.monotonic() + WALL_SECONDS
    buffer = b""
    fd = pipe.fileno()
    while True:
        check_budget()
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        ready, _, _ = select.select([fd], [], [], min(left, 0.5))
        if not ready:
            continue
        data = os.read(fd, 1 << 20)
        if not data:
            return True
        buffer += data
        while len(buffer) >= 8:
            size = int.from_bytes(buffer[:8], "little")
            if len(buffer) < 8 + size:
                break
            items.append(pickle.loads(buffer[8 : 8 + size]))
            buffer = buffer[8 + size :]


def _reap(pid: int, *, kill: bool) -> int:
    """Wait for the child (killed first when ``kill``); its wait status."""
    if kill:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    return status


def _crash_reason(status: int, stderr: IO[bytes]) -> str | None:
    """Why the child ended early (None when it finished normally)."""
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
        return None
    stderr.seek(0)
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
