"""Template definitions: a chunk's BinXml event skeletons, parsed once into element trees.

A template is the XML of an event with its variable parts replaced by substitutions
(value index and type); the values follow each record's template instance. Parsing one
template is a short Python walk over its tokens; the record index and the decoder then
know, for every record using it, where each System field and each EventData/UserData value
sits in the value array, without rendering XML. Only what pyevtx-rs renders the same way
every time is accepted: anything unusual (processing instructions, a template inside a
template, a literal value that is not text) raises :class:`TemplateError`, and the records
using the template go to the renderer.
"""

from __future__ import annotations

from codecs import utf_16_le_decode
from dataclasses import dataclass, field
from typing import TypeVar

from evtxscan.sources.evtx.binxml import (
    ATTRIBUTE_LIST_SIZE,
    CHAR_REFERENCE,
    FRAGMENT_HEADER,
    MORE_BIT,
    NAME_HEADER,
    NAME_OFFSET,
    OPEN_START_ELEMENT,
    SUBSTITUTION,
    TEMPLATE_DEFINITION,
    TEXT_LENGTH,
    VALUE_HEADER,
    Token,
    ValueType,
    u16,
)
from evtxscan.sources.evtx.layout import CHUNK_HEADER_SIZE, CHUNK_SIZE

#: Elements nested deeper than this are treated as damage (real templates nest 4-6 deep).
MAX_DEPTH = 32
#: The XML predefined entities; any other entity reference is refused.
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}
#: Token kinds as plain ints (faster to compare than the enum in the token loop).
_KIND = 0xFF & ~MORE_BIT
_OPEN, _CLOSE_START, _CLOSE_EMPTY, _END = 0x01, 0x02, 0x03, 0x04
_VALUE, _ATTRIBUTE, _CHAR_REFERENCE, _ENTITY_REFERENCE = 0x05, 0x06, 0x08, 0x09
_NORMAL, _OPTIONAL = 0x0D, 0x0E
_VALUE_TOKENS = frozenset({_VALUE, _NORMAL, _OPTIONAL, _CHAR_REFERENCE, _ENTITY_REFERENCE, 0x07})
_NAME_OFFSET_SIZE = NAME_OFFSET.size
_SUBSTITUTION_SIZE = SUBSTITUTION.size
_CHAR_REFERENCE_SIZE = CHAR_REFERENCE.size
_TEXT_AT = VALUE_HEADER.size + TEXT_LENGTH.size  # a literal's characters, after its length
_SIZE_AT = 3  # an open start element's data size, after its token and dependency id
#: Substitutions and literal texts made once and shared by the trees of every template (a
#: template cache holds thousands of trees); forgotten past this many, to stay bounded.
_KEPT_PIECES = 4096
_SUBS: dict[int, Sub] = {}
_LITERALS: dict[str, Literal] = {}
assert (_OPEN, _ATTRIBUTE, _NORMAL) == (
    Token.OPEN_START_ELEMENT,
    Token.ATTRIBUTE,
    Token.NORMAL_SUBSTITUTION,
)


class TemplateError(ValueError):
    """A template definition the index does not read (damaged or unusual)."""


@dataclass(frozen=True, slots=True)
class Literal:
    """Text written in the template itself (unescaped, as a parser of the XML reads it)."""

    text: str


@dataclass(frozen=True, slots=True)
class Sub:
    """A substitution: value ``index`` of the instance's value array, declared of ``type``.

    An optional substitution whose value is NULL is left out where it stands.
    """

    index: int
    type: int
    optional: bool


Piece = Literal | Sub
#: An element's attributes: each a name and its value pieces.
Attributes = tuple[tuple[str, tuple[Piece, ...]], ...]


@dataclass(frozen=True, slots=True)
class Node:
    """An element of the template: name, attributes (name, value pieces), content."""

    name: str
    attributes: Attributes
    content: tuple[Node | Piece, ...]
    #: The hash, made with the node: a tree is hashed (as a cache key) without walking it
    #: again, and its children's hashes are known when it is made.
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash((self.name, self.attributes, self.content)))

    def __hash__(self) -> int:
        return self._hash

    def __reduce__(self) -> tuple[type[Node], tuple[str, Attributes, tuple[Node | Piece, ...]]]:
        # Made again where unpickled: string hashes differ between processes.
        return Node, (self.name, self.attributes, self.content)

    def children(self) -> tuple[Node, ...]:
        """The child elements, in order."""
        return tuple(item for item in self.content if isinstance(item, Node))

    def attribute(self, name: str) -> tuple[Piece, ...] | None:
        """The pieces of the first attribute called ``name``, or None when there is none."""
        return next((pieces for key, pieces in self.attributes if key == name), None)


@dataclass(frozen=True, slots=True)
class Definition:
    """A template definition's header and its element tree."""

    guid: bytes
    data_size: int
    root: Node


#: A template's reference to a name: the chunk position of the 4-byte reference and the
#: chunk offset it holds; the name is inline (follows the reference) when offset == at + 4.
NameReference = tuple[int, int]
#: A literal text of a template: its piece's number in document order (attributes' pieces,
#: then content, element by element), the chunk positions of its characters, and where the
#: data sizes of the elements around it are (those that hold it as content; the parser
#: reads past them).
TextSpan = tuple[int, int, int, tuple[int, ...]]


def read_definition(chunk: bytes | memoryview, offset: int) -> Definition:
    """Parse the template definition at chunk ``offset`` (its 24-byte header's offset)."""
    return read_template(chunk, offset)[0]


def read_template(
    chunk: bytes | memoryview, offset: int, names: dict[int, str] | None = None
) -> tuple[Definition, tuple[NameReference, ...], tuple[TextSpan, ...]]:
    """The definition at chunk ``offset``, its name references in the order read and its
    literal texts (what :mod:`template_copies` needs to know the same template in another
    chunk). ``names`` keeps the chunk's names by offset for its next templates (they share
    most names)."""
    if not CHUNK_HEADER_SIZE <= offset <= CHUNK_SIZE - TEMPLATE_DEFINITION.size:
        raise TemplateError(f"template definition offset {offset} outside the chunk")
    _next, guid, size = TEMPLATE_DEFINITION.unpack_from(chunk, offset)
    start = offset + TEMPLATE_DEFINITION.size
    limit = min(len(chunk), CHUNK_SIZE)
    if start + size > limit:
        raise TemplateError(f"template of {size} bytes at {offset} runs past the chunk")
    data = chunk if isinstance(chunk, bytes) and len(chunk) == limit else bytes(chunk[:limit])
    walk = _TokenWalk(data, start + size, {} if names is None else names)
    root = walk.tree(start)
    definition = Definition(guid=bytes(guid), data_size=size, root=root)
    return definition, tuple(walk.references), tuple(walk.texts)


def _past(pos: int) -> TemplateError:
    return TemplateError(f"template token at {pos} runs past the template")


class _TokenWalk:
    """One template's tokens read in a loop, bounded to its data. A template is parsed once
    per chunk that carries it, so this is a hot path: an explicit stack instead of
    recursion, token kinds as plain ints (their :data:`MORE_BIT` cleared), few calls."""

    def __init__(self, data: bytes, end: int, names: dict[int, str]) -> None:
        self.data = data
        self.end = end
        self.names = names
        self.references: list[NameReference] = []
        self.texts: list[TextSpan] = []
        self.pieces = 0  # value pieces read so far
        self.sizes: list[int] = []  # where the open elements' data sizes are

    def name(self, pos: int) -> tuple[str, int]:
        """The name referred to at ``pos`` and the position after the reference (after the
        name itself when it is stored inline)."""
        data = self.data
        if pos + _NAME_OFFSET_SIZE > self.end:
            raise _past(pos)
        offset = data[pos] | data[pos + 1] << 8 | data[pos + 2] << 16 | data[pos + 3] << 24
        self.references.append((pos, offset))
        found = self.names.get(offset)
        if found is None:
            found = self.names[offset] = _stored_name(data, offset)
        if offset == pos + _NAME_OFFSET_SIZE:  # inline: the name, then its NUL
            return found, offset + NAME_HEADER.size + 2 * u16(data, offset + 6) + 2
        return found, pos + _NAME_OFFSET_SIZE

    def piece(self, token: int, pos: int) -> tuple[Piece, int]:
        """The value token at ``pos`` (``token`` is its kind) and the position after it."""
        data, end = self.data, self.end
        self.pieces += 1
        if token in (_NORMAL, _OPTIONAL):
            if pos + _SUBSTITUTION_SIZE > end:
                raise _past(pos)
            index, value_type = u16(data, pos + 1), data[pos + 3]
            key = token << 24 | index << 8 | value_type
            sub = _SUBS.get(key) or _shared(_SUBS, key, Sub(index, value_type, token == _OPTIONAL))
            return sub, pos + _SUBSTITUTION_SIZE
        if token == _VALUE:
            if pos + _TEXT_AT > end:
                raise _past(pos)
            if data[pos + 1] != ValueType.STRING:
                raise TemplateError(f"literal value of type {data[pos + 1]:#x} in a template")
            stop = pos + _TEXT_AT + 2 * u16(data, pos + 2)
            if stop > end:
                raise _past(pos + _TEXT_AT)
            self.texts.append((self.pieces - 1, pos + _TEXT_AT, stop, tuple(self.sizes)))
            return literal(_utf16(data[pos + _TEXT_AT : stop])), stop
        if token == _CHAR_REFERENCE:
            if pos + _CHAR_REFERENCE_SIZE > end:
                raise _past(pos)
            return Literal(chr(u16(data, pos + 1))), pos + _CHAR_REFERENCE_SIZE
        if token == _ENTITY_REFERENCE:
            entity, pos = self.name(pos + 1)
            if entity not in _ENTITIES:
                raise TemplateError(f"entity reference &{entity}; in a template")
            return Literal(_ENTITIES[entity]), pos
        raise TemplateError("CDATA section in a template")

    def tree(self, pos: int) -> Node:
        """The root element of the fragment at ``pos``; nothing but its end may follow."""
        data, end = self.data, self.end
        if pos + len(FRAGMENT_HEADER) > end:
            raise _past(pos)
        if data[pos] != Token.FRAGMENT_HEADER:
            raise TemplateError(f"template at {pos} does not start with a fragment header")
        pos += len(FRAGMENT_HEADER)
        if pos >= end or data[pos] & _KIND != _OPEN:
            raise TemplateError(f"template at {pos} has no root element")
        open_elements: list[tuple[str, Attributes, list[Node | Piece]]] = []
        while True:  # at an open start element
            if len(open_elements) > MAX_DEPTH:
                raise TemplateError("template elements nested too deeply")
            if pos + OPEN_START_ELEMENT.size > end:
                raise _past(pos)
            more = data[pos] & MORE_BIT
            size_at = pos + _SIZE_AT
            name, pos = self.name(pos + OPEN_START_ELEMENT.size)
            if more:
                if pos + ATTRIBUTE_LIST_SIZE.size > end:
                    raise _past(pos)
                pos += ATTRIBUTE_LIST_SIZE.size
            attributes, pos = self.attributes(pos)
            closing = data[pos] & _KIND  # attributes() checked pos < end
            pos += 1
            if closing == _CLOSE_EMPTY:
                node = Node(name, attributes, ())
                if not open_elements:
                    return self.ended(node, pos)
                open_elements[-1][2].append(node)
            elif closing == _CLOSE_START:
                open_elements.append((name, attributes, []))
                self.sizes.append(size_at)
            else:
                raise TemplateError(f"unexpected token {closing:#x} in the start of <{name}>")
            while True:  # the content of the innermost open element
                if pos >= end:
                    raise _past(pos)
                token = data[pos] & _KIND
                if token == _OPEN:
                    break
                name, attributes, content = open_elements[-1]
                if token == _END:
                    pos += 1
                    open_elements.pop()
                    self.sizes.pop()
                    node = Node(name, attributes, tuple(content))
                    if not open_elements:
                        return self.ended(node, pos)
                    open_elements[-1][2].append(node)
                elif token in _VALUE_TOKENS:
                    piece, pos = self.piece(token, pos)
                    content.append(piece)
                else:
                    raise TemplateError(f"unexpected token {token:#x} in <{name}>")

    def attributes(self, pos: int) -> tuple[Attributes, int]:
        """The attributes at ``pos``, each a name and its value pieces (``pos`` is then
        inside the template)."""
        data, end = self.data, self.end
        attributes: list[tuple[str, tuple[Piece, ...]]] = []
        while True:
            if pos >= end:
                raise _past(pos)
            if data[pos] & _KIND != _ATTRIBUTE:
                return tuple(attributes), pos
            attribute, pos = self.name(pos + 1)
            pieces: list[Piece] = []
            while True:
                if pos >= end:
                    raise _past(pos)
                token = data[pos] & _KIND
                if token not in _VALUE_TOKENS:
                    break
                piece, pos = self.piece(token, pos)
                pieces.append(piece)
            attributes.append((attribute, tuple(pieces)))

    def ended(self, root: Node, pos: int) -> Node:
        if pos >= self.end:
            raise _past(pos)
        if self.data[pos] & _KIND != Token.END_OF_STREAM:
            raise TemplateError(f"unexpected token {self.data[pos]:#x} after the root")
        return root


_K = TypeVar("_K")
_P = TypeVar("_P", Sub, Literal)


def _shared(table: dict[_K, _P], key: _K, piece: _P) -> _P:
    """``piece``, kept in ``table`` to be given again for ``key`` (the same few substitutions
    and texts recur in every template); the table is forgotten past :data:`_KEPT_PIECES`."""
    if len(table) >= _KEPT_PIECES:
        table.clear()
    table[key] = piece
    return piece


def literal(text: str) -> Literal:
    """The literal piece of ``text`` (shared by every tree that holds it)."""
    return _LITERALS.get(text) or _shared(_LITERALS, text, Literal(text))


def literal_text(data: bytes, start: int, stop: int) -> str:
    """The characters of a literal text at ``data[start:stop]`` (as the parser reads them)."""
    return _utf16(data[start:stop])


def _utf16(raw: bytes) -> str:
    try:
        return utf_16_le_decode(raw, "strict", True)[0]
    except UnicodeDecodeError as exc:
        raise TemplateError(f"literal text with an unpaired surrogate: {exc}") from None


def _stored_name(data: bytes, offset: int) -> str:
    """The name stored at chunk ``offset`` (its header, then UTF-16 characters)."""
    limit = len(data)
    if not CHUNK_HEADER_SIZE <= offset <= limit - 10:
        raise TemplateError(f"name offset {offset} outside the chunk")
    stop = offset + NAME_HEADER.size + 2 * u16(data, offset + 6)
    if stop + 2 > limit:
        raise TemplateError(f"name at {offset} runs past the chunk")
    try:
        name: str = utf_16_le_decode(data[offset + NAME_HEADER.size : stop], "strict", True)[0]
    except UnicodeDecodeError:
        raise TemplateError(f"undecodable name at {offset}") from None
    if not name:
        raise TemplateError(f"empty element or attribute name at {offset}")
    return name
