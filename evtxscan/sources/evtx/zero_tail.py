"""Where a file's trailing run of zero bytes starts (pre-allocated space, not damage)."""

from __future__ import annotations

import mmap

import numpy as np

from evtxscan.sources.fileview import FileView

Buffer = bytes | bytearray | memoryview | mmap.mmap | FileView

#: Where the trailing run of zero bytes of the content read last starts (one entry only: it
#: holds the content, which may be a bundle member of up to 256 MiB in memory).
_ZERO_TAILS: dict[int, tuple[object, int]] = {}
#: Bytes looked at first (most files end in records, not zeros), doubling up to the last.
_FIRST_BLOCK = 4 << 10
_TAIL_BLOCK = 1 << 20


def zero_tail_start(data: Buffer) -> int:
    """Offset from which ``data`` holds only zero bytes (its length when it ends otherwise).

    Found once per content by reading backwards from the end, so deciding that each of many
    empty slots is pre-allocated space costs one pass over that space, not one per slot."""
    known = _ZERO_TAILS.get(id(data))
    if known is not None and known[0] is data:
        return known[1]
    # Bytes in memory are tested in place (numpy, no copy); a file read by positioned reads
    # block by block. Only the block where the zeros end is searched byte by byte.
    view = None if isinstance(data, FileView) else np.frombuffer(data, dtype=np.uint8)
    end = len(data)
    size = _FIRST_BLOCK
    while end > 0:
        start = max(0, end - size)
        if view is not None:
            kept = _kept(view[start:end])
        else:
            copied = bytes(data[start:end])
            kept = 0 if copied == bytes(len(copied)) else len(copied.rstrip(b"\x00"))
        if kept:
            end = start + kept
            break
        end = start
        size = min(2 * size, _TAIL_BLOCK)
    _ZERO_TAILS.clear()
    _ZERO_TAILS[id(data)] = (data, end)
    return end


def _kept(block: np.ndarray) -> int:
    """Bytes of ``block`` up to and with its last non-zero one (0: all zeros), tested eight
    bytes at a time (most of a pre-allocated tail is zeros)."""
    head = len(block) % 8  # the rest is a whole number of 64-bit words
    words = np.flatnonzero(block[head:].view(np.uint64))
    if len(words):
        at = head + 8 * int(words[-1])
        return at + int(np.flatnonzero(block[at : at + 8])[-1]) + 1
    found = np.flatnonzero(block[:head])
    return int(found[-1]) + 1 if len(found) else 0
