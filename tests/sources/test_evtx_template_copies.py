"""A template's copies in other chunks are known without parsing them, and only when parsing
them would give the same definition: every lookup equals a fresh parse of its own bytes."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evtxscan.scanning import read_records
from evtxscan.sources.evtx import instances, template_copies
from evtxscan.sources.evtx.binxml import TEMPLATE_INSTANCE
from evtxscan.sources.evtx.instances import TemplateCache
from evtxscan.sources.evtx.item_tables import item_table
from evtxscan.sources.evtx.layout import (
    CHUNK_HEADER_SIZE,
    CHUNK_MAGIC,
    CHUNK_SIZE,
    FILE_HEADER_SIZE,
    RECORD_HEADER_SIZE,
)
from evtxscan.sources.evtx.template import (
    Definition,
    TemplateError,
    read_definition,
    read_template,
)
from evtxscan.synth import EventSpec, evtx_bytes

TIME = datetime(2024, 1, 1, tzinfo=UTC)
ALPHA = EventSpec(provider="Alpha", event_id=1, time=TIME, data=(("x", "1"),))
BETA = EventSpec(provider="Beta", event_id=2, time=TIME, data=(("y", "2"), ("z", 3)))
GAMMA = EventSpec(provider="Gamma Long Name", event_id=3, time=TIME, data=(("q", "a b"),))
INSTANCE_AT = RECORD_HEADER_SIZE + 4  # after the record header and the fragment header


def _places(data: bytes) -> Iterator[tuple[bytes, int]]:
    """(chunk, definition offset) of each record's template instance, in file order."""
    for start in range(FILE_HEADER_SIZE, len(data) - CHUNK_SIZE + 1, CHUNK_SIZE):
        chunk = data[start : start + CHUNK_SIZE]
        if chunk[:8] != CHUNK_MAGIC:
            continue
        at = CHUNK_HEADER_SIZE
        while at + INSTANCE_AT + TEMPLATE_INSTANCE.size <= CHUNK_SIZE:
            magic, size = struct.unpack_from("<4sI", chunk, at)
            if magic != b"\x2a\x2a\x00\x00" or size < 28 or at + size > CHUNK_SIZE:
                break
            token, _unknown, _id, definition = TEMPLATE_INSTANCE.unpack_from(
                chunk, at + INSTANCE_AT
            )
            if token == 0x0C and CHUNK_HEADER_SIZE <= definition <= CHUNK_SIZE - 24:
                yield chunk, definition
            at += size


def _parsed(chunk: bytes, offset: int) -> Definition | None:
    try:
        return read_definition(chunk, offset)
    except TemplateError:
        return None


def _looked_up(cache: TemplateCache, chunk: bytes, offset: int) -> Definition | None:
    found = cache.lookup(chunk, offset)
    return None if found < 0 else cache.entries[found].definition


class _CountingParser:
    """Counts the parses the cache makes (to see copies were known without one)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        self._parse = read_template
        monkeypatch.setattr(instances, "read_template", self)

    def __call__(self, chunk: bytes, offset: int, names: dict[int, str] | None = None) -> object:
        self.calls += 1
        return self._parse(chunk, offset, names)


def test_copies_in_another_file_are_not_parsed_again(monkeypatch: pytest.MonkeyPatch) -> None:
    first = list(_places(evtx_bytes([ALPHA, BETA])))
    second = list(_places(evtx_bytes([GAMMA, ALPHA, BETA])))
    beta_first, beta_second = first[1], second[2]
    assert beta_first[1] != beta_second[1]  # another place: other bytes, names elsewhere
    parser = _CountingParser(monkeypatch)
    cache = TemplateCache()
    for chunk, offset in first + second:
        assert _looked_up(cache, chunk, offset) == _parsed(chunk, offset)
    assert cache.lookup(beta_second[0], beta_second[1]) == cache.lookup(
        beta_first[0], beta_first[1]
    )
    # Alpha is parsed twice (its names are inline in one file, referred to in the other);
    # Beta's second copy is known; Gamma's template is Alpha's with other texts of the same
    # lengths (its data name, 'q' for 'x') and another GUID: rebuilt, not parsed.
    assert parser.calls == 3


def test_a_copy_whose_names_differ_is_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    first = list(_places(evtx_bytes([ALPHA, BETA])))
    chunk, offset = list(_places(evtx_bytes([GAMMA, ALPHA, BETA])))[2]
    # Rename "Data" where Gamma's template stores it (Beta refers to it there): same
    # length, same bytes in Beta's template, another name.
    renamed = chunk.replace("Data".encode("utf-16-le"), "Dato".encode("utf-16-le"), 1)
    assert renamed != chunk
    cache = TemplateCache()
    for place in first:
        cache.lookup(place[0], place[1])
    parser = _CountingParser(monkeypatch)
    found = _looked_up(cache, renamed, offset)
    assert parser.calls == 1
    assert found == _parsed(renamed, offset)
    assert found != _parsed(*first[1])


@settings(max_examples=300, deadline=None)
@given(at=st.integers(0, 900), junk=st.binary(min_size=1, max_size=6), same=st.booleans())
def test_damaged_copies_read_as_parsing_them_reads(at: int, junk: bytes, same: bool) -> None:
    """Damage anywhere in the chunk, the template's own bytes or the names it refers to;
    the cache has seen the undamaged chunk itself (``same``) or only copies elsewhere."""
    second = list(_places(evtx_bytes([GAMMA, ALPHA, BETA])))
    chunk, offset = second[2]
    seen = second if same else list(_places(evtx_bytes([ALPHA, BETA])))
    damaged = bytearray(chunk)
    damaged[CHUNK_HEADER_SIZE + at : CHUNK_HEADER_SIZE + at + len(junk)] = junk
    cache = TemplateCache()
    for place in seen + seen:  # seen twice: then known by their exact bytes too
        cache.lookup(place[0], place[1])
    assert _looked_up(cache, bytes(damaged), offset) == _parsed(bytes(damaged), offset)


def test_real_logs_read_as_parsing_every_copy(
    samples: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every template place of every sample log (damaged ones included) gets the
    definition its own bytes parse to; most copies are not parsed."""
    cache = TemplateCache()
    parser = _CountingParser(monkeypatch)
    looked_up = 0
    for path in sorted(samples.rglob("*.evtx")):
        for chunk, offset in _places(path.read_bytes()):
            assert _looked_up(cache, chunk, offset) == _parsed(chunk, offset), (path, offset)
            looked_up += 1
    assert looked_up > 1000
    assert parser.calls < looked_up / 2


def test_machines_share_derived_tables_but_keep_their_names(tmp_path: Path) -> None:
    """The same template on two machines differs in its Computer text only: the System
    layout and payload item tables are shared, each record keeps its own computer."""
    here, there = (
        EventSpec(provider="Svc", event_id=7036, time=TIME, computer=name, data=(("p", "x"),))
        for name in ("HOST01", "A-MUCH-LONGER-NAME")
    )
    cache = TemplateCache()
    ids = []
    for event in (here, there):
        ((chunk, offset),) = _places(evtx_bytes([event]))
        ids.append(cache.lookup(chunk, offset))
    first, second = (cache.entries[found] for found in ids)
    assert first.definition != second.definition
    assert first.system.layout == second.system.layout
    shared = item_table(cache, ids[0], -1, -1)
    assert item_table(cache, ids[1], -1, -1) is shared
    alone = TemplateCache()
    ((chunk, offset),) = _places(evtx_bytes([there]))
    own = item_table(alone, alone.lookup(chunk, offset), -1, -1)
    assert own.__dict__.keys() == shared.__dict__.keys()
    for name, value in own.__dict__.items():
        assert str(value) == str(shared.__dict__[name]), name
    later = replace(here, time=TIME + timedelta(hours=1))  # not a byte-identical copy
    for number, event in enumerate((here, there, later)):
        (tmp_path / f"{number}.evtx").write_bytes(evtx_bytes([event]))
    computers = [
        computer
        for batch in read_records(sorted(tmp_path.glob("*.evtx")), backend="rust")
        for computer in batch["computer"].astype(str)
    ]
    assert computers == ["HOST01", "A-MUCH-LONGER-NAME", "HOST01"]


def test_the_memo_stays_within_its_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past its budget the memo forgets everything (template ids stay valid) and then
    goes on giving what parsing gives."""
    monkeypatch.setattr(template_copies, "MAX_KEPT_BYTES", 4_000)
    events = [  # a template each: the data names are written in the template
        EventSpec(provider="P", event_id=number, time=TIME, data=((f"n{number}", "y"),))
        for number in range(60)
    ]
    places = list(_places(evtx_bytes(events))) + list(_places(evtx_bytes(events[::-1])))
    cache = TemplateCache()
    largest = 0
    for chunk, offset in places + places:
        assert _looked_up(cache, chunk, offset) == _parsed(chunk, offset)
        largest = max(largest, cache._places._kept)
    assert 0 < largest < 4_000 + 8_000  # one place's worth past it at most (700 KB unbounded)
