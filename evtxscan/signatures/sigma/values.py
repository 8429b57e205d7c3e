"""pySigma values -> our matchers (RE2 patterns, integer sets, CIDR networks, ...).

Sigma strings match case-insensitively; ``*`` is any run of characters and ``?`` one
character; ``contains``/``startswith``/``endswith`` are wildcards pySigma already added. A
``re`` value is a regular expression searched in the value, case-sensitive unless flagged.
Every pattern is checked with RE2 (the engine Arrow runs) when it is built, so a pattern
RE2 cannot run in linear time (look-around, back-references) refuses its rule at load time.
"""

from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.compute as pc
from sigma.types import (
    CompareOperators,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SigmaTimestampPart,
    SigmaType,
    SpecialChars,
)

from evtxscan.signatures.sigma.expression import (
    Cidr,
    Compare,
    CompareOp,
    Exists,
    Integers,
    IsNull,
    Matcher,
    SameAs,
    Text,
)
from evtxscan.signatures.sigma.fields import resolve


class UnsupportedValue(ValueError):
    """A Sigma value evtxscan cannot evaluate; the message is the refusal reason."""


_COMPARE = {
    CompareOperators.LT: CompareOp.LT,
    CompareOperators.LTE: CompareOp.LTE,
    CompareOperators.GT: CompareOp.GT,
    CompareOperators.GTE: CompareOp.GTE,
    CompareOperators.NEQ: CompareOp.NEQ,
}
_REGEX_FLAGS = {
    SigmaRegularExpressionFlag.IGNORECASE: "i",
    SigmaRegularExpressionFlag.MULTILINE: "m",
    SigmaRegularExpressionFlag.DOTALL: "s",
}
_PROBE = pa.array([""], pa.string())
_SAFE_LITERAL = re.compile(r"[A-Za-z0-9_.\-:/\\$@ ]+")


def check_re2(pattern: str, ignore_case: bool) -> None:
    """Raise UnsupportedValue when RE2 refuses the pattern (the reason says why)."""
    try:
        pc.match_substring_regex(_PROBE, pattern, ignore_case=ignore_case)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise UnsupportedValue(
            f"regular expression {pattern!r} cannot run on RE2, the linear-time engine "
            f"evtxscan uses ({exc})"
        ) from exc


def escape(text: str) -> str:
    """A literal for RE2: ASCII punctuation backslash-escaped, control characters as hex."""
    out = []
    for char in text:
        code = ord(char)
        if char.isalnum() or char in "_ " or code > 127:
            out.append(char)
        elif code < 32 or code == 127:
            out.append(f"\\x{{{code:02x}}}")
        else:
            out.append("\\" + char)
    return "".join(out)


def string_pattern(value: SigmaString, *, keyword: bool = False) -> tuple[str, str | None]:
    """(RE2 alternative, plain literal or None) for a Sigma string.

    Anchored at both ends unless it starts/ends with ``*``; a keyword (full-text search) is
    never anchored, as full-text search finds a word anywhere in the event.
    """
    parts = list(value.s)
    if any(not isinstance(p, str | SpecialChars) for p in parts):
        raise UnsupportedValue(f"placeholder in value {value.original!r} (expand modifier)")
    plain = all(isinstance(p, str) for p in parts)
    literal = "".join(str(p) for p in parts) if plain else None
    start = "" if keyword or (parts and parts[0] is SpecialChars.WILDCARD_MULTI) else "^"
    end = "" if keyword or (parts and parts[-1] is SpecialChars.WILDCARD_MULTI) else "$"
    if start == "" and parts and parts[0] is SpecialChars.WILDCARD_MULTI:
        parts = parts[1:]
    if end == "" and parts and parts[-1] is SpecialChars.WILDCARD_MULTI:
        parts = parts[:-1]
    body = []
    for part in parts:
        if part is SpecialChars.WILDCARD_MULTI:
            body.append(".*")
        elif part is SpecialChars.WILDCARD_SINGLE:
            body.append(".")
        else:
            body.append(escape(str(part)))
    return start + "".join(body) + end, (None if keyword else literal)


def fragment(value: SigmaString) -> str | None:
    """The longest run of safe characters in the plain text of a Sigma string, as a probe
    literal: 3+ ASCII letters, digits and ``_.-:/\\$@`` or spaces (text that reads the same
    in an event's XML, where ``&<>"'`` are escaped and GUIDs may lack braces), lower-cased."""
    runs = [run for p in value.s if isinstance(p, str) for run in _SAFE_LITERAL.findall(p)]
    best = max(runs, key=len, default="")
    return best.lower() if len(best) >= 3 else None


def text_matcher(value: SigmaString, *, keyword: bool = False) -> Text:
    """A Sigma string as a Text matcher (case-insensitive unless ``cased``)."""
    pattern, literal = string_pattern(value, keyword=keyword)
    ignore_case = not isinstance(value, SigmaCasedString)
    full = "(?s)" + pattern
    check_re2(full, ignore_case)
    exact = frozenset({literal.casefold()}) if literal is not None and ignore_case else None
    piece = fragment(value)
    fragments = frozenset({piece}) if piece is not None else None
    return Text(full, ignore_case=ignore_case, exact=exact, fragments=fragments)


def regex_matcher(value: SigmaRegularExpression) -> Text:
    """A Sigma ``re`` value: searched, case-sensitive unless flagged."""
    flags = "".join(sorted(_REGEX_FLAGS[f] for f in value.flags))
    pattern = (f"(?{flags})" if flags else "") + str(value.regexp)
    check_re2(pattern, False)
    return Text(pattern, ignore_case=False)


def _number_text(number: int | float) -> Text:
    return text_matcher(SigmaString(str(number)))


def matcher_for(value: SigmaType) -> Matcher:
    """The matcher for one (modified) field value; UnsupportedValue says what is not run."""
    if isinstance(value, SigmaString):
        return text_matcher(value)
    if isinstance(value, SigmaRegularExpression):
        return regex_matcher(value)
    if isinstance(value, SigmaBool):
        return text_matcher(SigmaString("true" if value.boolean else "false"))
    if isinstance(value, SigmaTimestampPart):
        raise UnsupportedValue("time-part modifiers (minute, hour, ...) are not supported")
    if isinstance(value, SigmaNumber):
        if isinstance(value.number, int):
            return Integers(frozenset({value.number}))
        return _number_text(value.number)
    if isinstance(value, SigmaNull):
        return IsNull()
    if isinstance(value, SigmaExists):
        return Exists(bool(value.exists))
    if isinstance(value, SigmaCIDRExpression):
        return Cidr((value.network,))
    if isinstance(value, SigmaCompareExpression):
        return Compare(_COMPARE[value.op], float(value.number.number))
    if isinstance(value, SigmaFieldReference):
        if value.starts_with or value.ends_with:
            raise UnsupportedValue("fieldref with startswith/endswith is not supported")
        return SameAs(resolve(value.field))
    raise UnsupportedValue(f"value type {type(value).__name__} is not supported")


def keyword_matcher(value: SigmaType) -> Text:
    """A keyword (a value without a field): case-insensitive text found anywhere."""
    if isinstance(value, SigmaString):
        return text_matcher(value, keyword=True)
    if isinstance(value, SigmaNumber):
        return text_matcher(SigmaString(str(value.number)), keyword=True)
    if isinstance(value, SigmaRegularExpression):
        return regex_matcher(value)
    raise UnsupportedValue(f"keyword of type {type(value).__name__} is not supported")
