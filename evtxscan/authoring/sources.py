"""Event sources as articles write them, and the provider names Windows logs.

Spellings that differ only in case, spaces or punctuation are one source; the most common
spelling among the archive's labelled citations wins (``NETLOGON`` over ``Netlogon``), and a
hand-made alias table merges abbreviations and typos the articles use (``SCM``, ``Dr.
Watson``, ``MTA``, ``ISPriv``...). The spelling counts are data (``data/source_spellings.json``),
counted by :func:`evtxscan.authoring.source_table.count_spellings` over the article pages'
labelled citations, so a single article is normalized the same way as the whole corpus.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources

#: Abbreviations, other names and typos, by normalized key, and the provider name they mean.
HAND_ALIASES: Mapping[str, str] = {
    "scm": "Service Control Manager",
    "servicecontrolmar": "Service Control Manager",
    "servicecontrolmodule": "Service Control Manager",
    "servicecontrolmanagererror": "Service Control Manager",
    "drwatson": "DrWatson",
    "drwatsonlog": "DrWatson",
    "applicationspopup": "Application Popup",
    "eventlog": "EventLog",
    "netlogon": "NETLOGON",
    "svr": "Srv",
    "tcpip": "Tcpip",
    "tcpipsys": "Tcpip",
    "dhcp": "Dhcp",
    "dhcpserver": "DhcpServer",
    "remoteaccess": "RemoteAccess",
    "remoteaccessservice": "RemoteAccess",
    "ras": "RemoteAccess",
    "clustersvc": "ClusSvc",
    "comtransactionintegrator": "COMTI",
    "snaserver": "SNA Server",
    "snaserverservice": "SNA Server",
    "snaserversnadump": "SNA Server",
    "snadumplog": "SNA Server",
    "mta": "MSExchangeMTA",
    "msexchangemta": "MSExchangeMTA",
    "mtaopsys": "MSExchangeMTA",
    "imc": "MSExchangeIMC",
    "mseechangeimc": "MSExchangeIMC",
    "msexchangimc": "MSExchangeIMC",
    "msexchangeimc": "MSExchangeIMC",
    "msexchis": "MSExchangeIS",
    "msexchangeis": "MSExchangeIS",
    "ispriv": "MSExchangeIS Private",
    "isprivate": "MSExchangeIS Private",
    "msexchangeprivate": "MSExchangeIS Private",
    "msexchangeisprivate": "MSExchangeIS Private",
    "msexchangeispriv": "MSExchangeIS Private",
    "msexchangeispri": "MSExchangeIS Private",
    "msexchangepublicis": "MSExchangeIS Public",
    "msexchangeispublic": "MSExchangeIS Public",
    "msexchangeimap4": "MSExchangeIMAP4",
    "msexchangepop3": "MSExchangePOP3",
    "msexchangenntp": "MSExchangeNNTP",
    "systemattendant": "MSExchangeSA",
    "microsoftexchangekeymanagementservice": "MSExchangeKMS",
    "msexchangemigration": "MSExchangeMig",
    "msexchangecalco": "MSExchangeCalCon",
    # Providers the archive spells only with other spacing or case than Windows logs them.
    "appletalk": "AppleTalk",
    "perfctrs": "PerfCtrs",
    "frontpage40": "FrontPage 4.0",
}

#: Names that are also ordinary English: found without a label only when they stand alone.
COMMON_WORDS = frozenset(
    {
        "server",
        "print",
        "security",
        "remoteaccess",
        "ras",
        "mta",
        "dns",
        "sam",
        "workstation",
        "system",
        "application",
        "service",
        "browser",
        "netlogon",
        "rdr",
        "setup",
        "wins",
        "disk",
        "cdrom",
        "serial",
        "parallel",
        "timeserv",
        "ntfs",
        "fat",
        "eventlog",
        "save dump",
        "srv",
    }
)
_SPACES = re.compile(r"\s+")
_TRIM = " \t.,:;\"'`"
_HTML = re.compile(r"<\s*/?\s*(?:br|p|b|i)\s*/?\s*>", re.IGNORECASE)
#: Placeholders (``<msfile>``, ``EMC_Driver_name``, ``n``) and either/or sources.
_PLACEHOLDER = re.compile(r"<[^>]*>|_name\b|^\w$|^name$", re.IGNORECASE)
_EITHER_OR = re.compile(r"\(\s*or\b|\bor\s*\)|\s\|\s|\|", re.IGNORECASE)
#: Where a source's value runs into other text: a glued label, punctuation, a dash.
_GLUED_LABEL = re.compile(
    r"\s*\b(?:Type|Category|Description|Event\s*ID)\s*:|(?<=[a-z])(?:Type|Category):"
)
#: Message text after the source: a sentence start followed by at least two more words.
_SENTENCE = re.compile(
    r"\s(?:The|A|An|logs|with|is|has|was|could|did|for|to|of|reports|returned)\s+\S+\s+\S+"
)
_CUTS = re.compile(r",|\.\s|\s-\s|\s\"|\s\(")
#: A rare spelling this close to a common one is a typo of it.
_TYPO_MIN_LENGTH = 8
_COMMON_COUNT = 5


def source_key(text: str) -> str:
    """Case, spaces and punctuation removed: spellings with one key are one source."""
    return re.sub(r"[^0-9a-z]", "", text.casefold())


def clean_source(text: str) -> str:
    """The source as written, spacing collapsed and surrounding punctuation removed."""
    return _SPACES.sub(" ", text).strip(_TRIM).strip()


@dataclass(frozen=True)
class SourceTable:
    """Spelling counts from labelled citations, and the canonical name of each key."""

    spellings: Mapping[str, int]
    categories: frozenset[str] = frozenset()  # category values seen in labelled blocks

    @functools.cached_property
    def _canonical(self) -> dict[str, str]:
        best: dict[str, tuple[int, bool, int, int, str]] = {}
        for spelling, count in self.spellings.items():
            key = source_key(spelling)
            rank = (count, *_case_rank(spelling), spelling)
            if key and (key not in best or rank > best[key]):
                best[key] = rank
        return {key: rank[-1] for key, rank in best.items()}

    @functools.cached_property
    def _key_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for spelling, count in self.spellings.items():
            key = source_key(spelling)
            counts[key] = counts.get(key, 0) + count
        return counts

    def canonical(self, source: str) -> str:
        """The provider name for a source as written."""
        key = source_key(source)
        if key in HAND_ALIASES:
            return HAND_ALIASES[key]
        if self._key_counts.get(key, 0) < _COMMON_COUNT:
            typo_of = self._typo_of(key)
            if typo_of is not None:
                return self.canonical(typo_of)
        return self._canonical.get(key, clean_source(source))

    def _typo_of(self, key: str) -> str | None:
        """The common key that ``key`` misspells (one edit, or a missing "ms" prefix)."""
        if len(key) < _TYPO_MIN_LENGTH:
            return None
        if self._key_counts.get("ms" + key, 0) >= _COMMON_COUNT:
            return self._canonical["ms" + key]
        for other, count in self._key_counts.items():
            if count >= _COMMON_COUNT and abs(len(other) - len(key)) <= 1 and _one_edit(key, other):
                return self._canonical.get(other, other)
        return None

    def written(self, value: str) -> str:
        """The source part of a ``Source:`` value, or "" for a placeholder or either/or.

        A value that runs into the message (``Perflib, The library file``), a glued label
        (``NetLogonType: Error``) or a category (``MSExchangeMTA Field Engineering``) is cut
        back to the longest known source at its start.
        """
        text = clean_source(_HTML.sub(" ", value))
        if not text or _PLACEHOLDER.search(text) or _EITHER_OR.search(text):
            return ""
        glued = _GLUED_LABEL.search(text)
        if glued is not None and glued.start() > 0:
            text = clean_source(text[: glued.start()])
        sentence = _SENTENCE.search(text)
        if sentence is not None and sentence.start() > 0:
            text = clean_source(text[: sentence.start()])
        cut = _CUTS.search(text)
        if cut is not None and self.known(text[: cut.start()]):
            return clean_source(text[: cut.start()])
        words = text.split(" ")
        for size in range(len(words) - 1, 0, -1):
            prefix, rest = " ".join(words[:size]), " ".join(words[size:])
            if self.known(prefix) and rest in self.categories and " " in rest:
                return prefix
        return text
        cut = _CUTS.search(text)
        if cut is not None and self.known(text[: cut.start()]):
            return clean_source(text[: cut.start()])
        words = text.split(" ")
        for size in range(len(words) - 1, 0, -1):
            prefix, rest = " ".join(words[:size]), " ".join(words[size:])
            category = rest in self.categories and " " in rest
            if self.known(prefix) and (len(words) - size >= 3 or category):
                return prefix
        return text

    def known(self, source: str) -> bool:
        """True when the source was seen with a label somewhere in the archive."""
        key = source_key(source)
        return key in self._canonical or key in HAND_ALIASES

    def with_spellings(self, spellings: Iterable[str]) -> SourceTable:
        """This table plus more labelled spellings (an article's own, for its unlabelled
        citations)."""
        extra = [s for s in spellings if s not in self.spellings]
        if not extra:
            return self
        merged = dict(self.spellings)
        for spelling in extra:
            merged[spelling] = merged.get(spelling, 0) + 1
        return SourceTable(merged, self.categories)

    def names(self) -> list[str]:
        """Every known spelling, longest first (for matching at a text position)."""
        return sorted(self.spellings, key=lambda s: (-len(s), s))


@functools.cache
def builtin_source_table() -> SourceTable:
    """The table shipped with evtxscan (``evtxscan/authoring/data/source_spellings.json``)."""
    entry = resources.files("evtxscan.authoring") / "data" / "source_spellings.json"
    raw = json.loads(entry.read_text("utf-8")) if entry.is_file() else {}
    return SourceTable(
        {str(k): int(v) for k, v in raw.get("spellings", {}).items()},
        frozenset(str(c) for c in raw.get("categories", [])),
    )


def _case_rank(spelling: str) -> tuple[bool, int, int]:
    """Among equally common spellings: not all capitals, then CamelCase, then fewer capitals."""
    letters = [c for c in spelling if c.isalpha()]
    humps = sum(a.islower() and b.isupper() for a, b in itertools.pairwise(spelling))
    return (not all(c.isupper() for c in letters), humps, -sum(c.isupper() for c in letters))


def _one_edit(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` differ by one insertion, deletion or swap of neighbours.

    A substitution is not a typo here: MSExchangeIMS and MSExchangeMCA are real sources.
    """
    if a == b:
        return False
    if len(a) == len(b):
        diffs = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
        i = diffs[0]
        swap = len(diffs) == 2 and diffs[1] == i + 1 and a[i] == b[i + 1] and a[i + 1] == b[i]
        return swap and i < len(a) - 3
    short, long = (a, b) if len(a) < len(b) else (b, a)
    i = next((i for i, (x, y) in enumerate(zip(short, long, strict=False)) if x != y), len(short))
    return short[i:] == long[i + 1 :] and i < len(short) - 3
