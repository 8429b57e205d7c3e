"""What a loaded Sigma rule is to evtxscan: its metadata, its refusal, its match expression.

Frozen dataclasses, validated on creation. A detection rule becomes a :class:`CompiledRule`
(metadata + an expression tree over our record columns + the prefilter keys the scan uses to
pick candidate rows); a rule evtxscan cannot run becomes a :class:`Refusal` that names the
file, the rule and the reason, so a rule set never fails as a whole for one bad rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from evtxscan.signatures.sigma.expression import Expression


class RuleKind(StrEnum):
    """Whether a rule matches single records or correlates the matches of other rules."""

    DETECTION = "detection"
    CORRELATION = "correlation"


@dataclass(frozen=True)
class RuleInfo:
    """A rule's identity and the metadata a diagnosis shows (DRL: keep the author)."""

    key: str  # the rule's id, else its name, else "<file>#<n>": unique within a rule set
    id: str | None
    name: str | None
    title: str
    kind: RuleKind
    level: str  # informational / low / medium / high / critical, or "" when not given
    status: str
    author: str
    description: str
    references: tuple[str, ...]
    tags: tuple[str, ...]
    falsepositives: tuple[str, ...]
    licence: str  # the rule's ``license`` field, else the licence found beside the rules
    source: str  # the file the rule came from

    def __post_init__(self) -> None:
        if not self.key:
            raise ValueError("a Sigma rule needs a key (id, name or file position)")
        if not isinstance(self.references, tuple) or not isinstance(self.tags, tuple):
            raise TypeError("references and tags are tuples")


@dataclass(frozen=True)
class Refusal:
    """A rule (or a whole file) that was not loaded, with where it is and why."""

    source: str  # file path, with ``:line`` when pySigma knows it
    rule: str  # the rule's title or id; "" for a file that could not be read at all
    reason: str

    def __post_init__(self) -> None:
        if not self.reason:
            raise ValueError("a refusal needs a reason")

    def __str__(self) -> str:
        rule = f" [{self.rule}]" if self.rule else ""
        return f"{self.source}{rule}: {self.reason}"


@dataclass(frozen=True)
class Prefilter:
    """Necessary conditions on cheap columns: a record outside them can never match.

    ``None`` in a dimension means "any". Channel and provider names are case-folded (Sigma
    compares strings case-insensitively); ``event_ids`` are the 16-bit IDs.
    """

    channels: frozenset[str] | None = None
    providers: frozenset[str] | None = None
    event_ids: frozenset[int] | None = None
    #: One of these (lower-case) is in a value of any matching event (see ``literals_of``);
    #: None: no such literal.
    literals: frozenset[str] | None = None

    def admits(self, channel: str, provider: str, event_id: int | None) -> bool:
        """True when a record with these (case-folded) values may match."""
        if self.channels is not None and channel not in self.channels:
            return False
        if self.providers is not None and provider not in self.providers:
            return False
        return self.event_ids is None or (event_id is not None and event_id in self.event_ids)


@dataclass(frozen=True)
class CompiledRule:
    """A detection rule ready to run: metadata, expression, prefilter."""

    info: RuleInfo
    expression: Expression
    prefilter: Prefilter
    reported: bool = True  # False for base rules a correlation uses without ``generate``


class CorrelationType(StrEnum):
    """The Sigma correlation types evtxscan evaluates."""

    EVENT_COUNT = "event_count"
    VALUE_COUNT = "value_count"
    TEMPORAL = "temporal"
    TEMPORAL_ORDERED = "temporal_ordered"
    VALUE_SUM = "value_sum"
    VALUE_AVG = "value_avg"


class CountOp(StrEnum):
    """How a window's count (or sum, average) compares with the condition's number."""

    LT = "lt"
    LTE = "lte"
    GT = "gt"
    GTE = "gte"
    EQ = "eq"
    NEQ = "neq"


@dataclass(frozen=True)
class RuleTerm:
    """A referenced rule inside an extended temporal condition."""

    key: str


@dataclass(frozen=True)
class TermAnd:
    """Both sides present in the window."""

    left: TemporalTerm
    right: TemporalTerm


@dataclass(frozen=True)
class TermOr:
    """Either side present in the window."""

    left: TemporalTerm
    right: TemporalTerm


@dataclass(frozen=True)
class TermNot:
    """The side absent from the window."""

    term: TemporalTerm


TemporalTerm = RuleTerm | TermAnd | TermOr | TermNot


@dataclass(frozen=True)
class CorrelationRule:
    """A correlation rule ready to evaluate over the matches of the rules it names."""

    info: RuleInfo
    type: CorrelationType
    rules: tuple[str, ...]  # keys of the referenced rules, in order (order matters if ordered)
    group_by: tuple[str, ...]
    timespan_seconds: int
    op: CountOp
    count: float
    value_field: str | None = None  # value_count / value_sum / value_avg
    aliases: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()  # alias -> (rule, field)
    extended: TemporalTerm | None = None  # a temporal rule's boolean condition over rules
    reported: bool = True  # False when another correlation uses it without ``generate``

    def __post_init__(self) -> None:
        if not self.rules:
            raise ValueError("a correlation needs the rules it correlates")
        if self.timespan_seconds <= 0:
            raise ValueError("a correlation timespan must be positive")
        needs_field = self.type in (
            CorrelationType.VALUE_COUNT,
            CorrelationType.VALUE_SUM,
            CorrelationType.VALUE_AVG,
        )
        if needs_field and not self.value_field:
            raise ValueError(f"{self.type} needs a condition field")

    def field_for(self, name: str, rule: str) -> str:
        """A group-by name as the referenced rule's events call it (aliases resolved)."""
        for alias, mapping in self.aliases:
            if alias == name:
                return dict(mapping).get(rule, name)
        return name

    def satisfied(self, value: float) -> bool:
        """Does a window's count / sum / average meet the condition?"""
        return {
            CountOp.LT: value < self.count,
            CountOp.LTE: value <= self.count,
            CountOp.GT: value > self.count,
            CountOp.GTE: value >= self.count,
            CountOp.EQ: value == self.count,
            CountOp.NEQ: value != self.count,
        }[self.op]
