"""python-evtx backend: walk its binary-XML node tree and render canonical XML ourselves.

python-evtx's own ``record.xml()`` spells typed values its own way (base64 binary, ``{guid}``,
``True``, zero-padded hex, ``str(datetime)``, ``<string>`` markup for string arrays). Rather
than patch that text, this module compiles each template python-evtx parsed (elements,
attributes, literal values, substitution slots), reads every substitution value from its raw
bytes and writes it exactly as pyevtx-rs does (rules measured against pyevtx-rs 0.14 by
patching values into real records). The XML goes through the reference normalizer, so both
backends yield identical :class:`EventFields` for every record both can read.
"""

from __future__ import annotations

import calendar
import re
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from evtxscan.records.event_xml import fields_from_xml
from evtxscan.records.schema import EventFields
from evtxscan.sources.evtx.backends import MAX_CONSECUTIVE_ERRORS, BackendError, ChunkEvents

#: Nested BinXml deeper than this is treated as corrupt (guards against reference loops).
MAX_DEPTH = 16

_NULL, _WSTRING, _ANSI, _BXML, _ARRAY = 0x00, 0x01, 0x02, 0x21, 0x80
_FILETIME_EPOCH = datetime(1601, 1, 1)
#: pyevtx-rs' latest representable instant (its time library's limit); later times are errors.
_LATEST = datetime(9999, 12, 30, 22, 0, 0, 999999)
#: ANSI text is Windows-1252; its five undefined bytes stay C1 controls (as WHATWG decoders do).
_CP1252 = {b: ord(bytes([b]).decode("cp1252", "ignore") or chr(b)) for b in range(0x80, 0xA0)}
#: Characters XML 1.0 cannot carry even escaped. pyevtx-rs writes them raw; for the XML parse
#: we park them on plane-16 private-use code points and put them back in the fields after.
_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_PARKED = re.compile("[\U0010ff00-\U0010ff1f\U0010fffe\U0010ffff]")
_HIDE = {c: 0x10FF00 + (c & 0xFF) for c in [*range(0x20), 0xFFFE, 0xFFFF] if c not in (9, 10, 13)}
_SHOW = {v: k for k, v in _HIDE.items()}


class RenderError(ValueError):
    """The record's binary XML does not form a renderable event."""


#: Character data: escaped literal text, or a substitution slot (index into the value array).
Piece = str | int
#: Where a slot sits in its element: content position, or (attribute, piece) positions.
Location = int | tuple[int, int]


@dataclass(frozen=True)
class Element:
    """A compiled template element: tag, attributes (name, value pieces) and content."""

    tag: str
    attributes: tuple[tuple[str, tuple[Piece, ...]], ...]
    content: tuple[Element | Piece, ...]


@dataclass(frozen=True)
class Value:
    """One substitution value: its type code and raw bytes (and the root of a BinXml value)."""

    type: int
    raw: bytes
    root: Any = None  # Evtx.Nodes.RootNode


# --- value text, in pyevtx-rs' spelling -------------------------------------------------------


def _escape(text: str, attribute: bool = False) -> str:
    """XML-escape text; in attributes also quotes and the whitespace XML would normalize."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if attribute:
        text = text.replace('"', "&quot;").replace("\t", "&#9;").replace("\n", "&#10;")
        text = text.replace("\r", "&#13;")
    return text


def _utf16(raw: bytes) -> str:
    """UTF-16LE text up to the first NUL; unpaired surrogates are dropped."""
    return raw[: len(raw) & ~1].decode("utf-16-le", "ignore").split("\x00", 1)[0]


def _ansi(raw: bytes) -> str:
    """Windows-1252 text with every NUL removed."""
    return raw.replace(b"\x00", b"").decode("latin-1").translate(_CP1252)


def _float(text: str, fixed_min: int, fixed_max: int) -> str:
    """Shortest digits (``text``: their repr) laid out as pyevtx-rs does: plain while the point
    position kk (value = 0.DIGITS x 10^kk) is in (fixed_min, fixed_max], with ``.0`` on whole
    numbers; otherwise ``D.DDDe+X`` / ``De-X``."""
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
    if kk >= n:
        return f"{sign}{digits}{'0' * (kk - n)}.0"
    return f"{sign}{digits[:kk]}.{digits[kk:]}"


def _f32(raw: bytes) -> str:
    value = struct.unpack_from("<f", raw)[0]
    text = repr(value)
    if value == value and abs(value) != float("inf"):
        for precision in range(9):  # shortest decimal that reads back as the same f32
            text = f"{value:.{precision}e}"
            try:
                if struct.unpack("<f", struct.pack("<f", float(text)))[0] == value:
                    break
            except OverflowError:  # rounded past the largest f32
                continue
    return _float(text, -6, 13)


def _guid(raw: bytes) -> str:
    d1, d2, d3 = struct.unpack_from("<IHH", raw)
    tail = raw[8:16].hex().upper()
    return f"{d1:08X}-{d2:04X}-{d3:04X}-{tail[:4]}-{tail[4:]}"


def _sid(raw: bytes) -> str:
    if len(raw) < 8:
        raise RenderError(f"SID of {len(raw)} bytes")
    count = min(raw[1], (len(raw) - 8) // 4)
    subs = struct.unpack_from(f"<{count}I", raw, 8)
    return "-".join(["S", str(raw[0]), str(int.from_bytes(raw[2:8], "big")), *map(str, subs)])


def _filetime(raw: bytes) -> str:
    moment = _FILETIME_EPOCH + timedelta(microseconds=struct.unpack_from("<Q", raw)[0] // 10)
    if moment > _LATEST:
        raise RenderError(f"FILETIME after {_LATEST}")
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
        raise RenderError(f"invalid SYSTEMTIME {parts}")
    return f"{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{millis:03}000Z"


def _bool(raw: bytes) -> str:
    """0 and 1 are false and true; any other stored number is printed as that number."""
    number = struct.unpack_from("<i", raw)[0]
    return {0: "false", 1: "true"}.get(number, str(number))


def _number(fmt: str, hexadecimal: bool = False) -> Callable[[bytes], str]:
    unpack = struct.Struct(fmt).unpack_from
    return (lambda raw: f"0x{unpack(raw)[0]:x}") if hexadecimal else lambda raw: str(unpack(raw)[0])


#: Fixed-size type code -> (size, formatter). Arrays (code | 0x80) repeat the item.
_SCALARS: dict[int, tuple[int, Callable[[bytes], str]]] = {
    code: (struct.calcsize(fmt), _number("<" + fmt)) for code, fmt in enumerate("bBhHiIqQ", 3)
}
_SCALARS |= {
    0x0B: (4, _f32),
    0x0C: (8, lambda raw: _float(repr(struct.unpack_from("<d", raw)[0]), -5, 16)),
    0x0D: (4, _bool),
    0x0F: (16, _guid),
    0x11: (8, _filetime),
    0x12: (16, _systemtime),
    0x14: (4, _number("<I", True)),
    0x15: (8, _number("<Q", True)),
}


def _strings(raw: bytes) -> list[str]:
    """Items of a string array: NUL-terminated UTF-16LE strings (the last may lack its NUL)."""
    text = raw[: len(raw) & ~1].decode("utf-16-le", "ignore")
    return text.removesuffix("\x00").split("\x00")


def array_items(value: Value) -> list[str | None] | None:
    """Item texts of an array value (None: empty string), or None when it is no array.

    Booleans in an array print as their stored numbers; SIDs follow each other unaligned."""
    if value.type == _ARRAY | _WSTRING:
        return [item or None for item in _strings(value.raw)]
    if value.type == _ARRAY | 0x13:
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
        raise RenderError(f"array of {len(value.raw)} bytes for {size}-byte items")
    return [fmt(value.raw[i : i + size]) for i in range(0, len(value.raw), size)]


def value_text(value_type: int, raw: bytes) -> str:
    """The text pyevtx-rs writes for one non-BinXml value (unescaped)."""
    if value_type == _WSTRING:
        return _utf16(raw)
    if value_type in (_NULL, _ANSI):
        return _ansi(raw) if value_type else ""
    if value_type in (0x0E, 0x13):  # binary as upper-case hex; SID
        return raw.hex().upper() if value_type == 0x0E else _sid(raw)
    if value_type == 0x10 and len(raw) in (4, 8):  # size_t: hex, 4 or 8 bytes wide
        return _number("<I" if len(raw) == 4 else "<Q", True)(raw)
    if value_type in _SCALARS:
        size, fmt = _SCALARS[value_type]
        if len(raw) < size:
            raise RenderError(f"value type {value_type:#x} needs {size} bytes, has {len(raw)}")
        return fmt(raw)
    items = array_items(Value(value_type, raw))
    if items is None:
        raise RenderError(f"unsupported value type {value_type:#x}")
    return ",".join(item or "" for item in items)


# --- templates and records --------------------------------------------------------------------


def _literal(node: Any) -> str:
    """Escaped text of a value token inside a template (almost always a counted string)."""
    value, value_type = node.children()[0], int(node.type())
    if value_type in (_WSTRING, _ANSI):  # a 16-bit count, then the characters
        count = int(value.unpack_word(0))
        width = 2 if value_type == _WSTRING else 1
        return _escape(value_text(value_type, value.unpack_binary(2, count * width)))
    return _escape(value_text(value_type, value.unpack_binary(0, value.length())))


def _compile(nodes: list[Any], n: Any) -> tuple[Element | Piece, ...]:
    """Compile python-evtx template nodes (module ``n`` = ``Evtx.Nodes``) to our items."""
    out: list[Element | Piece] = []
    for node in nodes:
        if isinstance(node, n.OpenStartElementNode):
            attributes: list[tuple[str, tuple[Piece, ...]]] = []
            content: list[Any] = []
            for child in node.children():
                if isinstance(child, n.AttributeNode):
                    pieces = _compile([child.attribute_value()], n)
                    name = str(child.attribute_name().string())
                    attributes.append(
                        (name, tuple(p for p in pieces if not isinstance(p, Element)))
                    )
                else:
                    content.append(child)
            out.append(Element(str(node.tag_name()), tuple(attributes), _compile(content, n)))
        elif isinstance(node, n.ValueNode):
            out.append(_literal(node))
        elif isinstance(node, n.NormalSubstitutionNode | n.ConditionalSubstitutionNode):
            out.append(int(node.index()))
        elif isinstance(node, n.CharacterReferenceNode):
            out.append(_escape(chr(int(node.entity()))))
        elif isinstance(node, n.EntityReferenceNode):
            out.append(str(node.entity_reference()))
        elif isinstance(node, n.CDataSectionNode):
            out.append(_escape(str(node.cdata())))
        elif isinstance(node, n.TemplateInstanceNode):
            raise RenderError("template instance inside a template")
    return tuple(out)


class _RecordRenderer:
    """Renders the records of one chunk; compiled templates are cached by chunk offset."""

    def __init__(self) -> None:
        import Evtx.Nodes

        self._nodes: Any = Evtx.Nodes
        self._templates: dict[int, tuple[Element | Piece, ...]] = {}

    def xml(self, root: Any) -> str:
        """The event XML of one record's root node."""
        out: list[str] = []
        self._root(root, out, 0)
        return "".join(out)

    def _root(self, root: Any, out: list[str], depth: int) -> None:
        if depth > MAX_DEPTH:
            raise RenderError("BinXml nested too deeply")
        offset = int(root.template_instance().template_offset())
        template = self._templates.get(offset)
        if template is None:
            template = self._templates[offset] = _compile(root.template().children(), self._nodes)
        values = self.values(root)
        for item in template:
            if isinstance(item, Element):
                self._element(item, values, out, depth, {})
            else:
                self._piece(item, values, out, depth)

    def values(self, root: Any) -> list[Value]:
        """The substitution array after the template instance, read from its raw bytes."""
        offset = int(root.tag_and_children_length())
        count = int(root.unpack_dword(offset))
        if count > 0xFFFF:
            raise RenderError(f"implausible substitution count {count}")
        declared = root.unpack_binary(offset + 4, 4 * count)
        offset += 4 + 4 * count
        values: list[Value] = []
        for size, value_type, _pad in struct.iter_unpack("<HBB", declared):
            raw = _read_past(root, offset, size, value_type)
            nested = None
            if value_type == _BXML and raw[:1] not in (b"", b"\0"):  # python-evtx: private attrs
                nested = self._nodes.RootNode(root._buf, root.offset() + offset, root._chunk, root)
            values.append(Value(value_type, raw, nested))
            offset += size
        return values

    def _piece(self, piece: Piece, values: list[Value], out: list[str], depth: int) -> None:
        if isinstance(piece, str):
            out.append(piece)
            return
        value = _value(piece, values)
        if value.type != _BXML:
            out.append(_escape(value_text(value.type, value.raw)))
        elif value.root is not None:
            self._root(value.root, out, depth + 1)

    def _element(
        self, element: Element, values: list[Value], out: list[str], depth: int, fixed: _Fixed
    ) -> None:
        """Write one element. An array value in it (content first, then attributes) repeats
        the element once per item; ``fixed`` holds the items chosen for this copy."""
        found = _first_array(element, values, fixed)
        if found is not None:
            for item in found[1]:
                self._element(element, values, out, depth, {**fixed, found[0]: item})
            return
        out.append(f"<{element.tag}")
        for position, (name, pieces) in enumerate(element.attributes):
            text = _attribute(position, pieces, values, fixed)
            if text is not None:
                out.append(f' {name}="{text}"')
        out.append(">")
        for position, item in enumerate(element.content):
            if position in fixed:
                out.append(_escape(fixed[position] or ""))
            elif isinstance(item, Element):
                self._element(item, values, out, depth, {})
            else:
                self._piece(item, values, out, depth)
        out.append(f"</{element.tag}>")


_Fixed = dict[Location, str | None]


def _read_past(root: Any, offset: int, size: int, value_type: int) -> bytes:
    """A value's bytes. Like pyevtx-rs, a fixed-size value, a SID's sub-authorities and a string
    array's last string are read whole even past the value's declared size (corrupt records)."""
    raw: bytes = root.unpack_binary(offset, size)
    if value_type in _SCALARS and size < _SCALARS[value_type][0]:
        raw = root.unpack_binary(offset, _SCALARS[value_type][0])
    elif value_type == 0x13 and len(raw) >= 2 and size < 8 + 4 * raw[1]:
        raw = root.unpack_binary(offset, 8 + 4 * raw[1])
    elif value_type == _ARRAY | _WSTRING:
        end = size & ~1
        while end and root.unpack_binary(offset + end - 2, 2) != b"\0\0":
            end += 2
        raw = root.unpack_binary(offset, max(end, size))
    return raw


def _value(slot: int, values: list[Value]) -> Value:
    if slot >= len(values):
        raise RenderError(f"substitution {slot} of {len(values)}")
    return values[slot]


def _first_array(
    element: Element, values: list[Value], fixed: _Fixed
) -> tuple[Location, list[str | None]] | None:
    """The first slot not yet fixed that holds an array of two or more items."""
    slots: list[tuple[Location, Element | Piece]] = list(enumerate(element.content))
    for a, (_name, pieces) in enumerate(element.attributes):
        slots.extend(((a, p), piece) for p, piece in enumerate(pieces))
    for where, item in slots:
        if isinstance(item, int) and where not in fixed:
            items = array_items(_value(item, values))
            if items is not None and len(items) > 1:
                return where, items
    return None


def _attribute(
    position: int, pieces: tuple[Piece, ...], values: list[Value], fixed: _Fixed
) -> str | None:
    """An attribute's escaped value; None (attribute left out) when nothing in it is present."""
    parts: list[str] = []
    for index, piece in enumerate(pieces):
        if (position, index) in fixed:
            item = fixed[position, index]
            if item is not None:
                parts.append(_escape(item, attribute=True))
        elif isinstance(piece, str):
            parts.append(piece.replace('"', "&quot;"))
        else:
            value = _value(piece, values)
            if value.type not in (_NULL, _BXML):
                parts.append(_escape(value_text(value.type, value.raw), attribute=True))
    return "".join(parts) if parts else None


def _show(fields: EventFields) -> EventFields:
    """Put back the characters parked outside XML's reach for the parse."""
    items = [v.translate(_SHOW) if isinstance(v, str) else v for v in fields]
    items[EventFields._fields.index("data")] = [
        (None if name is None else name.translate(_SHOW), value.translate(_SHOW))
        for name, value in fields.data
    ]
    return EventFields(*items)


def _describe(exc: BaseException) -> str:
    return f"python-evtx: {type(exc).__name__}: {exc}"


def python_chunk_events(image: bytes) -> ChunkEvents:
    """``(record number, fields)`` per record of a chunk image, or a :class:`BackendError`.

    Never raises: python-evtx signals bad data with many exception types (overruns,
    ``KeyError``, ``UnicodeDecodeError``...), so each record is rendered under a broad guard.
    """
    try:
        from Evtx.Evtx import FileHeader

        chunks = list(FileHeader(image, 0).chunks())
    except Exception as exc:
        yield BackendError(f"python-evtx could not open the chunk: {_describe(exc)}")
        return
    for chunk in chunks:
        yield from _chunk_events(chunk)


def _chunk_events(chunk: Any) -> Iterator[tuple[int, EventFields] | BackendError]:
    renderer, records, failures = _RecordRenderer(), chunk.records(), 0
    while failures < MAX_CONSECUTIVE_ERRORS:
        try:
            record = next(records)
        except StopIteration:
            return
        except Exception as exc:  # a generator that raised is finished
            yield BackendError(_describe(exc))
            return
        number: int | None = None
        try:
            number = int(record.record_num())
            xml = renderer.xml(record.root())
            if _UNSAFE.search(xml) and not _PARKED.search(xml):
                fields = _show(fields_from_xml(xml.translate(_HIDE)))
            else:
                fields = fields_from_xml(xml)
        except Exception as exc:
            failures += 1
            yield BackendError(_describe(exc), number)
            continue
        failures = 0
        yield number, fields
    yield BackendError(f"gave up on the chunk after {MAX_CONSECUTIVE_ERRORS} consecutive errors")
