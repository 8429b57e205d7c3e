"""Binary XML (BinXml) encoding of one event record, as Windows writes it into an EVTX chunk.

A record is a fragment holding one template instance: the template definition (an element
tree whose variable parts are substitution tokens) is written inline on first use in a chunk
and referenced by its chunk offset afterwards; a typed value array follows. Element and
attribute names are stored once per chunk and referenced by offset, indexed by the chunk
header's 64-bucket string table; templates by its 32-bucket table. The tokens, value types
and layouts are those the readers use (:mod:`evtxscan.sources.evtx.binxml`).
"""

from __future__ import annotations

import hashlib
import re
import struct
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from evtxscan.records.filetime import FILETIME_EPOCH
from evtxscan.sources.evtx.binxml import (
    FRAGMENT_HEADER,
    MORE_BIT,
    NAME_HEADER,
    NAME_OFFSET,
    OPEN_START_ELEMENT,
    STRING_BUCKETS,
    SUBSTITUTION,
    TEMPLATE_BUCKETS,
    TEMPLATE_DEFINITION,
    TEMPLATE_INSTANCE,
    TEXT_LENGTH,
    VALUE_COUNT,
    VALUE_DESCRIPTOR,
    VALUE_HEADER,
    Token,
    ValueType,
    name_hash,
)

_MAX_U16 = 0xFFFF
_U32 = struct.Struct("<I")
_SID_PATTERN = re.compile(r"^S-1-(\d+|0[xX][0-9A-Fa-f]{1,12})((?:-\d+){0,15})$")


def _check_int(value: object, low: int, high: int, what: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError(f"{what} must be an integer in {low}..{high}, got {value!r}")


@dataclass(frozen=True)
class HexInt32:
    """An unsigned 32-bit integer stored as HexInt32 (rendered ``0x...``)."""

    value: int

    def __post_init__(self) -> None:
        _check_int(self.value, 0, 2**32 - 1, "HexInt32")


@dataclass(frozen=True)
class HexInt64:
    """An unsigned 64-bit integer stored as HexInt64 (rendered ``0x...``)."""

    value: int

    def __post_init__(self) -> None:
        _check_int(self.value, 0, 2**64 - 1, "HexInt64")


@dataclass(frozen=True)
class Sid:
    """A security identifier in its ``S-1-...`` text form, stored as the binary SID type."""

    value: str

    def __post_init__(self) -> None:
        if not isinstance(self.value, str) or not _SID_PATTERN.match(self.value):
            raise ValueError(f"not a SID string: {self.value!r}")
        if any(int(part) >= 2**32 for part in self.value.split("-")[3:]):
            raise ValueError(f"SID sub-authority out of range: {self.value!r}")

    def to_bytes(self) -> bytes:
        """Revision, sub-authority count, 48-bit big-endian authority, 32-bit sub-authorities."""
        parts = self.value.split("-")
        authority = int(parts[2], 0)
        if authority >= 2**48:
            raise ValueError(f"SID authority out of range: {self.value!r}")
        subs = [int(part) for part in parts[3:]]
        head = bytes([1, len(subs)]) + authority.to_bytes(6, "big")
        return head + b"".join(struct.pack("<I", sub) for sub in subs)


#: A value of an EventData ``<Data>`` or UserData element, each stored with its own value type.
DataValue = str | int | bool | bytes | uuid.UUID | datetime | HexInt32 | HexInt64 | Sid


@dataclass(frozen=True)
class Value:
    """One typed entry of a template instance's value array (``NULL`` with no data = absent)."""

    type: int
    data: bytes = b""

    def __post_init__(self) -> None:
        _check_int(self.type, 0, 0xFF, "value type")
        object.__setattr__(self, "type", int(self.type))  # a plain int: reprs name templates
        if len(self.data) > _MAX_U16:
            raise ValueError(f"substitution value of {len(self.data)} bytes exceeds 65535")


NULL_VALUE = Value(ValueType.NULL)


@dataclass(frozen=True)
class Text:
    """Literal text in a template (an attribute value or element content)."""

    text: str


@dataclass(frozen=True)
class Sub:
    """A substitution token: value ``index`` of the instance's array, expected of ``type``.

    ``optional`` substitutions (token 0x0E) are dropped by readers when the value is NULL.
    """

    index: int
    type: int
    optional: bool = True

    def __post_init__(self) -> None:
        _check_int(self.index, 0, _MAX_U16, "substitution index")
        _check_int(self.type, 0, 0xFF, "value type")
        object.__setattr__(self, "type", int(self.type))  # a plain int: reprs name templates


@dataclass(frozen=True)
class Element:
    """A template element; no children means an empty element (``<Name .../>``)."""

    name: str
    attrs: tuple[tuple[str, Text | Sub], ...] = ()
    children: tuple[Element | Text | Sub, ...] = ()


def filetime(when: datetime) -> int:
    """100 ns intervals since 1601-01-01 UTC; a naive ``when`` is taken as UTC."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = when - FILETIME_EPOCH
    ticks = (delta.days * 86400 + delta.seconds) * 10_000_000 + delta.microseconds * 10
    if ticks < 0:
        raise ValueError(f"time before 1601-01-01: {when!r}")
    return ticks


def _utf16(text: str) -> bytes:
    return text.encode("utf-16-le")


_UINT_FORMATS = {
    ValueType.UINT8: "<B",
    ValueType.UINT16: "<H",
    ValueType.UINT32: "<I",
    ValueType.UINT64: "<Q",
    ValueType.HEXINT64: "<Q",
}


def uint(value_type: int, value: int) -> Value:
    """An unsigned integer of the given System value type (UInt8/16/32/64, HexInt64)."""
    fmt = _UINT_FORMATS[ValueType(value_type)]
    return Value(value_type, struct.pack(fmt, value))


def string_value(text: str) -> Value:
    """A UTF-16 string value, stored without an end-of-string character."""
    return Value(ValueType.STRING, _utf16(text))


def guid_value(guid: uuid.UUID) -> Value:
    """A GUID value (little-endian fields, as Windows stores it)."""
    return Value(ValueType.GUID, guid.bytes_le)


def encode_value(value: DataValue) -> Value:
    """The typed substitution value for one EventData/UserData value.

    str -> String, bool -> Boolean, int -> UInt32 when 0 <= v < 2**32, Int64 when it fits,
    else UInt64; bytes -> Binary, UUID -> Guid, datetime -> FileTime, Sid -> SID,
    HexInt32/HexInt64 -> the hex integer types.
    """
    if isinstance(value, str):
        return string_value(value)
    if isinstance(value, bool):
        return Value(ValueType.BOOL, struct.pack("<I", int(value)))
    if isinstance(value, int):
        if 0 <= value < 2**32:
            return Value(ValueType.UINT32, struct.pack("<I", value))
        if -(2**63) <= value < 2**63:
            return Value(ValueType.INT64, struct.pack("<q", value))
        if 0 <= value < 2**64:
            return Value(ValueType.UINT64, struct.pack("<Q", value))
        raise ValueError(f"integer out of the 64-bit range: {value}")
    if isinstance(value, bytes):
        return Value(ValueType.BINARY, value)
    if isinstance(value, uuid.UUID):
        return guid_value(value)
    if isinstance(value, datetime):
        return Value(ValueType.FILETIME, struct.pack("<Q", filetime(value)))
    if isinstance(value, HexInt32):
        return Value(ValueType.HEXINT32, struct.pack("<I", value.value))
    if isinstance(value, HexInt64):
        return Value(ValueType.HEXINT64, struct.pack("<Q", value.value))
    if isinstance(value, Sid):
        return Value(ValueType.SID, value.to_bytes())
    raise TypeError(f"unsupported data value type: {type(value).__name__}")


def template_guid(template: Element) -> uuid.UUID:
    """A GUID derived from the template's content, so the same input gives the same bytes."""
    digest = hashlib.blake2b(repr(template).encode("utf-8"), digest_size=16).digest()
    return uuid.UUID(bytes=digest)


class ChunkTables:
    """Names and templates already stored in one chunk, and the header tables indexing them.

    A name goes to bucket ``hash % 64``, a template to ``template id % 32`` (readers only walk
    the chains). Entries are prepended to their bucket's chain (the table points at the newest,
    whose ``next`` field holds the previous head), so nothing written earlier is patched.
    """

    def __init__(self) -> None:
        self.names: dict[str, int] = {}
        self.templates: dict[Element, tuple[int, int, int]] = {}  # offset, id, values used
        self.string_heads = [0] * STRING_BUCKETS
        self.template_heads = [0] * TEMPLATE_BUCKETS

    def copy(self) -> ChunkTables:
        """An independent copy, to encode a record that may not fit into the chunk."""
        other = ChunkTables()
        other.names = dict(self.names)
        other.templates = dict(self.templates)
        other.string_heads = list(self.string_heads)
        other.template_heads = list(self.template_heads)
        return other

    def header_tables(self) -> bytes:
        """Chunk header bytes 128..512: common string offsets, then template pointers."""
        heads = self.string_heads + self.template_heads
        return struct.pack(f"<{len(heads)}I", *heads)


class _Writer:
    """Appends BinXml tokens to a buffer that starts at chunk offset ``base``."""

    def __init__(self, tables: ChunkTables, base: int) -> None:
        self.tables = tables
        self.base = base
        self.buf = bytearray()

    def _u32_placeholder(self) -> int:
        self.buf += _U32.pack(0)
        return len(self.buf) - _U32.size

    def _patch_size(self, at: int) -> None:
        _U32.pack_into(self.buf, at, len(self.buf) - at - _U32.size)

    def name(self, name: str) -> None:
        """A name offset; the name itself follows inline when new to the chunk."""
        offset = self.tables.names.get(name)
        if offset is not None:
            self.buf += NAME_OFFSET.pack(offset)
            return
        encoded = _utf16(name)
        if not name or len(encoded) // 2 > _MAX_U16:
            raise ValueError(f"bad XML name length: {name!r}")
        offset = self.base + len(self.buf) + 4
        hashed = name_hash(name)
        bucket = hashed % STRING_BUCKETS
        head = self.tables.string_heads[bucket]
        self.buf += NAME_OFFSET.pack(offset)
        self.buf += NAME_HEADER.pack(head, hashed, len(encoded) // 2)
        self.buf += encoded + b"\x00\x00"
        self.tables.string_heads[bucket] = offset
        self.tables.names[name] = offset

    def content(self, node: Element | Text | Sub) -> None:
        if isinstance(node, Element):
            self.element(node)
        elif isinstance(node, Text):
            encoded = _utf16(node.text)
            if len(encoded) // 2 > _MAX_U16:
                raise ValueError("literal text longer than 65535 characters")
            self.buf += VALUE_HEADER.pack(Token.VALUE, ValueType.STRING)
            self.buf += TEXT_LENGTH.pack(len(encoded) // 2) + encoded
        else:
            token = Token.OPTIONAL_SUBSTITUTION if node.optional else Token.NORMAL_SUBSTITUTION
            self.buf += SUBSTITUTION.pack(token, node.index, node.type)

    def element(self, element: Element) -> None:
        """Open start element (dependency id -1, data size, name), attributes, content, end."""
        token = Token.OPEN_START_ELEMENT | (MORE_BIT if element.attrs else 0)
        self.buf += OPEN_START_ELEMENT.pack(token, 0xFFFF, 0)
        size_at = len(self.buf) - _U32.size
        self.name(element.name)
        if element.attrs:
            list_at = self._u32_placeholder()
            last = len(element.attrs) - 1
            for i, (attr_name, attr_value) in enumerate(element.attrs):
                self.buf += bytes([Token.ATTRIBUTE | (MORE_BIT if i < last else 0)])
                self.name(attr_name)
                self.content(attr_value)
            self._patch_size(list_at)
        if element.children:
            self.buf += bytes([Token.CLOSE_START_ELEMENT])
            for child in element.children:
                self.content(child)
            self.buf += bytes([Token.END_ELEMENT])
        else:
            self.buf += bytes([Token.CLOSE_EMPTY_ELEMENT])
        self._patch_size(size_at)

    def template_instance(self, template: Element) -> int:
        """Token 0x0C, template id and definition offset, the definition inline when new.

        Returns how many values the template refers to.
        """
        known = self.tables.templates.get(template)
        if known is not None:
            offset, template_id, needed = known
            self.buf += TEMPLATE_INSTANCE.pack(Token.TEMPLATE_INSTANCE, 1, template_id, offset)
            return needed
        guid = template_guid(template)
        template_id = _U32.unpack_from(guid.bytes_le)[0]
        offset = self.base + len(self.buf) + TEMPLATE_INSTANCE.size  # right after the instance
        bucket = template_id % TEMPLATE_BUCKETS
        head = self.tables.template_heads[bucket]
        self.buf += TEMPLATE_INSTANCE.pack(Token.TEMPLATE_INSTANCE, 1, template_id, offset)
        self.buf += TEMPLATE_DEFINITION.pack(head, guid.bytes_le, 0)
        size_at = len(self.buf) - _U32.size
        self.buf += FRAGMENT_HEADER
        self.element(template)
        self.buf += bytes([Token.END_OF_STREAM])
        self._patch_size(size_at)
        needed = _max_sub_index(template) + 1
        self.tables.template_heads[bucket] = offset
        self.tables.templates[template] = (offset, template_id, needed)
        return needed


def _max_sub_index(node: Element | Text | Sub) -> int:
    if isinstance(node, Sub):
        return node.index
    if isinstance(node, Text):
        return -1
    parts = [value for _, value in node.attrs] + list(node.children)
    return max((_max_sub_index(part) for part in parts), default=-1)


def encode_event(
    tables: ChunkTables, base: int, template: Element, values: tuple[Value, ...]
) -> bytes:
    """A record's BinXml: fragment header, template instance (values included), end of stream.

    ``base`` is the chunk offset the returned bytes will be stored at; ``tables`` is updated
    with the names and template this record defines.
    """
    writer = _Writer(tables, base)
    writer.buf += FRAGMENT_HEADER
    if writer.template_instance(template) > len(values):
        raise ValueError("template refers to a substitution value that is not given")
    writer.buf += VALUE_COUNT.pack(len(values))
    for value in values:
        writer.buf += VALUE_DESCRIPTOR.pack(len(value.data), value.type, 0)
    for value in values:
        writer.buf += value.data
    writer.buf += bytes([Token.END_OF_STREAM])  # the document ends after the instance
    return bytes(writer.buf)
