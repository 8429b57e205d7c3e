"""Choose the message template of a record among the candidates of its (provider, event ID).

Several templates can share a (provider, event ID): message files shared by several
providers, releases that reworded or extended an event, and task/opcode/keyword names that
the catalog extraction kept under the same number. The record itself tells them apart:

1. a template may only use inserts the record has (``%N`` with N <= its number of values);
2. a bare label (``Start``, ``Boot Chain Signer Hard Enforced``) is never a message;
3. with named data (``<Data Name="NewTime">``), each ``%N`` of a template should sit next to
   words of the Nth value's name ("The system time has changed to %1" fits ``NewTime``;
   "Process %1 started at ..." does not fit it). The best-aligned template wins (more inserts
   break ties: "Logon Type: %9 ... Elevated Token: %27" over its 20-insert ancestor);
4. without names (legacy events, ``param1``...), the template using the most inserts wins;
5. without evidence, a sibling's template never wins over the provider's own.

A pin (``evtxscan/data/messages/templates/rules.yaml``) settles a case the rules cannot. When no
candidate fits, or two different templates fit equally, the answer is "none": the renderer
then falls back rather than show a wrong sentence.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cache

from evtxscan.messages.templates import Candidate, used_inserts

ALIGNED = 0.5  # share of a template's inserts that must sit next to their value's name
_GENERIC_NAME = re.compile(r"^(?:param\d+|data\d*|string\d*|value\d*|binary|)$", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]+")
_STOP = frozenset(
    {"the", "and", "for", "with", "from", "was", "has", "this", "that", "are"}
    | {"is", "of", "to", "in", "on", "at", "by", "or", "an", "as", "be"}
)
_BEFORE_CHARS, _BEFORE_WORDS, _AFTER_CHARS, _AFTER_WORDS = 80, 6, 50, 5


class Verdict(StrEnum):
    """Why a choice came out as it did (reported by the benchmark for fallbacks)."""

    CHOSEN = "chosen"
    PINNED = "pinned"
    NO_CANDIDATE = "no candidate"
    NO_FIT = "no candidate fits the record"
    AMBIGUOUS = "several candidates fit equally"


@dataclass(frozen=True)
class Choice:
    """The outcome: the template text (None unless chosen or pinned) and the verdict."""

    text: str | None
    verdict: Verdict


def _stem(word: str) -> str:
    return word.lower()[:5]


@cache
def name_words(name: str) -> frozenset[str]:
    """Stems of the words of a data name: ``InstallDeviceID.DriverName`` -> install, devic..."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1 \2", name))
    words = re.split(r"[^A-Za-z0-9]+", spaced)
    return frozenset(_stem(w) for w in words if len(w) >= 2 and w.lower() not in _STOP)


def informative(names: Sequence[str | None]) -> bool:
    """Whether the data names say anything (not empty, not ``param1``, ``Data``...)."""
    return any(not _GENERIC_NAME.match(name or "") for name in names)


def is_label(text: str) -> bool:
    """A task/opcode/keyword name kept in the catalog, not a message: short, no inserts,
    no sentence end, every word capitalised (``Start``, ``Iommu Protection``)."""
    if used_inserts(text):
        return False
    stripped = text.strip().rstrip("%0").strip()
    words = stripped.split()
    if len(words) <= 1:
        return True
    capitalised = all(not w[0].isalpha() or w[0].isupper() for w in words)
    return len(words) <= 6 and capitalised and not stripped.endswith((".", "!", "?", ":"))


def _context(text: str, start: int, end: int) -> set[str]:
    plain = text.replace("%n", " ").replace("%t", " ")
    before = _WORD.findall(plain[max(0, start - _BEFORE_CHARS) : start])[-_BEFORE_WORDS:]
    after = _WORD.findall(plain[end : end + _AFTER_CHARS])[:_AFTER_WORDS]
    return {_stem(w) for w in before + after}


@cache
def _positions(text: str) -> dict[int, list[tuple[int, int]]]:
    found: dict[int, list[tuple[int, int]]] = {}
    for match in re.finditer(r"%%|%(\d{1,2})", text):
        if match.group(1) and int(match.group(1)) > 0:
            found.setdefault(int(match.group(1)), []).append(match.span())
    return found


def alignment(text: str, names: Sequence[str | None]) -> float:
    """Share of the template's inserts whose surrounding words match their value's name."""
    positions = _positions(text)
    if not positions:
        return 0.0
    hits = 0
    for number, spans in positions.items():
        words = name_words(names[number - 1] or "") if number <= len(names) else frozenset()
        if words and any(words & _context(text, *span) for span in spans):
            hits += 1
    return hits / len(positions)


def _single(candidates: Sequence[Candidate]) -> Choice:
    return (
        Choice(candidates[0].text, Verdict.CHOSEN)
        if len({c.text for c in candidates}) == 1
        else Choice(None, Verdict.AMBIGUOUS)
    )


def _best(ranked: list[tuple[tuple[float, int], Candidate]]) -> Choice:
    ranked.sort(key=lambda item: item[0], reverse=True)
    top = [c for key, c in ranked if key == ranked[0][0]]
    own = [c for c in top if c.own]
    return _single(own or top)


def choose(
    candidates: Sequence[Candidate],
    names: Sequence[str | None],
    pins: Mapping[str, str | None] | None = None,
) -> Choice:
    """The template for a record with these data ``names`` (one per value, in order).

    ``pins``: text prefix -> None, from the pin file for this (provider, event): the first
    fitting candidate that starts with a pinned prefix is taken.
    """
    if not candidates:
        return Choice(None, Verdict.NO_CANDIDATE)
    count = len(names)
    fit = [c for c in candidates if max(c.inserts, default=0) <= count and not is_label(c.text)]
    if not fit:
        return Choice(None, Verdict.NO_FIT)
    for prefix in pins or {}:
        pinned = [c for c in fit if c.text.startswith(prefix)]
        if pinned:
            return Choice(pinned[0].text, Verdict.PINNED)
    if len({c.text for c in fit}) == 1:
        return Choice(fit[0].text, Verdict.CHOSEN)
    own = [c for c in fit if c.own]
    with_inserts = [c for c in fit if c.inserts]
    if informative(names):
        scored = [((alignment(c.text, names), len(c.inserts)), c) for c in with_inserts]
        aligned = [(key, c) for key, c in scored if key[0] >= ALIGNED]
        if aligned:
            return _best(aligned)
        # Without evidence a sibling's template never wins; the provider's own sole one does.
        return _single(own) if own else Choice(None, Verdict.AMBIGUOUS)
    pool = own or fit
    ranked = [((0.0, len(c.inserts)), c) for c in pool if c.inserts]
    return _best(ranked) if ranked else _single(pool)
