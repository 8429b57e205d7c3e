"""Template definitions read back as the writer wrote them; damage raises TemplateError only."""

from __future__ import annotations

import struct
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from evtxscan.sources.evtx.binxml import TEMPLATE_INSTANCE, ValueType
from evtxscan.sources.evtx.layout import CHUNK_SIZE, FILE_HEADER_SIZE, RECORD_HEADER_SIZE
from evtxscan.sources.evtx.system_plan import Source, system_plan
from evtxscan.sources.evtx.template import (
    Definition,
    Literal,
    Node,
    Sub,
    TemplateError,
    read_definition,
)
from evtxscan.synth import EventSpec, UserData, evtx_bytes
from evtxscan.synth import binxml as written
from evtxscan.synth.evtx_writer import event_template

EVENT = EventSpec(
    provider="Service Control Manager",
    event_id=7036,
    time=datetime(2024, 1, 1, tzinfo=UTC),
    qualifiers=16384,
    user_sid="S-1-5-18",
    data=(("param1", "Windows Update"), (None, 4)),
    binary=b"\x01\x02",
)


def _first_definition(data: bytes) -> tuple[bytes, int]:
    chunk = data[FILE_HEADER_SIZE : FILE_HEADER_SIZE + CHUNK_SIZE]
    at = 512 + RECORD_HEADER_SIZE + 4  # record 1: fragment header, then the instance
    _token, _unknown, _id, definition = TEMPLATE_INSTANCE.unpack_from(chunk, at)
    return chunk, definition


def _same(node: Node, element: written.Element) -> None:
    """The parsed tree is the written one (names, attributes, text, substitutions)."""
    assert node.name == element.name
    assert [name for name, _ in node.attributes] == [name for name, _ in element.attrs]
    for (_, pieces), (_, value) in zip(node.attributes, element.attrs, strict=True):
        _piece(pieces, value)
    assert len(node.content) == len(element.children)
    for item, child in zip(node.content, element.children, strict=True):
        if isinstance(child, written.Element):
            assert isinstance(item, Node)
            _same(item, child)
        else:
            _piece((item,), child)  # type: ignore[arg-type]


def _piece(pieces: tuple[Literal | Sub, ...], value: written.Text | written.Sub) -> None:
    assert len(pieces) == 1
    if isinstance(value, written.Text):
        assert pieces[0] == Literal(value.text)
    else:
        assert pieces[0] == Sub(value.index, value.type, value.optional)


def test_written_templates_read_back() -> None:
    user_data = EventSpec(
        provider="P",
        event_id=1,
        time=datetime(2024, 1, 1, tzinfo=UTC),
        user_data=UserData("Root", "urn:x", (("A", 1), UserData("Inner", None, (("B", "x"),)))),
    )
    for event in (EVENT, user_data):
        chunk, offset = _first_definition(evtx_bytes([event]))
        definition = read_definition(chunk, offset)
        assert isinstance(definition, Definition)
        _same(definition.root, event_template(event, 1)[0])


def test_system_plan_places_every_field() -> None:
    chunk, offset = _first_definition(evtx_bytes([EVENT]))
    plan = system_plan(read_definition(chunk, offset).root)
    assert plan.problem is None
    assert plan.fields["event_id"].source is Source.SLOT and plan.fields["event_id"].slot == 3
    assert plan.fields["computer"].source is Source.CONSTANT
    assert plan.fields["computer"].text == "HOST01"
    assert plan.fields["event_source_name"].source is Source.ABSENT
    assert plan.fields["qualifiers"].optional is not False  # written as optional


def test_damaged_definitions_raise_template_error() -> None:
    chunk, offset = _first_definition(evtx_bytes([EVENT]))
    size = struct.unpack_from("<I", chunk, offset + 20)[0]
    for cut in (5, 40, size // 2, size - 1):
        damaged = bytearray(chunk)
        struct.pack_into("<I", damaged, offset + 20, cut)  # the data ends too early
        try:
            read_definition(bytes(damaged), offset)
        except TemplateError:
            continue
        raise AssertionError(f"no error for a template cut at {cut}")
    for bad in (0, 100, CHUNK_SIZE - 10):
        try:
            read_definition(chunk, bad)
        except TemplateError:
            continue
        raise AssertionError(f"no error for offset {bad}")


@settings(max_examples=200, deadline=None)
@given(
    at=st.integers(0, 600),
    junk=st.binary(min_size=1, max_size=16),
)
def test_any_damage_gives_a_tree_or_template_error(at: int, junk: bytes) -> None:
    chunk, offset = _first_definition(evtx_bytes([EVENT]))
    damaged = bytearray(chunk)
    start = offset + 24 + at
    damaged[start : start + len(junk)] = junk
    try:
        definition = read_definition(bytes(damaged), offset)
    except TemplateError:
        return
    system_plan(definition.root)  # never raises either


def test_literal_values_other_than_text_are_refused() -> None:
    chunk, offset = _first_definition(evtx_bytes([EVENT]))
    damaged = bytearray(chunk)
    body = bytes(chunk[offset + 24 : offset + 24 + 4000])
    text_token = body.find(bytes([0x05, ValueType.STRING]))
    assert text_token > 0
    damaged[offset + 24 + text_token + 1] = ValueType.UINT32
    try:
        read_definition(bytes(damaged), offset)
    except TemplateError as exc:
        assert "literal value" in str(exc)
    else:
        raise AssertionError("a UInt32 literal was accepted")
