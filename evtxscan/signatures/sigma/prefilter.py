"""Prefilter keys of an expression: channels, providers and EventIDs a match needs.

Only System-scoped equality tests count (the EventID and Provider_Name a rule names, the
Channel its log source adds); AND intersects, OR unites, NOT and anything else admit all.
The result is a necessary condition, never a sufficient one, so the scan evaluates a rule
only on rows that pass it and loses nothing.

:func:`literals_of` gives a second necessary condition, for a reader that sees a record's
values (their bytes) before decoding it: a set of literals one of which a value of every
matching event holds (case ignored), from the plain text of string tests on EventData and
UserData fields (``SAMTHEADMIN-`` of a ``startswith``). Keywords give none (they also search
the message, whose text comes from a catalog), nor do System fields (normalized columns).
"""

from __future__ import annotations

from evtxscan.signatures.sigma.expression import (
    AllOf,
    AnyOf,
    Expression,
    Integers,
    Match,
    Scope,
    Text,
)
from evtxscan.signatures.sigma.fields import PREFILTER_FIELDS
from evtxscan.signatures.sigma.model import Prefilter

Dimension = frozenset[str] | frozenset[int] | None


def _intersect(a: Dimension, b: Dimension) -> Dimension:
    if a is None:
        return b
    if b is None:
        return a
    return a & b


def _unite(a: Dimension, b: Dimension) -> Dimension:
    if a is None or b is None:
        return None
    return a | b  # type: ignore[operator]


def _leaf_keys(node: Match) -> Prefilter:
    dimension = PREFILTER_FIELDS.get(node.field.key)
    if dimension is None or node.field.scope is not Scope.SYSTEM:
        return Prefilter()
    matcher = node.matcher
    if dimension == "event_ids":
        if isinstance(matcher, Integers):
            return Prefilter(event_ids=matcher.values)
        exact = matcher.exact if isinstance(matcher, Text) else None
        if exact is not None and all(v.isdigit() for v in exact):
            return Prefilter(event_ids=frozenset(int(v) for v in exact))
        return Prefilter()
    if not isinstance(matcher, Text) or matcher.exact is None:
        return Prefilter()
    if dimension == "channels":
        return Prefilter(channels=matcher.exact)
    return Prefilter(providers=matcher.exact)


def combine(a: Prefilter, b: Prefilter, *, both: bool) -> Prefilter:
    """AND (``both``) or OR of two prefilters."""
    join = _intersect if both else _unite
    return Prefilter(
        channels=join(a.channels, b.channels),  # type: ignore[arg-type]
        providers=join(a.providers, b.providers),  # type: ignore[arg-type]
        event_ids=join(a.event_ids, b.event_ids),  # type: ignore[arg-type]
        literals=_better(a.literals, b.literals) if both else _unite(a.literals, b.literals),  # type: ignore[arg-type]
    )


def prefilter_of(expression: Expression) -> Prefilter:
    """The necessary (channel, provider, EventID) keys of an expression."""
    if isinstance(expression, Match):
        return _leaf_keys(expression)
    if isinstance(expression, AllOf | AnyOf):
        keys = [prefilter_of(child) for child in expression.children]
        result = keys[0]
        for more in keys[1:]:
            result = combine(result, more, both=isinstance(expression, AllOf))
        return result
    return Prefilter()


Literals = frozenset[str] | None


def _better(a: Literals, b: Literals) -> Literals:
    """Of two requirements that both hold (AND), the more selective one."""
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b, key=lambda x: (min(len(v) for v in x), -len(x)))


def literals_of(expression: Expression) -> Literals:
    """Literals (lower-case) one of which a value of any matching event holds, or None."""
    if isinstance(expression, Match):
        if expression.field.scope is not Scope.DATA:
            return None  # a System column (or maybe one): normalized, not a value's text
        matcher = expression.matcher
        return matcher.fragments if isinstance(matcher, Text) else None
    if isinstance(expression, AllOf):
        found: Literals = None
        for child in expression.children:
            found = _better(found, literals_of(child))
        return found
    if isinstance(expression, AnyOf):
        union: frozenset[str] = frozenset()
        for child in expression.children:
            more = literals_of(child)
            if more is None:
                return None
            union |= more
        return union
    return None
