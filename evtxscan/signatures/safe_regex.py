"""Rule regular expressions that cannot stall a scan, whatever the logged text.

Python's ``re`` backtracks: ``srv\\.sys.*Rtl.*NTOSKRNL`` takes cubic time on a 32 K-character
value an attacker logged (35 s for one record), nested quantifiers take exponential time. So
each rule regex is classified when it is loaded:

- at most linear work per searched text (anchored, or no quantifier whose backtracking can
  multiply): Python's ``re``, exact semantics;
- otherwise: the linear-time RE2 engine (google-re2), on the same pattern translated from
  Python's parse tree (``\\d``, ``\\w``, ``\\s`` keep their Unicode meaning; only ``\\b``
  falls back to ASCII word characters);
- neither (lookarounds or backreferences around quantifiers that can multiply): refused,
  with the reason, at load time.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from re import _constants as C  # type: ignore[attr-defined]
from re import _parser as P  # type: ignore[attr-defined]
from typing import Any, Protocol

try:
    import re2
except ImportError:  # pragma: no cover - a declared dependency; refuse instead of stalling
    re2 = None

#: RE2's largest bounded repeat count.
_RE2_MAX_REPEAT = 1000
#: Python's Unicode white space (``str.isspace``), spelled for an RE2 character class.
_SPACE = (
    r"\t\n\x0b\x0c\r\x1c-\x20\x85\xa0\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}"
    r"\x{202f}\x{205f}\x{3000}"
)
_CLASS_OF = {
    C.CATEGORY_DIGIT: r"\p{Nd}",
    C.CATEGORY_NOT_DIGIT: r"\P{Nd}",
    C.CATEGORY_WORD: r"\p{L}\p{N}_",
    C.CATEGORY_SPACE: _SPACE,
}
_NEGATED = {C.CATEGORY_NOT_WORD: C.CATEGORY_WORD, C.CATEGORY_NOT_SPACE: C.CATEGORY_SPACE}
_REPEATS = (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT)
#: Characters that stand for everything when two character sets are compared.
_PROBES = [chr(c) for c in (*range(128), 0x85, 0xA0, 0xE9, 0xC9, 0x663, 0x2028, 0x3000, 0x4E2D)]


class RuleMatch(Protocol):
    """What a rule reads from a match (``re.Match`` and RE2's both have it)."""

    def group(self, index: int | str = 0, /) -> Any: ...

    def groups(self) -> tuple[Any, ...]: ...

    def groupdict(self) -> dict[str, Any]: ...


class RulePattern(Protocol):
    """What a rule needs of a compiled regex (``re.Pattern`` and RE2's both have it)."""

    @property
    def pattern(self) -> Any: ...

    def search(self, string: str, /) -> RuleMatch | None: ...


class UnsafeRegexError(ValueError):
    """A regex that could take super-linear time and no linear engine can run."""


def compile_rule_regex(source: str, *, ignore_case: bool = True) -> RulePattern:
    """Compile ``source`` (Python syntax, DOTALL) for searching untrusted text in linear time.

    Raises ``re.error`` for bad syntax and :class:`UnsafeRegexError` for a regex that only a
    backtracking engine can run and whose backtracking can blow up.
    """
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    compiled = re.compile(source, flags)
    tree = P.parse(source, flags)
    if _degree(tree, anchored=_anchored(tree)) <= 1:
        return compiled  # type: ignore[return-value]
    parts = _lookahead_conjunction(tree)
    if parts is not None and re2 is not None:  # (?=.*A)(?=.*B): "contains A and B"
        translated_parts = [_to_re2(part, compiled.flags, {}) for part in parts]
        if all(t is not None for t in translated_parts):
            return _AllOf(source, [_re2(str(t), source) for t in translated_parts])
    translated = _to_re2(tree, compiled.flags, compiled.groupindex)
    if translated is None or re2 is None:
        raise UnsafeRegexError(
            f"regex {source!r} can take super-linear time on long values (quantifiers whose "
            "backtracking multiplies) and uses lookarounds, backreferences or repeats that the "
            "linear-time engine cannot run: simplify it"
        )
    return _re2(translated, source)


def _re2(translated: str, source: str) -> RulePattern:
    options = re2.Options()
    options.log_errors = False
    try:
        return re2.compile(translated, options)  # type: ignore[no-any-return]
    except re2.error as exc:  # pragma: no cover - the translation only emits RE2 syntax
        raise UnsafeRegexError(f"regex {source!r} cannot be run in linear time: {exc}") from None


class _Found:
    """The match of a conjunction: it says that all parts were found, and no more."""

    def group(self, index: int | str = 0, /) -> Any:
        if index != 0:
            raise IndexError("no such group")
        return ""

    def groups(self) -> tuple[Any, ...]:
        return ()

    def groupdict(self) -> dict[str, Any]:
        return {}


class _AllOf:
    """``(?=.*A)(?=.*B)...`` (DOTALL): true when every part is found somewhere in the text."""

    def __init__(self, source: str, parts: list[RulePattern]) -> None:
        self.pattern, self.parts = source, parts

    def search(self, string: str, /) -> RuleMatch | None:
        text = string
        return _Found() if all(p.search(text) is not None for p in self.parts) else None


def _lookahead_conjunction(tree: Any) -> list[list[Any]] | None:
    """The parts of a pattern made only of ``(?=.*PART)`` lookaheads, else None."""
    items = list(tree)
    if items[:1] in ([(C.AT, C.AT_BEGINNING)], [(C.AT, C.AT_BEGINNING_STRING)]):
        items = items[1:]
    parts = []
    for op, av in items:
        if op is not C.ASSERT or av[0] != 1 or not list(av[1]):
            return None
        first = next(iter(av[1]))
        dot_star = first[0] in (C.MAX_REPEAT, C.MIN_REPEAT) and first[1][:2] == (0, C.MAXREPEAT)
        if not dot_star or list(first[1][2]) != [(C.ANY, None)]:
            return None
        parts.append(list(av[1])[1:])
    return parts or None


# -- how much backtracking a pattern can do ------------------------------------------------


def _anchored(tree: Any) -> bool:
    first = list(tree)[:1]
    return first in ([(C.AT, C.AT_BEGINNING)], [(C.AT, C.AT_BEGINNING_STRING)])


def _unbounded(op: Any, av: Any) -> bool:
    return op in _REPEATS and (av[1] is C.MAXREPEAT or av[1] > 64)


def _degree(tree: Any, *, anchored: bool) -> int:
    """An upper bound on the polynomial degree of the work to search one text.

    An unanchored search tries every start (degree 1). An unbounded repeat adds one when
    giving back characters can make the rest match differently: when what follows it may
    start with a character the repeat also takes. Nested repeats, backreferences and
    conditionals count as unbounded (2 or more)."""
    multiplying, linear = 0, 0
    for items in _sequences(tree):
        for index, (op, av) in enumerate(items):
            if op in (C.GROUPREF, C.GROUPREF_EXISTS):
                return 99
            if not _unbounded(op, av) and not (op in _REPEATS and av[1] > 1):
                continue
            if any(o in _REPEATS and av2[1] > 1 for o, av2 in _walk(av[2])):
                return 99  # a repeat inside a repeat
            if not _unbounded(op, av):
                continue
            follower = _first_chars(items[index + 1 :])
            if follower is not None and _disjoint(_chars(av[2]), follower):
                linear = 1
            else:
                multiplying += 1
    return (0 if anchored else 1) + multiplying + linear


def _walk(tree: Iterable[Any]) -> Iterable[tuple[Any, Any]]:
    for op, av in tree:
        yield op, av
        for sub in _subtrees(op, av):
            yield from _walk(sub)


def _subtrees(op: Any, av: Any) -> list[Any]:
    if op in _REPEATS:
        return [av[2]]
    if op is C.SUBPATTERN:
        return [av[3]]
    if op in (C.ASSERT, C.ASSERT_NOT):
        return [av[1]]
    if op is C.BRANCH:
        return list(av[1])
    if op is C.ATOMIC_GROUP:
        return [av]
    if op is C.GROUPREF_EXISTS:
        return [x for x in av[1:] if x is not None]
    return []


def _sequences(tree: Any) -> Iterable[list[tuple[Any, Any]]]:
    """Every sequence of the pattern (the top one and those inside groups and branches)."""
    items = list(tree)
    yield items
    for op, av in items:
        for sub in _subtrees(op, av):
            yield from _sequences(sub)


Chars = set[str] | None  # None: any character


def _chars(tree: Any) -> Chars:
    """The probe characters a repeat's body can take (None when unknown: anything)."""
    items = list(tree)
    if len(items) != 1:
        return None
    return _element_chars(*items[0])


def _element_chars(op: Any, av: Any) -> Chars:
    if op is C.LITERAL:
        return {chr(av)} | {chr(av).lower(), chr(av).upper()}
    if op is C.NOT_LITERAL:
        return {c for c in _PROBES if c.lower() != chr(av).lower()}
    if op is C.ANY:
        return set(_PROBES)
    if op is C.IN:
        return {c for c in _PROBES if _in_class(c, av)}
    if op is C.SUBPATTERN:
        return _first_chars(list(av[3]))
    if op is C.BRANCH:
        found: set[str] = set()
        for branch in av[1]:
            chars = _first_chars(list(branch))
            if chars is None:
                return None
            found |= chars
        return found
    return None


def _first_chars(items: list[tuple[Any, Any]]) -> Chars:
    """Characters the rest of a sequence can start with; an empty set means "only the end"."""
    if not items:
        return None  # what follows the group is not known here
    op, av = items[0]
    if op is C.AT:
        return set() if av in (C.AT_END, C.AT_END_STRING) else None
    if op in _REPEATS and av[0] == 0:
        return None
    if op in _REPEATS:
        return _chars(av[2])
    return _element_chars(op, av)


def _in_class(char: str, items: list[tuple[Any, Any]]) -> bool:
    negate, hit = False, False
    for op, av in items:
        if op is C.NEGATE:
            negate = True
        elif op is C.LITERAL:
            hit |= char.lower() == chr(av).lower()
        elif op is C.RANGE:
            hit |= any(av[0] <= ord(c) <= av[1] for c in {char, char.lower(), char.upper()})
        elif op is C.CATEGORY:
            hit |= _in_category(char, av)
    return hit != negate


def _in_category(char: str, category: Any) -> bool:
    if category is C.CATEGORY_DIGIT:
        return char.isdecimal()
    if category is C.CATEGORY_SPACE:
        return char.isspace()
    if category is C.CATEGORY_WORD:
        return char.isalnum() or char == "_"
    positive = {C.CATEGORY_NOT_DIGIT: C.CATEGORY_DIGIT, **_NEGATED}.get(category)
    return positive is None or not _in_category(char, positive)


def _disjoint(first: Chars, second: Chars) -> bool:
    return first is not None and second is not None and not first & second


# -- Python parse tree -> RE2 syntax -----------------------------------------------------------


class _Untranslatable(Exception):
    pass


def _to_re2(tree: Any, flags: int, names: Mapping[str, int]) -> str | None:
    groups = {number: name for name, number in names.items()}
    prefix = "(?s)" if flags & re.DOTALL else ""
    prefix += "(?i)" if flags & re.IGNORECASE else ""
    prefix += "(?m)" if flags & re.MULTILINE else ""
    try:
        return prefix + _sequence(tree, groups, flags)
    except _Untranslatable:
        return None


def _literal(code: int) -> str:
    return f"\\x{{{code:x}}}"


def _sequence(tree: Any, groups: dict[int, str], flags: int) -> str:
    return "".join(_node(op, av, groups, flags) for op, av in tree)


def _node(op: Any, av: Any, groups: dict[int, str], flags: int) -> str:
    if op is C.LITERAL:
        return _literal(av)
    if op is C.NOT_LITERAL:
        return f"[^{_literal(av)}]"
    if op is C.ANY:
        return "(?s:.)" if flags & re.DOTALL else "[^\\n]"
    if op is C.IN:
        return _class(av)
    if op is C.BRANCH:
        return "(?:" + "|".join(_sequence(b, groups, flags) for b in av[1]) + ")"
    if op is C.SUBPATTERN:
        number, add, remove, body = av
        inner = _sequence(body, groups, (flags | add) & ~remove)
        if add or remove:
            on = ("i" if add & re.IGNORECASE else "") + ("s" if add & re.DOTALL else "")
            off = ("i" if remove & re.IGNORECASE else "") + ("s" if remove & re.DOTALL else "")
            inner = f"(?{on}{'-' + off if off else ''}:{inner})"
        if number is None:
            return f"(?:{inner})"
        name = groups.get(number)
        return f"(?P<{name}>{inner})" if name else f"({inner})"
    if op in (C.MAX_REPEAT, C.MIN_REPEAT):
        low, high, body = av
        if (high is not C.MAXREPEAT and high > _RE2_MAX_REPEAT) or low > _RE2_MAX_REPEAT:
            raise _Untranslatable
        count = f"{{{low},}}" if high is C.MAXREPEAT else f"{{{low},{high}}}"
        lazy = "?" if op is C.MIN_REPEAT else ""
        return f"(?:{_sequence(body, groups, flags)}){count}{lazy}"
    if op is C.AT:
        return _anchor(av, flags)
    raise _Untranslatable  # lookarounds, backreferences, atomic groups, possessive repeats


def _anchor(at: Any, flags: int) -> str:
    if at in (C.AT_BEGINNING, C.AT_BEGINNING_STRING):
        return "^" if at is C.AT_BEGINNING else r"\A"
    if at is C.AT_END:  # Python's $ also matches before a final newline
        return "$" if flags & re.MULTILINE else r"(?:\n?\z)"
    if at is C.AT_END_STRING:
        return r"\z"
    if at is C.AT_BOUNDARY:
        return r"\b"
    if at is C.AT_NON_BOUNDARY:
        return r"\B"
    raise _Untranslatable


def _class(items: list[tuple[Any, Any]]) -> str:
    negate = bool(items) and items[0][0] is C.NEGATE
    body = items[1:] if negate else items
    if len(body) == 1 and body[0][0] is C.CATEGORY and body[0][1] in _NEGATED:
        negate, body = not negate, [(C.CATEGORY, _NEGATED[body[0][1]])]
    parts = []
    for op, av in body:
        if op is C.LITERAL:
            parts.append(_literal(av))
        elif op is C.RANGE:
            parts.append(f"{_literal(av[0])}-{_literal(av[1])}")
        elif op is C.CATEGORY and av in _CLASS_OF:
            parts.append(_CLASS_OF[av])
        else:
            raise _Untranslatable  # \W or \S beside other items in one class
    return f"[{'^' if negate else ''}{''.join(parts)}]"
