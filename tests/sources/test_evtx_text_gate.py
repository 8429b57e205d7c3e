"""The text gate never rules out a record a decoded value of which holds a literal (as RE2's
``(?i)`` search finds it), and does rule out records that hold none of them."""

from __future__ import annotations

import random
import re
import struct
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pytest
from evtx_raw import raw_evtx, standard_values, system_template
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evtxscan.sources.evtx import text_gate
from evtxscan.sources.evtx.arrays import binary_views
from evtxscan.sources.evtx.binxml import ValueType
from evtxscan.sources.evtx.decode import IndexedRange, decode_indexed, index_ranges
from evtxscan.sources.evtx.layout import CHUNK_MAGIC, FILE_HEADER_SIZE
from evtxscan.sources.evtx.reader import RangeResult, chunk_ranges
from evtxscan.sources.evtx.text_gate import may_hold
from evtxscan.synth import EventSpec, HexInt32, UserData, evtx_bytes
from evtxscan.synth.binxml import Element, Sub, Text, Value

FIRST = 17  # the first value slot after the standard System template's
T0 = datetime(2024, 3, 5, 8, 0, tzinfo=UTC)


def _spec(event_id: int = 1, **fields: object) -> EventSpec:
    return EventSpec("P", event_id, T0, computer="H", **fields)  # type: ignore[arg-type]


def gate_and_truth(data: bytes, literals: frozenset[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per record the index reads: the gate's answer, and whether a decoded value holds one
    of the literals (the Sigma matcher's test: an RE2 search, case ignored)."""
    first = 0 if data[:8] == CHUNK_MAGIC else FILE_HEADER_SIZE
    found = index_ranges([("t", data, chunk_ranges(len(data), first, 64), RangeResult())])
    rows = np.flatnonzero(~found.index.fallback)
    frame = decode_indexed(found, rows)
    where = {offset: i for i, offset in enumerate(found.index.offset[rows].tolist())}
    order = np.array([where[o] for o in frame["offset"].tolist()], dtype=np.int64)
    lists = frame["data"].array._pa_array.combine_chunks()
    values = pc.list_flatten(lists).field("value")
    owners = pc.list_parent_indices(lists).to_numpy()
    pattern = "|".join(re.escape(literal) for literal in sorted(literals))
    hits = pc.match_substring_regex(values, pattern, ignore_case=True).fill_null(False)
    truth = np.zeros(len(frame), dtype=bool)
    truth[owners[np.asarray(hits.to_numpy(zero_copy_only=False), dtype=bool)]] = True
    gate = gate_of(found, found.rows[rows[order]], literals)
    return gate, truth


def gate_of(found: IndexedRange, rows: np.ndarray, literals: frozenset[str]) -> np.ndarray:
    need = np.zeros(len(rows), dtype=np.int64)
    return may_hold(found.indexed, found.cache, rows, need, [literals])


def _event(*data: Element, values: list[Value]) -> tuple[Element, list[Value]]:
    payload = Element("EventData", children=data)
    return system_template(extra=(payload,)), [*standard_values(), *values]


def _data(name: str, *content: Text | Sub) -> Element:
    return Element("Data", (("Name", Text(name)),), content)


def _string(raw: bytes, kind: int = ValueType.STRING) -> Value:
    return Value(kind, raw)


def _one(value: Value) -> tuple[Element, list[Value]]:
    return _event(_data("param1", Sub(FIRST, value.type)), values=[value])


CASES = {
    "plain": (_one(_string("AnyDesk".encode("utf-16-le"))), True),
    "upper, with more": (_one(_string("ANYDESK service".encode("utf-16-le"))), True),
    "KELVIN SIGN": (_one(_string("AnyDes\u212a".encode("utf-16-le"))), True),
    "unpaired surrogate": (
        _one(_string("Any\ud800Desk".encode("utf-16-le", "surrogatepass"))),
        True,
    ),
    "ANSI with NULs": (_one(_string(b"A\0nyDesk", ValueType.ANSI_STRING)), True),
    "template text": (_event(_data("param1", Text("AnyDesk")), values=[]), True),
    "joined with a value": (
        _event(
            _data("param1", Text("Any"), Sub(FIRST, ValueType.STRING)),
            values=[_string("Desk".encode("utf-16-le"))],
        ),
        True,
    ),
    "another service": (_one(_string("Spooler".encode("utf-16-le"))), False),
    "in the System element only": (
        _event(_data("param1", Sub(FIRST, ValueType.STRING)), values=[_string(b"")]),
        False,
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_hand_made_records(name: str) -> None:
    (template, values), holds = CASES[name]
    spooler = _one(_string("Spooler".encode("utf-16-le")))
    gate, truth = gate_and_truth(raw_evtx([(template, values), spooler]), frozenset({"anydesk"}))
    assert truth.tolist() == [holds, False]  # the decoder reads the case as the test expects
    assert gate.tolist() == [holds, False]


def test_a_literal_in_the_system_element_does_not_pass() -> None:
    """The System element's texts (here the Computer name, written in the template) and its
    values (the provider's name) are no payload value."""
    gate, truth = gate_and_truth(
        raw_evtx([_one(_string("x".encode("utf-16-le")))]),
        frozenset({"host01", "control manager"}),
    )
    assert truth.tolist() == gate.tolist() == [False]


def test_values_of_other_types_pass_when_their_text_may_spell_the_literal() -> None:
    events = [
        _spec(data=(("Mask", HexInt32(0xABC)),)),
        _spec(data=(("Flag", True),)),
        _spec(data=(("Name", "nothing here"),)),
    ]
    data = evtx_bytes(events)
    gate, truth = gate_and_truth(data, frozenset({"abc"}))
    assert truth.tolist() == [True, False, False]  # 0xabc
    assert gate.tolist() == [True, False, False]
    gate, truth = gate_and_truth(data, frozenset({"rue"}))
    assert truth.tolist() == [False, True, False]  # true
    assert gate.tolist() == [False, True, False]


def test_user_data_values_are_read() -> None:
    tree = UserData("LogFileCleared", None, (("SubjectUserName", "SAMTHEADMIN-01"), ("N", 3)))
    events = [
        _spec(104, user_data=tree),
        _spec(104, user_data=UserData("X", None, (("A", "b"),))),
    ]
    gate, truth = gate_and_truth(evtx_bytes(events), frozenset({"samtheadmin-"}))
    assert truth.tolist() == gate.tolist() == [True, False]


TEXTS = st.lists(
    st.sampled_from(
        [*"abcdeKkSs019 _-.\\$@:/", "\u212a", "\u017f", "\r\n", "\t", "\x01", "é", "Ω"]
    ),
    max_size=24,
).map("".join)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(TEXTS, min_size=1, max_size=6), st.randoms(use_true_random=False))
def test_random_strings_no_record_that_holds_a_literal_is_ruled_out(
    texts: list[str], rng: random.Random
) -> None:
    events = [_spec(data=(("A", text), ("B", text[::-1]))) for text in texts]
    pool = [t.casefold() for t in texts if len(t) >= 3] or ["abc"]
    literals = set()
    for _ in range(3):
        text = rng.choice(pool)
        start = rng.randrange(0, max(1, len(text) - 2))
        piece = "".join(c for c in text[start : start + rng.randrange(3, 8)] if c.isascii())
        if len(piece) >= 3 and piece.isprintable():
            literals.add(piece)
    gate, truth = gate_and_truth(evtx_bytes(events), frozenset(literals or {"abc"}))
    assert not (truth & ~gate).any()


def test_sample_logs_no_record_that_holds_a_literal_is_ruled_out(samples: Path) -> None:
    """On real logs (classic events with nested instances, UserData, forwarded events),
    literals cut from their own values: no false "no", and some records ruled out."""
    rng = random.Random(7)
    safe = re.compile(r"[A-Za-z0-9_.\-:/\\$@ ]{3,}")
    ruled_out = 0
    for path in sorted(samples.rglob("*.evtx"))[:40]:
        data = path.read_bytes()
        if len(data) < FILE_HEADER_SIZE or "bench" in path.parts:
            continue
        found = index_ranges([("t", data, chunk_ranges(len(data), FILE_HEADER_SIZE, 64),
                               RangeResult())])  # fmt: skip
        rows = np.flatnonzero(~found.index.fallback)
        if not len(rows):
            continue
        values = pc.list_flatten(
            decode_indexed(found, rows)["data"].array._pa_array.combine_chunks()
        ).field("value")
        pool = [m.group(0) for v in values.to_pylist()[:2000] if v for m in safe.finditer(v)]
        for _ in range(3 if pool else 0):
            text = rng.choice(pool)
            start = rng.randrange(0, len(text) - 2)
            literal = text[start : start + rng.randrange(3, 12)].lower()
            gate, truth = gate_and_truth(data, frozenset({literal}))
            assert not (truth & ~gate).any(), (path, literal)
            ruled_out += int((~gate).sum())
    assert ruled_out > 0


def test_no_literals_or_no_records() -> None:
    data = raw_evtx([_one(_string("AnyDesk".encode("utf-16-le")))])
    found = index_ranges([("t", data, chunk_ranges(len(data), FILE_HEADER_SIZE, 64),
                           RangeResult())])  # fmt: skip
    assert gate_of(found, np.zeros(0, np.int64), frozenset({"x"})).size == 0
    assert not gate_of(found, found.rows, frozenset()).any()
    need = np.array([1], dtype=np.int64)  # each record is judged by its own need's literals
    sets = [frozenset({"nothing"}), frozenset({"anydesk"})]
    assert may_hold(found.indexed, found.cache, found.rows, need, sets).tolist() == [True]
    assert not may_hold(found.indexed, found.cache, found.rows, need * 0, sets).any()


def test_value_types_are_spelled_read_or_pass() -> None:
    """Every type of the format is either a string (read), spelled by its text's characters,
    or passes; BinXml outside System is the nested instance (read), inside one it passes
    (pyevtx-rs renders it from templates the gate does not read)."""
    from evtxscan.sources.evtx import text_gate

    strings = 1 << list(text_gate._SPELLINGS).index("")
    for kind in ValueType:
        bits = int(text_gate._TYPE_BITS[kind])
        if kind in (ValueType.STRING, ValueType.ANSI_STRING, ValueType.NULL):
            assert bits == strings, kind
        elif kind == ValueType.BINXML:
            assert bits == text_gate._ANY_BIT and text_gate._OUTER_TYPE_BITS[kind] == 0
        else:
            assert bits and bits != strings, kind
    arrays = text_gate._TYPE_BITS[[kind | 0x80 for kind in ValueType if kind < 0x80]]
    assert (arrays == text_gate._ANY_BIT).all()


def test_a_large_literal_set_is_searched_in_groups() -> None:
    """Thousands of literals (a large rule set's, on one event) are searched a few hundred
    at a time (one RE2 alternation of them all would run hundreds of times slower); a
    literal in the last group is found as one in the first."""
    literals = frozenset(f"service{n:05d}" for n in range(1200))
    data = raw_evtx(
        [
            _one(_string(b"".join(t.encode("utf-16-le") for t in ("x", name))))
            for name in ("Service00000", "SERVICE01199", "service12345")
        ]
    )
    gate, truth = gate_and_truth(data, literals)
    assert truth.tolist() == gate.tolist() == [True, True, False]


def test_a_value_past_its_record_passes_unread(monkeypatch: pytest.MonkeyPatch) -> None:
    """A record whose string value claims more bytes than its record holds passes (the
    decoder leaves it to the renderer), and the gate, which reads a batch's strings at once,
    reads none of that value's bytes (they would run past the buffer)."""
    spooler = _one(_string("Spooler".encode("utf-16-le")))
    damaged = _one(_string("AnyDesk!!".encode("utf-16-le")))
    data = bytearray(raw_evtx([spooler, damaged, spooler]))
    descriptor = struct.pack("<HBB", 18, ValueType.STRING, 0)
    at = data.index(descriptor)
    data[at : at + 2] = struct.pack("<H", 0xFFF0)
    reads: list[tuple[int, int]] = []

    def spied(buf: np.ndarray, at: np.ndarray, size: np.ndarray) -> object:
        reads.append((len(buf), int((at + size).max(initial=0))))
        return binary_views(buf, at, size)

    monkeypatch.setattr(text_gate, "binary_views", spied)
    found = index_ranges([("t", bytes(data), chunk_ranges(len(data), FILE_HEADER_SIZE, 64),
                           RangeResult())])  # fmt: skip
    rows = np.flatnonzero(~found.index.fallback)
    assert len(rows) == 3
    assert gate_of(found, found.rows[rows], frozenset({"anydesk"})).tolist() == [False, True, False]
    assert reads and all(end <= size for size, end in reads)
