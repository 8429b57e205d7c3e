"""The same template on another machine, known without parsing it: equal but for its GUID
and the characters of its literal texts.

Windows writes a machine's name into every template definition of its logs (the Computer
element is literal text), and each machine's definitions carry GUIDs of their own. So the
logs of 200 machines hold 200 versions of each template, which :mod:`template_copies`
(exact bytes, or bytes equal once chunk-relative fields are cleared) cannot know again: each
was parsed. Such a version is known here from a parsed one when its bytes are equal once
the GUID, the chunk-relative fields and the characters of every literal text are cleared
(so every text has the same length), every name it refers to holds the same characters, and
every text decodes. The parser would then walk the same tokens to the same tree, with the
new texts in it: the tree is rebuilt with them, along the path to each text that differs.

A skeleton is kept per distinct (GUID-less, text-less) bytes, at most ``MAX_PER_KEY`` per
key; texts of another length, or another structure, get their own parse.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

from evtxscan.sources.evtx.binxml import TEMPLATE_DEFINITION
from evtxscan.sources.evtx.layout import CHUNK_HEADER_SIZE, CHUNK_SIZE
from evtxscan.sources.evtx.template import (
    Definition,
    NameReference,
    Node,
    Piece,
    TemplateError,
    TextSpan,
    literal,
    literal_text,
)
from evtxscan.sources.evtx.template_copies import MAX_KEPT_BYTES, ChunkNames, Layout

MAX_PER_KEY = 4  # skeletons kept per key
MAX_SHAPES = 8  # (layout, text positions) tried per template size
_LAST_DEFINITION = CHUNK_SIZE - TEMPLATE_DEFINITION.size
#: Where a text is in a tree: the content indexes of the elements down to the one holding
#: it, then the attribute's index (-1 for the element's content) and the piece's index.
TextPath = tuple[tuple[int, ...], int, int]


@dataclass(frozen=True)
class Shape:
    """Where a template's chunk-relative fields and texts are: what a key clears."""

    layout: Layout
    texts: tuple[tuple[int, int], ...]  # each text's characters, relative to the body
    kept_bits: int  # the body's bits the key keeps

    @classmethod
    def of(cls, layout: Layout, texts: tuple[tuple[int, int], ...]) -> Shape:
        bits = layout.kept_bits()
        for start, stop in texts:
            bits &= ~(((1 << 8 * (stop - start)) - 1) << 8 * start)
        return cls(layout, texts, bits)

    def key(self, body: bytes) -> bytes:
        """The body's size and its bytes with every field that may differ cleared."""
        value = int.from_bytes(body, "little") & self.kept_bits
        return len(body).to_bytes(4, "little") + value.to_bytes(len(body), "little")


class Rebuilt(NamedTuple):
    """A template rebuilt as parsing it gives it (definition, references, texts), and the
    layout of its references (the skeleton's)."""

    definition: Definition
    references: tuple[NameReference, ...]
    texts: tuple[TextSpan, ...]
    layout: Layout


@dataclass(frozen=True)
class Skeleton:
    """A parsed template, the names it refers to and where its texts are in its tree."""

    shape: Shape
    names: tuple[bytes, ...]
    definition: Definition
    pieces: tuple[int, ...]  # each text's piece number
    raw: tuple[bytes, ...]  # each text's characters as stored
    paths: tuple[TextPath, ...]


class TemplateSkeletons:
    """Parsed templates by their bytes without GUID and texts, to rebuild other versions."""

    def __init__(self) -> None:
        self._shapes: dict[int, list[Shape]] = {}  # body size -> shapes met
        self._known: dict[bytes, list[Skeleton]] = {}
        self.kept = 0  # about the bytes held

    def clear(self) -> None:
        self._shapes.clear()
        self._known.clear()
        self.kept = 0

    def add(
        self,
        names: ChunkNames,
        start: int,
        layout: Layout,
        known_names: tuple[bytes, ...],
        texts: tuple[TextSpan, ...],
        definition: Definition,
    ) -> None:
        """Remember the template parsed as ``definition`` from the body at ``start`` of the
        chunk of ``names`` (its texts as the parser gave them)."""
        relative = tuple((first - start, stop - start) for _piece, first, stop in texts)
        size = definition.data_size
        shapes = self._shapes.setdefault(size, [])
        shape = next((s for s in shapes if s.texts == relative and s.layout == layout), None)
        if shape is None:
            if len(shapes) >= MAX_SHAPES:
                return
            shape = Shape.of(layout, relative)
            shapes.append(shape)
            self.kept += size  # its mask
        key = shape.key(names.data[start : start + size])
        kept = self._known.setdefault(key, [])
        if len(kept) >= MAX_PER_KEY:
            return
        pieces = tuple(piece for piece, _first, _stop in texts)
        paths = _paths(definition.root, pieces)
        raw = tuple(names.data[first:stop] for _piece, first, stop in texts)
        kept.append(Skeleton(shape, known_names, definition, pieces, raw, paths))
        self.kept += 2 * len(key) + sum(map(len, (*known_names, *raw))) + _TREE_BYTES
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
                    return _rebuilt(names.data, start, guid, skeleton)
        return None


#: What a skeleton's tree and paths hold besides its key and names (about; the tree is
#: shared with its template's cache entry while both are kept).
_TREE_BYTES = 5000


def _rebuilt(data: bytes, start: int, guid: bytes, skeleton: Skeleton) -> Rebuilt | None:
    shape = skeleton.shape
    root = skeleton.definition.root
    spans: list[TextSpan] = []
    places = zip(shape.texts, skeleton.pieces, skeleton.raw, skeleton.paths, strict=True)
    for (first, stop), piece, old, path in places:
        spans.append((piece, start + first, start + stop))
        if data[start + first : start + stop] == old:
            continue  # the same characters: the same text
        try:
            text = literal_text(data, start + first, start + stop)
        except TemplateError:
            return None  # the parser refuses it too: the caller's parse says why
        root = _replace(root, path, literal(text))
    definition = Definition(bytes(guid), skeleton.definition.data_size, root)
    references = shape.layout.references_at(data, start)
    return Rebuilt(definition, references, tuple(spans), shape.layout)


def _paths(root: Node, pieces: tuple[int, ...]) -> tuple[TextPath, ...]:
    """The paths of the pieces numbered ``pieces`` (ascending) in document order."""
    wanted = iter(pieces)
    found: list[TextPath] = []
    target = next(wanted, None)
    for number, path in enumerate(_every_piece(root, ())):
        if number == target:
            found.append(path)
            target = next(wanted, None)
    if target is not None:
        raise ValueError(f"the tree has no piece number {target}")
    return tuple(found)


def _every_piece(node: Node, steps: tuple[int, ...]) -> Iterator[TextPath]:
    """Every value piece's path, in the order the parser reads them."""
    for index, (_name, pieces) in enumerate(node.attributes):
        for place in range(len(pieces)):
            yield steps, index, place
    for index, item in enumerate(node.content):
        if isinstance(item, Node):
            yield from _every_piece(item, (*steps, index))
        else:
            yield steps, -1, index


def _replace(node: Node, path: TextPath, piece: Piece) -> Node:
    """``node`` with the piece at ``path`` replaced (the elements on the path rebuilt)."""
    steps, attribute, index = path
    if steps:
        content = list(node.content)
        child = content[steps[0]]
        assert isinstance(child, Node)
        content[steps[0]] = _replace(child, (steps[1:], attribute, index), piece)
        return Node(node.name, node.attributes, tuple(content))
    if attribute < 0:
        content = list(node.content)
        content[index] = piece
        return Node(node.name, node.attributes, tuple(content))
    attributes = list(node.attributes)
    name, pieces = attributes[attribute]
    attributes[attribute] = (name, (*pieces[:index], piece, *pieces[index + 1 :]))
    return Node(node.name, tuple(attributes), node.content)
