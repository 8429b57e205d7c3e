"""Which indexed records may hold a text in their values, judged from bytes before decoding.

A Sigma string test (``ServiceName|contains: 'AnyDesk'``) can only match a record one of
whose values holds its literal. This gate answers "may it?" for many records at once, never
"no" where a decoded record's value would hold the literal (case ignored the way RE2's
``(?i)`` ignores it), so that records it rules out need not be decoded.

A value's text comes from one of:

- a string value of the payload (EventData/UserData: the template's values outside System,
  and those of a nested template instance, read where the decoder reads them): UTF-16LE
  (ending at a NUL; unpaired surrogates are dropped) or ANSI (every NUL dropped). Strings
  are read as lower-case ASCII: characters a rendering may drop (controls, surrogates,
  U+FFFE/U+FFFF) are dropped, tab, LF and CR read as spaces (an attribute value turns them
  into spaces), U+212A and U+017F as ``k`` and ``s`` (RE2 folds them so), other characters
  as a mark no literal holds;
- another value type, rendered from numbers: digits and a few letters. A literal whose
  characters all belong to a type's spelling (``0x1f``: hex numbers) may come from it, so a
  record holding such a value passes. Arrays, handles and unknown types always pass; a
  nested BinXml value is read as the decoder reads it (one template instance: a record with
  more, or with BinXml inside that instance, passes);
- the template's own text (text and attribute values written in it), read from its parse;
  a value joined with other text in one element or attribute passes (a literal may span).

Literals are lower-case ASCII (Sigma's probe literals: letters, digits, ``_.-:/\\$@`` and
spaces); a space in one matches a run of spaces.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from functools import cached_property, lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from evtxscan.sources.evtx.arrays import Reader, binary_parts, binary_views, dictionary_codes
from evtxscan.sources.evtx.binxml import ValueType
from evtxscan.sources.evtx.index import IndexedSet
from evtxscan.sources.evtx.instances import (
    Instances,
    Problem,
    TemplateCache,
    TemplateEntry,
    ValueTable,
)
from evtxscan.sources.evtx.payload import nested_instances, nested_slots, payload_table
from evtxscan.sources.evtx.payload_assembly import Cells, fail
from evtxscan.sources.evtx.template import Literal, Node, Sub

#: Stream bytes: a dropped character, and one no literal holds (a value's end, non-ASCII).
_DROPPED, _OTHER = 0xFF, 0x01
_CONTROLS = [c for c in range(1, 0x20) if c not in (9, 10, 13)]


def _ascii_map(size: int) -> np.ndarray:
    table = np.full(size, _OTHER, dtype=np.uint8)
    printable = np.arange(0x20, 0x7F)
    table[printable] = np.frombuffer(bytes(printable.tolist()).lower(), dtype=np.uint8)
    table[[9, 10, 13]] = ord(" ")
    table[_CONTROLS] = _DROPPED
    return table


_BYTE_MAP = _ascii_map(256)
_BYTE_MAP[0] = _DROPPED  # ANSI text drops every NUL (and UTF-16 ASCII text reads as ASCII)
_UNIT_MAP = _ascii_map(1 << 16)
_UNIT_MAP[0xD800:0xE000] = _DROPPED  # unpaired surrogates are dropped (paired: not ASCII)
_UNIT_MAP[[0xFFFE, 0xFFFF]] = _DROPPED
_UNIT_MAP[0x212A], _UNIT_MAP[0x017F] = ord("k"), ord("s")  # KELVIN SIGN, LONG S

#: Value types by the characters their text may hold (``value_text``'s spellings, lower-cased).
_SPELLINGS: dict[str, tuple[int, ...]] = {
    "0123456789-": tuple(range(ValueType.INT8, ValueType.UINT64 + 1)),
    "0123456789.-+einfa": (ValueType.REAL32, ValueType.REAL64),  # 1.5e-05, NaN, -inf
    "0123456789-truefals": (ValueType.BOOL,),
    "0123456789abcdef": (ValueType.BINARY,),
    "0123456789abcdef{}-": (ValueType.GUID,),
    "0123456789abcdefx": (ValueType.SIZE_T, ValueType.HEXINT32, ValueType.HEXINT64),
    "0123456789-:.tz": (ValueType.FILETIME, ValueType.SYSTEMTIME),
    "0123456789s-": (ValueType.SID,),
    "": (ValueType.NULL, ValueType.STRING, ValueType.ANSI_STRING),  # strings: read as bytes
}
_ANY_BIT = 1 << len(_SPELLINGS)  # arrays, handles, unknown types: anything
_TYPE_BITS = np.full(256, _ANY_BIT, dtype=np.int64)
for _bit, _types in enumerate(_SPELLINGS.values()):
    _TYPE_BITS[list(_types)] = 1 << _bit
#: Outside System, BinXml is the nested instance, read as the decoder reads it; inside it,
#: BinXml is rendered by pyevtx-rs (from templates the gate does not read): anything.
_OUTER_TYPE_BITS = _TYPE_BITS.copy()
_OUTER_TYPE_BITS[ValueType.BINXML] = 0
#: Records whose value types are read at once (bounds the descriptor table's size).
_ROWS_AT_ONCE = 8192


def may_hold(
    indexed: IndexedSet,
    cache: TemplateCache,
    rows: np.ndarray,
    need: np.ndarray,
    literals: Sequence[frozenset[str]],
) -> np.ndarray:
    """For records ``rows`` of ``indexed`` (read by the index: template instances known, in
    ``cache``), whether a value of each may hold one of ``literals[need[i]]``."""
    holds = np.zeros(len(rows), dtype=bool)
    for part in np.array_split(np.arange(len(rows)), -(-len(rows) // _ROWS_AT_ONCE) or 1):
        if not len(part):
            continue
        payload = _payload(indexed, cache, rows[part])
        for number, wanted in enumerate(literals):
            mine = np.flatnonzero(need[part] == number)
            if len(mine) and wanted:
                holds[part[mine]] = payload.may_hold(cache, mine, wanted)
    return holds


@dataclass(frozen=True)
class _Strings:
    """String values of some records: owner (record position), buffer position, size, type."""

    owner: np.ndarray
    at: np.ndarray
    size: np.ndarray
    kind: np.ndarray

    def take(self, mask: np.ndarray) -> _Strings:
        return _Strings(self.owner[mask], self.at[mask], self.size[mask], self.kind[mask])

    @staticmethod
    def of(table: ValueTable, slots: np.ndarray, owners: np.ndarray) -> _Strings:
        """The string values among ``slots`` (a mask per instance of ``table``)."""
        kinds = (table.words >> 16) & 0xFF
        present = slots & (np.arange(table.width) < table.count[:, None])
        rows, cells = np.nonzero(present & np.isin(kinds, _STRING_TYPES))
        size, kind, at = table.column(rows, cells)
        return _Strings(owners[rows], at.astype(np.int64), size.astype(np.int64), kind)

    @staticmethod
    def joined(parts: list[_Strings]) -> _Strings:
        return _Strings(*(np.concatenate([getattr(p, f) for p in parts]) for f in _STRING_FIELDS))


_STRING_FIELDS = ("owner", "at", "size", "kind")
_STRING_TYPES = [ValueType.STRING, ValueType.ANSI_STRING]


@dataclass(frozen=True)
class _Payload:
    """What the gate reads of some records' payloads, whatever the literals: the type bits of
    their values, their templates (outer, and nested: -1 when none), their string values,
    and whether the decoder would not read them itself (they pass); ``reader`` holds them."""

    reader: Reader
    bits: np.ndarray
    outer: np.ndarray
    inner: np.ndarray
    strings: _Strings
    unread: np.ndarray

    def may_hold(
        self, cache: TemplateCache, rows: np.ndarray, literals: frozenset[str]
    ) -> np.ndarray:
        """Whether records ``rows`` (positions in this payload) may hold a literal."""
        may = self.unread[rows] | ((self.bits[rows] & _spelled(literals)) != 0)
        may |= _templates_hold(cache, self.outer[rows], literals)
        nested = np.flatnonzero(self.inner[rows] >= 0)
        may[nested] |= _templates_hold(cache, self.inner[rows[nested]], literals)
        position = np.full(len(self.bits), -1, dtype=np.int64)
        position[rows[~may]] = np.flatnonzero(~may)
        unsure = position[self.strings.owner]
        asked = np.flatnonzero(unsure >= 0)
        if len(asked):
            texts, codes = self.texts
            wanted = np.unique(codes[asked])
            found = _texts_hold(texts.take(pa.array(wanted)), literals)
            holds = np.zeros(len(texts), dtype=bool)
            holds[wanted] = found
            may[unsure[asked[holds[codes[asked]]]]] = True
        return np.asarray(may, dtype=bool)

    @cached_property
    def texts(self) -> tuple[pa.Array, np.ndarray]:
        """The string values' texts as the gate reads them: the distinct texts, and each
        value's place among them, -1 for values of records it does not read (they pass;
        their values may reach past their record). Read once, for every literal set."""
        read = np.flatnonzero(~self.unread[self.strings.owner])
        texts, found = _distinct_texts(self.reader, self.strings.take(read))
        codes = np.full(len(self.strings.at), -1, dtype=np.int64)
        codes[read] = found
        return texts, codes


def _payload(indexed: IndexedSet, cache: TemplateCache, rows: np.ndarray) -> _Payload:
    """Records ``rows``' payloads, found as the decoder finds them (values outside System,
    and those of one nested template instance)."""
    reader, n = indexed.reader, len(rows)
    outer = Instances(*(getattr(indexed.instances, f.name)[rows] for f in fields(Instances)))
    problem = np.zeros(n, dtype=np.int8)
    slots_of, table = payload_table(reader, outer, cache, problem)
    payload = np.zeros((max(slots_of, default=0) + 1, table.width), dtype=bool)
    for t, slots in slots_of.items():
        payload[t, slots] = True
    mine = payload[outer.template]
    bits = _type_bits(table, mine, _OUTER_TYPE_BITS)
    strings = [_Strings.of(table, mine, np.arange(n))]
    outside = strings[0].at + strings[0].size > outer.end[strings[0].owner]
    fail(problem, np.unique(strings[0].owner[outside]), Problem.VALUES_OUTSIDE)
    slot = nested_slots(reader, table, outer, slots_of, problem)
    inside = np.flatnonzero(slot >= 0)
    nested, cells = nested_instances(
        reader, indexed.chunks, indexed.records.chunk[rows], Cells(table), inside, slot, cache,
        problem,
    )  # fmt: skip
    read = problem[inside] == Problem.NONE
    every = np.ones((len(inside), cells.table.width), dtype=bool) & read[:, None]
    bits[inside] |= _type_bits(cells.table, every, _TYPE_BITS)
    inner = np.full(n, -1, dtype=np.int64)
    inner[inside[read]] = nested.template[read]
    strings.append(_Strings.of(cells.table, every, inside))
    return _Payload(reader, bits, outer.template, inner, _Strings.joined(strings), problem != 0)


@lru_cache(maxsize=256)
def _spelled(literals: frozenset[str]) -> int:
    """The type bits of the value types whose text may spell one of the literals."""
    bits = _ANY_BIT
    for bit, spelling in enumerate(_SPELLINGS):
        if any(set(literal) <= set(spelling) for literal in literals):
            bits |= 1 << bit
    return bits


def _type_bits(table: ValueTable, slots: np.ndarray, type_bits: np.ndarray) -> np.ndarray:
    """Per instance, the type bits of its values among ``slots`` (a mask per instance)."""
    kinds = ((table.words >> 16) & 0xFF).astype(np.intp)
    present = slots & (np.arange(table.width) < table.count[:, None])
    return np.asarray(np.bitwise_or.reduce(np.where(present, type_bits[kinds], 0), axis=1))


def _templates_hold(
    cache: TemplateCache, templates: np.ndarray, literals: frozenset[str]
) -> np.ndarray:
    """Records whose template's own payload texts hold one of the literals, or that join a
    value with other text in one element or attribute (each template looked at once)."""
    ids, inverse = np.unique(templates, return_inverse=True)
    found = [t < 0 or _template_holds(cache.entries[t], literals) for t in ids.tolist()]
    return np.asarray(np.array(found, dtype=bool)[inverse.reshape(-1)], dtype=bool)


def _template_holds(entry: TemplateEntry, literals: frozenset[str]) -> bool:
    """Whether the template's payload texts hold a literal (or join a value with text);
    kept with the template per literal set (a batch meets few sets, a scan the same ones)."""
    known: dict[frozenset[str], bool] = entry.derived.setdefault("text_gate_holds", {})
    found = known.get(literals)
    if found is None:
        text, joined = _template_text(entry)
        found = known[literals] = joined or any(w in text for w in _one_spaced(literals))
    return found


@lru_cache(maxsize=256)
def _one_spaced(literals: frozenset[str]) -> tuple[str, ...]:
    return tuple(_one_space(literal) for literal in literals)


def _one_space(text: str) -> str:
    """The text with each run of spaces as one space."""
    return " ".join(part for part in text.split(" ") if part)


def _template_text(entry: TemplateEntry) -> tuple[str, bool]:
    """The template's payload texts (text and attribute values), case-folded, without the
    characters a rendering may drop, whitespace as single spaces, joined by a character no
    literal holds; and whether a value is joined with other text in one element's content
    or one attribute (a literal may then span them). Kept with the template."""
    found = entry.derived.get("text_gate")
    if found is None:
        pieces: list[str] = []
        root = entry.definition.root
        if root.name == "Event":  # no payload text comes from System or the namespace
            parts = [child for child in root.children() if child.name != "System"]
            joined = any([_collect(child, pieces) for child in parts])
            own = [item for item in root.content if not isinstance(item, Node)]
            pieces.append("".join(item.text for item in own if isinstance(item, Literal)))
            joined |= len(own) > 1 and any(isinstance(item, Sub) for item in own)
        else:
            joined = _collect(root, pieces)
        folded = "\x01".join(pieces).casefold().translate(_TEMPLATE_DROPS)
        found = entry.derived["text_gate"] = (_one_space(folded), joined)
    assert isinstance(found, tuple)
    return found


_TEMPLATE_DROPS = {c: None for c in [*_CONTROLS, 0xFFFE, 0xFFFF]} | {9: 32, 10: 32, 13: 32}


def _collect(node: Node, pieces: list[str]) -> bool:
    """Add each attribute value's and each element's literal text (children's text apart);
    True when some value or content joins a substitution with another piece."""
    joined = False
    for _, values in node.attributes:
        pieces.append("".join(p.text for p in values if isinstance(p, Literal)))
        joined |= len(values) > 1 and any(isinstance(p, Sub) for p in values)
    own = [item for item in node.content if not isinstance(item, Node)]
    joined |= len(own) > 1 and any(isinstance(p, Sub) for p in own)
    pieces.append("".join(p.text for p in own if isinstance(p, Literal)))
    for child in node.children():
        joined |= _collect(child, pieces)
    return joined


def _distinct_texts(reader: Reader, strings: _Strings) -> tuple[pa.Array, np.ndarray]:
    """The strings' texts (UTF-16 or ANSI, mapped to the gate's lower-case ASCII), as the
    distinct texts and each string's place among them. Values repeat (service names,
    states, users), so the bytes are told apart first and only distinct ones mapped."""
    texts, codes = [], np.empty(len(strings.at), dtype=np.int64)
    known = 0
    for unicode in (True, False):
        mine = np.flatnonzero((strings.kind == ValueType.STRING) == unicode)
        if not len(mine):
            continue
        size = strings.size[mine] // 2 * 2 if unicode else strings.size[mine]
        encoded = binary_views(reader.buf, strings.at[mine], size).dictionary_encode()
        distinct = encoded.dictionary.cast(pa.large_binary())
        data, offsets = binary_parts(distinct)
        if unicode:
            mapped, offsets = _UNIT_MAP[data.view("<u2")], offsets // 2
        else:
            mapped = _BYTE_MAP[data]
        texts.append(_kept(mapped, offsets))
        codes[mine] = known + dictionary_codes(encoded)
        known += len(distinct)
    if not texts:
        return pa.array([], pa.large_binary()), codes
    return (pa.concat_arrays(texts) if len(texts) > 1 else texts[0]), codes


def _texts_hold(texts: pa.Array, literals: frozenset[str]) -> np.ndarray:
    """Which texts hold one of the literals."""
    holds = np.zeros(len(texts), dtype=bool)
    for pattern in _patterns(literals):
        found = pc.match_substring_regex(texts, pattern).to_numpy(zero_copy_only=False)
        holds |= np.asarray(found, dtype=bool)
    return holds


#: Literals per RE2 pattern: an alternation of two thousand (a large rule set's, on one
#: event) outgrows RE2's DFA memory and runs hundreds of times slower; of 500, it does not.
_PER_PATTERN = 500


@lru_cache(maxsize=256)
def _patterns(literals: frozenset[str]) -> tuple[str, ...]:
    """RE2 patterns for the literals, :data:`_PER_PATTERN` at most each."""
    ordered = sorted(literals)
    return tuple(
        "|".join(_pattern(literal) for literal in ordered[start : start + _PER_PATTERN])
        for start in range(0, len(ordered), _PER_PATTERN)
    )


def _kept(mapped: np.ndarray, offsets: np.ndarray) -> pa.Array:
    """The texts ``mapped[offsets[i]:offsets[i + 1]]`` without their dropped characters."""
    keep = mapped != _DROPPED
    counts = np.zeros(len(offsets) - 1, dtype=np.int64)
    lengths = np.diff(offsets)
    some = np.flatnonzero(lengths > 0)
    if len(some):
        counts[some] = np.add.reduceat(keep.view(np.uint8), offsets[some], dtype=np.int64)
        counts[some] = np.minimum(counts[some], lengths[some])
    bounds = np.zeros(len(offsets), dtype=np.int64)
    np.cumsum(counts, out=bounds[1:])
    text = mapped[keep]
    return pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), len(counts), [None, pa.py_buffer(bounds), pa.py_buffer(text)]
    )


def _pattern(literal: str) -> str:
    """An RE2 pattern for a lower-case ASCII literal: spaces match runs of spaces."""
    parts = []
    for char in literal:
        if char == " ":
            parts.append(" +")
        elif char.isascii() and char.isalnum():
            parts.append(char)
        else:
            parts.append(f"\\x{ord(char):02x}")
    return "".join(parts)
