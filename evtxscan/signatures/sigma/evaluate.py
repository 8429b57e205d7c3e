"""Evaluate an expression on a :class:`BatchView`: one boolean per view row, no per-row loop.

A leaf tests a field's value array with one Arrow/numpy call and ORs the hits into their
rows (a field with several values matches when any value does); AND/OR/NOT are numpy
boolean operations. Leaf results are cached in the view, so a test shared by many rules
runs once per batch. Sigma's ``null`` means absent or empty; ``exists`` means present.
"""

from __future__ import annotations

import ipaddress

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from evtxscan.signatures.sigma.expression import (
    AllOf,
    AnyOf,
    Cidr,
    Compare,
    CompareOp,
    Exists,
    Expression,
    FieldRef,
    Integers,
    IsNull,
    Keyword,
    Match,
    Not,
    SameAs,
    Scope,
    SystemKind,
    Text,
)
from evtxscan.signatures.sigma.view import BatchView, Values


def _to_bool(array: pa.Array) -> np.ndarray:
    return np.asarray(array.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)


def _rows(view: BatchView, values: Values, hits: np.ndarray) -> np.ndarray:
    out = np.zeros(view.size, dtype=bool)
    out[values.owners[hits]] = True
    return out


def _text(values: Values, matcher: Text) -> np.ndarray:
    """Each value's test, run on the field's distinct values."""
    if len(values.values) == 0:
        return np.zeros(0, dtype=bool)
    texts, codes = values.distinct
    found = pc.match_substring_regex(texts, matcher.pattern, ignore_case=matcher.ignore_case)
    hits: np.ndarray = np.append(_to_bool(found), False)[codes]
    return hits


def _cidr(values: Values, matcher: Cidr) -> np.ndarray:
    """Parse each distinct value once (addresses repeat), then map back to the values."""
    if len(values.values) == 0:
        return np.zeros(0, dtype=bool)
    texts, codes = values.distinct
    inside = []
    for text in texts.to_pylist():
        try:
            address = ipaddress.ip_address(str(text).strip())
        except ValueError:
            inside.append(False)
            continue
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        inside.append(any(address in network for network in matcher.networks))
    lookup = np.array([*inside, False], dtype=bool)
    hits: np.ndarray = lookup[codes]
    return hits


def _compare(numbers: np.ndarray, matcher: Compare) -> np.ndarray:
    bound = matcher.bound
    with np.errstate(invalid="ignore"):
        result = {
            CompareOp.LT: numbers < bound,
            CompareOp.LTE: numbers <= bound,
            CompareOp.GT: numbers > bound,
            CompareOp.GTE: numbers >= bound,
            CompareOp.NEQ: numbers != bound,
        }[matcher.op]
    return np.asarray(result & ~np.isnan(numbers), dtype=bool)


def _numbers(values: Values) -> np.ndarray:
    text = pd.Series(values.values.to_numpy(zero_copy_only=False), dtype=object)
    return pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _first(view: BatchView, values: Values) -> np.ndarray:
    """Each row's first value (case-folded), or None."""
    out = np.full(view.size, None, dtype=object)
    if len(values.owners):
        owners, first = np.unique(values.owners, return_index=True)
        texts = pc.utf8_lower(values.values.take(pa.array(first))).to_pylist()
        out[owners] = texts
    return out


def _numeric_system(view: BatchView, node: Match) -> np.ndarray | None:
    """EventID-style tests on an integer System column, straight on the numbers."""
    field = node.field
    if field.kind is not SystemKind.INTEGER or field.column is None:
        return None
    if field.scope is Scope.DATA or not isinstance(node.matcher, Integers | Compare):
        return None
    numbers = view.numbers(field.column)
    if isinstance(node.matcher, Integers):
        hits = np.isin(numbers, np.array(sorted(node.matcher.values), dtype=np.float64))
    else:
        hits = _compare(numbers, node.matcher)
    if field.scope is Scope.SYSTEM:
        return hits
    shadowed = view.shadowed(field)
    data_part = Match(FieldRef(field.name, field.key, Scope.DATA), node.matcher)
    combined: np.ndarray = (hits & ~shadowed) | (leaf(view, data_part) & shadowed)
    return combined


def _match(view: BatchView, node: Match) -> np.ndarray:
    numeric = _numeric_system(view, node)
    if numeric is not None:
        return numeric
    values = view.field(node.field)
    matcher = node.matcher
    if isinstance(matcher, IsNull):
        nonempty = _to_bool(pc.greater(pc.utf8_length(values.values), 0))
        return ~_rows(view, values, nonempty)
    if isinstance(matcher, Exists):
        present = _rows(view, values, np.ones(len(values.owners), dtype=bool))
        return present if matcher.present else ~present
    if isinstance(matcher, SameAs):
        mine, theirs = _first(view, values), _first(view, view.field(matcher.other))
        present = pd.notna(mine) & pd.notna(theirs)
        return np.asarray((mine == theirs) & present, dtype=bool)
    if isinstance(matcher, Text):
        hits = _text(values, matcher)
    elif isinstance(matcher, Integers):
        wanted = pa.array(sorted(str(v) for v in matcher.values), pa.string())
        hits = _to_bool(pc.is_in(values.values, value_set=wanted))
    elif isinstance(matcher, Cidr):
        hits = _cidr(values, matcher)
    else:
        hits = _compare(_numbers(values), matcher)
    return _rows(view, values, hits)


def _keyword(view: BatchView, node: Keyword) -> np.ndarray:
    data = view.all_data()
    found = _rows(view, data, _text(data, node.matcher))
    message = view.message()
    combined: np.ndarray = found | _rows(view, message, _text(message, node.matcher))
    return combined


def leaf(view: BatchView, node: Match | Keyword) -> np.ndarray:
    """A leaf's rows, cached per view."""
    cached = view.cache.get(node)
    if cached is None:
        cached = _match(view, node) if isinstance(node, Match) else _keyword(view, node)
        view.cache[node] = cached
    assert isinstance(cached, np.ndarray)
    return cached


def evaluate(view: BatchView, expression: Expression) -> np.ndarray:
    """One boolean per view row: does the expression hold?"""
    if isinstance(expression, Match | Keyword):
        return leaf(view, expression)
    if isinstance(expression, Not):
        return ~evaluate(view, expression.child)
    results = (evaluate(view, child) for child in expression.children)
    if isinstance(expression, AllOf):
        out = next(results).copy()
        for more in results:
            out &= more
            if not out.any():
                break
        return out
    assert isinstance(expression, AnyOf)
    out = next(results).copy()
    for more in results:
        out |= more
    return out
