"""The text encoding of an XML export, from its first bytes."""

from __future__ import annotations

import codecs
import re

_BOMS = ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))
_DECLARED = re.compile(rb"\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._:-]{1,40})[\"']")


def detect_encoding(head: bytes) -> tuple[str, int]:
    """(Python codec, BOM length) of an export starting with ``head``.

    A BOM decides; else NUL bytes in the first character mean BOM-less UTF-16; else an
    ASCII-compatible text encoding named in the XML declaration; else UTF-8 (also for a
    declared name that is no text encoding, such as ``zlib`` or ``base64``).
    """
    for bom, codec in _BOMS:
        if head.startswith(bom):
            return codec, len(bom)
    if len(head) >= 2 and bool(head[0]) != bool(head[1]):
        return ("utf-16-le" if head[0] else "utf-16-be"), 0
    declared = _DECLARED.match(head)
    try:
        info = codecs.lookup(declared[1].decode() if declared else "utf-8")
        if not getattr(info, "_is_text_encoding", True):
            return "utf-8", 0  # zlib, base64, rot13...: byte transforms, not encodings
        codec = info.name
        codecs.getincrementaldecoder(codec)("strict")
        ascii_compatible = "<?xml".encode(codec, "replace") == b"<?xml"
    except (LookupError, UnicodeError, ValueError, TypeError):
        return "utf-8", 0
    return (codec if ascii_compatible and codec != "idna" else "utf-8"), 0
