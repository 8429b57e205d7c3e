"""The expression tree a Sigma detection compiles to, over evtxscan's record columns.

Leaves test one field (:class:`Match`) or the whole event's text (:class:`Keyword`) with a
matcher; inner nodes are :class:`AllOf`, :class:`AnyOf` and :class:`Not`. Everything is a
frozen, hashable dataclass, so equal leaves of different rules share one evaluation per batch.
String matchers are RE2 patterns (Arrow's regex engine: linear time, no catastrophic
backtracking), so every Sigma string form (plain, wildcards, contains, startswith, endswith,
``re``) runs through the same vectorized call.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from ipaddress import IPv4Network, IPv6Network


class Scope(StrEnum):
    """Where a field's values come from in a record."""

    SYSTEM = "system"  # a System column only (EventID, Provider_Name, log source conditions)
    DATA = "data"  # EventData/UserData items only
    DATA_OR_SYSTEM = "data_or_system"  # the event's own data item if it has one, else System


class SystemKind(StrEnum):
    """How a System column is compared with Sigma values."""

    TEXT = "text"  # categorical / string column
    INTEGER = "integer"  # compared as a number, or as its decimal text
    HEX = "hex"  # Keywords: shown as 0x... like Windows' XML


@dataclass(frozen=True)
class FieldRef:
    """A field named in a rule, resolved to where its values are."""

    name: str  # as written in the rule (after pySigma's field mappings)
    key: str  # normalized: case-folded, spaces removed (``SourceName`` = ``Source Name``)
    scope: Scope
    column: str | None = None  # the System column, when the name is a System field
    kind: SystemKind = SystemKind.TEXT

    def __post_init__(self) -> None:
        if self.scope is not Scope.DATA and self.column is None:
            raise ValueError(f"field {self.name!r}: scope {self.scope} needs a System column")
        if self.scope is Scope.DATA and self.column is not None:
            raise ValueError(f"field {self.name!r}: a data-only field has no System column")


# --- matchers ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Text:
    """An RE2 pattern searched in each value. ``exact`` keeps plain equality values
    (case-folded) when the pattern is just their alternation: the prefilter reads them.
    ``fragments``: for each alternative, a literal (lower-case ASCII, 3+ characters) that any
    matching value contains; None when some alternative has none (a regex, ``*`` alone)."""

    pattern: str
    ignore_case: bool = True
    exact: frozenset[str] | None = None
    fragments: frozenset[str] | None = None
    alternatives: int = 1  # values merged into the pattern (see ``compile.ALTERNATION_LIMIT``)


@dataclass(frozen=True)
class Integers:
    """Equality with whole numbers (on an integer column, or on decimal text)."""

    values: frozenset[int]


@dataclass(frozen=True)
class Cidr:
    """The value is an IP address inside one of the networks."""

    networks: tuple[IPv4Network | IPv6Network, ...]


class CompareOp(StrEnum):
    """Numeric comparison of a value with a bound (Sigma's gt/gte/lt/lte modifiers)."""

    LT = "lt"
    LTE = "lte"
    GT = "gt"
    GTE = "gte"
    NEQ = "neq"


@dataclass(frozen=True)
class Compare:
    """The value, read as a number, compares with ``bound``."""

    op: CompareOp
    bound: float


@dataclass(frozen=True)
class IsNull:
    """The field is absent or empty (Sigma ``null``)."""


@dataclass(frozen=True)
class Exists:
    """The field is present (``exists: true``) or absent (``exists: false``)."""

    present: bool


@dataclass(frozen=True)
class SameAs:
    """The value equals (case-insensitive) another field's value in the same event."""

    other: FieldRef


Matcher = Text | Integers | Cidr | Compare | IsNull | Exists | SameAs


# --- nodes -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Match:
    """One field tested with one matcher; true when any of the field's values passes."""

    field: FieldRef
    matcher: Matcher


@dataclass(frozen=True)
class Keyword:
    """Full-text search: any EventData value or the logged message contains the text."""

    matcher: Text


@dataclass(frozen=True)
class AllOf:
    """Every child is true."""

    children: tuple[Expression, ...]

    def __post_init__(self) -> None:
        if not self.children:
            raise ValueError("AllOf needs children")


@dataclass(frozen=True)
class AnyOf:
    """At least one child is true."""

    children: tuple[Expression, ...]

    def __post_init__(self) -> None:
        if not self.children:
            raise ValueError("AnyOf needs children")


@dataclass(frozen=True)
class Not:
    """The child is false."""

    child: Expression


Expression = Match | Keyword | AllOf | AnyOf | Not
