"""The signature model: what a KB article's symptoms look like in the logs, and what follows.

Frozen dataclasses validated on creation; closed vocabularies are enums. A signature names
its symptoms (selectors: provider + event ID, never an ID alone, plus conditions), how they
correlate on one host (time window, boot session, order, absence), how confident a match
is, and the diagnosis (cause and resolution in our own words, with the KB reference).
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

from evtxscan.signatures.safe_regex import RulePattern, compile_rule_regex

#: Fields a condition can test. ``data.<Name>`` is a named value, ``data.<N>`` the N-th
#: value (1-based, like the %N inserts), ``data`` any value.
RECORD_FIELDS = (
    "message",
    "channel",
    "computer",
    "provider",
    "event_source_name",
    "binary_status",
    "binary",
    "data",
)
_DATA_FIELD = re.compile(r"^data\.(?:\d+|[A-Za-z_][\w.@-]*)$")


class Operator(StrEnum):
    """How a condition compares a field with its value."""

    EQUALS = "equals"
    CONTAINS = "contains"
    REGEX = "regex"
    ANY_OF = "any_of"


class Role(StrEnum):
    """A symptom's part in a diagnosis."""

    REQUIRED = "required"  # every required symptom must be present
    ANY = "any"  # at least one of the "any" symptoms must be present (when there are any)
    OPTIONAL = "optional"  # raises confidence when present
    ABSENT = "absent"  # its presence after the incident (within ``within``) cancels it
    CONTEXT = "context"  # used for extraction only (e.g. the 6009 banner)


class BootScope(StrEnum):
    """Whether the symptoms must fall in one boot session."""

    SAME = "same"
    ANY = "any"


class Status(StrEnum):
    """Whether a person has checked the signature against the article and real logs."""

    CURATED = "curated"  # written or reviewed by hand, with its own tests
    DRAFT = "draft"  # generated from an article by ``evtxscan signatures draft``


#: Confidence bands (signatures/README.md): a score up to POSSIBLE_MAX reads "possible",
#: below CONFIDENT_MIN "probable", from it on "confident". A draft never leaves "possible".
POSSIBLE_MAX = 0.3
CONFIDENT_MIN = 0.7


def confidence_band(value: float) -> str:
    """The band of a confidence score: possible, probable or confident."""
    if value <= POSSIBLE_MAX:
        return "possible"
    return "probable" if value < CONFIDENT_MIN else "confident"


class SignatureError(ValueError):
    """A malformed signature, with where it is: ``file:line: reason``."""

    def __init__(self, source: str, line: int | None, reason: str) -> None:
        self.source, self.line, self.reason = source, line, reason
        where = f"{source}:{line}" if line else source
        super().__init__(f"{where}: {reason}")


@dataclass(frozen=True)
class Condition:
    """One test on one field of a record (case-insensitive unless said otherwise).

    The regex is compiled on creation, so a bad one fails where it is written; a pack that
    was validated when it was built (the draft index) passes ``checked=False`` and its
    patterns compile on first use.
    """

    field: str
    operator: Operator
    value: str | tuple[str, ...]
    case_sensitive: bool = False
    negate: bool = False
    checked: bool = dataclasses.field(default=True, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.field not in RECORD_FIELDS and not _DATA_FIELD.match(self.field):
            raise ValueError(
                f"unknown field {self.field!r} (use {', '.join(RECORD_FIELDS)}, "
                "data.<Name> or data.<N>)"
            )
        if self.operator is Operator.ANY_OF and not isinstance(self.value, tuple):
            raise ValueError("any_of needs a list of values")
        if self.checked:
            _ = self.pattern

    @functools.cached_property
    def pattern(self) -> RulePattern:
        """The compiled test (case-insensitive unless ``case_sensitive``)."""
        values = self.value if isinstance(self.value, tuple) else (self.value,)
        if self.operator is Operator.REGEX:
            source = str(self.value)
        elif self.operator is Operator.CONTAINS:
            source = "|".join(re.escape(v) for v in values)
        else:
            source = "^(?:" + "|".join(re.escape(v) for v in values) + ")$"
        try:
            return compile_rule_regex(source, ignore_case=not self.case_sensitive)
        except re.error as exc:
            raise ValueError(f"bad regex {self.value!r}: {exc}") from exc

    def test(self, texts: list[str]) -> bool:
        """True when any of the field's values satisfies the condition (``negate`` flips)."""
        hit = any(self.pattern.search(t) for t in texts)
        return hit != self.negate


@dataclass(frozen=True)
class Selector:
    """A named symptom: which records show it."""

    name: str
    providers: tuple[str, ...]  # provider or event-source names (any alias), case-insensitive
    event_ids: tuple[int, ...]
    role: Role = Role.REQUIRED
    channel: str | None = None
    levels: tuple[int, ...] = ()
    where: tuple[Condition, ...] = ()
    within: timedelta | None = None  # for ABSENT: how long after the incident to look

    def __post_init__(self) -> None:
        if not self.providers:
            raise ValueError(
                f"symptom {self.name!r} needs a provider (event IDs alone are "
                "ambiguous across providers)"
            )
        if not self.event_ids or not all(0 <= i < 65536 for i in self.event_ids):
            raise ValueError(f"symptom {self.name!r} needs 16-bit event IDs")
        if self.role is Role.ABSENT and self.within is None:
            raise ValueError(f"absent symptom {self.name!r} needs 'within'")


@dataclass(frozen=True)
class Extraction:
    """A named value taken from a matched symptom (optionally through a regex group)."""

    name: str
    symptoms: tuple[str, ...]  # the first of these present in the incident supplies it
    field: str
    regex: RulePattern | None = None
    transform: str | None = None  # "demangle": MSVC-decorated names shown readable too


@dataclass(frozen=True)
class AppliesTo:
    """Products and OS versions (as the 6009 banner gives them, e.g. "3.51", "4.0")."""

    products: tuple[str, ...] = ()
    os_versions: tuple[str, ...] = ()


@dataclass(frozen=True)
class Confidence:
    """How matched symptoms become a score in [0, 1] (see signatures/README.md)."""

    base: float = 0.6
    optional: Mapping[str, float] = dataclasses.field(default_factory=dict)
    unknown_boot: float = 0.8  # factor when boot sessions are unknown (timespan fallback)
    os_mismatch: float = 0.6  # factor when the host's known OS version is not in applies_to

    def __post_init__(self) -> None:
        for name, value in {
            "base": self.base,
            "unknown_boot": self.unknown_boot,
            "os_mismatch": self.os_mismatch,
            **self.optional,
        }.items():
            if not 0 <= value <= 1:
                raise ValueError(f"confidence {name} must be between 0 and 1, got {value}")


@dataclass(frozen=True)
class SignatureTest:
    """An embedded example: events (writer descriptions) and whether they must diagnose."""

    name: str
    expect: bool
    events: tuple[Mapping[str, Any], ...]
    expect_fields: Mapping[str, str] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True)
class DraftNotes:
    """What a draft was generated from: the generator, the article's products, and the
    facts extracted from it (cited events and named entities, as written in the draft)."""

    generator: str
    products: tuple[str, ...] = ()
    events: tuple[Mapping[str, Any], ...] = ()
    entities: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True)
class Signature:
    """One diagnosable problem."""

    id: str
    title: str
    kb: str | None
    reference: str | None
    applies_to: AppliesTo
    symptoms: tuple[Selector, ...]
    extract: tuple[Extraction, ...]
    window: timedelta
    boot: BootScope
    ordered: tuple[str, ...]
    confidence: Confidence
    cause: str
    resolution: str
    tests: tuple[SignatureTest, ...] = ()
    fallback: bool = False  # a generic finding that yields to KB diagnoses on the same records
    source: str = ""
    status: Status = Status.CURATED
    noisy: str | None = None  # a draft that fires on healthy logs: why (left out by default)
    draft: DraftNotes | None = None

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", self.id):
            raise ValueError(f"id {self.id!r}: use lower-case letters, digits and dashes")
        if self.kb is not None and not re.fullmatch(r"Q\d{6}|KB\d+", self.kb):
            raise ValueError(f"kb {self.kb!r}: expected an article ID such as Q138713")
        names = [s.name for s in self.symptoms]
        if len(set(names)) != len(names):
            raise ValueError("symptom names must be unique")
        if not any(s.role in (Role.REQUIRED, Role.ANY) for s in self.symptoms):
            raise ValueError("a signature needs at least one required or 'any' symptom")
        for name in (*self.ordered, *self.confidence.optional):
            if name not in names:
                raise ValueError(f"unknown symptom {name!r}")
        for extraction in self.extract:
            unknown = [s for s in extraction.symptoms if s not in names]
            if unknown or not extraction.symptoms:
                raise ValueError(f"extract {extraction.name!r}: unknown symptom {unknown!r}")
        if self.status is Status.DRAFT:
            highest = self.confidence.base + sum(self.confidence.optional.values())
            if highest > POSSIBLE_MAX + 1e-9:
                raise ValueError(
                    f"a draft stays within 'possible' confidence: base plus optional weights "
                    f"is {highest:g}, above {POSSIBLE_MAX}"
                )
            if self.kb is None:
                raise ValueError("a draft needs the 'kb' article it was drafted from")
        elif self.noisy is not None or self.draft is not None:
            raise ValueError("'noisy' and 'draft' are for status: draft only")

    def symptom(self, name: str) -> Selector:
        return next(s for s in self.symptoms if s.name == name)
