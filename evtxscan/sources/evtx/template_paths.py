"""Where a template's literal texts are in its tree, and the tree with one of them replaced
(the elements on the way rebuilt, the rest shared): what :mod:`template_texts` needs to
rebuild another machine's version of a template."""

from __future__ import annotations

from collections.abc import Iterator

from evtxscan.sources.evtx.template import Node, Piece

#: Where a text is in a tree: the content indexes of the elements down to the one holding
#: it, then the attribute's index (-1 for the element's content) and the piece's index.
TextPath = tuple[tuple[int, ...], int, int]


def text_paths(root: Node, pieces: tuple[int, ...]) -> tuple[TextPath, ...]:
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


def computer_text(root: Node, paths: tuple[TextPath, ...]) -> int:
    """Which of the texts at ``paths`` is the System's Computer element's only content (the
    machine's name, the text that differs between machines), or -1."""
    for number, (steps, attribute, _index) in enumerate(paths):
        if attribute >= 0 or len(steps) != 2:
            continue
        system = root.content[steps[0]]
        if not isinstance(system, Node) or system.name != "System":
            continue
        computer = system.content[steps[1]]
        if (
            isinstance(computer, Node)
            and computer.name == "Computer"
            and len(computer.content) == 1
        ):
            return number
    return -1


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


def replaced(node: Node, path: TextPath, piece: Piece) -> Node:
    """``node`` with the piece at ``path`` replaced (the elements on the path rebuilt)."""
    steps, attribute, index = path
    if steps:
        content = list(node.content)
        child = content[steps[0]]
        assert isinstance(child, Node)
        content[steps[0]] = replaced(child, (steps[1:], attribute, index), piece)
        return Node(node.name, node.attributes, tuple(content))
    if attribute < 0:
        content = list(node.content)
        content[index] = piece
        return Node(node.name, node.attributes, tuple(content))
    attributes = list(node.attributes)
    name, pieces = attributes[attribute]
    attributes[attribute] = (name, (*pieces[:index], piece, *pieces[index + 1 :]))
    return Node(node.name, tuple(attributes), node.content)
