"""Payload plans as arrays: one row per item, kept per template combination.

The decoder lays out every record's items by repeating its combination's rows; names and
values are literal text (a code into the literal table) or a reference to a value (instance
part and slot). Tables are built once per combination and kept in the template cache.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from evtxscan.sources.evtx.instances import TemplateCache, TemplateEntry
from evtxscan.sources.evtx.payload_plan import Item, PlanError, Ref, payload
from evtxscan.sources.evtx.template import Literal, Node, Sub
from evtxscan.sources.evtx.value_columns import text_flags

_ABSENT, _LITERAL, _REF = 0, 1, 2


@dataclass(frozen=True)
class ItemTable:
    """Columns of a payload plan (see the module docstring); ``problem`` when there is none."""

    name_kind: np.ndarray  # int8: 0 no name, 1 literal, 2 value
    name_code: np.ndarray  # int64 into name_literal
    name_literal: list[str]
    name_part: np.ndarray
    name_slot: np.ndarray
    value_kind: np.ndarray  # int8: 1 literal, 2 value
    value_code: np.ndarray
    value_literal: list[str]
    value_part: np.ndarray
    value_slot: np.ndarray
    attribute: np.ndarray  # bool
    binary: np.ndarray  # bool
    alone: np.ndarray  # bool: may repeat for an array value
    name_flags: np.ndarray  # uint8 Flag bits of each literal name
    value_flags: np.ndarray  # uint8 Flag bits of each literal value
    problem: str | None = None

    def __len__(self) -> int:
        return len(self.attribute)

    @staticmethod
    def build(items: Sequence[Item]) -> ItemTable:
        names = [_text_row(item.name) for item in items]
        values = [_text_row(item.value) for item in items]
        return ItemTable(
            name_kind=np.array([row[0] for row in names], dtype=np.int8),
            name_code=np.arange(len(items), dtype=np.int64),
            name_literal=[row[1] for row in names],
            name_part=np.array([row[2] for row in names], dtype=np.int64),
            name_slot=np.array([row[3] for row in names], dtype=np.int64),
            value_kind=np.array([row[0] for row in values], dtype=np.int8),
            value_code=np.arange(len(items), dtype=np.int64),
            value_literal=[row[1] for row in values],
            value_part=np.array([row[2] for row in values], dtype=np.int64),
            value_slot=np.array([row[3] for row in values], dtype=np.int64),
            attribute=np.array([item.attribute for item in items], dtype=bool),
            binary=np.array([item.binary for item in items], dtype=bool),
            alone=np.array([item.alone for item in items], dtype=bool),
            name_flags=np.array([text_flags(row[1]) for row in names], dtype=np.uint8),
            value_flags=np.array([text_flags(row[1]) for row in values], dtype=np.uint8),
        )

    @staticmethod
    def concat(tables: Sequence[ItemTable]) -> ItemTable:
        """Tables one after the other (literal codes shifted)."""
        names: list[str] = []
        values: list[str] = []
        name_codes, value_codes = [], []
        for table in tables:
            name_codes.append(table.name_code + len(names))
            value_codes.append(table.value_code + len(values))
            names += table.name_literal
            values += table.value_literal

        def joined(name: str) -> np.ndarray:
            parts = [getattr(t, name) for t in tables]
            return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

        return ItemTable(
            name_kind=joined("name_kind"),
            name_code=np.concatenate(name_codes) if tables else np.zeros(0, np.int64),
            name_literal=names,
            name_part=joined("name_part"),
            name_slot=joined("name_slot"),
            value_kind=joined("value_kind"),
            value_code=np.concatenate(value_codes) if tables else np.zeros(0, np.int64),
            value_literal=values,
            value_part=joined("value_part"),
            value_slot=joined("value_slot"),
            attribute=joined("attribute").astype(bool),
            binary=joined("binary").astype(bool),
            alone=joined("alone").astype(bool),
            name_flags=joined("name_flags").astype(np.uint8),
            value_flags=joined("value_flags").astype(np.uint8),
        )


_EMPTY = ItemTable.build([])


def _text_row(text: Literal | Ref | None) -> tuple[int, str, int, int]:
    if text is None:
        return _ABSENT, "", 0, 0
    if isinstance(text, Literal):
        return _LITERAL, text.text, 0, 0
    return _REF, "", text.part, text.slot


def payload_slots(entry: TemplateEntry) -> list[int]:
    """Value slots a template refers to outside its System element (kept with it)."""
    found = entry.derived.get("payload_slots")
    if found is None:
        found = entry.derived["payload_slots"] = sorted(
            {
                sub.index
                for child in entry.definition.root.content
                if not (isinstance(child, Node) and child.name == "System")
                for sub in _subs(child)
            }
        )
    return list(found)


def _subs(item: Node | Literal | Sub) -> list[Sub]:
    if isinstance(item, Sub):
        return [item]
    if isinstance(item, Literal):
        return []
    pieces = [piece for _name, values in item.attributes for piece in values]
    return [sub for part in (*pieces, *item.content) for sub in _subs(part)]


def item_table(cache: TemplateCache, outer: int, nested_slot: int, inner: int) -> ItemTable:
    """The item table of records of template ``outer`` whose value ``nested_slot`` holds an
    instance of template ``inner`` (-1, -1: no nested value)."""
    key = (outer, nested_slot, inner)
    found = cache.payloads.get(key)
    if found is None:
        shared = (_payload_part(cache, outer), nested_slot, inner)
        found = cache.payloads.get(shared)
        if found is None:
            found = cache.payloads[shared] = _built(cache, outer, nested_slot, inner)
        cache.payloads[key] = found
    assert isinstance(found, ItemTable)
    return found


def _built(cache: TemplateCache, outer: int, nested_slot: int, inner: int) -> ItemTable:
    nested = {} if nested_slot < 0 else {nested_slot: cache.entries[inner].definition.root}
    try:
        return ItemTable.build(payload(cache.entries[outer].definition.root, nested).items)
    except PlanError as exc:
        return ItemTable(**{**_EMPTY.__dict__, "problem": str(exc)})


def _payload_part(cache: TemplateCache, template: int) -> int:
    """A number shared by the templates whose root elements hold the same children besides
    System (all the payload depends on): the same template on another machine differs only
    in its System's Computer text, and gets the same item tables."""
    entry = cache.entries[template]
    found = entry.derived.get("payload_part")
    if found is None:
        root = entry.definition.root
        rest = tuple(
            item for item in root.content if not (isinstance(item, Node) and item.name == "System")
        )
        found = entry.derived["payload_part"] = cache.payload_parts.setdefault(
            rest, -1 - len(cache.payload_parts)
        )
    assert isinstance(found, int)
    return found
