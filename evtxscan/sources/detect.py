"""Decide a file's format from its content, never from its name.

Collectors rename files (``.evtx_data``, ``Archive-System-*.evtx``, no extension), so only
the bytes decide: ``ElfFile\\0`` is EVTX, ``LfLe`` at offset 4 is a legacy .evt, ``<`` after
an optional BOM is an XML export, and an EVTX whose header is zeroed or damaged but whose
``ElfChnk`` chunks are intact is still EVTX (recovered from the chunks). Last, text whose
first line is an event export's header row or record (Event Viewer text/CSV, dumpel) is a
text export; any other text is not an event log.
"""

from __future__ import annotations

import os
from enum import StrEnum

from evtxscan.sources.evtx.layout import CHUNK_MAGIC, FILE_HEADER_SIZE, FILE_MAGIC
from evtxscan.sources.text.layout import looks_like_text_export

SNIFF_BYTES = FILE_HEADER_SIZE + 8


class LogFormat(StrEnum):
    """What a file holds."""

    EVTX = "evtx"
    EVT = "evt"
    XML = "xml"
    TEXT = "text"  # Event Viewer text/CSV export or dumpel output
    ZIP = "zip"
    GZIP = "gzip"
    EMPTY = "empty"
    UNKNOWN = "unknown"


_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")


def _looks_like_xml(head: bytes) -> bool:
    for bom in _BOMS:
        if head.startswith(bom):
            head = head[len(bom) :]
            break
    if head[:2] in (b"<\x00", b"\x00<"):  # UTF-16 without BOM
        return True
    stripped = head.lstrip(b" \t\r\n")
    if stripped[:2] in (b"<\x00", b"\x00<"):
        return True
    return stripped.startswith(b"<")


def read_head(path: str) -> tuple[bytes, int]:
    """A file's first :data:`SNIFF_BYTES` bytes (fewer only if it is shorter) and its size
    (``OSError`` if it cannot be read). Through a descriptor, not a Python file object:
    half the cost, and it is asked of every file of a collection."""
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    try:
        head = b""
        while len(head) < SNIFF_BYTES and (piece := os.read(descriptor, SNIFF_BYTES - len(head))):
            head += piece  # (a read may return less than asked before the end)
        return head, os.fstat(descriptor).st_size
    finally:
        os.close(descriptor)


def sniff(head: bytes) -> LogFormat:
    """The format of a file whose first :data:`SNIFF_BYTES` bytes are ``head``."""
    if not head:
        return LogFormat.EMPTY
    if head.startswith(FILE_MAGIC) or head.startswith(CHUNK_MAGIC):
        return LogFormat.EVTX
    if head[FILE_HEADER_SIZE : FILE_HEADER_SIZE + 8] == CHUNK_MAGIC:
        return LogFormat.EVTX  # file header zeroed or damaged, chunks intact
    if head[4:8] == b"LfLe":
        return LogFormat.EVT
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return LogFormat.ZIP
    if head.startswith(b"\x1f\x8b"):
        return LogFormat.GZIP
    if _looks_like_xml(head[:4096]):
        return LogFormat.XML
    if looks_like_text_export(head, whole=len(head) < SNIFF_BYTES):
        return LogFormat.TEXT
    return LogFormat.UNKNOWN


def describe_start(head: bytes) -> str:
    """A short, printable description of what an unrecognised file starts with."""
    sample = head[:16]
    text = sample.decode("ascii", errors="replace")
    printable = all(32 <= b < 127 or b in (9, 10, 13) for b in sample)
    if printable and sample:
        return f"text {text!r}"
    return f"bytes {sample.hex(' ')}"
