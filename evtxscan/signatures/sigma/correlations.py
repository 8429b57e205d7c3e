"""pySigma correlation rules -> :class:`CorrelationRule`, or a refusal with the reason.

Supported: ``event_count``, ``value_count``, ``temporal``, ``temporal_ordered`` (the four the
Sigma specification defines), with ``group-by``, ``timespan``, ``aliases``, chained
correlations, and ``value_sum`` / ``value_avg`` (numeric field, non-numeric values skipped).
Refused with a reason: ``value_percentile`` and ``value_median`` (the specification does
not say what the condition's number is compared with for a percentile: we would be
guessing), an extended (boolean) condition on ``temporal_ordered``, and references to rules
that are missing or were refused.
"""

from __future__ import annotations

from sigma.correlations import (
    CorrelationConditionAND,
    CorrelationConditionItem,
    CorrelationConditionNOT,
    CorrelationConditionOR,
    SigmaCorrelationCondition,
    SigmaCorrelationRule,
    SigmaCorrelationType,
    SigmaExtendedCorrelationCondition,
    SigmaRuleReference,
)

from evtxscan.signatures.sigma.model import (
    CorrelationRule,
    CorrelationType,
    CountOp,
    RuleInfo,
    RuleTerm,
    TemporalTerm,
    TermAnd,
    TermNot,
    TermOr,
)
from evtxscan.signatures.sigma.values import UnsupportedValue

_TYPES = {
    SigmaCorrelationType.EVENT_COUNT: CorrelationType.EVENT_COUNT,
    SigmaCorrelationType.VALUE_COUNT: CorrelationType.VALUE_COUNT,
    SigmaCorrelationType.TEMPORAL: CorrelationType.TEMPORAL,
    SigmaCorrelationType.TEMPORAL_ORDERED: CorrelationType.TEMPORAL_ORDERED,
    SigmaCorrelationType.VALUE_SUM: CorrelationType.VALUE_SUM,
    SigmaCorrelationType.VALUE_AVG: CorrelationType.VALUE_AVG,
}
_REFUSED_TYPES = {
    SigmaCorrelationType.VALUE_PERCENTILE: (
        "value_percentile is not evaluated: the Sigma specification does not define what the "
        "condition's number is compared with (a percentile of which population), so any "
        "result would be a guess"
    ),
    SigmaCorrelationType.VALUE_MEDIAN: (
        "value_median is not evaluated: it is not in the Sigma correlation specification "
        "(a pySigma extension) and its window semantics are undefined"
    ),
}


def _term(
    node: CorrelationConditionItem | SigmaRuleReference, keys: dict[str, str]
) -> TemporalTerm:
    if isinstance(node, SigmaRuleReference):
        return RuleTerm(keys[node.reference])
    args = [_term(a, keys) for a in node.args]
    if isinstance(node, CorrelationConditionNOT):
        return TermNot(args[0])
    joined = args[0]
    for more in args[1:]:
        if isinstance(node, CorrelationConditionAND):
            joined = TermAnd(joined, more)
        elif isinstance(node, CorrelationConditionOR):
            joined = TermOr(joined, more)
        else:
            raise UnsupportedValue(f"condition element {type(node).__name__} is not supported")
    return joined


def convert_correlation(
    rule: SigmaCorrelationRule, info: RuleInfo, keys: dict[str, str]
) -> CorrelationRule:
    """Our correlation rule; ``keys`` maps each reference (id or name) to the rule's key.

    UnsupportedValue when the rule cannot be evaluated (the message is the reason).
    """
    refused = _REFUSED_TYPES.get(rule.type)
    if refused is not None:
        raise UnsupportedValue(refused)
    kind = _TYPES.get(rule.type)
    if kind is None:
        raise UnsupportedValue(f"correlation type {rule.type} is not supported")
    references = list(rule.rules or [])
    condition = rule.condition
    extended: TemporalTerm | None = None
    if isinstance(condition, SigmaExtendedCorrelationCondition):
        if kind is not CorrelationType.TEMPORAL:
            raise UnsupportedValue("an extended (boolean) condition is only evaluated on temporal")
        names = condition.get_referenced_rules()
        references = references or [SigmaRuleReference(n) for n in names]
    for reference in references:
        if reference.reference not in keys:
            raise UnsupportedValue(
                f"references rule {reference.reference!r}, which is not in the rule set "
                "(or was refused)"
            )
    if isinstance(condition, SigmaExtendedCorrelationCondition):
        extended = _term(condition.parsed, keys)
        op, count, field = CountOp.GTE, 1.0, None
    else:
        assert isinstance(condition, SigmaCorrelationCondition)
        op, count = CountOp(condition.op.name.lower()), float(condition.count)
        fieldref = condition.fieldref
        if isinstance(fieldref, list):
            if len(fieldref) != 1:
                raise UnsupportedValue("a condition on several fields is not supported")
            fieldref = fieldref[0]
        field = fieldref
    if kind in (CorrelationType.TEMPORAL, CorrelationType.TEMPORAL_ORDERED) and field:
        raise UnsupportedValue(f"{kind} takes no condition field")
    if kind is CorrelationType.TEMPORAL_ORDERED and (op, count) != (
        CountOp.GTE,
        float(len(references)),
    ):
        raise UnsupportedValue(
            "temporal_ordered is evaluated with its default condition only (all rules, in order)"
        )
    aliases = tuple(
        (
            alias.alias,
            tuple((keys[ref.reference], str(name)) for ref, name in alias.mapping.items()),
        )
        for alias in rule.aliases
        if all(ref.reference in keys for ref in alias.mapping)
    )
    return CorrelationRule(
        info=info,
        type=kind,
        rules=tuple(keys[r.reference] for r in references),
        group_by=tuple(rule.group_by or ()),
        timespan_seconds=int(rule.timespan.seconds),
        op=op,
        count=count,
        value_field=field,
        aliases=aliases,
        extended=extended,
    )
