"""python-evtx backend: walk its binary-XML node tree and render canonical XML ourselves.

python-evtx's ``record.xml()`` spells typed values its own way (base64 binary, ``{guid}``,
``True``, padded hex, ``str(datetime)``...). So we compile each template python-evtx parsed,
read each substitution value's raw bytes, write it as pyevtx-rs 0.14 does (rules measured by
patching values into real records) and use the reference normalizer: both backends then yield
the same :class:`EventFields` for every record both can read.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from Evtx import Nodes
from Evtx.Evtx import FileHeader

from evtxscan.records.event_xml import fields_from_xml
from evtxscan.records.schema import EventFields
from evtxscan.sources.evtx.binxml import ARRAY_FLAG, VALUE_DESCRIPTOR, ValueType
from evtxscan.sources.evtx.chunk_events import MAX_CONSECUTIVE_ERRORS, BackendError, ChunkEvents
from evtxscan.sources.evtx.cpu_limit import CpuLimitExceeded, cpu_limit
from evtxscan.sources.evtx.value_text import FIXED_SCALARS, array_items, value_text

#: Nested BinXml deeper than this is treated as corrupt (guards against reference loops).
MAX_DEPTH = 16
#: CPU seconds python-evtx may spend on one record (a real one takes milliseconds).
RECORD_CPU_SECONDS = 1.0
# python-evtx logs damage it skips ("Unexpected token encountered") to stderr through the
# root logger's last resort; the reader reports damage in the file's integrity row instead.
logging.getLogger("Evtx").setLevel(logging.ERROR)
MAX_PIECES = 100_000  # output pieces of one record: array values multiply its elements

_WSTRING, _ANSI, _SID, _BXML = (
    ValueType.STRING,
    ValueType.ANSI_STRING,
    ValueType.SID,
    ValueType.BINXML,
)
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
    if value_type in FIXED_SCALARS and size < FIXED_SCALARS[value_type][0]:
        raw = root.unpack_binary(offset, FIXED_SCALARS[value_type][0])
    elif value_type == _SID and len(raw) >= 2 and size < 8 + 4 * raw[1]:
        raw = root.unpack_binary(offset, 8 + 4 * raw[1])
    elif value_type == ARRAY_FLAG | _WSTRING:
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
    for size, value_type, _pad in VALUE_DESCRIPTOR.iter_unpack(declared):
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
            items = array_items(values[item].type, values[item].raw)
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
        if len(self._out) > MAX_PIECES:  # a real record has a few hundred
            raise ValueError(f"renders to over {MAX_PIECES} pieces (damaged template?)")
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


def describe(exc: BaseException) -> str:
    """A short, bounded description of a python-evtx exception. Its ``repr`` may hold the
    repr of a whole chunk buffer (``Block``), or recurse without end (``Block.__str__``): one
    such message per damaged record used gigabytes."""
    parts = []
    value = getattr(exc, "_value", None)  # python-evtx keeps its message there, not in args
    for arg in exc.args[:3] or ([value] if isinstance(value, str) else []):
        if isinstance(arg, str):
            parts.append(repr(arg[:_MESSAGE_CHARS]))
        elif isinstance(arg, int) and arg.bit_length() <= 64:
            parts.append(str(arg))
        else:
            parts.append(f"<{type(arg).__name__}>")
    return f"{type(exc).__name__}({', '.join(parts)})"


_MESSAGE_CHARS = 200


def python_chunk_events(image: bytes) -> ChunkEvents:
    """``(record number, fields)`` per record of a chunk image, or a :class:`BackendError`.

    Never raises: python-evtx signals bad data with many exception types (overruns,
    ``KeyError``, ``UnicodeDecodeError``...), so each record is rendered under a broad guard.
    """
    try:
        chunks = list(FileHeader(image, 0).chunks())
    except Exception as exc:
        yield BackendError(f"python-evtx could not open the chunk: {describe(exc)}")
        return
    for chunk in chunks:
        renderer, records, failures = _RecordRenderer(), chunk.records(), 0
        while failures < MAX_CONSECUTIVE_ERRORS:
            try:
                record = next(records)
            except StopIteration:
                break
            except Exception as exc:  # a generator that raised is finished
                yield BackendError(f"python-evtx: {describe(exc)}")
                break
            number: int | None = None
            try:
                number = int(record.record_num())
                with cpu_limit(RECORD_CPU_SECONDS):
                    xml = renderer.xml(record.root())
                fields = _parse(xml)
            except CpuLimitExceeded as exc:
                failures += 1
                yield BackendError(
                    f"python-evtx: gave up on a record after {exc.reason} (damaged template?)",
                    number,
                )
                continue
            except Exception as exc:
                failures += 1
                yield BackendError(f"python-evtx: {describe(exc)}", number)
                continue
            failures = 0
            yield number, fields
        else:
            yield BackendError(f"gave up on a chunk after {MAX_CONSECUTIVE_ERRORS} errors in a row")
