"""The same template on another machine, known without parsing it: equal but for its GUID
and its literal texts.

Windows writes a machine's name into every template definition of its logs (the Computer
element is literal text), and each machine's definitions carry GUIDs of their own. So the
logs of 200 machines hold 200 versions of each template, which :mod:`template_copies`
(exact bytes, or bytes equal once chunk-relative fields are cleared) cannot know again: each
was parsed. Such a version is known here from a parsed one (its skeleton) when

* its bytes are equal once the GUID, the chunk-relative fields and the characters of every
  literal text are cleared (every text of the same length); or, when only the machine's
  name differs in length, once its characters are taken out and the fields that count them
  (the text's length, the data sizes of the elements around it, which the parser reads
  past) are cleared too: everything after it is then the skeleton's, moved;
* every name it refers to holds the same characters, and every text decodes.

The parser would then walk the same tokens to the same tree with the new texts in it: the
tree is rebuilt along the path to each text that differs. Names of another length are tried
at the lengths of the machines' names met last (a log's templates follow one another).

A skeleton is kept per distinct key, at most ``MAX_PER_KEY`` per key; anything else gets
its own parse.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import NamedTuple

from evtxscan.sources.evtx.binxml import NAME_OFFSET, TEMPLATE_DEFINITION, u16
from evtxscan.sources.evtx.layout import CHUNK_HEADER_SIZE, CHUNK_SIZE
from evtxscan.sources.evtx.template import (
    Definition,
    NameReference,
    TemplateError,
    TextSpan,
    literal,
    literal_text,
)
from evtxscan.sources.evtx.template_copies import MAX_KEPT_BYTES, ChunkNames, Layout, masked
from evtxscan.sources.evtx.template_paths import TextPath, computer_text, replaced, text_paths

MAX_PER_KEY = 4  # skeletons kept per key
MAX_SHAPES = 8  # shapes tried per template size (or size without the machine's name)
NAME_LENGTHS = 4  # lengths of machines' names tried, the last met first
_LAST_DEFINITION = CHUNK_SIZE - TEMPLATE_DEFINITION.size
_U32 = struct.Struct("<I")
#: What a skeleton's tree and paths hold besides its keys and names, at least and per byte
#: of the template (about: trees take 5 to 30 times their template's bytes; the tree is
#: shared with its template's cache entry while both are kept).
_TREE_BYTES = 4000
_TREE_PER_BYTE = 4


def _cleared(bits: int, start: int, size: int) -> int:
    return bits & ~(((1 << 8 * size) - 1) << 8 * start)


@dataclass(frozen=True)
class Shape:
    """Where a template's chunk-relative fields and texts are: what its keys clear."""

    layout: Layout
    texts: tuple[tuple[int, int], ...]  # each text's characters, relative to the body
    kept_bits: int  # the body's bits the key keeps
    name: int  # which text is the machine's name (-1: none)
    sizes: tuple[int, ...]  # where the data sizes of the elements around it are
    moved_bits: int  # the bits kept of the body without the name's characters

    @classmethod
    def of(cls, layout: Layout, texts: tuple[tuple[int, int], ...], name: int,
           sizes: tuple[int, ...]) -> Shape:  # fmt: skip
        """The shape of templates with these references, texts, and name (a skeleton is
        kept only under a shape whose fields are its own: what a key clears must be what
        the parser reads past in the skeleton itself)."""
        bits = layout.kept_bits()
        for start, stop in texts:
            bits = _cleared(bits, start, stop - start)
        moved = 0
        if name >= 0:
            first, stop = texts[name]
            moved = _cleared(bits, first - 2, 2)  # the name's length
            for at in sizes:
                moved = _cleared(moved, at, 4)
            moved = (moved & ((1 << 8 * first) - 1)) | ((moved >> 8 * stop) << 8 * first)
        return cls(layout, texts, bits, name, sizes, moved)

    def key(self, body: bytes) -> bytes:
        """The body's size and its bytes with every field that may differ cleared."""
        return len(body).to_bytes(4, "little") + masked(body, self.kept_bits)

    def moved_key(self, body: bytes, chars: int) -> bytes | None:
        """The key of ``body`` holding a name of ``chars`` characters, taken out; None when
        the body does not say so."""
        first, _stop = self.texts[self.name]
        if first < 2 or u16(body, first - 2) != chars or first + 2 * chars > len(body):
            return None
        rest = body[:first] + body[first + 2 * chars :]
        return b"m" + len(rest).to_bytes(4, "little") + masked(rest, self.moved_bits)

    def base(self, size: int) -> int:
        """The size of a body of ``size`` bytes without the name's characters."""
        first, stop = self.texts[self.name]
        return size - (stop - first)


class Rebuilt(NamedTuple):
    """A template rebuilt as parsing it gives it (definition, references, texts), and the
    layout of its references when it is the skeleton's."""

    definition: Definition
    references: tuple[NameReference, ...]
    texts: tuple[TextSpan, ...]
    layout: Layout | None  # None: moved (a name of another length), worth a skeleton too
    paths: tuple[TextPath, ...]


@dataclass(frozen=True)
class Skeleton:
    """A parsed template, the names it refers to and where its texts are in its tree."""

    shape: Shape
    names: tuple[bytes, ...]
    definition: Definition
    pieces: tuple[int, ...]  # each text's piece number
    raw: tuple[bytes, ...]  # each text's characters as stored
    paths: tuple[TextPath, ...]
    sizes: tuple[tuple[int, ...], ...]  # each text's elements' data sizes, body-relative


class TemplateSkeletons:
    """Parsed templates by their bytes without GUID and texts, to rebuild other versions."""

    def __init__(self) -> None:
        self._shapes: dict[int, list[Shape]] = {}  # body size -> shapes met
        self._moved: dict[int, list[Shape]] = {}  # body size without the name -> shapes
        self._known: dict[bytes, list[Skeleton]] = {}  # both kinds of key
        self._lengths: list[int] = []  # machines' names met, in characters, the last first
        self.kept = 0  # about the bytes held

    def clear(self) -> None:
        self._shapes.clear()
        self._moved.clear()
        self._known.clear()
        self._lengths.clear()
        self.kept = 0

    def add(self, names: ChunkNames, start: int, layout: Layout,
            known_names: tuple[bytes, ...], texts: tuple[TextSpan, ...],
            definition: Definition, paths: tuple[TextPath, ...] | None = None) -> None:  # fmt: skip
        """Remember the template parsed as ``definition`` from the body at ``start`` of the
        chunk of ``names`` (its texts as the parser gave them, their ``paths`` if known)."""
        relative = tuple((first - start, stop - start) for _piece, first, stop, _s in texts)
        sizes = tuple(tuple(at - start for at in around) for *_span, around in texts)
        pieces = tuple(piece for piece, *_rest in texts)
        paths = text_paths(definition.root, pieces) if paths is None else paths
        name = computer_text(definition.root, paths)
        size = definition.data_size
        around = sizes[name] if name >= 0 else ()
        shapes = self._shapes.setdefault(size, [])
        own = (relative, name, around, layout)
        shape = next((s for s in shapes if (s.texts, s.name, s.sizes, s.layout) == own), None)
        if shape is None:
            if len(shapes) >= MAX_SHAPES:
                return
            shape = Shape.of(layout, relative, name, around)
            shapes.append(shape)
            self.kept += 2 * size  # its masks
            if name >= 0:
                moved = self._moved.setdefault(shape.base(size), [])
                if len(moved) < MAX_SHAPES:
                    moved.append(shape)
        body = names.data[start : start + size]
        raw = tuple(names.data[first:stop] for _piece, first, stop, _s in texts)
        skeleton = Skeleton(shape, known_names, definition, pieces, raw, paths, sizes)
        keys = [shape.key(body)]
        if name >= 0:
            chars = len(raw[name]) // 2
            moved_key = shape.moved_key(body, chars)
            if moved_key is not None:
                keys.append(moved_key)
            self._met(chars)
        for key in keys:
            kept = self._known.setdefault(key, [])
            if len(kept) < MAX_PER_KEY:
                kept.append(skeleton)
                self.kept += 2 * len(key)
        self.kept += sum(map(len, (*known_names, *raw))) + _TREE_BYTES + _TREE_PER_BYTE * size
        if self.kept > MAX_KEPT_BYTES:
            self.clear()  # a memo only: memory stays flat whatever the input

    def rebuilt(self, names: ChunkNames, offset: int) -> Rebuilt | None:
        """The definition at ``offset`` of the chunk of ``names``, its references and texts,
        as parsing it would give them; None when no skeleton fits."""
        data = names.data
        if not self._shapes or not CHUNK_HEADER_SIZE <= offset <= _LAST_DEFINITION:
            return None
        _next, guid, size = TEMPLATE_DEFINITION.unpack_from(data, offset)
        start = offset + TEMPLATE_DEFINITION.size
        if start + size > min(len(data), CHUNK_SIZE):
            return None
        body = data[start : start + size]
        for shape in self._shapes.get(size, ()):
            candidates = self._known.get(shape.key(body))
            if not candidates:
                continue
            read = shape.layout.read(names, start)
            if read is None:
                continue
            for skeleton in candidates:
                if skeleton.shape is shape and skeleton.names == read[1]:
                    if shape.name >= 0:
                        self._met(len(skeleton.raw[shape.name]) // 2)
                    return _rebuilt(data, start, guid, skeleton, 0)
        for chars in self._lengths:  # a name of another length
            for shape in self._moved.get(size - 2 * chars, ()):
                key = shape.moved_key(body, chars)
                candidates = self._known.get(key) if key is not None else None
                if not candidates:
                    continue
                first, stop = shape.texts[shape.name]
                moved = 2 * chars - (stop - first)
                referred = _moved_referred(shape.layout, names, start, stop, moved)
                if referred is None:
                    continue
                for skeleton in candidates:
                    if skeleton.shape is shape and skeleton.names == referred:
                        found = _rebuilt(data, start, guid, skeleton, moved)
                        if found is not None:
                            self._met(chars)
                        return found
        return None

    def _met(self, chars: int) -> None:
        """A machine's name of ``chars`` characters was met: tried first from now on."""
        if chars in self._lengths:
            self._lengths.remove(chars)
        self._lengths.insert(0, chars)
        del self._lengths[NAME_LENGTHS:]


def _moved_referred(
    layout: Layout, names: ChunkNames, start: int, after: int, moved: int
) -> tuple[bytes, ...] | None:
    """The names a template refers to (those not inline) when the bytes of its body from
    ``after`` on are ``moved`` bytes from where ``layout`` has them; None when a reference
    differs in kind from the layout's or points where the parser would refuse a name."""
    data = names.data
    found = []
    for position, inline in layout.references:
        at = start + position + (moved if position >= after else 0)
        target = _U32.unpack_from(data, at)[0]
        if (target == at + NAME_OFFSET.size) != inline:
            return None
        if not inline:
            name = names[target]
            if name is None:
                return None
            found.append(name)
    return tuple(found)


def _rebuilt(
    data: bytes, start: int, guid: bytes, skeleton: Skeleton, moved: int
) -> Rebuilt | None:
    """The skeleton's template with the texts at ``start`` of ``data`` (the bytes from the
    end of the machine's name on ``moved`` bytes from the skeleton's). Its texts' spans are
    given when it moved (it is kept as a skeleton too), else none."""
    shape = skeleton.shape
    after = shape.texts[shape.name][1] if moved else CHUNK_SIZE
    root = skeleton.definition.root
    places = zip(shape.texts, skeleton.raw, skeleton.paths, strict=True)
    for number, ((first, stop), old, path) in enumerate(places):
        # (the name's own start stays: it is the end of an empty name, which moves)
        first += start + (moved if first >= after and number != shape.name else 0)
        stop += start + (moved if stop >= after else 0)
        if data[first:stop] == old:
            continue  # the same characters: the same text
        try:
            text = literal_text(data, first, stop)
        except TemplateError:
            return None  # the parser refuses it too: the caller's parse says why
        root = replaced(root, path, literal(text))
    definition = Definition(bytes(guid), skeleton.definition.data_size + moved, root)
    if not moved:
        references = shape.layout.references_at(data, start)
        return Rebuilt(definition, references, (), shape.layout, skeleton.paths)

    def at(position: int) -> int:  # a body position of the skeleton, here
        return start + position + (moved if position >= after else 0)

    name_at = start + shape.texts[shape.name][0]
    spans = tuple(
        (piece, name_at if number == shape.name else at(first), at(stop), tuple(map(at, sizes)))
        for number, ((first, stop), piece, sizes) in enumerate(
            zip(shape.texts, skeleton.pieces, skeleton.sizes, strict=True)
        )
    )
    references = tuple(
        (at(position), _U32.unpack_from(data, at(position))[0])
        for position, _inline in shape.layout.references
    )
    return Rebuilt(definition, references, spans, None, skeleton.paths)
