"""Rule regexes run in linear time on hostile values, with Python's meaning."""

from __future__ import annotations

import re

import pytest

from evtxscan.signatures.loader import parse_signature
from evtxscan.signatures.model import SignatureError
from evtxscan.signatures.safe_regex import UnsafeRegexError, compile_rule_regex

#: Patterns of the shipped signatures and Sigma rules, and texts to compare engines on.
PATTERNS = [
    r"^\s*(\S+?\.exe)\b",
    r"(\?\S+@\S*)",
    r"^\s*(.+?)\s+-\s",
    r"path\s+(\S.*?)\.*\s*$",
    r"\n(.*?)\.?\s*$",
    r"srv\.sys.*RtlIsNameLegalDOS8Dot3.*NTOSKRNL\.EXE",
    r"entry ?point|ordinal \d+",
    r"^(?!\s*sna ?base\s*$)",
    r"\?HrRegisterProtocol@@[^ ]*.*\bnetif\.dll",
    r"([^\s\"]+\.(?:dll|exe|sys|drv|ocx|cpl))",
    r"\$env:ComSpec\[(\s*\d{1,3}\s*,){2}",
    r"(?P<n>\d+)\s+(\w+)\W+\d{,2}x\Z",
    r"(?=.*\bEcFloraToLpstr\b)(?=.*\baddress\.dll\b)",
    r"(?i:abc)+DEF",
]
TEXTS = [
    "",
    "  C:\\WINNT\\system32\\srv.sys rtlisnamelegaldos8dot3 in NTOSKRNL.EXE",
    "The procedure entry point ?HrRegisterProtocol@@YGJPAU_X@@ could not be located in netif.dll",
    "path  C:\\Program Files\\x ...  \n",
    "line one\nerror text.  \n",
    "  SnaBase ",
    "\u3000 héllo.exe - more",
    "$env:ComSpec[ 4, 15 ,25]",
    "a ٣4  héllo, 5x",
    "9 word --12x\n",
    "ADDRESS.DLL then ecfloratolpstr",
    "abcABCdef",
]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_safe_engine_agrees_with_python(pattern: str) -> None:
    safe = compile_rule_regex(pattern)
    python = re.compile(pattern, re.IGNORECASE | re.DOTALL)
    for text in TEXTS:
        ours, theirs = safe.search(text), python.search(text)
        assert (ours is None) == (theirs is None), (pattern, text)
        if ours is not None and python.groups and not pattern.startswith("(?="):
            assert ours.group(1) == theirs.group(1), (pattern, text)  # type: ignore[union-attr]


def test_patterns_that_backtrack_polynomially_run_on_the_linear_engine() -> None:
    pattern = compile_rule_regex(r"srv\.sys.*RtlIsNameLegalDOS8Dot3.*NTOSKRNL\.EXE")
    assert not isinstance(pattern, re.Pattern)
    hostile = "srv.sys RtlIsNameLegalDOS8Dot3 " * 2000  # cubic for re: minutes
    assert pattern.search(hostile) is None
    assert compile_rule_regex(r"(a+)+$").search("a" * 50_000 + "!") is None  # exponential for re
    anded = compile_rule_regex(r"(?=.*\bUuid\b)(?=.*\brpcrt4\.dll\b)")
    assert anded.search("x" * 100_000) is None


def test_linear_patterns_keep_python_re() -> None:
    assert isinstance(compile_rule_regex(r"\bmsvcrt\.dll"), re.Pattern)
    assert isinstance(compile_rule_regex(r"^(?!\s*sna ?base\s*$)"), re.Pattern)


@pytest.mark.parametrize(
    "pattern", [r"(a)\1", r"(?=a)(a+)+$", r"(\w+)\s*(?<!x)\w+y", r"(?>a+)+b", r"a{1001,}b+c.*d"]
)
def test_patterns_no_engine_runs_safely_are_refused(pattern: str) -> None:
    with pytest.raises(UnsafeRegexError, match="super-linear"):
        compile_rule_regex(pattern)


def test_signature_with_unsafe_regex_is_refused_at_load_with_its_line() -> None:
    text = (
        "id: demo\ntitle: Demo\nsymptoms:\n  s:\n    provider: P\n    event_id: 1\n"
        "    where:\n      data.1: {regex: '(x+)+\\1'}\ndiagnosis: {cause: c, resolution: r}\n"
    )
    with pytest.raises(SignatureError) as caught:
        parse_signature(text, "sigs/redos.yaml")
    assert "super-linear" in caught.value.reason and caught.value.line == 8
