"""Hostile YAML is refused with file and line; ordinary YAML loads with key lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evtxscan.signatures.loader import KEYS, parse_signature
from evtxscan.signatures.model import SignatureError
from evtxscan.signatures.safe_yaml import LineMap, YamlInputError, YamlLimits, load_yaml_text

LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(8)
)


def test_ordinary_yaml_loads_with_lines() -> None:
    loaded = load_yaml_text("a: 1\nb:\n  c: [1, 2]\n", source="x.yaml")
    assert isinstance(loaded, LineMap) and loaded == {"a": 1, "b": {"c": [1, 2]}}
    assert loaded.lines == {"a": 1, "b": 2} and loaded["b"].lines == {"c": 3}


def test_small_aliases_are_fine() -> None:
    loaded = load_yaml_text("a: &x [1, 2]\nb: *x\n", source="x.yaml")
    assert loaded == {"a": [1, 2], "b": [1, 2]}


@pytest.mark.parametrize(
    ("text", "reason", "line"),
    [
        (LAUGHS, "nodes once aliases are expanded", None),
        ("[" * 200 + "]" * 200, "nested deeper than 64", 1),
        ("a:\n" + "".join("  " * i + "- \n" for i in range(1, 80)), "nested deeper", None),
        ("a: &a [*a]\n", "refers to itself", 1),
        ("a: 1\nb: 2\na: 3\n", "duplicate key 'a'", 3),
        ("a: [unclosed\n", "invalid YAML", None),
        ("a: !!python/object:os.system ls\n", "invalid YAML", None),
        ("? [1, 2]\n: x\n", "a key must be text", 1),
        ("a: 2001-13-45\n", "unreadable value", None),
        ("a: " + "9" * 5000 + "\n", "unreadable value", None),
    ],
)
def test_hostile_yaml_is_refused_with_its_location(
    text: str, reason: str, line: int | None
) -> None:
    with pytest.raises(YamlInputError) as caught:
        load_yaml_text(text, source="rules/bad.yaml")
    assert reason in caught.value.reason, caught.value
    assert str(caught.value).startswith("rules/bad.yaml")
    if line is not None:
        assert caught.value.line == line


def test_size_limit_is_checked_before_parsing() -> None:
    with pytest.raises(YamlInputError, match="larger than 100 characters"):
        load_yaml_text("a: " + "x" * 200, source="big.yaml", limits=YamlLimits(max_chars=100))


def test_signature_loader_uses_the_guard_and_refuses_unknown_keys() -> None:
    with pytest.raises(SignatureError, match="nodes once aliases"):
        parse_signature(LAUGHS, "sigs/laughs.yaml")
    good = (
        "id: demo\ntitle: Demo\nsymptoms:\n  s:\n    provider: P\n    event_id: 1\n"
        "    evnt_id: 2\ndiagnosis: {cause: c, resolution: r}\n"
    )
    with pytest.raises(SignatureError) as caught:
        parse_signature(good, "sigs/typo.yaml")
    assert "unknown key 'evnt_id' in symptom" in caught.value.reason and caught.value.line == 7


def test_loader_keys_mirror_the_schema() -> None:
    schema = json.loads((Path(__file__).parents[2] / "signatures" / "schema.json").read_text())
    defs = schema["$defs"]
    assert KEYS["signature"] == set(schema["properties"])
    for name in ("applies_to", "correlation", "confidence", "diagnosis"):
        assert KEYS[name] == set(schema["properties"][name]["properties"]), name
    for name in ("condition", "symptom", "extraction", "test", "event"):
        assert KEYS[name] == set(defs[name]["properties"]), name
