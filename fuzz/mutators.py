"""Structure-aware mutators: each knows where a format keeps the values its readers trust.

Every mutator takes a seed and a seeded :class:`random.Random` and returns new bytes, so a
run is reproducible from its seed. Generic byte mutations are mixed in everywhere; the
format mutators aim at header fields, record lengths and numbers, BinXml tokens, template
definitions and substitution arrays (EVTX), the ring and record sizes (.evt), encodings,
entities, nesting and values (XML), lines, digits, dates and continuations (text), and
member names, flags, methods, sizes, nesting and overlaps (zip/gzip).
"""

from __future__ import annotations

import gzip
import random
import struct
import zipfile
import zlib
from collections.abc import Callable

from fuzz.seeds import zip_of

Mutator = Callable[[bytes, random.Random], bytes]
#: Characters a repeating mutation may add (inputs stay a few MiB: the harness's memory is
#: not what is measured).
GROWTH = 2_000_000

INTERESTING = [0, 1, 2, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x10000, 0x7FFFFFFF]
INTERESTING += [0x80000000, 0xFFFFFFFF, 2**32, 2**63 - 1, 2**63, 2**64 - 1, 512, 65536, 4096]


def find_all(data: bytes, magic: bytes, limit: int = 4096) -> list[int]:
    """Offsets of ``magic`` in ``data`` (at most ``limit``)."""
    found: list[int] = []
    at = data.find(magic)
    while at >= 0 and len(found) < limit:
        found.append(at)
        at = data.find(magic, at + 1)
    return found


def _int(rng: random.Random, width: int) -> int:
    value = rng.choice(INTERESTING) if rng.random() < 0.7 else rng.getrandbits(8 * width)
    return value % (1 << (8 * width))


def poke(data: bytes, offset: int, width: int, rng: random.Random) -> bytes:
    """``data`` with an interesting little-endian integer at ``offset``."""
    if not 0 <= offset <= len(data) - width:
        return data
    packed = _int(rng, width).to_bytes(width, "little")
    return data[:offset] + packed + data[offset + width :]


def havoc(data: bytes, rng: random.Random) -> bytes:
    """One to eight generic byte mutations (flips, interesting values, splices, cuts)."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        kind = rng.randrange(8)
        at = rng.randrange(len(buf)) if buf else 0
        if kind == 0 and buf:
            buf[at] ^= 1 << rng.randrange(8)
        elif kind == 1 and buf:
            buf[at] = rng.choice((0, 0xFF, 0x7F, 0x80, 0x3C, 0x25, 0x22, 0x0A))
        elif kind == 2:
            width = rng.choice((2, 4, 8))
            buf[at : at + width] = _int(rng, width).to_bytes(width, "little")
        elif kind == 3:
            buf[at:at] = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 16)))
        elif kind == 4 and buf:
            del buf[at : at + rng.randint(1, 64)]
        elif kind == 5 and buf:
            size = rng.randint(1, min(256, len(buf)))
            src = rng.randrange(max(1, len(buf) - size))
            buf[at:at] = buf[src : src + size] * rng.randint(1, 4)
        elif kind == 6:
            del buf[rng.randrange(len(buf) + 1) :]
        else:
            end = min(len(buf), at + rng.randint(1, 512))
            buf[at:end] = bytes(end - at)
    return bytes(buf)


# -- EVTX ------------------------------------------------------------------------------------

#: (offset, width) of file-header fields: first/last chunk, next record, header size, minor,
#: major, block size, chunk count, flags, CRC.
_FILE_FIELDS = [(8, 8), (16, 8), (24, 8), (32, 4), (36, 2), (38, 2), (40, 2), (42, 2), (120, 4)]
_FILE_FIELDS += [(124, 4)]
#: Chunk-header fields: first/last record numbers and ids, header size, last record offset,
#: free space offset, records CRC, header CRC, string and template table entries.
_CHUNK_FIELDS = [(8, 8), (16, 8), (24, 8), (32, 8), (40, 4), (44, 4), (48, 4), (52, 4), (124, 4)]


def _records(data: bytes, chunk_at: int) -> list[int]:
    """Offsets of the record headers of the chunk at ``chunk_at`` (walked by size)."""
    found: list[int] = []
    at = chunk_at + 512
    while len(found) < 4096 and at + 8 <= len(data) and data[at : at + 4] == b"**\x00\x00":
        found.append(at)
        size = struct.unpack_from("<I", data, at + 4)[0]
        if size < 28 or size > 65536:
            break
        at += size
    return found


def _chunks(data: bytes) -> list[int]:
    return [i for i in range(0, len(data), 4096) if data[i : i + 8] == b"ElfChnk\x00"]


def mutate_evtx(data: bytes, rng: random.Random) -> bytes:
    chunks = _chunks(data)
    kind = rng.randrange(10)
    if kind == 0 or not chunks:
        offset, width = rng.choice(_FILE_FIELDS)
        return poke(data, offset, width, rng)
    chunk = rng.choice(chunks)
    records = _records(data, chunk)
    if kind == 1 or not records:
        if rng.random() < 0.3:
            return poke(data, chunk + 128 + 4 * rng.randrange(96), 4, rng)  # table entries
        offset, width = rng.choice(_CHUNK_FIELDS)
        return poke(data, chunk + offset, width, rng)
    record = rng.choice(records)
    if kind == 2:  # record header: size, number, time, or the size copy at the end
        offset, width = rng.choice([(4, 4), (8, 8), (16, 8)])
        if rng.random() < 0.25:
            size = struct.unpack_from("<I", data, record + 4)[0]
            return poke(data, record + size - 4, 4, rng)
        return poke(data, record + offset, width, rng)
    size = struct.unpack_from("<I", data, record + 4)[0]
    body = (record + 24, min(record + size - 4, len(data)))
    if body[1] <= body[0]:
        return havoc(data, rng)
    at = rng.randrange(*body)
    if kind in (3, 4):  # a BinXml token: any token byte, with or without the more bit
        token = rng.choice([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F])
        token |= 0x40 if rng.random() < 0.3 else 0
        return data[:at] + bytes([token]) + data[at + 1 :]
    if kind == 5:  # a value type: arrays of everything
        kinds = [0x81, 0x82, 0x84, 0x88, 0x8A, 0x8F, 0x93, 0x94, 0x95, 0x21, 0x13, 0x11, 0x12]
        return data[:at] + bytes([rng.choice(kinds)]) + data[at + 1 :]
    if kind == 6:  # a 16/32-bit size or count or offset inside the record
        return poke(data, at, rng.choice((2, 4)), rng)
    if kind == 7:  # template definition or substitution array: copy a stretch over another
        length = rng.randint(4, 64)
        source = rng.randrange(*body)
        return data[:at] + data[source : source + length] + data[at + length :]
    return havoc(data, rng)


# -- .evt --------------------------------------------------------------------------------------


def mutate_evt(data: bytes, rng: random.Random) -> bytes:
    kind = rng.randrange(5)
    if kind == 0:  # header: sizes, offsets, numbers, max size, flags, retention, end size
        return poke(data, rng.choice(range(0, 48, 4)), 4, rng)
    starts = [i - 4 for i in find_all(data, b"LfLe", 256) if i >= 4]
    if not starts:
        return havoc(data, rng)
    record = rng.choice(starts)
    if kind == 1:  # the record length, or its copy at the end
        length = struct.unpack_from("<I", data, record)[0] if record >= 0 else 0
        target = record + length - 4 if rng.random() < 0.4 and length else record
        return poke(data, target, 4, rng)
    if kind == 2:  # fields: number, times, ids, counts, offsets, lengths
        return poke(data, record + rng.choice(range(8, 56, 2)), rng.choice((2, 4)), rng)
    if kind == 3:  # wrap: rotate the ring so a record straddles the end
        cut = rng.randrange(48, max(49, len(data)))
        return data[:48] + data[cut:] + data[48:cut]
    return havoc(data, rng)


# -- XML ---------------------------------------------------------------------------------------

_CODECS = ["zlib", "base64", "idna", "utf-7", "utf-16", "utf-32", "hex", "cp037", "nonsense"]
_CODECS += ["latin-1", "shift_jis", "punycode", "rot13", "utf-8-sig", "mbcs", "bz2"]
_XML_SNIPPETS = [
    '<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>',
    '<!ENTITY x SYSTEM "file:///etc/passwd">',
    "&lol;",
    "&#0;&#x1F;&#xD800;&#1114112;",
    "<![CDATA[<Event>]]>",
    "<!-- <Event> -->",
    "<?pi <Event ?>",
    "\x00\x01\x1b",
    "<Keywords>0x-5</Keywords>",
    "<Keywords>0x1ffffffffffffffffffff</Keywords>",
    '<TimeCreated SystemTime="99999-99-99T99:99:99Z"/>',
    '<TimeCreated SystemTime="0001-01-01T00:00:00Z"/>',
    "<EventID>70²3</EventID>",
    "<EventRecordID>-1</EventRecordID>",
    "<Event><Event><Event>",
    "</Events>",
    '<Data Name="x">\udcff</Data>',
]


def _enc(text: str) -> bytes:
    """Back to bytes: undecodable input bytes as they were, lone surrogates as UTF-8 would."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


def mutate_xml(data: bytes, rng: random.Random) -> bytes:
    kind = rng.randrange(7)
    text = data.decode("utf-8", "surrogateescape")
    if kind == 0:
        codec = rng.choice(_CODECS)
        head = f'<?xml version="1.0" encoding="{codec}"?>'
        return head.encode() + data[data.find(b"<Event") if b"<Event" in data else 0 :]
    if kind == 1:  # a snippet at a tag boundary
        cuts = [i for i, c in enumerate(text) if c == "<"] or [0]
        at = rng.choice(cuts)
        snippet = rng.choice(_XML_SNIPPETS)
        return _enc(text[:at] + snippet + text[at:])
    if kind == 2:  # deep nesting inside an event
        depth = rng.choice((50, 300, 3000))
        at = text.find("<EventData>")
        nest = "<a>" * depth + "x" + "</a>" * depth
        return _enc(text[: max(at, 0)] + nest + text[max(at, 0) :])
    if kind == 3:  # a huge value
        value = rng.choice(("A", "é", "&amp;", " ", "<")) * rng.choice((1000, 70_000))
        return _enc(text.replace("Windows Update", value, 1))
    if kind == 4:  # invalid bytes in the declared encoding
        at = rng.randrange(len(data) + 1)
        return data[:at] + rng.choice((b"\xff\xfe", b"\xc3", b"\xed\xa0\x80", b"\x00")) + data[at:]
    if kind == 5:  # repeat one event many times
        start, end = text.find("<Event "), text.find("</Event>") + 8
        if 0 <= start < end:
            times = max(1, min(rng.choice((2, 50, 500)), GROWTH // (end - start)))
            return _enc(text[:start] + text[start:end] * times + text[end:])
    return havoc(data, rng)


# -- text exports --------------------------------------------------------------------------

_TEXT_VALUES = ["70²3", "٣٤", "1/1/0001", "12/31/9999", "13/13/13", "99:99:99", '"', '"""', ""]
_TEXT_VALUES += ["\t", ",", "=cmd|' /C calc'!A0", "0x-1", "-1", "99999999999999999999999"]


def mutate_text(data: bytes, rng: random.Random) -> bytes:
    if len(data) > 1 << 20:  # grown big: cut, do not grow further
        return havoc(data[: 1 << 20], rng)
    codec = "utf-16-le" if data[:2] == b"\xff\xfe" else "utf-8"
    text = data.decode(codec, "surrogateescape" if codec == "utf-8" else "replace")
    lines = text.split("\n")
    kind = rng.randrange(6)
    index = rng.randrange(len(lines))
    if kind == 0:  # replace a field with an awkward value
        fields = lines[index].split("\t" if "\t" in lines[index] else ",")
        fields[rng.randrange(len(fields))] = rng.choice(_TEXT_VALUES)
        lines[index] = ("\t" if "\t" in lines[index] else ",").join(fields)
    elif kind == 1:  # many continuation lines, or many copies of a record
        line = rng.choice(("more text", lines[index]))
        times = max(1, min(rng.choice((100, 1000)), GROWTH // (len(line) + 1)))
        lines[index + 1 : index + 1] = [line] * times
    elif kind == 2:  # a near-miss description for insertion-string recovery
        piece = "x service terminated unexpectedly.  It has done this 1 time(s).  The "
        lines[index] = lines[index].rstrip("\r") + piece * rng.choice((10, 100))
    elif kind == 3:  # an unclosed quote, or a long line
        times = max(1, min(200, GROWTH // (len(lines[index]) + 1)))  # the harness stays small
        lines[index] = '"' + lines[index] if rng.random() < 0.5 else lines[index] * times
    elif kind == 4:
        del lines[index]
    else:
        return havoc(data, rng)
    joined = "\n".join(lines)
    return joined.encode(codec, "surrogateescape" if codec == "utf-8" else "replace")


# -- bundles -----------------------------------------------------------------------------------


def _set_u16(data: bytes, magic: bytes, field: int, value: int, rng: random.Random) -> bytes:
    spots = find_all(data, magic)
    if not spots:
        return data
    at = rng.choice(spots) + field
    return data[:at] + struct.pack("<H", value & 0xFFFF) + data[at + 2 :]


def mutate_bundle(data: bytes, rng: random.Random, inner: list[bytes]) -> bytes:
    kind = rng.randrange(9)
    member = rng.choice(inner)
    if kind == 0:  # odd names
        names = [
            "../../etc/x",
            "a" * 300,
            "x\x00y",
            "dir/x",
            "/abs",
            "CON",
            "\u202e.evtx",
            "é.evtx",
        ]
        return zip_of([(rng.choice(names), member), ("b.evtx", member)])
    if kind == 1:  # flags: encryption, data descriptor, UTF-8 names
        return _set_u16(data, b"PK\x03\x04", 6, rng.choice((1, 8, 0x800, 0xFFFF)), rng)
    if kind == 2:  # compression method
        method = rng.choice((1, 6, 9, 12, 14, 93, 95, 98, 99, 0xFFFF))
        magic = rng.choice((b"PK\x03\x04", b"PK\x01\x02"))
        return _set_u16(data, magic, 8 if magic == b"PK\x03\x04" else 10, method, rng)
    if kind == 3:  # sizes and offsets in the central directory
        spots = find_all(data, b"PK\x01\x02")
        if spots:
            at = rng.choice(spots) + rng.choice((16, 20, 24, 42))
            return poke(data, at, 4, rng)
    if kind == 4:  # nesting
        out = member
        for level in range(rng.randint(2, 12)):
            zipped = rng.random() < 0.7
            out = zip_of([(f"l{level}.zip", out)]) if zipped else gzip.compress(out, mtime=0)
        return out
    if kind == 5:  # overlapping entries: many names for one compressed stream
        return overlapping_zip(member, rng.randint(2, 400))
    if kind == 6:  # a small bomb: a few KiB of bzip2 or deflate that expand a lot
        method = rng.choice((zipfile.ZIP_BZIP2, zipfile.ZIP_DEFLATED))
        head = inner[rng.randrange(min(4, len(inner)))][:4096]
        return _bomb(head, rng.choice((1, 32)), method)
    if kind == 7:  # cut anywhere (central directory, inside a member)
        return data[: rng.randrange(len(data) + 1)]
    mutated = rng.choice(
        (mutate_evtx, mutate_evt, mutate_xml, mutate_text, lambda d, r: havoc(d, r))
    )(member, rng)
    wrapped = zip_of([("m.bin", mutated), ("n.evtx", member)])
    return gzip.compress(mutated, mtime=0) if rng.random() < 0.3 else wrapped


_BOMBS: dict[tuple[bytes, int, int], bytes] = {}


def _bomb(head: bytes, mebibytes: int, method: int) -> bytes:
    """A zip of ``head`` and that many MiB of zeros (made once per shape: compressing
    64 MiB of zeros takes seconds)."""
    key = (head, mebibytes, method)
    if key not in _BOMBS:
        _BOMBS[key] = zip_of([("bomb.evtx", head + bytes(mebibytes << 20))], method)
    return _BOMBS[key]


def overlapping_zip(payload: bytes, entries: int) -> bytes:
    """A zip whose ``entries`` central-directory entries all point at one local member."""
    packed = zlib.compress(payload)[2:-4]
    crc = zlib.crc32(payload)
    local = struct.pack(
        "<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, len(packed), len(payload), 5, 0
    )
    local += b"m0.ev" + packed
    central = b""
    for index in range(entries):
        name = f"m{index}.ev".encode()
        central += (
            struct.pack(
                "<4sHHHHHHIIIHHHHHII",
                b"PK\x01\x02",
                20,
                20,
                0,
                8,
                0,
                0,
                crc,
                len(packed),
                len(payload),
                len(name),
                0,
                0,
                0,
                0,
                0,
                0,
            )
            + name
        )
    end = struct.pack(
        "<4sHHHHIIH", b"PK\x05\x06", 0, 0, entries, entries, len(central), len(local), 0
    )
    return local + central + end
