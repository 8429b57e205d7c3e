"""Load untrusted YAML (signatures, drafts, Sigma rules) within fixed bounds, with located errors.

A rule file is data someone else wrote. PyYAML's safe loader builds no objects, but it still
follows anchors and aliases (a "billion laughs" document of a few hundred bytes expands to
billions of nodes for whoever walks it), recurses once per nesting level, and reads any size.
Here a document is refused, with its file and line, when it is larger than
:attr:`YamlLimits.max_chars`, nests deeper than :attr:`YamlLimits.max_depth`, holds more than
:attr:`YamlLimits.max_nodes` nodes once every alias is expanded, uses an alias that refers to
itself, or repeats a key in one mapping. Mappings come back as :class:`LineMap` (a ``dict``
that knows its own line and the line of each key), so later checks can say where, too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from evtxscan.signatures.model import SignatureError


class YamlInputError(SignatureError):
    """A YAML document refused before or while it was read: ``file:line: reason``."""


@dataclass(frozen=True)
class YamlLimits:
    """Bounds on one document. The defaults are far above any real rule (a large Sigma rule
    is a few KiB, a few hundred nodes, a dozen levels deep)."""

    max_chars: int = 1 << 20
    max_depth: int = 64
    max_nodes: int = 100_000

    def __post_init__(self) -> None:
        if min(self.max_chars, self.max_depth, self.max_nodes) < 1:
            raise ValueError("YAML limits must be positive")


class LineMap(dict[Any, Any]):
    """A mapping that remembers the line of itself and of each key (1-based)."""

    line: int = 0
    lines: dict[Any, int]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lines = {}


class _BoundedLoader(yaml.SafeLoader):
    """Safe loader that counts nesting while composing and keeps key lines in mappings."""

    limits = YamlLimits()

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > self.limits.max_depth:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise YamlInputError(
                    "", mark.line + 1, f"nested deeper than {self.limits.max_depth} levels"
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _construct_mapping(loader: _BoundedLoader, node: yaml.MappingNode) -> LineMap:
    mapping = LineMap()
    mapping.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise YamlInputError("", key_node.start_mark.line + 1, "a key must be text") from None
        if key in mapping:
            raise YamlInputError("", key_node.start_mark.line + 1, f"duplicate key {key!r}")
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.lines[key] = key_node.start_mark.line + 1
    return mapping


_BoundedLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _check_expansion(root: yaml.Node, limits: YamlLimits) -> None:
    """Refuse alias loops and documents too large or deep once aliases are expanded.

    Sizes are computed once per distinct node (aliases share nodes), iteratively, so the
    check costs one pass over the composed document however large its expansion would be.
    """
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        children = _children(node)
        if done:
            on_path.discard(key)
            size[key] = 1 + sum(size[id(c)] for c in children)
            depth[key] = 1 + max((depth[id(c)] for c in children), default=0)
            if size[key] > limits.max_nodes:
                raise YamlInputError(
                    "",
                    node.start_mark.line + 1,
                    f"more than {limits.max_nodes} nodes once aliases are expanded",
                )
            if depth[key] > limits.max_depth:
                raise YamlInputError(
                    "",
                    node.start_mark.line + 1,
                    f"nested deeper than {limits.max_depth} levels once aliases are expanded",
                )
            continue
        if key in size:
            continue
        if key in on_path:
            raise YamlInputError("", node.start_mark.line + 1, "an alias refers to itself")
        on_path.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in size)
        for child in children:
            if id(child) in on_path:
                raise YamlInputError("", child.start_mark.line + 1, "an alias refers to itself")


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def load_yaml_text(text: str, *, source: str, limits: YamlLimits | None = None) -> object:
    """The one YAML document in ``text`` (mappings as :class:`LineMap`), or a
    :class:`YamlInputError` naming ``source`` and the line, for invalid or hostile input."""
    return _load(text, source, limits, single=True)[0]


def load_yaml_documents(
    text: str, *, source: str, limits: YamlLimits | None = None
) -> list[object]:
    """Every document of a multi-document stream (a Sigma rule file), each within the limits
    (``max_chars`` bounds the whole text)."""
    return _load(text, source, limits, single=False)


def _load(text: str, source: str, limits: YamlLimits | None, *, single: bool) -> list[object]:
    limits = limits or YamlLimits()
    if len(text) > limits.max_chars:
        raise YamlInputError(source, None, f"larger than {limits.max_chars} characters")
    loader_class = type("_Loader", (_BoundedLoader,), {"limits": limits})
    loader = loader_class(text)
    try:
        if single:
            node = loader.get_single_node()
            nodes = [node] if node is not None else []
        else:
            nodes = []
            while loader.check_node():
                nodes.append(loader.get_node())
        documents: list[object] = []
        for node in nodes:
            _check_expansion(node, limits)
            documents.append(loader.construct_document(node))
        return documents or [None]
    except YamlInputError as exc:
        raise YamlInputError(source, exc.line, exc.reason) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise YamlInputError(source, line, f"invalid YAML: {exc}") from None
    except RecursionError:
        raise YamlInputError(source, None, "nested too deeply to read") from None
    except (ValueError, OverflowError) as exc:  # a scalar no type can hold (date, number)
        raise YamlInputError(source, None, f"unreadable value: {exc}") from None
    finally:
        loader.dispose()
