"""The parsed-signature cache: a hit skips parsing, any change of text misses, a broken or
unwritable cache never breaks loading, and ``off`` turns it off."""

from __future__ import annotations

from pathlib import Path

import pytest

from evtxscan.signatures.loader import load_signatures, parse_signature
from evtxscan.signatures.model import Signature
from evtxscan.signatures.parse_cache import cache_dir, cached_parse


@pytest.fixture()
def shipped() -> list[tuple[str, str]]:
    root = Path(__file__).resolve().parents[2] / "signatures"
    return [(f"signatures/{p.name}", p.read_text("utf-8")) for p in sorted(root.glob("*.yaml"))][:5]


def _counting() -> tuple[list[str], object]:
    calls: list[str] = []

    def parse(text: str, source: str) -> Signature:
        calls.append(source)
        return parse_signature.__wrapped__(text, source)  # type: ignore[attr-defined,no-any-return]

    return calls, parse


def test_second_load_of_the_same_files_does_not_parse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shipped: list[tuple[str, str]]
) -> None:
    monkeypatch.setenv("EVTXSCAN_CACHE_DIR", str(tmp_path))
    calls, parse = _counting()
    first = cached_parse(shipped, parse)  # type: ignore[arg-type]
    assert len(calls) == len(shipped)
    again = cached_parse(shipped, parse)  # type: ignore[arg-type]
    assert len(calls) == len(shipped)
    assert [s.id for s in again] == [s.id for s in first]
    assert [s.cause for s in again] == [s.cause for s in first]


def test_any_change_misses_and_a_broken_file_is_parsed_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shipped: list[tuple[str, str]]
) -> None:
    monkeypatch.setenv("EVTXSCAN_CACHE_DIR", str(tmp_path))
    calls, parse = _counting()
    cached_parse(shipped, parse)  # type: ignore[arg-type]
    source, text = shipped[0]
    changed = [(source, text.replace("\ntitle:", "\ntitle: >-\n  Changed", 1)), *shipped[1:]]
    assert cached_parse(changed, parse)[0].title.startswith("Changed")  # type: ignore[arg-type]
    assert len(calls) == 2 * len(shipped)
    for cached in tmp_path.glob("*.pickle"):
        cached.write_bytes(b"not a pickle")
    assert len(cached_parse(shipped, parse)) == len(shipped)  # type: ignore[arg-type]
    assert len(calls) == 3 * len(shipped)


def test_off_writes_nothing_and_unwritable_still_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVTXSCAN_CACHE_DIR", "off")
    assert cache_dir() is None
    assert load_signatures()
    blocked = tmp_path / "file"
    blocked.write_text("a file where the cache directory would go")
    monkeypatch.setenv("EVTXSCAN_CACHE_DIR", str(blocked / "sub"))
    assert load_signatures()
