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

import struct
from dataclasses import dataclass

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
)
from evtxscan.sources.evtx.layout import CHUNK_HEADER_SIZE, CHUNK_SIZE

#: Elements nested deeper than this are treated as damage (real templates nest 4-6 deep).
MAX_DEPTH = 32
#: The XML predefined entities; any other entity reference is refused.
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}
_VALUE_TOKENS = frozenset(
    {
        Token.VALUE,
        Token.NORMAL_SUBSTITUTION,
        Token.OPTIONAL_SUBSTITUTION,
        Token.CHAR_REFERENCE,
        Token.ENTITY_REFERENCE,
        Token.CDATA_SECTION,
    }
)


class TemplateError(ValueError):
    """A template definition the index does not read (damaged or unusual)."""


@dataclass(frozen=True)
class Literal:
    """Text written in the template itself (unescaped, as a parser of the XML reads it)."""

    text: str


@dataclass(frozen=True)
class Sub:
    """A substitution: value ``index`` of the instance's value array, declared of ``type``.

    An optional substitution whose value is NULL is left out where it stands.
    """

    index: int
    type: int
    optional: bool


Piece = Literal | Sub


@dataclass(frozen=True)
class Node:
    """An element of the template: name, attributes (name, value pieces), content."""

    name: str
    attributes: tuple[tuple[str, tuple[Piece, ...]], ...]
    content: tuple[Node | Piece, ...]

    def children(self) -> tuple[Node, ...]:
        """The child elements, in order."""
        return tuple(item for item in self.content if isinstance(item, Node))

    def child(self, name: str) -> Node | None:
        """The first child element called ``name``."""
        return next((item for item in self.children() if item.name == name), None)

    def attribute(self, name: str) -> tuple[Piece, ...] | None:
        """The pieces of the first attribute called ``name``, or None when there is none."""
        return next((pieces for key, pieces in self.attributes if key == name), None)


@dataclass(frozen=True)
class Definition:
    """A template definition's header and its element tree."""

    guid: bytes
    data_size: int
    root: Node


def read_definition(chunk: bytes | memoryview, offset: int) -> Definition:
    """Parse the template definition at chunk ``offset`` (its 24-byte header's offset)."""
    if not CHUNK_HEADER_SIZE <= offset <= CHUNK_SIZE - TEMPLATE_DEFINITION.size:
        raise TemplateError(f"template definition offset {offset} outside the chunk")
    _next, guid, size = TEMPLATE_DEFINITION.unpack_from(chunk, offset)
    start = offset + TEMPLATE_DEFINITION.size
    if start + size > min(len(chunk), CHUNK_SIZE):
        raise TemplateError(f"template of {size} bytes at {offset} runs past the chunk")
    root = _TokenReader(chunk, start, start + size).fragment()
    return Definition(guid=bytes(guid), data_size=size, root=root)


class _TokenReader:
    """A recursive-descent reader of one template's tokens, bounded to its data."""

    def __init__(self, chunk: bytes | memoryview, start: int, end: int) -> None:
        self.chunk = chunk
        self.pos = start
        self.end = end

    def _need(self, size: int) -> None:
        if self.pos + size > self.end:
            raise TemplateError(f"template token at {self.pos} runs past the template")

    def _unpack(self, layout: struct.Struct) -> tuple[int, ...]:
        self._need(layout.size)
        values = layout.unpack_from(self.chunk, self.pos)
        self.pos += layout.size
        return tuple(values)

    def _peek(self) -> int:
        self._need(1)
        return self.chunk[self.pos] & ~MORE_BIT

    def _utf16(self, units: int) -> str:
        self._need(2 * units)
        raw = bytes(self.chunk[self.pos : self.pos + 2 * units])
        self.pos += 2 * units
        try:
            return raw.decode("utf-16-le")
        except UnicodeDecodeError as exc:
            raise TemplateError(f"literal text with an unpaired surrogate: {exc}") from None

    def _name(self) -> str:
        """A name reference; the name itself when it is stored inline."""
        (offset,) = self._unpack(NAME_OFFSET)
        inline = offset == self.pos
        if not CHUNK_HEADER_SIZE <= offset <= min(len(self.chunk), CHUNK_SIZE) - 10:
            raise TemplateError(f"name offset {offset} outside the chunk")
        _next, _hash, units = NAME_HEADER.unpack_from(self.chunk, offset)
        stop = offset + NAME_HEADER.size + 2 * units
        if stop + 2 > min(len(self.chunk), CHUNK_SIZE):
            raise TemplateError(f"name at {offset} runs past the chunk")
        try:
            name = bytes(self.chunk[offset + NAME_HEADER.size : stop]).decode("utf-16-le")
        except UnicodeDecodeError:
            raise TemplateError(f"undecodable name at {offset}") from None
        if inline:
            self.pos = stop + 2  # the name and its NUL
        if not name:
            raise TemplateError(f"empty element or attribute name at {offset}")
        return name

    def fragment(self) -> Node:
        self._need(len(FRAGMENT_HEADER))
        if self.chunk[self.pos] != Token.FRAGMENT_HEADER:
            raise TemplateError(f"template at {self.pos} does not start with a fragment header")
        self.pos += len(FRAGMENT_HEADER)
        if self._peek() != Token.OPEN_START_ELEMENT:
            raise TemplateError(f"template at {self.pos} has no root element")
        root = self._element(0)
        if self._peek() != Token.END_OF_STREAM:
            raise TemplateError(f"unexpected token {self.chunk[self.pos]:#x} after the root")
        return root

    def _element(self, depth: int) -> Node:
        if depth > MAX_DEPTH:
            raise TemplateError("template elements nested too deeply")
        token, _dependency, _size = self._unpack(OPEN_START_ELEMENT)
        name = self._name()
        if token & MORE_BIT:
            self._unpack(ATTRIBUTE_LIST_SIZE)
        attributes: list[tuple[str, tuple[Piece, ...]]] = []
        while self._peek() == Token.ATTRIBUTE:
            self.pos += 1
            attribute = self._name()
            attributes.append((attribute, tuple(self._pieces())))
        closing = self._peek()
        self.pos += 1
        if closing == Token.CLOSE_EMPTY_ELEMENT:
            return Node(name, tuple(attributes), ())
        if closing != Token.CLOSE_START_ELEMENT:
            raise TemplateError(f"unexpected token {closing:#x} in the start of <{name}>")
        content: list[Node | Piece] = []
        while (token := self._peek()) != Token.END_ELEMENT:
            if token == Token.OPEN_START_ELEMENT:
                content.append(self._element(depth + 1))
            elif token in _VALUE_TOKENS:
                content.extend(self._pieces(single=True))
            else:
                raise TemplateError(f"unexpected token {token:#x} in <{name}>")
        self.pos += 1
        return Node(name, tuple(attributes), tuple(content))

    def _pieces(self, single: bool = False) -> list[Piece]:
        """Value tokens (literal text, substitutions, references) up to the next structure."""
        out: list[Piece] = []
        while (token := self._peek()) in _VALUE_TOKENS:
            out.append(self._piece(token))
            if single:
                break
        return out

    def _piece(self, token: int) -> Piece:
        if token in (Token.NORMAL_SUBSTITUTION, Token.OPTIONAL_SUBSTITUTION):
            _token, index, value_type = self._unpack(SUBSTITUTION)
            return Sub(index, value_type, token == Token.OPTIONAL_SUBSTITUTION)
        if token == Token.VALUE:
            _token, value_type = self._unpack(VALUE_HEADER)
            if value_type != ValueType.STRING:
                raise TemplateError(f"literal value of type {value_type:#x} in a template")
            (units,) = self._unpack(TEXT_LENGTH)
            return Literal(self._utf16(units))
        if token == Token.CHAR_REFERENCE:
            _token, code = self._unpack(CHAR_REFERENCE)
            return Literal(chr(code))
        if token == Token.ENTITY_REFERENCE:
            self.pos += 1
            entity = self._name()
            if entity not in _ENTITIES:
                raise TemplateError(f"entity reference &{entity}; in a template")
            return Literal(_ENTITIES[entity])
        raise TemplateError("CDATA section in a template")
