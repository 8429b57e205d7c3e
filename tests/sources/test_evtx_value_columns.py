"""Column-wise value texts equal pyevtx-rs' spelling (value_text) value by value."""

from __future__ import annotations

import struct
import uuid

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from evtxscan.sources.evtx.arrays import Reader
from evtxscan.sources.evtx.binxml import ValueType
from evtxscan.sources.evtx.value_columns import Flag, render, text_flags
from evtxscan.sources.evtx.value_text import REFUSED, value_text

_STRINGS = st.text(max_size=20).map(lambda t: t.encode("utf-16-le", "surrogatepass")) | st.binary(
    max_size=21
)
_VALUES = st.one_of(
    st.tuples(st.just(ValueType.STRING), _STRINGS),
    st.tuples(
        st.sampled_from([3, 4, 5, 6, 7, 8, 9, 10, 0x14, 0x15]), st.binary(min_size=8, max_size=8)
    ),
    st.tuples(st.just(ValueType.SIZE_T), st.binary(min_size=8, max_size=8)),
    st.tuples(st.just(ValueType.GUID), st.uuids().map(lambda u: u.bytes_le)),
    st.tuples(
        st.just(ValueType.SID),
        st.sampled_from([bytes([1, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0]), b"\1\5"]),
    ),
    st.tuples(st.just(ValueType.BOOL), st.integers(-3, 3).map(lambda v: struct.pack("<i", v))),
    st.tuples(
        st.just(ValueType.FILETIME), st.integers(0, 2**64 - 1).map(lambda v: struct.pack("<Q", v))
    ),
    st.tuples(st.just(ValueType.BINARY), st.binary(max_size=9)),
    st.tuples(st.sampled_from([0x02, 0x0B, 0x0C, 0x12, 0x00]), st.binary(max_size=16)),
)
_NATURAL = {
    3: 1,
    4: 1,
    5: 2,
    6: 2,
    7: 4,
    8: 4,
    9: 8,
    10: 8,
    0x14: 4,
    0x15: 8,
    0x0B: 4,
    0x0C: 8,
    0x12: 16,
}


def _fit(value_type: int, raw: bytes) -> bytes:
    size = _NATURAL.get(value_type)
    return raw if size is None else raw.ljust(size, b"\0")[:size]


@settings(max_examples=150, deadline=None)
@given(values=st.lists(_VALUES, max_size=40))
def test_every_value_renders_as_value_text_does(values: list[tuple[int, bytes]]) -> None:
    values = [(t, _fit(t, raw)) for t, raw in values]
    buf = b"\xcc" + b"".join(raw for _, raw in values) + b"\0" * 16
    at = np.cumsum([1] + [len(raw) for _, raw in values])[:-1].astype(np.int64)
    kinds = np.array([t for t, _ in values], dtype=np.int64)
    sizes = np.array([len(raw) for _, raw in values], dtype=np.int64)
    texts, refused, flags = render(Reader(np.frombuffer(buf, np.uint8)), kinds, at, sizes)
    for i, (value_type, raw) in enumerate(values):
        try:
            expected: str | None = value_text(value_type, raw)
        except REFUSED:
            expected = None
        if value_type == ValueType.GUID and expected:
            expected = "{" + expected + "}"  # GUIDs come out in canonical form
        assert (None if refused[i] else texts[i].as_py()) == expected, (value_type, raw)
        if expected is not None:
            unsafe = bool(flags[i] & Flag.UNSAFE)
            assert unsafe == bool(text_flags(expected) & Flag.UNSAFE)
            assert bool(flags[i] & Flag.CR) == ("\r" in expected)


def test_flags_name_what_later_rules_change() -> None:
    assert text_flags("plain") == 0
    assert text_flags("a\x01b") & Flag.UNSAFE
    assert text_flags("a\r\nb") & Flag.CR and text_flags("a\r\nb") & Flag.SPACE
    assert text_flags("\n  ") & Flag.CANONICAL
    assert text_flags(str(uuid.UUID(int=5))) & Flag.CANONICAL
