"""What a record's EventData/UserData items are, derived once per template combination.

The record schema's ``data`` column holds the event's payload flattened the way the
reference normalizer (:mod:`evtxscan.records.event_xml`) reads the rendered XML: named and
positional ``<Data>`` in order, ``<Binary>`` apart, UserData and any other element
flattened to dotted names with ``Elem@Attr`` for attributes. Here the same rules run on the
template tree instead of XML, once per combination of a record's template and the templates
of the nested BinXml values it holds (Windows puts EventData and UserData in a nested
value): the result is a list of :class:`Item` whose names and values are literal text or
references to a value (instance ``part`` 0 is the record's own, ``k`` the k-th nested one).
"""

from __future__ import annotations

from dataclasses import dataclass

from evtxscan.sources.evtx.template import Literal, Node, Sub


class PlanError(ValueError):
    """A payload structure the decoder leaves to the renderer."""


@dataclass(frozen=True)
class Ref:
    """Value ``slot`` of instance ``part`` (0: the record's own, k: its k-th nested value)."""

    part: int
    slot: int


Text = Literal | Ref


@dataclass(frozen=True)
class Item:
    """One ``data`` entry (or the ``binary`` value): name and value, each text or a value.

    An item from an attribute is left out when its value is empty (as the attribute is),
    and its text is taken as is (an element's text has its line ends normalized).
    """

    name: Text | None  # None: a positional <Data>
    value: Text
    attribute: bool = False
    binary: bool = False
    #: The value is the element's only value (an array value may repeat the element).
    alone: bool = False


@dataclass(frozen=True)
class Payload:
    """The ``data`` items in order; the ``<Binary>`` value last, if any."""

    items: tuple[Item, ...]


def payload(root: Node, nested: dict[int, Node]) -> Payload:
    """The payload of a record whose template root is ``root``; ``nested`` maps value slots
    holding nested BinXml to the root element of that value's template."""
    resolved = _resolve(root, 0, nested)
    data: list[Item] = []
    binary: Item | None = None
    for part in resolved.children():
        if part.name == "System":
            continue
        if part.name == "EventData":
            data, found = _event_data(part)
            binary = found if found is not None else binary
        elif part.name == "UserData":
            data = []
            for child in part.children():
                _flatten(child, _local(child.name), data)
        elif part.name != "RenderingInfo":
            _flatten(part, _local(part.name), data)
    return Payload(tuple(data) + ((binary,) if binary is not None else ()))


def _resolve(node: Node, part: int, nested: dict[int, Node]) -> Node:
    """The tree with references tagged by instance and nested values spliced in."""
    if part == 0 and node.name == "System":
        return node  # System is the index's business
    content: list[Node | Literal | Sub] = []
    for item in node.content:
        if isinstance(item, Node):
            content.append(_resolve(item, part, nested))
        elif isinstance(item, Sub) and part == 0 and item.index in nested:
            inner = nested[item.index]
            if inner.name == "System":
                raise PlanError("a System element in a nested value")
            content.append(_resolve(inner, 1 + sorted(nested).index(item.index), {}))
        else:
            content.append(_tag(item, part))
    attributes = tuple(
        (name, tuple(_tag(piece, part) for piece in pieces)) for name, pieces in node.attributes
    )
    return Node(node.name, attributes, tuple(content))


def _tag(piece: Literal | Sub, part: int) -> Literal | Sub:
    """Substitutions become references to their instance (kept in a Sub-shaped Ref)."""
    return (
        piece
        if isinstance(piece, Literal)
        else _RefSub(piece.index, piece.type, piece.optional, part)
    )


@dataclass(frozen=True)
class _RefSub(Sub):
    part: int = 0


def _text(pieces: tuple[object, ...]) -> Text:
    """One text from a run of pieces: literals are joined, a value must stand alone."""
    if all(isinstance(piece, Literal) for piece in pieces):
        return Literal("".join(piece.text for piece in pieces))  # type: ignore[attr-defined]
    if len(pieces) == 1 and isinstance(pieces[0], _RefSub):
        return Ref(pieces[0].part, pieces[0].index)
    raise PlanError("text mixing literals and values")


def _leaf_text(node: Node) -> Text:
    return _text(tuple(item for item in node.content if not isinstance(item, Node)))


def _event_data(element: Node) -> tuple[list[Item], Item | None]:
    items: list[Item] = []
    binary: Item | None = None
    for child in element.children():
        if child.name == "Data":
            name_pieces = child.attribute("Name")
            name = None if name_pieces is None or not name_pieces else _text(name_pieces)
            if child.children():
                if not (name is None or isinstance(name, Literal)):
                    raise PlanError("a nested <Data> named by a value")
                _flatten(child, name.text if name is not None and name.text else "Data", items)
            else:
                items.append(Item(name, _leaf_text(child), alone=not isinstance(name, Ref)))
        elif child.name == "Binary":
            binary = Item(None, _leaf_text(child), binary=True)
        else:
            _flatten(child, _local(child.name), items)
    return items, binary


def _flatten(element: Node, prefix: str, out: list[Item]) -> None:
    """Every leaf below ``element`` with a dotted name, attributes first (as the reference
    normalizer does)."""
    for name, pieces in element.attributes:
        if name == "xmlns" or name.startswith("xmlns:"):
            continue  # a namespace declaration, not an attribute
        if pieces:
            out.append(Item(Literal(f"{prefix}@{_local(name)}"), _text(pieces), attribute=True))
    children = element.children()
    if not children:
        attributes = [name for name, _ in element.attributes if not name.startswith("xmlns")]
        out.append(Item(Literal(prefix), _leaf_text(element), alone=not attributes))
        return
    for child in children:
        _flatten(child, f"{prefix}.{_local(child.name)}", out)


def _local(name: str) -> str:
    if ":" in name:
        raise PlanError(f"a prefixed name {name!r}")
    return name
