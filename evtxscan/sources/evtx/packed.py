"""Small EVTX files read side by side into one buffer, whose chunk slots are viewed in place.

A batch of small logs is indexed and decoded as one :class:`ChunkSet`. Copying the files'
slots into that set (:func:`~evtxscan.sources.evtx.walk.chunks_copied`) holds every byte of
the batch twice: the files as read and the copy. Here each file is read once, straight into
its place in the batch's buffer, and the chunk set views that buffer.

Each file is followed by a reserve of one chunk that is never written, so a slot the file
cuts short reads zeros past its end, as in a copy. The buffer comes from ``np.zeros``
(calloc): pages never written, the reserves among them, cost address space, not memory.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from evtxscan.sources.evtx.layout import CHUNK_SIZE
from evtxscan.sources.evtx.walk import ChunkSet, SlotBuffer, slots_of
from evtxscan.sources.fileview import FileView

#: Room reserved after each file's bytes (zeros: the padding of a slot it cuts short).
_RESERVE = CHUNK_SIZE


def packed_capacity(sizes: Sequence[int]) -> int:
    """The buffer that holds files of these sizes, each with its reserve and alignment."""
    return sum(_aligned(size) + _RESERVE for size in sizes)


class PackedFiles:
    """One zeroed buffer that files are read into, one after another (8-byte aligned).

    The buffer is made when the first file is added: a batch whose files are all duplicates
    (a nightly run over unchanged logs) allocates nothing."""

    def __init__(self, capacity: int) -> None:
        self._capacity = max(capacity, 0)
        self._made: np.ndarray | None = None
        self._end = 0  # where the next file goes
        # id of each view given -> the view (kept, so the id stays its own) and its start
        self._starts: dict[int, tuple[memoryview, int]] = {}

    @property
    def buffer(self) -> np.ndarray:
        if self._made is None:
            self._made = np.zeros(self._capacity, dtype=np.uint8)
        return self._made

    def add(self, content: bytes | memoryview | FileView) -> memoryview | None:
        """``content`` read into the buffer: a view of its bytes there (as many as it gave),
        or None if it no longer fits (a file that grew since its size was taken)."""
        size = len(content)
        start = self._end
        if start + _aligned(size) + _RESERVE > self._capacity:
            return None
        whole = self.buffer.data
        got = _read_into(content, whole[start : start + size])
        view = whole[start : start + got]
        self._end = start + _aligned(got) + _RESERVE
        self._starts[id(view)] = (view, start)
        return view

    def start_of(self, view: object) -> int | None:
        """Where the file whose view :meth:`add` gave starts; None for any other buffer."""
        known = self._starts.get(id(view))
        return known[1] if known is not None else None

    def chunks(self, runs: Sequence[tuple[int, SlotBuffer, int, int, int]]) -> ChunkSet | None:
        """The slots ``runs`` (``(number, view, first_offset, first slot, count)`` each, as
        ``chunks_copied`` takes) viewed in place; None if a view is not one of this
        buffer's files or a slot would start unaligned (then they are copied)."""
        base = []
        for _number, view, first_offset, first, count in runs:
            start = self.start_of(view)
            if start is None or first_offset % 8:
                return None
            base.append(start + first_offset + np.arange(first, first + count) * CHUNK_SIZE)
        at = np.concatenate(base).astype(np.int64) if base else np.zeros(0, dtype=np.int64)
        return slots_of(runs, self.buffer, at)


def _aligned(size: int) -> int:
    return -(-size // 8) * 8


def _read_into(content: bytes | memoryview | FileView, target: memoryview) -> int:
    """Copy or read ``content`` into ``target`` (as long as it); the bytes it gave."""
    if isinstance(content, FileView):
        return content.read_into(0, target)
    target[:] = content
    return len(content)
