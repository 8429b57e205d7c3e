"""pySigma's parsed condition tree -> our expression tree, simplified for batch evaluation.

pySigma resolves the condition (``1 of selection_*``, ``all of them``, parentheses, ``not``)
into AND/OR/NOT nodes over field=value leaves; we map each leaf's field to our columns and its
value to a matcher, flatten nested AND/OR, and merge an OR of string tests on one field into
one RE2 alternation (a list of 50 service names is one vectorized regex call, not 50).
Leaves added by a log source pipeline (``Channel: Security``) are marked so they test only
the System columns.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionItem,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.rule import SigmaDetection, SigmaDetectionItem, SigmaRule
from sigma.types import SigmaExpansion, SigmaType

from evtxscan.signatures.sigma.expression import (
    AllOf,
    AnyOf,
    Cidr,
    Expression,
    Integers,
    Keyword,
    Match,
    Not,
    Text,
)
from evtxscan.signatures.sigma.fields import resolve
from evtxscan.signatures.sigma.values import UnsupportedValue, keyword_matcher, matcher_for

Leaf = ConditionFieldEqualsValueExpression | ConditionValueExpression
Parsed = ConditionItem | Leaf | None


def _added_by(leaf: Leaf, identifiers: frozenset[str]) -> bool:
    """True when the leaf's detection item was added by one of the processing items."""
    node: object = leaf.parent
    while node is not None:
        if isinstance(node, SigmaDetectionItem):
            return bool(node.applied_processing_items & identifiers)
        if isinstance(node, SigmaDetection):
            items = [i for i in node.detection_items if isinstance(i, SigmaDetectionItem)]
            return bool(items) and all(i.applied_processing_items & identifiers for i in items)
        node = getattr(node, "parent", None)
    return False


def _values(value: SigmaType) -> list[SigmaType]:
    return list(value.values) if isinstance(value, SigmaExpansion) else [value]


def _leaf(leaf: Leaf, logsource_items: frozenset[str]) -> Expression:
    values = _values(leaf.value)
    if isinstance(leaf, ConditionValueExpression):
        return any_of([Keyword(keyword_matcher(v)) for v in values])
    field = resolve(leaf.field, from_logsource=_added_by(leaf, logsource_items))
    return any_of([Match(field, matcher_for(v)) for v in values])


def convert(tree: Parsed, logsource_items: frozenset[str]) -> Expression:
    """Our expression for one parsed condition (UnsupportedValue for what we do not run)."""
    if tree is None:
        raise UnsupportedValue("the detection is empty after log source processing")
    if isinstance(tree, ConditionFieldEqualsValueExpression | ConditionValueExpression):
        return _leaf(tree, logsource_items)
    children = [convert(arg, logsource_items) for arg in tree.args]
    if isinstance(tree, ConditionNOT):
        return Not(children[0])
    if isinstance(tree, ConditionAND):
        return all_of(children)
    if isinstance(tree, ConditionOR):
        return any_of(children)
    raise UnsupportedValue(f"condition element {type(tree).__name__} is not supported")


def compile_rule(rule: SigmaRule, logsource_items: frozenset[str]) -> Expression:
    """The expression of a (pipeline-processed) rule: its conditions, OR-ed."""
    return any_of([convert(c.parsed, logsource_items) for c in rule.detection.parsed_condition])


# --- simplification ----------------------------------------------------------------------


def all_of(children: Sequence[Expression]) -> Expression:
    """AND, flattened."""
    flat: list[Expression] = []
    for child in children:
        flat.extend(child.children if isinstance(child, AllOf) else (child,))
    return flat[0] if len(flat) == 1 else AllOf(tuple(flat))


def any_of(children: Sequence[Expression]) -> Expression:
    """OR, flattened, with same-field string / integer / CIDR tests merged into one."""
    flat: list[Expression] = []
    for child in children:
        flat.extend(child.children if isinstance(child, AnyOf) else (child,))
    merged = _merge(flat)
    return merged[0] if len(merged) == 1 else AnyOf(tuple(merged))


def _merge_key(node: Expression) -> tuple[object, ...] | None:
    if isinstance(node, Keyword):
        return ("keyword", node.matcher.ignore_case)
    if not isinstance(node, Match):
        return None
    matcher = node.matcher
    if isinstance(matcher, Text):
        return ("text", node.field, matcher.ignore_case)
    if isinstance(matcher, Integers | Cidr):
        return (type(matcher).__name__, node.field)
    return None


def _merge(nodes: Iterable[Expression]) -> list[Expression]:
    groups: dict[tuple[object, ...], list[Expression]] = {}
    out: list[Expression | tuple[object, ...]] = []
    for node in nodes:
        key = _merge_key(node)
        if key is None:
            out.append(node)
            continue
        if key not in groups:
            groups[key] = []
            out.append(key)
        groups[key].append(node)
    return [groups_merged(groups[item]) if isinstance(item, tuple) else item for item in out]


def _alternation(texts: Sequence[Text]) -> Text:
    if len(texts) == 1:
        return texts[0]
    pattern = "|".join(f"(?:{t.pattern})" for t in texts)
    exact = _union([t.exact for t in texts])
    fragments = _union([t.fragments for t in texts])
    count = sum(t.alternatives for t in texts)
    return Text(pattern, texts[0].ignore_case, exact, fragments, count)


def _text_of(node: Expression) -> Text | None:
    """The string test of a keyword or field test, else None."""
    if isinstance(node, Keyword):
        return node.matcher
    if isinstance(node, Match) and isinstance(node.matcher, Text):
        return node.matcher
    return None


def _union(sets: Sequence[frozenset[str] | None]) -> frozenset[str] | None:
    """All of them together; None when one is None (an alternative without the property)."""
    found: frozenset[str] = frozenset()
    for item in sets:
        if item is None:
            return None
        found |= item
    return found


#: Values merged into one RE2 alternation at most: one of two thousand outgrows RE2's DFA
#: memory and runs hundreds of times slower; more become several alternations, OR-ed.
ALTERNATION_LIMIT = 500


def groups_merged(nodes: list[Expression]) -> Expression:
    """One node for a group of same-field (or keyword) tests that are OR-ed."""
    if len(nodes) == 1:
        return nodes[0]
    texts = [_text_of(node) for node in nodes]
    if all(texts) and sum(t.alternatives for t in texts if t) > ALTERNATION_LIMIT:
        runs: list[list[Expression]] = [[]]
        size = 0
        for node, text in zip(nodes, texts, strict=True):
            count = text.alternatives if text else 1
            if runs[-1] and size + count > ALTERNATION_LIMIT:
                runs.append([])
                size = 0
            runs[-1].append(node)
            size += count
        if len(runs) > 1:
            return AnyOf(tuple(groups_merged(run) for run in runs))
    first = nodes[0]
    if isinstance(first, Keyword):
        return Keyword(_alternation([n.matcher for n in nodes if isinstance(n, Keyword)]))
    assert isinstance(first, Match)
    matchers = [n.matcher for n in nodes if isinstance(n, Match)]
    if isinstance(first.matcher, Text):
        return Match(first.field, _alternation([m for m in matchers if isinstance(m, Text)]))
    if isinstance(first.matcher, Integers):
        values = frozenset().union(*(m.values for m in matchers if isinstance(m, Integers)))
        return Match(first.field, Integers(values))
    networks = tuple(n for m in matchers if isinstance(m, Cidr) for n in m.networks)
    return Match(first.field, Cidr(networks))
