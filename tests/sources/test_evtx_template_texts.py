"""Another machine's version of a template (its own GUID and Computer text) is rebuilt from
a parsed one, never parsed again, and only where parsing it would give the same definition:
every lookup equals a fresh parse of its own bytes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evtxscan.sources.evtx import template_texts
from evtxscan.sources.evtx.instances import TemplateCache
from evtxscan.sources.evtx.layout import CHUNK_HEADER_SIZE
from evtxscan.sources.evtx.template import Literal
from evtxscan.synth import EventSpec, evtx_bytes
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


def test_texts_of_other_lengths_are_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    here, there = _place(_event("HOST-0001")), _place(_event("A-LONGER-HOST-NAME"))
    parser = _CountingParser(monkeypatch)
    cache = TemplateCache()
    _looked_up(cache, *here)
    assert _looked_up(cache, *there) == _parsed(*there)
    assert parser.calls == 2


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
@given(at=st.integers(0, 1200), junk=st.binary(min_size=1, max_size=6))
def test_damaged_versions_read_as_parsing_them_reads(at: int, junk: bytes) -> None:
    """Damage anywhere in another machine's chunk: its template's bytes, texts, GUID or the
    names it refers to."""
    here = _place(_event("HOST-0001"))
    chunk, offset = _place(_event("HOST-0002"))
    damaged = bytearray(chunk)
    damaged[CHUNK_HEADER_SIZE + at : CHUNK_HEADER_SIZE + at + len(junk)] = junk
    cache = TemplateCache()
    _looked_up(cache, *here)
    assert _looked_up(cache, bytes(damaged), offset) == _parsed(bytes(damaged), offset)


def test_the_skeletons_stay_within_their_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past its budget the memo forgets everything and goes on giving what parsing gives."""
    monkeypatch.setattr(template_texts, "MAX_KEPT_BYTES", 3_000)
    cache = TemplateCache()
    for number in range(12):
        chunk, offset = _place(_event(f"HOST-{number:04d}", f"name{number:02d}"))
        assert _looked_up(cache, chunk, offset) == _parsed(chunk, offset)
        assert cache._skeletons.kept <= 3_000
