"""Templates seen before, known again without parsing them, but only where parsing them
would give the same definition.

A log repeats a template's definition in every chunk that uses it, so a log of 300 chunks
carries each of its templates about 300 times. A definition's parse depends on its bytes
and on the names it refers to, which are stored elsewhere in the chunk (in the first
template that used them) unless they are inline. So a place is known when:

* its bytes equal a known place's at the same chunk offset (the same names are then
  inline), and the bytes its other names are read from are equal too; or
* its bytes equal a known place's elsewhere, and every name it refers to holds the same
  characters (none may then be inline); or
* it is a copy: its bytes equal a parsed place's once the chunk-relative fields (each name
  reference, and the link field of each name stored inline) are cleared, its names are
  inline at the same places, and every name it refers to holds the same characters.

A damaged or hostile chunk that changes a referred name therefore gets its own parse.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from itertools import repeat
from operator import eq, itemgetter, sub
from typing import Any

from evtxscan.sources.evtx.binxml import NAME_HEADER, NAME_OFFSET, TEMPLATE_DEFINITION
from evtxscan.sources.evtx.layout import CHUNK_HEADER_SIZE, CHUNK_SIZE
from evtxscan.sources.evtx.template import NameReference

#: Known places kept per key (a template's exact bytes; its GUID and size; its cleared
#: bytes) and starts per exact bytes: a hostile file defining many templates under one key
#: costs a few comparisons, no more.
MAX_PER_KEY = 4
MAX_STARTS = 32
#: About the bytes kept (templates, the names they refer to, the objects holding them)
#: before all is forgotten: memory stays flat whatever the input. The samples' templates
#: take about 7 MiB, 60 distinct machines' copies of one System log 23 MiB; forgetting
#: costs one more parse of each template of the log being read.
MAX_KEPT_BYTES = 8 << 20
#: What the objects behind each kept item take beyond its bytes (measured with tracemalloc).
_SIGHTING_OVERHEAD = 100
_REFERENCE_OVERHEAD = 60  # a layout's (position, inline) pair
_NAME_OVERHEAD = 120  # a name's bytes object, its span, tuple slots
_NAME_AT = 6  # a stored name's length field (its characters follow)
_FIRST_NAME = CHUNK_HEADER_SIZE  # names are stored after the chunk header
assert NAME_HEADER.size == _NAME_AT + 2
_FIELD_BITS = (1 << 8 * NAME_OFFSET.size) - 1
_GUID_AND_SIZE = 20  # what an exact key holds before the template's body


@dataclass(frozen=True)
class Layout:
    """Where a template's name references are, relative to its body, and which are inline
    (the name follows the reference)."""

    references: tuple[tuple[int, bool], ...]  # ascending, 4 bytes apart at least
    _kept_bits: int = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        at, cleared = 0, 0
        for position, inline in self.references:
            if position < at:
                raise ValueError(f"name reference at {position} overlaps the one before")
            at = position + NAME_OFFSET.size
            cleared |= _FIELD_BITS << (8 * position)
            if inline:  # the stored name's link to the next name of its bucket
                cleared |= _FIELD_BITS << (8 * at)
        object.__setattr__(self, "_kept_bits", ~cleared)

    @cached_property
    def _reading(self) -> _Reading:
        """How :meth:`read` takes the references apart (made when first needed: most
        layouts never are)."""
        gaps, at = [], 0
        for position, _inline in self.references:
            gaps.append(f"{position - at}xI")
            at = position + NAME_OFFSET.size
        outside = [i for i, (_position, inline) in enumerate(self.references) if not inline]
        return _Reading(
            struct.Struct("<" + "".join(gaps)),
            tuple(position + NAME_OFFSET.size for position, _inline in self.references),
            tuple(inline for _position, inline in self.references),
            _picker(outside),
        )

    def read(
        self, names: ChunkNames, start: int
    ) -> tuple[tuple[int, ...], tuple[bytes, ...]] | None:
        """Where each name the template at ``start`` of the chunk of ``names`` refers to
        (where it is not inline) is stored, and its bytes (length and characters); None
        when a reference differs in kind or points where the parser would refuse it."""
        reading = self._reading
        targets = reading.targets.unpack_from(names.data, start)
        # A reference is inline when its target is the position right after it.
        if tuple(map(eq, map(sub, targets, repeat(start)), reading.inline_at)) != reading.inline:
            return None
        referred = reading.outside(targets)
        found = tuple(map(names.__getitem__, referred))
        if None in found:
            return None
        return referred, found  # type: ignore[return-value]  # None was ruled out

    def kept_bits(self) -> int:
        """The bits of a body that :meth:`cleared` keeps."""
        return self._kept_bits

    def references_at(self, data: bytes, start: int) -> tuple[NameReference, ...]:
        """The references of the template whose body is at ``start`` of chunk ``data``, as
        the parser gives them (position, target)."""
        targets = self._reading.targets.unpack_from(data, start)
        return tuple(
            (start + position, target)
            for (position, _inline), target in zip(self.references, targets, strict=True)
        )

    def cleared(self, guid: bytes, body: bytes) -> bytes:
        """A template's GUID and bytes with its chunk-relative fields cleared: each
        reference and, for a name stored inline, its link to the next name of its bucket."""
        return guid + masked(body, self._kept_bits)


def masked(body: bytes, bits: int) -> bytes:
    """``body`` with only its bytes' ``bits`` kept (the others cleared to zero)."""
    return (int.from_bytes(body, "little") & bits).to_bytes(len(body), "little")


@dataclass(frozen=True)
class Known:
    """A parsed definition's template id, its layout and the names it refers to."""

    template: int
    layout: Layout
    names: tuple[bytes, ...]


@dataclass(frozen=True)
class Place:
    """A known place: what was parsed there, the size of its chunk, and the names it refers
    to outside itself (their length fields and characters, and a getter of those spans)."""

    known: Known
    limit: int
    names: tuple[bytes, ...]
    spans: Callable[[bytes], tuple[bytes, ...]]

    def holds(self, data: bytes) -> bool:
        """Whether chunk ``data`` holds those names where this place's chunk held them (in
        a chunk of the same size, so that the parser's bounds agree too)."""
        return min(len(data), CHUNK_SIZE) == self.limit and self.spans(data) == self.names


class TemplateCopies:
    """The template ids of known places, found by exact bytes or as copies."""

    def __init__(self) -> None:
        self._exact: dict[bytes, dict[int, Place]] = {}  # GUID, size, body -> start -> place
        self._layouts: dict[tuple[bytes, int], list[Layout]] = {}
        self._cleared: dict[bytes, list[Known]] = {}
        #: Places known once without being kept by their exact bytes: a place is kept
        #: when seen again (a copied log), not in every chunk of a distinct one.
        self._sighted: set[int] = set()
        self._kept = 0  # about the bytes held by the keys and names
        self._names = ChunkNames(b"")  # the names of the chunk last looked into

    def names_of(self, data: bytes) -> ChunkNames:
        """The names of chunk ``data`` (those read before, while it is the same chunk)."""
        if self._names.data is not data:
            self._names = ChunkNames(data)
        return self._names

    def __len__(self) -> int:
        return len(self._exact)

    def clear(self) -> None:
        self._exact.clear()
        self._layouts.clear()
        self._cleared.clear()
        self._sighted.clear()
        self._kept = 0
        self._names = ChunkNames(b"")

    def find(self, data: bytes, offset: int) -> int | None:
        """The template id of the place at chunk ``offset`` (``data`` is the chunk), or None
        when it must be parsed."""
        if self._kept > MAX_KEPT_BYTES:
            self.clear()  # a memo only: template ids stay valid
        if not CHUNK_HEADER_SIZE <= offset <= CHUNK_SIZE - TEMPLATE_DEFINITION.size:
            return None
        _next, guid, size = TEMPLATE_DEFINITION.unpack_from(data, offset)
        start = offset + TEMPLATE_DEFINITION.size
        if start + size > min(len(data), CHUNK_SIZE):
            return None
        key = data[start - _GUID_AND_SIZE : start + size]  # GUID, size and body
        starts = self._exact.get(key)
        names = self.names_of(data)
        if starts:
            place = starts.get(start)
            if place is not None and place.holds(data):
                return place.known.template
            for known in [place.known for place in starts.values()][:MAX_PER_KEY]:
                read = known.layout.read(names, start)
                if read is not None and read[1] == known.names:
                    self._sighting(key, data, start, known, read[0])
                    return known.template
        body = data[start : start + size]
        for layout in self._layouts.get((guid, size), ()):
            candidates = self._cleared.get(layout.cleared(guid, body))
            read = layout.read(names, start) if candidates else None
            if read is None:
                continue
            for known in candidates or ():
                # Equal bytes where this layout clears, equal names where it refers: the
                # same parse, if the candidate was cleared by the same layout.
                if known.names == read[1] and known.layout == layout:
                    self._sighting(key, data, start, known, read[0])
                    return known.template
        return None

    def add(
        self,
        data: bytes,
        offset: int,
        references: tuple[NameReference, ...],
        template: int,
        layout: Layout | None = None,
    ) -> Known | None:
        """Remember the place at chunk ``offset`` parsed as template id ``template`` (its
        name ``references`` as :func:`template.read_template` gave them, their ``layout``
        when known); what is known of it (None if nothing)."""
        _next, guid, size = TEMPLATE_DEFINITION.unpack_from(data, offset)
        start = offset + TEMPLATE_DEFINITION.size
        if layout is None:
            relative = tuple(
                (at - start, target == at + NAME_OFFSET.size) for at, target in references
            )
            try:
                layout = Layout(relative)
            except ValueError:  # the parser reads forward: cannot happen
                return None
        referred = [target for at, target in references if target != at + NAME_OFFSET.size]
        stored = self.names_of(data)
        known = Known(template, layout, tuple(stored[target] or b"" for target in referred))
        key = data[start - _GUID_AND_SIZE : start + size]
        self._sighting(key, data, start, known, referred)
        layouts = self._layouts.setdefault((guid, size), [])
        if layout not in layouts and len(layouts) >= MAX_PER_KEY:
            return known
        if layout not in layouts:
            layouts.append(layout)
        cleared = layout.cleared(guid, data[start : start + size])
        kept = self._cleared.setdefault(cleared, [])
        if len(kept) < MAX_PER_KEY:
            kept.append(known)
            names = known.names
            self._kept += (
                2 * len(cleared)  # the key, and the layout's mask
                + _REFERENCE_OVERHEAD * len(references)
                + _NAME_OVERHEAD * len(names)
                + sum(map(len, names))
            )
        return known

    def _sighting(
        self, key: bytes, data: bytes, start: int, known: Known, referred: Sequence[int]
    ) -> None:
        """A place found without its exact bytes: kept by them the second time."""
        mark = hash((key, start))  # a collision only keeps a place early
        if mark in self._sighted:
            self._remember(key, data, start, known, referred)
        else:
            self._sighted.add(mark)
            self._kept += _SIGHTING_OVERHEAD

    def _remember(
        self, key: bytes, data: bytes, start: int, known: Known, referred: Sequence[int]
    ) -> None:
        """Keep ``known`` as the place at ``start`` (its exact bytes ``key``; the names it
        refers to stored at ``referred``), with the spans of the names outside itself."""
        starts = self._exact.setdefault(key, {})
        if len(starts) >= MAX_STARTS:
            return
        end = start + len(key) - _GUID_AND_SIZE
        outside = [
            slice(target + _NAME_AT, target + _NAME_AT + len(name))
            for target, name in zip(referred, known.names, strict=True)
            if not start <= target < end
        ]
        names = tuple(data[span] for span in outside)
        starts[start] = Place(known, min(len(data), CHUNK_SIZE), names, _picker(outside))
        self._kept += len(key) + _NAME_OVERHEAD * len(names) + sum(map(len, names))


@dataclass(frozen=True)
class _Reading:
    targets: struct.Struct  # every reference's 4 bytes
    inline_at: tuple[int, ...]  # each reference's target if inline, relative to the body
    inline: tuple[bool, ...]  # whether each reference is inline
    outside: Callable[[tuple[int, ...]], tuple[int, ...]]  # the references not inline


def _picker(keys: Sequence[Any]) -> Callable[[Any], tuple[Any, ...]]:
    """A function picking ``keys`` (indexes, slices) out of a sequence, always as a tuple
    (one C call: this is a hot path)."""
    if len(keys) > 1:
        return itemgetter(*keys)
    if keys:
        (only,) = keys
        return lambda values: (values[only],)
    return lambda values: ()


class ChunkNames(dict[int, bytes | None]):
    """The names stored in one chunk by offset (length field and characters), read when
    first asked for; None where the parser would refuse to read a name. One chunk's
    templates share most names: they are read once for all of them."""

    def __init__(self, data: bytes) -> None:
        super().__init__()
        self.data = data
        self.last = min(len(data), CHUNK_SIZE) - 10  # the parser's bounds: a header, its NUL
        #: The same names as the parser decodes them, for the chunk's next templates.
        self.parsed: dict[int, str] = {}

    def __missing__(self, target: int) -> bytes | None:
        data = self.data
        name: bytes | None = None
        if _FIRST_NAME <= target <= self.last:
            stop = target + NAME_HEADER.size + 2 * (data[target + 6] | data[target + 7] << 8)
            if stop <= self.last + 8:
                name = data[target + _NAME_AT : stop]
        self[target] = name
        return name
