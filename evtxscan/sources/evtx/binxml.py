"""Binary XML (BinXml) as stored in EVTX chunks: tokens, value types and their layouts.

Declared once here for every reader and writer of the format: the python-evtx backend's
value rendering, the record index and on-demand decoder, and the test writer
(:mod:`evtxscan.synth.binxml`). An event record's data is a BinXml fragment: a fragment
header, then (almost always) one template instance: a template definition, stored inline
the first time a chunk uses it and referenced by chunk offset afterwards, followed by the
instance's typed substitution values. Element and attribute names are stored once per chunk
and referenced by offset. Layout facts follow libyal's "Windows XML Event Log (EVTX)" format
description and [MS-EVEN6] 2.2.12.
"""

from __future__ import annotations

import struct
from enum import IntEnum


class Token(IntEnum):
    """BinXml token codes (low nibble; :data:`MORE_BIT` may be set on some)."""

    END_OF_STREAM = 0x00
    OPEN_START_ELEMENT = 0x01
    CLOSE_START_ELEMENT = 0x02
    CLOSE_EMPTY_ELEMENT = 0x03
    END_ELEMENT = 0x04
    VALUE = 0x05
    ATTRIBUTE = 0x06
    CDATA_SECTION = 0x07
    CHAR_REFERENCE = 0x08
    ENTITY_REFERENCE = 0x09
    PI_TARGET = 0x0A
    PI_DATA = 0x0B
    TEMPLATE_INSTANCE = 0x0C
    NORMAL_SUBSTITUTION = 0x0D
    OPTIONAL_SUBSTITUTION = 0x0E
    FRAGMENT_HEADER = 0x0F


#: Set on an open-start-element token when attributes follow, on an attribute token when
#: another attribute follows, on a value/CDATA/reference token when more content follows.
MORE_BIT = 0x40


class ValueType(IntEnum):
    """Types of substitution values and literal values ([MS-EVEN6] 2.2.12, libyal)."""

    NULL = 0x00
    STRING = 0x01  # UTF-16LE
    ANSI_STRING = 0x02
    INT8 = 0x03
    UINT8 = 0x04
    INT16 = 0x05
    UINT16 = 0x06
    INT32 = 0x07
    UINT32 = 0x08
    INT64 = 0x09
    UINT64 = 0x0A
    REAL32 = 0x0B
    REAL64 = 0x0C
    BOOL = 0x0D  # 32-bit
    BINARY = 0x0E
    GUID = 0x0F
    SIZE_T = 0x10  # 32 or 64 bits, shown in hex
    FILETIME = 0x11
    SYSTEMTIME = 0x12
    SID = 0x13
    HEXINT32 = 0x14
    HEXINT64 = 0x15
    EVT_HANDLE = 0x20
    BINXML = 0x21  # a nested BinXml fragment (its own template instance)
    EVT_XML = 0x23


#: Or-ed into a value type: an array of that type (strings NUL-separated, others packed).
ARRAY_FLAG = 0x80

#: Sizes of the fixed-size value types.
FIXED_SIZES: dict[int, int] = {
    ValueType.INT8: 1,
    ValueType.UINT8: 1,
    ValueType.INT16: 2,
    ValueType.UINT16: 2,
    ValueType.INT32: 4,
    ValueType.UINT32: 4,
    ValueType.INT64: 8,
    ValueType.UINT64: 8,
    ValueType.REAL32: 4,
    ValueType.REAL64: 8,
    ValueType.BOOL: 4,
    ValueType.GUID: 16,
    ValueType.FILETIME: 8,
    ValueType.SYSTEMTIME: 16,
    ValueType.HEXINT32: 4,
    ValueType.HEXINT64: 8,
}

#: Version 1.1 fragment header (token, major, minor, flags) that starts every fragment.
FRAGMENT_HEADER = b"\x0f\x01\x01\x00"

#: Template instance: token, an unknown byte (1), template id (the GUID's first 4 bytes),
#: offset of the template definition in the chunk.
TEMPLATE_INSTANCE = struct.Struct("<BBII")
#: Template definition header, at the definition offset: offset of the next template in its
#: hash bucket, GUID, size of the definition's BinXml (fragment header to end of stream).
TEMPLATE_DEFINITION = struct.Struct("<I16sI")
#: After the template: the number of values, then one descriptor per value (size, type,
#: padding byte), then the values' bytes back to back.
VALUE_COUNT = struct.Struct("<I")
VALUE_DESCRIPTOR = struct.Struct("<HBB")

#: Open start element in a template: token, dependency id, data size; a name reference
#: follows, then (with :data:`MORE_BIT` set) the attribute list's size.
OPEN_START_ELEMENT = struct.Struct("<BHI")
ATTRIBUTE_LIST_SIZE = struct.Struct("<I")
#: A name reference (after an element, attribute, entity reference or PI target token): the
#: chunk offset of the name. The name is inline (follows the reference) when that offset is
#: the offset right after the reference; otherwise it was stored earlier in the chunk.
NAME_OFFSET = struct.Struct("<I")
#: A name stored in the chunk: offset of the next name in its bucket, hash, length in UTF-16
#: code units; the characters and a NUL follow.
NAME_HEADER = struct.Struct("<IHH")
#: Literal value: token, value type; a STRING value is a u16 length then UTF-16 characters.
VALUE_HEADER = struct.Struct("<BB")
#: Counted UTF-16 text (string values, CDATA sections, PI data): length in code units.
TEXT_LENGTH = struct.Struct("<H")
#: Character reference: token, code point.
CHAR_REFERENCE = struct.Struct("<BH")
#: Substitution (normal or optional): token, value index, value type.
SUBSTITUTION = struct.Struct("<BHB")

#: Buckets of the chunk header's name and template offset tables.
STRING_BUCKETS = 64
TEMPLATE_BUCKETS = 32


def u16(data: bytes, at: int) -> int:
    """The little-endian 16-bit number at ``at`` (for the Python token walks; arrays have
    their own readers)."""
    return data[at] | data[at + 1] << 8


def name_hash(name: str) -> int:
    """The 16-bit name hash: ``h = h * 65599 + code unit`` over the UTF-16 string, low word."""
    h = 0
    for (unit,) in struct.iter_unpack("<H", name.encode("utf-16-le")):
        h = (h * 65599 + unit) & 0xFFFFFFFF
    return h & 0xFFFF
