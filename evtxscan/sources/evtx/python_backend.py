"""python-evtx backend: walk its binary-XML node tree and render canonical XML ourselves.

python-evtx's ``record.xml()`` spells typed values its own way (base64 binary, ``{guid}``,
``True``, padded hex, ``str(datetime)``...). So we compile each template python-evtx parsed,
read each substitution value's raw bytes, write it as pyevtx-rs 0.14 does (rules measured by
patching values into real records) and use the reference normalizer: both backends then yield
the same :class:`EventFields` for every record both can read.
"""

from __future__ import annotations

import calendar
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from Evtx import Nodes
from Evtx.Evtx import FileHeader

from evtxscan.records.event_xml import fields_from_xml
from evtxscan.records.schema import EventFields
from evtxscan.sources.evtx.backends import MAX_CONSECUTIVE_ERRORS, BackendError, ChunkEvents

#: Nested BinXml deeper than this is treated as corrupt (guards against reference loops).
MAX_DEPTH = 16

_NULL, _WSTRING, _ANSI, _BINARY, _SIZE_T, _SID, _BXML, _ARRAY = 0, 1, 2, 14, 16, 19, 33, 128
_FILETIME_EPOCH = datetime(1601, 1, 1)
_BOOLS = {0: "false", 1: "true"}
#: The latest instant pyevtx-rs' time library holds; a later FILETIME/SYSTEMTIME is an error.
_LATEST = datetime(9999, 12, 30, 22, 0, 0, 999999)
#: ANSI text is Windows-1252; its five undefined bytes stay C1 controls (as WHATWG decoders do).
_CP1252 = {b: ord(bytes([b]).decode("cp1252", "ignore") or chr(b)) for b in range(0x80, 0xA0)}
#: Characters XML 1.0 cannot carry even escaped. pyevtx-rs writes them raw; for the XML parse
#: we park them on plane-16 private-use code points and put them back in the fields after.
_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_PARKED = re.compile("[\U0010ff00-\U0010ff1f\U0010fffe\U0010ffff]")
_HIDE = {c: 0x10FF00 + (c & 0xFF) for c in [*range(0x20), 0xFFFE, 0xFFFF] if c not in (9, 10, 13)}
_SHOW = {v: k for k, v in _HIDE.items()}
_TEXT = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
#: In attributes also quotes, and the whitespace an XML parser would turn into spaces.
_ATTRIBUTE = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"} | {c: f"&#{ord(c)};" for c in "\t\n\r"}
)

#: Character data: escaped literal text, or a substitution slot (index into the value array).
Piece = str | int
#: Where a slot sits in its element: content position, or (attribute, piece) positions.
Location = int | tuple[int, int]
#: The array items chosen for one copy of a repeated element, by slot location.
Fixed = dict[Location, str | None]
Items = tuple["Element | Piece", ...]
Found = tuple[Location, list[str | None]]


@dataclass(frozen=True)
class Element:
    """A compiled template element: tag, attributes (name, value pieces) and content."""

    tag: str
    attributes: tuple[tuple[str, tuple[Piece, ...]], ...]
    content: Items


@dataclass(frozen=True)
class Value:
    """One substitution value: its type code and raw bytes (and the root of a BinXml value)."""

    type: int
    raw: bytes
    root: Any = None  # Evtx.Nodes.RootNode


def _float(text: str, fixed_min: int, fixed_max: int) -> str:
    """Shortest digits (``text``: their repr) as pyevtx-rs lays them out: plain (``.0`` on whole
    numbers) while value = 0.DIGITS x 10^kk has fixed_min < kk <= fixed_max, else ``De+X``."""
    if text in ("nan", "inf", "-inf"):
        return {"nan": "NaN"}.get(text, text)
    sign, text = ("-", text[1:]) if text.startswith("-") else ("", text)
    mantissa, _, exponent = text.partition("e")
    whole, _, fraction = mantissa.partition(".")
    every = whole + fraction
    digits = every.strip("0")
    if not digits:
        return sign + "0.0"
    kk = len(whole) + int(exponent or 0) - (len(every) - len(every.lstrip("0")))
    n = len(digits)
    if not fixed_min < kk <= fixed_max:
        tail = "." + digits[1:] if n > 1 else ""
        return f"{sign}{digits[0]}{tail}e{'+' if kk > 0 else '-'}{abs(kk - 1)}"
    if kk <= 0:
        return f"{sign}0.{'0' * -kk}{digits}"
    return sign + (digits + "0" * (kk - n) + ".0" if kk >= n else f"{digits[:kk]}.{digits[kk:]}")


def _f32(raw: bytes) -> str:
    value = struct.unpack_from("<f", raw)[0]
    text = repr(value)
    for precision in range(9) if value == value and abs(value) != float("inf") else ():
        text = f"{value:.{precision}e}"  # the shortest decimal that reads back as this f32
        try:
            if struct.unpack("<f", struct.pack("<f", float(text)))[0] == value:
                break
        except OverflowError:  # rounded past the largest f32
            continue
    return _float(text, -6, 13)


def _sid(raw: bytes) -> str:
    if len(raw) < 8:
        raise ValueError(f"SID of {len(raw)} bytes")
    subs = struct.unpack_from(f"<{min(raw[1], (len(raw) - 8) // 4)}I", raw, 8)
    return "-".join(["S", str(raw[0]), str(int.from_bytes(raw[2:8], "big")), *map(str, subs)])


def _filetime(raw: bytes) -> str:
    moment = _FILETIME_EPOCH + timedelta(microseconds=struct.unpack_from("<Q", raw)[0] // 10)
    if moment > _LATEST:
        raise ValueError(f"FILETIME after {_LATEST}")
    return moment.isoformat("T", "microseconds") + "Z"


def _systemtime(raw: bytes) -> str:
    """All zero is FILETIME 0; year 0 is valid; anything out of range is an error."""
    parts = struct.unpack_from("<8H", raw)
    if not any(parts):
        return "1601-01-01T00:00:00.000000Z"
    year, month, _weekday, day, hour, minute, second, millis = parts
    valid = 1 <= month <= 12 and hour < 24 and minute < 60 and second < 60 and millis < 1000
    late = (year, month, day, hour, minute, second, millis) > (9999, 12, 30, 22, 0, 0, 999)
    if not valid or late or not 1 <= day <= calendar.monthrange(year or 2000, month)[1]:
        raise ValueError(f"invalid SYSTEMTIME {parts}")
    return f"{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{millis:03}000Z"


def _number(fmt: str, hexadecimal: bool = False) -> Callable[[bytes], str]:
    unpack = struct.Struct(fmt).unpack_from
    return (lambda raw: f"0x{unpack(raw)[0]:x}") if hexadecimal else lambda raw: str(unpack(raw)[0])


#: Fixed-size type code -> (size, formatter); a boolean other than 0/1 prints as its number.
_SCALARS: dict[int, tuple[int, Callable[[bytes], str]]] = {
    code: (struct.calcsize(fmt), _number("<" + fmt)) for code, fmt in enumerate("bBhHiIqQ", 3)
}
_SCALARS |= {
    0x0B: (4, _f32),
    0x0C: (8, lambda raw: _float(repr(struct.unpack_from("<d", raw)[0]), -5, 16)),
    0x0D: (4, lambda raw: _BOOLS.get(n := struct.unpack_from("<i", raw)[0], str(n))),
    0x0F: (16, lambda raw: str(UUID(bytes_le=raw[:16])).upper()),
    0x11: (8, _filetime),
    0x12: (16, _systemtime),
    0x14: (4, _number("<I", True)),
    0x15: (8, _number("<Q", True)),
}


def array_items(value: Value) -> list[str | None] | None:
    """Item texts of an array value (None: empty string), or None when it is no array.

    Booleans in an array print as their stored numbers; SIDs follow each other unaligned."""
    if value.type == _ARRAY | _WSTRING:  # NUL-terminated strings (the last may lack its NUL)
        text = value.raw[: len(value.raw) & ~1].decode("utf-16-le", "ignore")
        return [item or None for item in text.removesuffix("\0").split("\0")]
    if value.type == _ARRAY | _SID:
        raw, sids = value.raw, list[str | None]()
        while raw:
            size = 8 + 4 * raw[1] if len(raw) > 1 else 1
            sids.append(_sid(raw[:size]))
            raw = raw[size:]
        return sids
    scalar = _SCALARS.get(value.type & ~_ARRAY) if value.type & _ARRAY else None
    if scalar is None:
        return None
    size, fmt = (4, _number("<i")) if value.type == _ARRAY | 0x0D else scalar
    if len(value.raw) % size:
        raise ValueError(f"array of {len(value.raw)} bytes for {size}-byte items")
    return [fmt(value.raw[i : i + size]) for i in range(0, len(value.raw), size)]


def value_text(value_type: int, raw: bytes) -> str:
    """The text pyevtx-rs writes for one non-BinXml value (unescaped)."""
    if value_type == _WSTRING:
        # UTF-16LE up to the first NUL; unpaired surrogates are dropped
        return raw[: len(raw) & ~1].decode("utf-16-le", "ignore").split("\0", 1)[0]
    if value_type in (_NULL, _ANSI):  # ANSI: Windows-1252 with every NUL removed
        return raw.replace(b"\0", b"").decode("latin-1").translate(_CP1252) if value_type else ""
    if value_type in (_BINARY, _SID):
        return raw.hex().upper() if value_type == _BINARY else _sid(raw)
    if value_type == _SIZE_T and len(raw) in (4, 8):  # hex, 4 or 8 bytes wide
        return _number("<I" if len(raw) == 4 else "<Q", True)(raw)
    if value_type in _SCALARS:
        size, fmt = _SCALARS[value_type]
        if len(raw) < size:
            raise ValueError(f"value type {value_type:#x} needs {size} bytes, has {len(raw)}")
        return fmt(raw)
    items = array_items(Value(value_type, raw))
    if items is None:
        raise ValueError(f"unsupported value type {value_type:#x}")
    return ",".join(item or "" for item in items)


def _compile(nodes: list[Any]) -> Items:
    """Compile python-evtx template nodes to elements, escaped text and substitution slots."""
    out: list[Element | Piece] = []
    for node in nodes:
        if isinstance(node, Nodes.OpenStartElementNode):
            attributes: list[tuple[str, tuple[Piece, ...]]] = []
            content: list[Any] = []
            for child in node.children():
                if not isinstance(child, Nodes.AttributeNode):
                    content.append(child)
                    continue
                pieces = _compile([child.attribute_value()])
                name = str(child.attribute_name().string())
                attributes.append((name, tuple(p for p in pieces if not isinstance(p, Element))))
            out.append(Element(str(node.tag_name()), tuple(attributes), _compile(content)))
        elif isinstance(node, Nodes.ValueNode):  # literal text, almost always a counted string
            value, kind = node.children()[0], int(node.type())
            raw = value.unpack_binary(0, value.length()) if kind else b""  # NULL: no bytes
            if kind in (_WSTRING, _ANSI):  # a 16-bit count, then the characters
                raw = raw[2 : 2 + int(value.unpack_word(0)) * (2 if kind == _WSTRING else 1)]
            out.append(value_text(kind, raw).translate(_TEXT))
        elif isinstance(node, Nodes.NormalSubstitutionNode | Nodes.ConditionalSubstitutionNode):
            out.append(int(node.index()))
        elif isinstance(node, Nodes.CharacterReferenceNode):
            out.append(chr(int(node.entity())).translate(_TEXT))
        elif isinstance(node, Nodes.EntityReferenceNode):
            out.append(str(node.entity_reference()))
        elif isinstance(node, Nodes.CDataSectionNode):
            out.append(str(node.cdata()).translate(_TEXT))
        elif isinstance(node, Nodes.TemplateInstanceNode):
            raise ValueError("template instance inside a template")
    return tuple(out)


def _read_value(root: Any, offset: int, size: int, value_type: int) -> bytes:
    """A value's bytes; as pyevtx-rs, reads a scalar, SID or string array whole past its size."""
    raw: bytes = root.unpack_binary(offset, size)
    if value_type in _SCALARS and size < _SCALARS[value_type][0]:
        raw = root.unpack_binary(offset, _SCALARS[value_type][0])
    elif value_type == _SID and len(raw) >= 2 and size < 8 + 4 * raw[1]:
        raw = root.unpack_binary(offset, 8 + 4 * raw[1])
    elif value_type == _ARRAY | _WSTRING:
        end = size & ~1
        while end and root.unpack_binary(offset + end - 2, 2) != b"\0\0":
            end += 2
        raw = root.unpack_binary(offset, max(end, size))
    return raw


def _values(root: Any) -> list[Value]:
    """The substitution array after a root's template instance, read from its raw bytes."""
    offset = int(root.tag_and_children_length())
    count = int(root.unpack_dword(offset))
    if count > 0xFFFF:
        raise ValueError(f"implausible substitution count {count}")
    declared = root.unpack_binary(offset + 4, 4 * count)
    offset += 4 + 4 * count
    values: list[Value] = []
    for size, value_type, _pad in struct.iter_unpack("<HBB", declared):
        raw = _read_value(root, offset, size, value_type)
        nested = None
        if value_type == _BXML and raw[:1] not in (b"", b"\0"):  # python-evtx: private attrs
            nested = Nodes.RootNode(root._buf, root.offset() + offset, root._chunk, root)
        values.append(Value(value_type, raw, nested))
        offset += size
    return values


def _first_array(element: Element, values: list[Value], fixed: Fixed) -> Found | None:
    """The first slot not yet fixed (content, then attributes) holding a 2+ item array."""
    slots: list[tuple[Location, Element | Piece]] = list(enumerate(element.content))
    for a, (_name, pieces) in enumerate(element.attributes):
        slots.extend(((a, p), piece) for p, piece in enumerate(pieces))
    for where, item in slots:
        if isinstance(item, int) and where not in fixed:
            items = array_items(values[item])
            if items is not None and len(items) > 1:
                return where, items
    return None


def _attribute(at: int, pieces: tuple[Piece, ...], values: list[Value], fixed: Fixed) -> str | None:
    """An attribute's escaped value; None (attribute left out) when nothing in it is present."""
    parts: list[str] = []
    for index, piece in enumerate(pieces):
        if (at, index) in fixed:
            item = fixed[at, index]
            parts.extend([] if item is None else [item.translate(_ATTRIBUTE)])
        elif isinstance(piece, str):
            parts.append(piece.replace('"', "&quot;"))
        elif (value := values[piece]).type != _BXML and (text := value_text(value.type, value.raw)):
            parts.append(text.translate(_ATTRIBUTE))  # an empty value adds nothing
    return "".join(parts) if parts else None


class _RecordRenderer:
    """Renders the records of one chunk; compiled templates are cached by chunk offset."""

    def __init__(self) -> None:
        self._templates: dict[int, Items] = {}
        self._out: list[str] = []

    def xml(self, root: Any) -> str:
        """The event XML of one record's root node."""
        self._out = []
        self._root(root, 0)
        return "".join(self._out)

    def _root(self, root: Any, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise ValueError("BinXml nested too deeply")
        offset = int(root.template_instance().template_offset())
        template = self._templates.get(offset)
        if template is None:
            template = self._templates[offset] = _compile(root.template().children())
        self._content(template, _values(root), depth, {})

    def _content(self, items: Items, values: list[Value], depth: int, fixed: Fixed) -> None:
        out = self._out
        for position, item in enumerate(items):
            if position in fixed:
                out.append((fixed[position] or "").translate(_TEXT))
            elif isinstance(item, Element):
                self._element(item, values, depth, {})
            elif isinstance(item, str):
                out.append(item)
            elif (value := values[item]).type != _BXML:
                out.append(value_text(value.type, value.raw).translate(_TEXT))
            elif value.root is not None:
                self._root(value.root, depth + 1)

    def _element(self, element: Element, values: list[Value], depth: int, fixed: Fixed) -> None:
        """Write one element. An array value in it repeats the element once per item (as
        pyevtx-rs and Windows do); ``fixed`` holds the items chosen for this copy."""
        found = _first_array(element, values, fixed)
        if found is not None:
            for item in found[1]:
                self._element(element, values, depth, {**fixed, found[0]: item})
            return
        self._out.append(f"<{element.tag}")
        for at, (name, pieces) in enumerate(element.attributes):
            if (text := _attribute(at, pieces, values, fixed)) is not None:
                self._out.append(f' {name}="{text}"')
        self._out.append(">")
        self._content(element.content, values, depth, fixed)
        self._out.append(f"</{element.tag}>")


def _parse(xml: str) -> EventFields:
    """Normalize the XML; XML-illegal characters go through parked (lost if that is ambiguous)."""
    if not _UNSAFE.search(xml) or _PARKED.search(xml):
        return fields_from_xml(xml)
    fields = fields_from_xml(xml.translate(_HIDE))
    items = [v.translate(_SHOW) if isinstance(v, str) else v for v in fields]
    items[EventFields._fields.index("data")] = [
        (None if name is None else name.translate(_SHOW), value.translate(_SHOW))
        for name, value in fields.data
    ]
    return EventFields._make(items)


def python_chunk_events(image: bytes) -> ChunkEvents:
    """``(record number, fields)`` per record of a chunk image, or a :class:`BackendError`.

    Never raises: python-evtx signals bad data with many exception types (overruns,
    ``KeyError``, ``UnicodeDecodeError``...), so each record is rendered under a broad guard.
    """
    try:
        chunks = list(FileHeader(image, 0).chunks())
    except Exception as exc:
        yield BackendError(f"python-evtx could not open the chunk: {exc!r}")
        return
    for chunk in chunks:
        renderer, records, failures = _RecordRenderer(), chunk.records(), 0
        while failures < MAX_CONSECUTIVE_ERRORS:
            try:
                record = next(records)
            except StopIteration:
                break
            except Exception as exc:  # a generator that raised is finished
                yield BackendError(f"python-evtx: {exc!r}")
                break
            number: int | None = None
            try:
                number = int(record.record_num())
                fields = _parse(renderer.xml(record.root()))
            except Exception as exc:
                failures += 1
                yield BackendError(f"python-evtx: {exc!r}", number)
                continue
            failures = 0
            yield number, fields
        else:
            yield BackendError(f"gave up on a chunk after {MAX_CONSECUTIVE_ERRORS} errors in a row")
