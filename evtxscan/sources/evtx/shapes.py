"""Record shapes: records with the same template and the same System value descriptors.

Records of one template differ in their values, but their value *descriptors* (size and
type of each System value) take only a few forms: an optional value present or NULL, a SID
of one length or another. Records sharing template and descriptors share a shape, and a
shape fixes where each System field's value sits in the value data and how to read it. The
index derives that once per shape (a few thousand in a 200-host collection, kept across
batches), so reading a field for all records is one gather of offsets and one of values.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from evtxscan.sources.evtx.arrays import Reader, dictionary_codes
from evtxscan.sources.evtx.binxml import ARRAY_FLAG, FIXED_SIZES, VALUE_COUNT, ValueType
from evtxscan.sources.evtx.instances import TemplateCache
from evtxscan.sources.evtx.system_plan import FIELD_PLACES, Source

FIELDS = tuple(FIELD_PLACES)
COLUMN = {name: column for column, name in enumerate(FIELDS)}
#: Fields read as numbers, with the width of their schema column in bits.
NUMBER_BITS = {
    "event_id": 16,
    "qualifiers": 16,
    "version": 8,
    "level": 8,
    "task": 16,
    "opcode": 8,
    "keywords": 64,
    "event_record_id": 64,
    "process_id": 32,
    "thread_id": 32,
}
TEXT_FIELDS = ("provider", "provider_guid", "event_source_name", "channel", "computer", "user_sid")
#: Value types a number field reads column-wise (the value is the number the text shows);
#: Keywords' text is read as hexadecimal, so only the hex types qualify there.
_NUMBER_TYPES = frozenset(
    {
        ValueType.UINT8,
        ValueType.UINT16,
        ValueType.UINT32,
        ValueType.UINT64,
        ValueType.HEXINT32,
        ValueType.HEXINT64,
    }
)
_HEX_TYPES = frozenset({ValueType.HEXINT32, ValueType.HEXINT64})


class Code(IntEnum):
    """How one field of one shape is read."""

    ABSENT = 0  # not in the template
    CONSTANT = 1  # literal text of the template
    VALUE = 2  # a value of the expected type and size: read column-wise
    OTHER = 3  # a value of another type: converted one by one through its text
    NULL = 4  # a NULL value (an attribute is left out, an element is empty)
    MISSING = 5  # the template refers to a value the record does not have
    REFUSED = 6  # an array or nested BinXml: only the renderer handles it


@dataclass(frozen=True)
class Shape:
    """Per System field (in :data:`FIELDS` order): code, value offset, size and type."""

    template: int
    code: tuple[int, ...]
    offset: tuple[int, ...]  # from the instance's first value byte
    size: tuple[int, ...]
    type: tuple[int, ...]


@dataclass(frozen=True)
class Shapes:
    """Distinct shapes of a batch and, per record, which one it has (arrays per field)."""

    of: np.ndarray  # per record: shape number
    template: np.ndarray  # per shape: template id
    code: np.ndarray  # (shapes, fields) int8
    offset: np.ndarray  # (shapes, fields) int64
    size: np.ndarray  # (shapes, fields) int64
    type: np.ndarray  # (shapes, fields) int16


def record_shapes(
    reader: Reader,
    cache: TemplateCache,
    template: np.ndarray,
    values_at: np.ndarray,
    count: np.ndarray,
) -> Shapes:
    """The shape of each record (template ids ``template``, value arrays at ``values_at``)."""
    used = np.flatnonzero(np.bincount(template)).tolist() if len(template) else []
    slots = [plan.slot for t in used for plan in cache.entries[t].system.fields.values()]
    width = 1 + max(slots, default=0)
    n = len(template)
    key = np.zeros((n, width + 2), dtype=np.uint32)
    key[:, 0] = template
    key[:, 1] = np.minimum(count, width)
    first = values_at + VALUE_COUNT.size
    room = len(reader.buf) - 4 * width
    if n and room >= 0:
        words = reader.u32_rows(np.minimum(first, room), width)
    else:
        words = np.zeros((n, width), dtype=np.uint32)
    for row in np.flatnonzero(first > room).tolist():  # at the buffer's very end
        inside = max(0, (len(reader.buf) - int(first[row])) // 4)
        known = min(int(count[row]), width, inside)
        words[row] = 0
        words[row, :known] = reader.u32(first[row] + 4 * np.arange(known))
    words[np.arange(width) >= count[:, None]] = 0
    key[:, 2:] = words
    array = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(4 * (width + 2)), n, [None, pa.py_buffer(key)]
    )
    encoded = pc.dictionary_encode(array)
    shapes = [_shape(cache, bytes(raw)) for raw in encoded.dictionary.to_pylist()]
    return Shapes(
        of=dictionary_codes(encoded).astype(np.int64),
        template=np.array([s.template for s in shapes], dtype=np.int64),
        code=np.array([s.code for s in shapes], dtype=np.int8).reshape(-1, len(FIELDS)),
        offset=np.array([s.offset for s in shapes], dtype=np.int64).reshape(-1, len(FIELDS)),
        size=np.array([s.size for s in shapes], dtype=np.int64).reshape(-1, len(FIELDS)),
        type=np.array([s.type for s in shapes], dtype=np.int16).reshape(-1, len(FIELDS)),
    )


def _shape(cache: TemplateCache, key: bytes) -> Shape:
    """The shape of ``key`` (template id, value count, descriptors), derived once per System
    layout and descriptors: templates differing only in literal text share it."""
    found = cache.shapes.get(key)
    if not isinstance(found, Shape):
        template = int.from_bytes(key[:4], "little")
        layout = (cache.entries[template].system.layout, key[4:])
        shared = cache.shapes.get(layout)
        if not isinstance(shared, Shape):
            shared = cache.shapes[layout] = _derive(cache, key)
        found = Shape(template, shared.code, shared.offset, shared.size, shared.type)
        cache.shapes[key] = found
    return found


def _derive(cache: TemplateCache, key: bytes) -> Shape:
    """Where each System field of records with this key is (see :class:`Code`)."""
    words = np.frombuffer(key, dtype="<u4").tolist()
    template, count, descriptors = words[0], words[1], words[2:]
    sizes = [word & 0xFFFF for word in descriptors[:count]]
    types = [(word >> 16) & 0xFF for word in descriptors[:count]]
    starts = np.concatenate([[0], np.cumsum(sizes)]).tolist()
    fields = cache.entries[template].system.fields
    code, offset, size, kind = [], [], [], []
    for name in FIELDS:
        plan = fields[name]
        where = (0, 0, 0)
        if plan.source is Source.ABSENT:
            found = Code.ABSENT
        elif plan.source is Source.CONSTANT:
            found = Code.CONSTANT
        elif plan.slot >= count:
            found = Code.MISSING
        else:
            where = (starts[plan.slot], sizes[plan.slot], types[plan.slot])
            found = _value_code(name, where[2], where[1])
        code.append(found)
        offset.append(where[0])
        size.append(where[1])
        kind.append(where[2])
    return Shape(template, tuple(code), tuple(offset), tuple(size), tuple(kind))


def _value_code(name: str, value_type: int, size: int) -> Code:
    if value_type == ValueType.NULL:
        return Code.NULL
    if value_type & ARRAY_FLAG or value_type == ValueType.BINXML:
        return Code.REFUSED
    if name in NUMBER_BITS:
        usable = _HEX_TYPES if name == "keywords" else _NUMBER_TYPES
        fits = value_type in usable and size == FIXED_SIZES[value_type]
        return Code.VALUE if fits else Code.OTHER
    if name == "time_created":
        return Code.VALUE if value_type == ValueType.FILETIME and size == 8 else Code.OTHER
    return Code.VALUE  # texts: each distinct value converted once, whatever its type
