from pathlib import Path

import pytest

from evtxscan.signatures.loader import load_signatures, parse_signature
from evtxscan.signatures.model import Role, SignatureError

GOOD = """\
id: demo-sig
title: Demo
kb: Q123456
symptoms:
  failed:
    provider: Service Control Manager
    event_id: 7023
    where:
      data.1: {equals: Server}
diagnosis:
  cause: c
  resolution: r
"""


def test_a_valid_signature_loads() -> None:
    signature = parse_signature(GOOD, "demo.yaml")
    assert signature.id == "demo-sig" and signature.symptoms[0].role is Role.REQUIRED
    assert signature.window.total_seconds() == 3600


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        (GOOD.replace("    provider: Service Control Manager\n", ""), 5, "needs a provider"),
        (GOOD.replace("event_id: 7023", "event_id: seven"), 7, "whole number"),
        (GOOD.replace("{equals: Server}", "{equals: Server, regex: x}"), 9, "exactly one of"),
        (GOOD.replace("{equals: Server}", "{regex: '(unclosed'}"), 9, "bad regex"),
        (GOOD.replace("data.1:", "nosuchfield:"), 9, "unknown field"),
        (GOOD.replace("kb: Q123456", "kb: 123"), None, "article ID"),
        (GOOD.replace("  cause: c\n", ""), 10, "missing 'cause'"),
        (GOOD + "correlation:\n  window: soon\n", 14, "duration"),
        (GOOD + "id: again\n", 13, "duplicate key"),
        (GOOD.replace("title: Demo", "title: [unclosed"), 3, "invalid YAML"),
    ],
)
def test_malformed_signatures_fail_with_file_line_and_reason(
    text: str, line: int | None, reason: str
) -> None:
    with pytest.raises(SignatureError) as caught:
        parse_signature(text, "sigs/demo.yaml")
    assert reason in caught.value.reason
    assert caught.value.source == "sigs/demo.yaml"
    if line is not None:
        assert caught.value.line == line, str(caught.value)
    assert str(caught.value).startswith("sigs/demo.yaml")


def test_local_directory_overrides_a_shipped_signature(tmp_path: Path) -> None:
    (tmp_path / "mine.yaml").write_text(GOOD.replace("demo-sig", "q138713-srv-kernel-entry-point"))
    loaded = {s.id: s for s in load_signatures(tmp_path)}
    assert loaded["q138713-srv-kernel-entry-point"].title == "Demo"
    assert len(loaded) == len(load_signatures())
