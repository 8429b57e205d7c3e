"""A forked child that renders chunk images one after another (see :mod:`.isolated`).

The parent sends each chunk as a request (its limits, then its image) and reads back one
frame per item and an end frame. Before each chunk the server bounds its own address space
(what it uses then plus the request's headroom) and CPU time (what it has used plus the
request's seconds), below any lower limit the user set. It exits when a render raises
(status 70), when the parent goes (its request pipe ends) and when no request comes for
:data:`IDLE_SECONDS` (status 0, reading nothing: the parent then sends the chunk to a new
server), so an idle one never holds the memory it shares with its parent for long.

One server per thread and renderer (a thread never waits for another's chunk); a process
forked from one forgets the servers it inherited (they are its parent's).
"""

from __future__ import annotations

import contextlib
import faulthandler
import os
import pickle
import select
import signal
import struct
import tempfile
import threading
from collections.abc import Callable, Iterator
from typing import IO

from evtxscan.sources.evtx.cpu_limit import statm_bytes

try:
    import resource
except ImportError:  # no resource limits on this platform: the server runs unbounded
    resource = None  # type: ignore[assignment]

#: What a server sends per record: ("record", number, xml), ("error", 0, text) for a record
#: pyevtx-rs refuses, ("stop", 0, text) when it gives up on the chunk.
RawItem = tuple[str, int, str]
RawRenderer = Callable[[bytes], Iterator[RawItem]]

#: Seconds a server waits for its next chunk before it leaves.
IDLE_SECONDS = 10.0
#: The frame that ends a chunk's items (an item's frame is a pickle: never empty).
END = b""
#: A request's head: image size, CPU seconds, address-space headroom.
_REQUEST = struct.Struct("<QQQ")
#: Exit status of a server whose render raised.
_FAILED = 70

_servers: dict[int, RenderServer] = {}  # by thread ident
_servers_lock = threading.Lock()


class RenderServer:
    """A forked child serving ``render`` over two pipes; its stderr goes to a file."""

    def __init__(self, render: RawRenderer) -> None:
        self.render = render
        # open as long as the server lives, and read after it ends (why it crashed)
        self.stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115
        request_read, request_write = os.pipe()
        response_read, response_write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            _serve(render, request_read, response_write, self.stderr)
        os.close(request_read)
        os.close(response_write)
        self.pid, self.requests, self.responses = pid, request_write, response_read

    @staticmethod
    def item(frame: bytes) -> RawItem:
        item: RawItem = pickle.loads(frame)
        return item

    def stderr_size(self) -> int:
        """Where the next chunk's messages start in the stderr file."""
        return self.stderr.seek(0, os.SEEK_END)

    def send(self, image: bytes, cpu_seconds: int, headroom: int) -> bool:
        """Ask for ``image``; False if the server is gone (it had left, idle)."""
        try:
            _write_all(self.requests, _REQUEST.pack(len(image), cpu_seconds, headroom) + image)
        except (BrokenPipeError, ConnectionResetError):
            return False
        return True

    def stop(self, *, kill: bool) -> int:
        """End the server (killed first when ``kill``) and forget it: its wait status."""
        _forget(self)
        if kill:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
        self._close_pipes()
        try:
            _, status = os.waitpid(self.pid, 0)
        except ChildProcessError:  # reaped by someone else (a wait for any child)
            return _FAILED << 8  # read as "failed": its status is not known
        return status

    def _close_pipes(self) -> None:
        for fd in (self.requests, self.responses):
            with contextlib.suppress(OSError):
                os.close(fd)


def server_for(render: RawRenderer) -> RenderServer:
    """This thread's server of ``render`` (a new one if it has none, or one of another)."""
    ident = threading.get_ident()
    with _servers_lock:
        server = _servers.get(ident)
    if server is not None and server.render is render:
        return server
    if server is not None:
        server.stop(kill=True)
    _stop_orphans()
    server = RenderServer(render)
    with _servers_lock:
        _servers[ident] = server
    return server


def _stop_orphans() -> None:
    """Stop the servers of threads that have ended (a pool's threads come and go)."""
    alive = {thread.ident for thread in threading.enumerate()}
    with _servers_lock:
        orphans = [server for ident, server in _servers.items() if ident not in alive]
    for server in orphans:
        server.stop(kill=True)


def _forget(server: RenderServer) -> None:
    with _servers_lock:
        for ident, known in list(_servers.items()):
            if known is server:
                del _servers[ident]


def _forget_inherited() -> None:
    """In a process just forked: the servers are the parent's; close their pipes here."""
    for server in list(_servers.values()):
        server._close_pipes()
    _servers.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_inherited)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _read_exactly(fd: int, size: int) -> bytes | None:
    parts, left = [], size
    while left:
        part = os.read(fd, min(left, 1 << 20))
        if not part:
            return None
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def _serve(render: RawRenderer, requests: int, responses: int, err: IO[bytes]) -> None:
    code = 0
    try:
        os.dup2(err.fileno(), 2)
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(null, 1)
        _close_others((requests, responses, 2))
        faulthandler.disable()  # a crash is reported by the parent, not dumped by the server
        os.environ["RUST_BACKTRACE"] = "0"  # a backtrace needs memory the bound does not leave
        given = _user_limits()
        with os.fdopen(responses, "wb", buffering=1 << 16) as out:
            while select.select([requests], [], [], IDLE_SECONDS)[0]:
                head = _read_exactly(requests, _REQUEST.size)
                if head is None:
                    break  # the parent is gone
                size, cpu_seconds, headroom = _REQUEST.unpack(head)
                image = _read_exactly(requests, size)
                if image is None:
                    break
                _limit(given, cpu_seconds, headroom)
                try:
                    for item in render(image):
                        frame = pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)
                        out.write(len(frame).to_bytes(8, "little") + frame)
                        out.flush()  # sent now: a crash later loses only what follows
                except BaseException:  # anything at all: the parent reads what was sent
                    code = _FAILED
                    break
                out.write(len(END).to_bytes(8, "little"))
                out.flush()
    except BaseException:
        code = _FAILED
    finally:
        os._exit(code)


def _close_others(keep: tuple[int, ...]) -> None:
    """Close every descriptor but 0, 1 and ``keep`` (the parent's pipes and files are its)."""
    low = 3
    for fd in sorted(fd for fd in keep if fd >= 3):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, os.sysconf("SC_OPEN_MAX") if hasattr(os, "sysconf") else 1024)


def _user_limits() -> tuple[int, int] | None:
    """The soft limits on address space and CPU time the server started with."""
    if resource is None:
        return None
    return (resource.getrlimit(resource.RLIMIT_AS)[0], resource.getrlimit(resource.RLIMIT_CPU)[0])


def _limit(given: tuple[int, int] | None, cpu_seconds: int, headroom: int) -> None:
    """Bound this chunk: address space to what is used now plus ``headroom``, CPU time to
    what was used plus ``cpu_seconds`` (never past a limit the server started with)."""
    if resource is None or given is None:
        return
    infinite = resource.RLIM_INFINITY
    used = statm_bytes(0)
    if used:
        _set(resource.RLIMIT_AS, used + headroom, given[0], infinite)
    times = os.times()
    spent = int(times.user + times.system) + 1
    _set(resource.RLIMIT_CPU, spent + cpu_seconds, given[1], infinite)


def _set(kind: int, wanted: int, given: int, infinite: int) -> None:
    assert resource is not None
    _soft, hard = resource.getrlimit(kind)
    limit = wanted if given == infinite else min(wanted, given)
    if hard != infinite:
        limit = min(limit, hard)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(kind, (limit, hard))
