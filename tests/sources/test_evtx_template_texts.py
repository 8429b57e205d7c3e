"""Another machine's version of a template (its own GUID and Computer text) is rebuilt from
a parsed one, never parsed again, and only where parsing it would give the same definition:
every lookup equals a fresh parse of its own bytes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from evtx_raw import raw_evtx, s, standard_values, system_template
from hypothesis import given, settings
from hypothesis import strategies as st

from evtxscan.sources.evtx import template_texts
from evtxscan.sources.evtx.binxml import ValueType
from evtxscan.sources.evtx.instances import TemplateCache
from evtxscan.sources.evtx.layout import CHUNK_HEADER_SIZE
from evtxscan.sources.evtx.template import Literal
from evtxscan.synth import EventSpec, evtx_bytes
from evtxscan.synth.binxml import Element, Sub, Text
from tests.sources.test_evtx_template_copies import (
    _CountingParser,
    _looked_up,
    _parsed,
    _places,
)

TIME = datetime(2024, 1, 1, tzinfo=UTC)


def _event(computer: str, name: str = "param1") -> EventSpec:
    return EventSpec(
        provider="Service Control Manager",
        event_id=7036,
        time=TIME,
        computer=computer,
        data=((name, "running"), ("param2", "x")),
    )


def _place(event: EventSpec) -> tuple[bytes, int]:
    ((chunk, offset),) = _places(evtx_bytes([event]))
    return chunk, offset


def _texts(node: object) -> Iterator[str]:
    """Every literal text of a tree, in document order."""
    for _name, pieces in getattr(node, "attributes", ()):
        yield from (piece.text for piece in pieces if isinstance(piece, Literal))
    for item in getattr(node, "content", ()):
        if isinstance(item, Literal):
            yield item.text
        else:
            yield from _texts(item)


def test_a_machine_name_of_the_same_length_is_rebuilt_not_parsed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    here, there = _place(_event("HOST-0001")), _place(_event("HOST-0002"))
    expected = _parsed(*there)
    assert expected is not None and expected != _parsed(*here)
    assert expected.guid != _parsed(*here).guid  # type: ignore[union-attr]
    parser = _CountingParser(monkeypatch)
    cache = TemplateCache()
    first = _looked_up(cache, *here)
    second = _looked_up(cache, *there)
    assert parser.calls == 1
    assert second == expected and second is not None
    assert second.guid == expected.guid  # the GUID is not part of equality's shortcut
    assert "HOST-0002" in _texts(second.root) and "HOST-0001" not in _texts(second.root)
    assert first is not None and "HOST-0001" in _texts(first.root)


def test_an_attribute_text_is_rebuilt_where_it_stands(monkeypatch: pytest.MonkeyPatch) -> None:
    """A data name is an attribute's literal text: another one of the same length too."""
    here, there = _place(_event("HOST-0001", "alpha1")), _place(_event("HOST-0001", "omega9"))
    parser = _CountingParser(monkeypatch)
    cache = TemplateCache()
    _looked_up(cache, *here)
    second = _looked_up(cache, *there)
    assert parser.calls == 1
    assert second == _parsed(*there)
    assert list(_texts(second.root)).count("omega9") == 1  # type: ignore[union-attr]


def _other(computer: str) -> EventSpec:
    """Another template: three values."""
    return EventSpec(
        provider="Service Control Manager",
        event_id=7040,
        time=TIME,
        computer=computer,
        data=(("param1", "a"), ("param2", "b"), ("param3", "c")),
    )


def test_a_name_of_another_length_is_rebuilt_once_met(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first template of a machine whose name has a length not met yet is parsed; its
    next templates are rebuilt from the skeletons of another machine's."""
    short, long = "HOST-0001", "A-MUCH-LONGER-HOST-NAME"
    parser = _CountingParser(monkeypatch)
    cache = TemplateCache()
    for place in (_place(_event(short)), _place(_other(short)), _place(_event(long))):
        assert _looked_up(cache, *place) == _parsed(*place)
    assert parser.calls == 3
    chunk, offset = _place(_other(long))
    found = _looked_up(cache, chunk, offset)
    expected = _parsed(chunk, offset)
    assert parser.calls == 3
    assert found == expected and found is not None and expected is not None
    assert (found.guid, found.data_size) == (expected.guid, expected.data_size)
    assert long in _texts(found.root) and short not in _texts(found.root)


def _raw_places(name: str) -> list[tuple[bytes, int]]:
    """Two templates of a machine called ``name`` (empty too), in one chunk each."""
    data = Element("EventData", children=(Element("Data", children=(Sub(17, ValueType.STRING),)),))
    records = [
        (system_template(computer=Text(name)), standard_values()),
        (system_template(computer=Text(name), extra=(data,)), [*standard_values(), s("x")]),
    ]
    return [place for record in records for place in _places(raw_evtx([record]))]


@pytest.mark.parametrize(
    ("first", "second"),
    [(a, b) for a in ("", "HOST01", "A-LONGER-NAME") for b in ("", "HOST01", "A-LONGER-NAME")],
)
def test_names_of_any_length_empty_too_rebuild_as_parsing_them(
    first: str, second: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    parser = _CountingParser(monkeypatch)
    cache = TemplateCache()
    places = _raw_places(first) + _raw_places(second)
    for chunk, offset in places:
        found, expected = _looked_up(cache, chunk, offset), _parsed(chunk, offset)
        assert found == expected and found is not None and expected is not None
        assert (found.guid, found.data_size) == (expected.guid, expected.data_size)
    # the second machine's first template is parsed when its name's length is new
    assert parser.calls == (2 if len(first) == len(second) else 3)


def test_a_text_that_does_not_decode_is_refused_as_the_parser_refuses_it() -> None:
    here, there = _place(_event("HOST-0001")), _place(_event("HOST-0002"))
    name = "HOST-0002".encode("utf-16-le")
    broken = there[0].replace(name, name[:-2] + b"\x00\xd8", 1)  # an unpaired surrogate
    assert broken != there[0]
    cache = TemplateCache()
    _looked_up(cache, *here)
    assert _parsed(broken, there[1]) is None
    assert cache.lookup(broken, there[1]) == -1


@settings(max_examples=300, deadline=None)
@given(at=st.integers(0, 1200), junk=st.binary(min_size=1, max_size=6), long=st.booleans())
def test_damaged_versions_read_as_parsing_them_reads(at: int, junk: bytes, long: bool) -> None:
    """Damage anywhere in another machine's chunk: its template's bytes, texts, GUID, data
    sizes or the names it refers to; its name of the same length as the first machine's, or
    of a length met in another of its templates."""
    name = "A-MUCH-LONGER-HOST-NAME" if long else "HOST-0002"
    cache = TemplateCache()
    for place in (_place(_event("HOST-0001")), _place(_other("HOST-0001")), _place(_event(name))):
        _looked_up(cache, *place)
    chunk, offset = _place(_other(name))
    damaged = bytearray(chunk)
    damaged[CHUNK_HEADER_SIZE + at : CHUNK_HEADER_SIZE + at + len(junk)] = junk
    found = _looked_up(cache, bytes(damaged), offset)
    expected = _parsed(bytes(damaged), offset)
    assert found == expected
    if found is not None and expected is not None:
        assert (found.guid, found.data_size) == (expected.guid, expected.data_size)


def test_the_skeletons_stay_within_their_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past its budget the memo forgets everything and goes on giving what parsing gives."""
    monkeypatch.setattr(template_texts, "MAX_KEPT_BYTES", 3_000)
    cache = TemplateCache()
    for number in range(12):
        chunk, offset = _place(_event(f"HOST-{number:04d}", f"name{number:02d}"))
        assert _looked_up(cache, chunk, offset) == _parsed(chunk, offset)
        assert cache._skeletons.kept <= 3_000


_TEXTS = st.text(alphabet="abXY-é", max_size=6)


@st.composite
def _payload(draw: st.DrawFn, depth: int = 0) -> Element:
    """A random EventData-like element: attributes, literal texts, substitutions (slot 17
    on: every one a string), nested elements."""
    name = draw(st.sampled_from(["Data", "a", "Bx"]))
    attrs = tuple(
        (key, Text(draw(_TEXTS))) for key in draw(st.sets(st.sampled_from(["Name", "k"])))
    )
    kinds = ["text", "sub"] + (["element"] if depth < 2 else [])
    children: list[Element | Text | Sub] = []
    for kind in draw(st.lists(st.sampled_from(kinds), max_size=4)):
        if kind == "text":
            children.append(Text(draw(_TEXTS)))
        elif kind == "sub":
            children.append(Sub(17, ValueType.STRING))
        else:
            children.append(draw(_payload(depth + 1)))
    return Element(name, attrs, tuple(children))


@settings(max_examples=150, deadline=None)
@given(
    first=_payload(),
    second=_payload(),
    names=st.lists(
        st.sampled_from(["", "A", "HOST01", "HOST-0002", "A-LONGER-NAME"]), min_size=2, max_size=3
    ),
    at=st.integers(0, 1500),
    junk=st.binary(min_size=1, max_size=4),
)
def test_random_templates_of_machines_read_as_parsing_them(
    first: Element, second: Element, names: list[str], at: int, junk: bytes
) -> None:
    """Templates of any structure, on machines named alike or not (empty too), some of them
    damaged: every lookup with one cache equals a fresh parse of its own bytes."""
    places = []
    for name in names:
        for payload in (first, second):
            template = system_template(computer=Text(name), extra=(payload,))
            places += _places(raw_evtx([(template, [*standard_values(), s("v")])]))
    chunk, offset = places[-1]
    damaged = bytearray(chunk)
    damaged[CHUNK_HEADER_SIZE + at : CHUNK_HEADER_SIZE + at + len(junk)] = junk
    places.append((bytes(damaged), offset))
    cache = TemplateCache()
    for chunk, offset in places:
        found, expected = _looked_up(cache, chunk, offset), _parsed(chunk, offset)
        assert found == expected
        if found is not None and expected is not None:
            assert (found.guid, found.data_size) == (expected.guid, expected.data_size)
