"""python-evtx backend: walk its binary-XML node tree and render canonical XML ourselves.

python-evtx's own ``record.xml()`` spells typed values its own way (base64 binary, ``{guid}``,
``True``, zero-padded hex, ``str(datetime)``, ``<string>`` markup for string arrays). Rather
than patch that text, this module compiles each template python-evtx parsed (elements,
attributes, literal values, substitution slots), reads every substitution value from its raw
bytes, and writes it exactly as pyevtx-rs does. The XML goes through the reference normalizer,
so both backends yield identical :class:`EventFields` for every record both can read.
"""

from __future__ import annotations

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

_NULL, _WSTRING, _ANSI, _BOOL, _BXML, _ARRAY = 0x00, 0x01, 0x02, 0x0D, 0x21, 0x80
_FILETIME_EPOCH = datetime(1601, 1, 1)


class RenderError(ValueError):
    """The record's binary XML does not form a renderable event."""


@dataclass(frozen=True)
class Sub:
    """A substitution slot in a template: which value, and whether a null value removes it."""

    index: int
    conditional: bool


#: Character data: escaped literal text or a substitution slot.
Piece = str | Sub


@dataclass(frozen=True)
class Element:
    """A compiled template element: tag, attributes (name, value pieces) and content."""

    tag: str
    attributes: tuple[tuple[str, tuple[Piece, ...]], ...]
    content: tuple[Element | Piece, ...]


@dataclass(frozen=True)
class Value:
    """One substitution value: its type code and raw bytes (or a nested root for BinXml)."""

    type: int
    raw: bytes
    root: Any = None  # Evtx.Nodes.RootNode for BinXml values


# --- value text, in pyevtx-rs' spelling -------------------------------------------------------


def _escape(text: str, attribute: bool = False) -> str:
    """XML-escape text; in attributes also quotes and the whitespace XML would normalize."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if attribute:
        text = text.replace('"', "&quot;").replace("\t", "&#9;").replace("\n", "&#10;")
        text = text.replace("\r", "&#13;")
    return text


def _utf16(raw: bytes) -> str:
    """UTF-16LE text up to the first NUL (lone surrogates become U+FFFD)."""
    text = raw[: len(raw) & ~1].decode("utf-16-le", "replace")
    return text.split("\x00", 1)[0]


def _ansi(raw: bytes) -> str:
    return raw.split(b"\x00", 1)[0].decode("utf-8", "replace")


def _float(value: float) -> str:
    """Shortest round-trip digits, like Rust's ``Display`` for floats (no exponent)."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "inf" if value > 0 else "-inf"
    text = repr(value)
    if "e" in text or "E" in text:
        text = format(value, "f") if abs(value) >= 1 else _small_float(text)
    return text[:-2] if text.endswith(".0") else text


def _small_float(text: str) -> str:
    mantissa, exponent = text.split("e")
    sign = "-" if mantissa.startswith("-") else ""
    digits = mantissa.lstrip("-").replace(".", "")
    return f"{sign}0.{'0' * (-int(exponent) - 1)}{digits}"


def _f32(raw: bytes) -> str:
    value = struct.unpack("<f", raw[:4])[0]
    for digits in range(1, 10):  # shortest text that reads back to the same f32
        text = f"{value:.{digits}g}"
        if struct.unpack("<f", struct.pack("<f", float(text)))[0] == value:
            return _float(float(text))
    return _float(value)


def _guid(raw: bytes) -> str:
    d1, d2, d3 = struct.unpack_from("<IHH", raw)
    tail = raw[8:16].hex().upper()
    return f"{d1:08X}-{d2:04X}-{d3:04X}-{tail[:4]}-{tail[4:]}"


def _sid(raw: bytes) -> str:
    revision, count = raw[0], raw[1]
    authority = int.from_bytes(raw[2:8], "big")
    subs = struct.unpack_from(f"<{count}I", raw, 8)
    return "-".join(["S", str(revision), str(authority), *map(str, subs)])


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _filetime(raw: bytes) -> str:
    ticks = struct.unpack_from("<Q", raw)[0]
    return _iso(_FILETIME_EPOCH + timedelta(microseconds=ticks // 10))


def _systemtime(raw: bytes) -> str:
    year, month, _dow, day, hour, minute, second, millis = struct.unpack_from("<8H", raw)
    return _iso(datetime(year, month, day, hour, minute, second, millis * 1000))


def _int(fmt: str) -> Callable[[bytes], str]:
    return lambda raw: str(struct.unpack_from(fmt, raw)[0])


def _hex(fmt: str) -> Callable[[bytes], str]:
    return lambda raw: f"0x{struct.unpack_from(fmt, raw)[0]:x}"


#: Fixed-size type code -> (item size, formatter). Arrays (code | 0x80) repeat the item.
_SCALARS: dict[int, tuple[int, Callable[[bytes], str]]] = {
    0x03: (1, _int("<b")),
    0x04: (1, _int("<B")),
    0x05: (2, _int("<h")),
    0x06: (2, _int("<H")),
    0x07: (4, _int("<i")),
    0x08: (4, _int("<I")),
    0x09: (8, _int("<q")),
    0x0A: (8, _int("<Q")),
    0x0B: (4, _f32),
    0x0C: (8, lambda raw: _float(struct.unpack_from("<d", raw)[0])),
    0x0D: (4, lambda raw: "true" if struct.unpack_from("<i", raw)[0] else "false"),
    0x0F: (16, _guid),
    0x11: (8, _filetime),
    0x12: (16, _systemtime),
    0x14: (4, _hex("<I")),
    0x15: (8, _hex("<Q")),
}


def value_text(value_type: int, raw: bytes) -> str:
    """The text pyevtx-rs writes for one non-BinXml value (unescaped)."""
    if value_type == _NULL:
        return ""
    if value_type == _WSTRING:
        return _utf16(raw)
    if value_type == _ANSI:
        return _ansi(raw)
    if value_type == 0x0E:
        return raw.hex().upper()
    if value_type == 0x10:  # size_t: hex of its stored width
        return _hex("<I" if len(raw) == 4 else "<Q")(raw)
    if value_type == 0x13:
        return _sid(raw)
    if value_type == _ARRAY | _WSTRING:
        text = raw[: len(raw) & ~1].decode("utf-16-le", "replace")
        return ",".join(text.removesuffix("\x00").split("\x00"))
    if value_type in _SCALARS:
        size, fmt = _SCALARS[value_type]
        if len(raw) < size:
            raise RenderError(f"value type {value_type:#x} needs {size} bytes, has {len(raw)}")
        return fmt(raw)
    if value_type & _ARRAY and value_type & ~_ARRAY in _SCALARS:
        size, fmt = _SCALARS[value_type & ~_ARRAY]
        return ",".join(fmt(raw[i : i + size]) for i in range(0, len(raw) - size + 1, size))
    raise RenderError(f"unsupported value type {value_type:#x}")


# --- templates and records --------------------------------------------------------------------


def _literal(node: Any) -> str:
    """Escaped text of a value token inside a template (usually a length-prefixed string)."""
    value = node.children()[0]
    if node.type() == _WSTRING:
        return _escape(str(value.string()).split("\x00", 1)[0])
    return _escape(value_text(node.type(), value.unpack_binary(0, value.length())))


def _compile(nodes: list[Any], nodes_module: Any) -> tuple[Element | Piece, ...]:
    """Compile python-evtx template nodes to :class:`Element` / text / slot items."""
    n = nodes_module
    out: list[Element | Piece] = []
    for node in nodes:
        if isinstance(node, n.OpenStartElementNode):
            attributes: list[tuple[str, tuple[Piece, ...]]] = []
            content: list[Any] = []
            for child in node.children():
                if isinstance(child, n.AttributeNode):
                    name = str(child.attribute_name().string())
                    pieces = _compile([child.attribute_value()], n)
                    attributes.append((name, tuple(p for p in pieces if isinstance(p, str | Sub))))
                else:
                    content.append(child)
            tag = str(node.tag_name())
            out.append(Element(tag, tuple(attributes), _compile(content, n)))
        elif isinstance(node, n.ValueNode):
            out.append(_literal(node))
        elif isinstance(node, n.NormalSubstitutionNode | n.ConditionalSubstitutionNode):
            out.append(Sub(int(node.index()), isinstance(node, n.ConditionalSubstitutionNode)))
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

    def _template(self, root: Any) -> tuple[Element | Piece, ...]:
        offset = int(root.template_instance().template_offset())
        compiled = self._templates.get(offset)
        if compiled is None:
            compiled = _compile(root.template().children(), self._nodes)
            self._templates[offset] = compiled
        return compiled

    def _values(self, root: Any) -> list[Value]:
        """The substitution array that follows the template instance (read from raw bytes)."""
        offset = int(root.tag_and_children_length())
        count = int(root.unpack_dword(offset))
        if count > 0xFFFF:
            raise RenderError(f"implausible substitution count {count}")
        declared = root.unpack_binary(offset + 4, 4 * count)
        offset += 4 + 4 * count
        values: list[Value] = []
        for size, value_type, _pad in struct.iter_unpack("<HBB", declared):
            raw = root.unpack_binary(offset, size)
            nested = None
            if value_type == _BXML and size:
                # python-evtx keeps buffer and chunk private; a nested root needs both.
                nested = self._nodes.RootNode(root._buf, root.offset() + offset, root._chunk, root)
            values.append(Value(value_type, raw, nested))
            offset += size
        return values

    def _root(self, root: Any, out: list[str], depth: int) -> None:
        if depth > MAX_DEPTH:
            raise RenderError("BinXml nested too deeply")
        values = self._values(root)
        self._content(self._template(root), values, out, depth)

    def _content(
        self, items: tuple[Element | Piece, ...], values: list[Value], out: list[str], depth: int
    ) -> None:
        for item in items:
            if isinstance(item, str):
                out.append(item)
            elif isinstance(item, Sub):
                value = self._value(item, values)
                if value.type == _BXML:
                    if value.root is not None:
                        self._root(value.root, out, depth + 1)
                else:
                    out.append(_escape(value_text(value.type, value.raw)))
            else:
                self._element(item, values, out, depth)

    def _element(self, element: Element, values: list[Value], out: list[str], depth: int) -> None:
        out.append(f"<{element.tag}")
        for name, pieces in element.attributes:
            text = self._attribute(pieces, values)
            if text is not None:
                out.append(f' {name}="{text}"')
        out.append(">")
        self._content(element.content, values, out, depth)
        out.append(f"</{element.tag}>")

    def _attribute(self, pieces: tuple[Piece, ...], values: list[Value]) -> str | None:
        """An attribute's escaped value, or None when its only substitution is null."""
        parts: list[str] = []
        for piece in pieces:
            if isinstance(piece, str):
                parts.append(piece.replace('"', "&quot;"))
                continue
            value = self._value(piece, values)
            if value.type == _NULL and len(pieces) == 1:
                return None
            if value.type != _BXML:
                parts.append(_escape(value_text(value.type, value.raw), attribute=True))
        return "".join(parts)

    @staticmethod
    def _value(slot: Sub, values: list[Value]) -> Value:
        if slot.index >= len(values):
            raise RenderError(f"substitution {slot.index} of {len(values)}")
        return values[slot.index]


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
    renderer = _RecordRenderer()
    records = chunk.records()
    failures = 0
    while failures < MAX_CONSECUTIVE_ERRORS:
        try:
            record = next(records)
        except StopIteration:
            return
        except Exception as exc:  # the generator is finished after any error
            yield BackendError(_describe(exc))
            return
        number: int | None = None
        try:
            number = int(record.record_num())
            fields = fields_from_xml(renderer.xml(record.root()))
        except Exception as exc:
            failures += 1
            yield BackendError(_describe(exc), number)
            continue
        failures = 0
        yield number, fields
    yield BackendError(f"gave up on the chunk after {MAX_CONSECUTIVE_ERRORS} consecutive errors")
