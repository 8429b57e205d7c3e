"""Decode a text export block by block into numbered lines, whatever its encoding.

A BOM decides (UTF-8, UTF-16 LE/BE; newer Event Viewer exports are UTF-16 LE with a BOM);
NUL bytes in every other place mean UTF-16 without a BOM; otherwise UTF-8 is tried and, at
the first byte sequence that is not UTF-8 before any non-ASCII UTF-8 was seen, the file is
read as the Windows ANSI code page 1252 (NT-era exports and dumpel output).
"""

from __future__ import annotations

import codecs
import mmap
from collections.abc import Iterator
from typing import NamedTuple

from evtxscan.sources.integrity import FileReport

BLOCK_BYTES = 1 << 20
#: A line longer than this is not part of an export: it is skipped and reported.
MAX_LINE_CHARS = 1 << 20
ANSI = "cp1252"
_BOMS = (
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)


class Line(NamedTuple):
    """One line of text without its line end."""

    number: int  # 1-based
    offset: int  # byte offset of the line's first character in the file
    text: str


def detect_codec(head: bytes) -> tuple[str, int]:
    """(codec, BOM length) for a file starting with ``head``; ``utf-8`` may become ANSI."""
    for bom, codec in _BOMS:
        if head.startswith(bom):
            return codec, len(bom)
    sample = head[:512]
    if len(sample) >= 4:
        odd, even = sample[1::2], sample[0::2]
        if odd.count(0) >= len(odd) * 0.9 and even.count(0) < len(even) * 0.1:
            return "utf-16-le", 0
        if even.count(0) >= len(even) * 0.9 and odd.count(0) < len(odd) * 0.1:
            return "utf-16-be", 0
    return "utf-8", 0


def head_text(head: bytes) -> str:
    """A lenient decoding of a file's first bytes, for content sniffing."""
    codec, bom = detect_codec(head)
    if codec == "utf-8":
        codec = "latin-1"  # only the ASCII structure matters when sniffing
    return head[bom:].decode(codec, "replace")


def _width(text: str, codec: str) -> int:
    """Bytes ``text`` took in the file."""
    if text.isascii():
        return len(text) * (2 if codec.startswith("utf-16") else 1)
    return len(text.encode(codec, "replace"))


class _Decoder:
    """Incremental decoding with the UTF-8 -> ANSI fallback and U+FFFD for bad bytes."""

    def __init__(self, codec: str, report: FileReport) -> None:
        self.codec, self.report = codec, report
        self.decoder = codecs.getincrementaldecoder(codec)("strict")
        self.non_ascii = False

    def decode(self, raw: bytes, start: int, final: bool) -> str:
        state = self.decoder.getstate()
        try:
            text = self.decoder.decode(raw, final)
        except UnicodeDecodeError as exc:
            where = start - len(state[0]) + exc.start
            if self.codec == "utf-8" and not self.non_ascii:
                self.codec = ANSI
                self.report.notes.append(
                    f"not UTF-8 (byte 0x{exc.object[exc.start]:02X} at offset {where}): "
                    "decoded as the ANSI code page 1252 (assumed)"
                )
                self.decoder = codecs.getincrementaldecoder(ANSI)("replace")
                return str(self.decoder.decode(state[0] + raw, final))
            self.decoder.setstate(state)
            self.decoder.errors = "replace"
            text = self.decoder.decode(raw, final)
            self.decoder.errors = "strict"
            self.report.error(f"bytes not valid {self.codec} replaced by U+FFFD", offset=where)
        if not self.non_ascii and not text.isascii():
            self.non_ascii = True
        return text


def iter_lines(data: bytes | mmap.mmap, report: FileReport) -> Iterator[Line]:
    """Every line of ``data`` (``\\n`` or ``\\r\\n`` ends), with its number and offset."""
    codec, bom = detect_codec(bytes(data[:4096]))
    if codec != "utf-8":
        report.notes.append(f"encoding {codec}" + (" with BOM" if bom else " without BOM"))
    decoder = _Decoder(codec, report)
    eol = 2 if codec.startswith("utf-16") else 1
    number, offset, partial, skipping = 1, bom, "", False
    for start in range(bom, max(len(data), bom + 1), BLOCK_BYTES):
        final = start + BLOCK_BYTES >= len(data)
        text = partial + decoder.decode(bytes(data[start : start + BLOCK_BYTES]), start, final)
        pieces = text.split("\n")
        partial = "" if final else pieces.pop()
        last = len(pieces) - 1
        for index, piece in enumerate(pieces):
            width = _width(piece, decoder.codec) + (0 if final and index == last else eol)
            if skipping:
                skipping = False
            elif len(piece) > MAX_LINE_CHARS:
                report.error(f"line {number}: longer than {MAX_LINE_CHARS} characters: skipped")
            else:
                yield Line(number, offset, piece.removesuffix("\r"))
            number, offset = number + 1, offset + width
        if len(partial) > MAX_LINE_CHARS:
            if not skipping:
                report.error(f"line {number}: longer than {MAX_LINE_CHARS} characters: skipped")
            offset += _width(partial, decoder.codec)
            partial, skipping = "", True
