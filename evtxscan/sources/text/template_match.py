"""Match a message template (literal parts between ``%N`` inserts) against a description.

A backtracking regex (``(.*?)`` between literal words) takes time polynomial in the length
of the description, with the number of inserts as the power, on text that almost matches:
Event Viewer exports of thousands of 7031/7040 lines stalled for minutes. Here each literal
part's positions are found once (linear for each part), and the cuts between them are tried
shortest first, as a lazy regex would, with cuts that failed remembered and a fixed bound on
the cuts tried, so one description costs at most :data:`MAX_STEPS` steps.
"""

from __future__ import annotations

import bisect
import re

#: Cuts tried per description before giving up (a description that matches needs a few).
MAX_STEPS = 20_000


class TemplateMatcher:
    """``literals[0] %N literals[1] %M ... literals[-1]`` with ``inserts`` = [N, M, ...].

    ``literals`` are regex sources (white space already loosened to ``\\s*``)."""

    def __init__(self, literals: list[str], inserts: list[int]) -> None:
        if len(literals) != len(inserts) + 1:
            raise ValueError("one more literal part than inserts is needed")
        self.inserts = inserts
        self.first = re.compile(r"\s*" + literals[0], re.DOTALL)
        self.whole = re.compile(r"\s*" + literals[0] + r"\s*", re.DOTALL)
        self.parts = [re.compile(f"(?=({part}))", re.DOTALL) for part in literals[1:-1]]
        self.last = re.compile(f"(?=({literals[-1]}" + r"\s*\Z))", re.DOTALL)
        self.memo = len(set(inserts)) == len(inserts)  # a %N used twice makes cuts depend

    def fullmatch(self, text: str) -> dict[int, str] | None:
        """The text at each insert (by number), or None when the template does not fit."""
        if not self.inserts:
            return {} if self.whole.fullmatch(text) else None
        start = self.first.match(text)
        if start is None:
            return None
        spots = [[(m.start(), m.start() + len(m[1])) for m in p.finditer(text)] for p in self.parts]
        spots.append([(m.start(), len(text)) for m in self.last.finditer(text)])
        search = _Search(text, spots, self.inserts, self.memo)
        return search.values if search.fill(0, start.end()) else None


class _Search:
    def __init__(
        self, text: str, spots: list[list[tuple[int, int]]], inserts: list[int], memo: bool
    ) -> None:
        self.text, self.spots, self.inserts, self.memo = text, spots, inserts, memo
        self.starts = [[start for start, _ in spot] for spot in spots]
        self.values: dict[int, str] = {}
        self.failed: set[tuple[int, int]] = set()
        self.steps = 0

    def fill(self, index: int, position: int) -> bool:
        """Give insert ``index`` the text from ``position`` to a cut, shortest first, then
        fill the rest; True when everything fits."""
        number = self.inserts[index]
        given = self.values.get(number)  # a %N seen before must repeat its text
        spots = self.spots[index]
        for at in range(bisect.bisect_left(self.starts[index], position), len(spots)):
            cut, resume = spots[at]
            self.steps += 1
            if self.steps > MAX_STEPS:
                return False
            value = self.text[position:cut]
            if given is not None and value != given:
                continue
            if self.memo and (index + 1, resume) in self.failed:
                continue
            self.values[number] = value
            if index + 1 == len(self.inserts) or self.fill(index + 1, resume):
                return True
            if given is None:
                del self.values[number]
            if self.memo:
                self.failed.add((index + 1, resume))
        return False
