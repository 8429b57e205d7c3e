"""Files hashed (and small logs read) by a thread ahead of a one-process reader.

Every file is hashed (SHA-256, for the integrity table and to read byte-identical copies
once) before it is read; in a one-process scan of a collection of small logs, reading and
hashing were a tenth of the time. ``os.pread`` and ``hashlib`` release the GIL, so one
thread hashing the next files while this one is decoded takes that work off the reader's
path when the machine has a second core (and costs nothing more when it has not). Small
EVTX logs are read whole too: their batches need the bytes anyway. Readers with worker
processes hash in their workers instead.

What the reader opens decides: a hash made here is used only for a file of the same size
and modification time (or for the very bytes read here). Whatever goes wrong here (a file
that cannot be opened, a bundle, a failed read) leaves the file to the reader, which then
hashes and reports it as it always did.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from evtxscan.sources.detect import SNIFF_BYTES, LogFormat, sniff
from evtxscan.sources.fileview import FileView
from evtxscan.sources.inputs import Buffer, Source, open_source
from evtxscan.sources.integrity import FileReport

#: Bytes hashed at a time: small, as the reader holds its own reads meanwhile.
_HASH_BLOCK = 1 << 20


@dataclass(frozen=True)
class FoundAhead:
    """A file as found ahead: its SHA-256, its size and modification time when opened, and
    its bytes when it is a small EVTX log (``data`` falls short of ``size`` when the file
    shrank while it was read; the hash is of ``data``)."""

    sha256: str
    size: int
    mtime_ns: int
    data: bytes | None = None

    def hash_of(self, content: Buffer) -> str | None:
        """The hash made ahead, if ``content`` (the file as the reader opened it) is the same
        size and modification time; else None (hash it again)."""
        if isinstance(content, FileView) and (len(content), content.mtime_ns) == (
            self.size,
            self.mtime_ns,
        ):
            return self.sha256
        return None


#: A file the reader will not hash (path, size, modification time in ns): skipped.
Unhashed = Callable[[str, int, int], bool]


def find_ahead(
    source: Source,
    small_bytes: int,
    unhashed: Unhashed | None = None,
    stop: threading.Event | None = None,
) -> FoundAhead | None:
    """A file on disk hashed, and read whole when it is an EVTX log of at most
    ``small_bytes``; None for what is not hashed when it is read (bundles, empty files,
    other sources, and what ``unhashed`` says), or when ``stop`` is set while a large file
    is hashed (the reader closing: it must not wait for a whole file)."""
    if source.kind != "file":
        return None
    if unhashed is not None:  # looked up first: a nightly run finds most files unchanged
        stat = os.stat(source.path)
        if unhashed(source.display, stat.st_size, stat.st_mtime_ns):
            return None
    with FileView(source.path) as view:
        size = len(view)
        fmt = sniff(view[:SNIFF_BYTES])
        if size == 0 or fmt in (LogFormat.ZIP, LogFormat.GZIP):
            return None
        mtime_ns = view.mtime_ns
        if fmt is LogFormat.EVTX and size <= small_bytes:
            data = view[:]
            return FoundAhead(hashlib.sha256(data).hexdigest(), size, mtime_ns, data)
        digest = hashlib.sha256()
        for start in range(0, size, _HASH_BLOCK):
            if stop is not None and stop.is_set():
                return None
            digest.update(view.read(start, _HASH_BLOCK))
        return FoundAhead(digest.hexdigest(), size, mtime_ns)


class FilesAhead:
    """Files being found by one thread, in the order started, each started once and taken
    (or dropped) once. The files of one :meth:`start` are one task (a few microseconds of
    queueing each would be a small log's whole fixed cost): taking one waits for them all.
    The caller bounds how far ahead it starts (small logs' bytes are held until taken) and
    drops what it started and did not take. ``unhashed``: files the reader judges without
    hashing them (a nightly run's unchanged ones), not touched here."""

    def __init__(
        self,
        small_bytes: int,
        unhashed: Unhashed | None = None,
        wanted: Callable[[], bool] | None = None,
    ) -> None:
        self.small_bytes = small_bytes  # EVTX logs up to this size are read whole
        self.unhashed = unhashed
        #: Nothing is started until this says so (a nightly run: once a file needed hashing;
        #: over an unchanged collection, looking at each file here would only cost).
        self.wanted = wanted
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="evtxscan-files-ahead")
        self._stop = threading.Event()
        #: source -> (the task finding it, its place in the task's list)
        self._started: dict[Source, tuple[Future[list[FoundAhead | None]], int]] = {}

    def start(self, items: Iterable[object]) -> None:
        """Start finding the files on disk among ``items`` (other items are left alone)."""
        if self.wanted is not None and not self.wanted():
            return
        new: dict[Source, None] = {}  # each source once, in order
        for item in items:
            if isinstance(item, Source) and item.kind == "file" and item not in self._started:
                new[item] = None
        if not new:
            return
        try:
            task = self._pool.submit(self._find, list(new))
        except RuntimeError:  # closed: the reader does it all
            return
        self._started.update((source, (task, at)) for at, source in enumerate(new))

    def share(self, sources: Sequence[Source]) -> None:
        """Find ``sources`` (large logs about to be planned as a group: every one is hashed
        before the first is planned; a night's long run of small logs, opened slice by
        slice) with this thread and the calling one together: the thread takes them from
        the first, the caller from the last, each file once. Started whatever ``wanted``
        says (a group's hashes are needed now), but not for files ``unhashed`` says are
        unchanged; :meth:`take` then gives each, as found here or by the thread."""
        new = [s for s in dict.fromkeys(sources) if s.kind == "file" and s not in self._started]
        new = [s for s in new if not self._unchanged(s)]  # a night: most are, not hashed
        try:
            tasks = [self._pool.submit(self._find, [s]) for s in new]
        except RuntimeError:  # closed: the reader does it all
            return
        self._started.update((source, (task, 0)) for source, task in zip(new, tasks, strict=True))
        for source, task in zip(reversed(new), reversed(tasks), strict=True):
            if not task.cancel():  # the thread has it: it found the ones before too
                return
            done: Future[list[FoundAhead | None]] = Future()
            done.set_result(self._find([source]))
            self._started[source] = (done, 0)

    def _unchanged(self, source: Source) -> bool:
        """Whether ``unhashed`` says the reader will not hash the file (False if unsure)."""
        if self.unhashed is None:
            return False
        try:
            stat = os.stat(source.path)
        except OSError:  # the reader meets it and reports it
            return False
        return self.unhashed(source.display, stat.st_size, stat.st_mtime_ns)

    def _find(self, sources: list[Source]) -> list[FoundAhead | None]:
        return _find_all(sources, self.small_bytes, self.unhashed, self._stop)

    def take(self, source: Source) -> FoundAhead | None:
        """The file as found ahead (waiting for it), or None: the reader does it all."""
        started = self._started.pop(source, None)
        if started is None:
            return None
        task, at = started
        try:
            return task.result()[at]
        except Exception:  # the task was cancelled (or broke): the reader does it all
            return None

    def drop(self, items: Iterable[object]) -> None:
        """Forget what was started for ``items`` and not taken (their bytes are freed once
        nothing holds their task)."""
        for item in items:
            if isinstance(item, Source):
                self._started.pop(item, None)

    def close(self) -> None:
        """Drop everything not taken and stop the thread (a large file's hashing stops at
        its next block: closing, on an interrupt too, never waits for a whole file)."""
        self._started.clear()
        self._stop.set()
        self._pool.shutdown(wait=True, cancel_futures=True)


def _find_all(
    sources: list[Source], small_bytes: int, unhashed: Unhashed | None, stop: threading.Event
) -> list[FoundAhead | None]:
    """:func:`find_ahead` of each source; None where it failed (left to the reader)."""
    found: list[FoundAhead | None] = []
    for source in sources:
        if stop.is_set():
            found.append(None)
            continue
        try:
            found.append(find_ahead(source, small_bytes, unhashed, stop))
        except Exception:  # the reader meets it again and reports it as it always did
            found.append(None)
    return found


def open_found(
    ahead: FilesAhead | None, source: Source, report: FileReport
) -> tuple[Buffer, str | None]:
    """A source's content and, when it was made ahead, its hash: the bytes read ahead (their
    modification time noted in the report), or the source opened now (raises as
    ``open_source`` does)."""
    found = ahead.take(source) if ahead is not None else None
    if found is not None and found.data is not None:
        report.mtime_ns = found.mtime_ns
        return found.data, found.sha256
    content = open_source(source)
    return content, found.hash_of(content) if found is not None else None
