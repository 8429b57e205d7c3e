import pyarrow as pa

from evtxscan.records.values import canonical_guid, canonical_values, parse_event_times


def test_guid_values_get_braces_and_upper_case() -> None:
    values = pa.array(
        ["47bfa2b7-bd54-4fac-b70b-29021084ca8f", "{47BFA2B7-BD54-4FAC-B70B-29021084CA8F}", "x"]
    )
    out = canonical_values(values).to_pylist()
    assert out == [
        "{47BFA2B7-BD54-4FAC-B70B-29021084CA8F}",
        "{47BFA2B7-BD54-4FAC-B70B-29021084CA8F}",
        "x",
    ]


def test_guid_inside_text_is_left_alone() -> None:
    text = "id 47bfa2b7-bd54-4fac-b70b-29021084ca8f here"
    assert canonical_values(pa.array([text])).to_pylist() == [text]


def test_null_rendered_as_indent_becomes_empty() -> None:
    out = canonical_values(pa.array(["\n    ", " ", "a\n  "])).to_pylist()
    assert out == ["", " ", "a\n  "]


def test_canonical_guid() -> None:
    assert canonical_guid("{abc00000-0000-0000-0000-000000000000}") == (
        "{ABC00000-0000-0000-0000-000000000000}"
    )


def test_torn_and_out_of_range_times_become_nat_and_are_flagged() -> None:
    times, bad = parse_event_times(
        [
            "2017-09-26T09:09:32.088093Z",
            "1601-01-01T00:00:00.000000Z",
            None,
            "garbage",
            "2017-09-26T09:09:32.088093123Z",
        ]
    )
    assert str(times.dtype) == "datetime64[us, UTC]"
    assert times[0].isoformat() == "2017-09-26T09:09:32.088093+00:00"
    assert times[1] is not times[1] or str(times[1]) == "NaT"
    assert list(bad) == [False, True, True, True, False]
    assert times[4].microsecond == 88093
