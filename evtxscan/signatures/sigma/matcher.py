"""Match compiled Sigma detections against record batches.

Per batch: the (channel, provider, EventID) combinations present are found with one
``np.unique`` over packed integer keys; each distinct combination is looked up once (cached
across batches) against every rule's prefilter. Only rows whose combination some rule admits
become the :class:`BatchView`; each rule is evaluated on the view and kept only on its own
candidate rows. The cost follows the candidate rows, not the batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from evtxscan.signatures.sigma.evaluate import evaluate
from evtxscan.signatures.sigma.model import CompiledRule
from evtxscan.signatures.sigma.view import BatchView

_NO_EVENT_ID = 65536


Key = tuple[str | None, str | None, int | None]  # (channel, provider, EventID); None = any


Requirement = frozenset[str] | None  # literals one of which a value holds; None: none known


@dataclass(frozen=True)
class WantedKeys:
    """The rules' prefilter keys, for a probe that decides before decoding a record.

    ``keys`` maps each (channel, provider, EventID) combination a rule admits (case-folded,
    ``None`` meaning any) to the rules' literal requirements there; ``event_ids`` and
    ``any_event_channels`` are quick first tests (a record whose EventID no rule names, in a
    channel no rule takes whole, is not wanted). ``everything`` when a rule has no keys.
    """

    everything: bool
    keys: dict[Key, tuple[Requirement, ...]]
    event_ids: frozenset[int]
    any_event_channels: frozenset[str]

    def requirements(self, channel: str, provider: str, event_id: int) -> list[Requirement]:
        """The literal requirements of the rules admitting these (case-folded) values; an
        empty list when no rule admits them, a None in it when one needs no literal."""
        found: list[Requirement] = []
        keys = self.keys
        for c in (channel, None):
            for p in (provider, None):
                found += keys.get((c, p, event_id), ())
                found += keys.get((c, p, None), ())
        return found


def _casefolded_codes(series: pd.Series) -> tuple[np.ndarray, list[str]]:
    column = series if isinstance(series.dtype, pd.CategoricalDtype) else series.astype("category")
    names = [str(c).casefold() for c in column.cat.categories]
    return column.cat.codes.to_numpy().astype(np.int64), names


class SigmaMatcher:
    """Which rows of a batch each detection rule matches."""

    def __init__(self, rules: Sequence[CompiledRule]) -> None:
        self.rules = tuple(rules)
        self._by_combo: dict[tuple[str, str, int], tuple[int, ...]] = {}

    def rules_for(self, channel: str, provider: str, event_id: int) -> tuple[int, ...]:
        """Indices of the rules whose prefilter admits this (case-folded) combination."""
        key = (channel, provider, event_id)
        found = self._by_combo.get(key)
        if found is None:
            eid = None if event_id == _NO_EVENT_ID else event_id
            found = tuple(
                i for i, r in enumerate(self.rules) if r.prefilter.admits(channel, provider, eid)
            )
            self._by_combo[key] = found
        return found

    def wanted(self) -> WantedKeys:
        """The union of the rules' prefilters, for a probe that runs before decoding."""
        keys: dict[Key, list[Requirement]] = {}
        event_ids: set[int] = set()
        channels: set[str] = set()
        everything = False
        for rule in self.rules:
            found = rule.prefilter
            if found.event_ids is None and found.channels is None and found.providers is None:
                everything = True
            if found.event_ids is not None:
                event_ids |= found.event_ids
            elif found.channels is not None:
                channels |= found.channels
            for channel in found.channels or (None,):
                for provider in found.providers or (None,):
                    for event_id in found.event_ids or (None,):
                        keys.setdefault((channel, provider, event_id), []).append(found.literals)
        packed = {key: tuple(dict.fromkeys(found)) for key, found in keys.items()}
        return WantedKeys(everything, packed, frozenset(event_ids), frozenset(channels))

    def match(self, frame: pd.DataFrame) -> pd.DataFrame:
        """One row per (rule, record) match: ``rule`` (index into rules), ``row`` (position)."""
        if frame.empty or not self.rules:
            return _matches([], [])
        channels, channel_names = _casefolded_codes(frame["channel"])
        providers, provider_names = _casefolded_codes(frame["provider"])
        event_ids = frame["event_id"].to_numpy(dtype=np.float64, na_value=np.nan)
        event_ids = np.where(np.isnan(event_ids), _NO_EVENT_ID, event_ids).astype(np.int64)
        width = _NO_EVENT_ID + 1
        packed = ((channels + 1) * (len(provider_names) + 1) + providers + 1) * width + event_ids
        combos, inverse = np.unique(packed, return_inverse=True)
        combo_rules: list[tuple[int, ...]] = []
        for combo in combos.tolist():
            head, event_id = divmod(combo, width)
            channel, provider = divmod(head, len(provider_names) + 1)
            combo_rules.append(
                self.rules_for(
                    channel_names[channel - 1] if channel else "",
                    provider_names[provider - 1] if provider else "",
                    event_id,
                )
            )
        useful = np.array([bool(r) for r in combo_rules], dtype=bool)
        rows = np.flatnonzero(useful[inverse])
        if len(rows) == 0:
            return _matches([], [])
        view = BatchView(frame, rows)
        view_combos = inverse[rows]
        per_rule: dict[int, list[int]] = {}
        for index, rules in enumerate(combo_rules):
            for rule in rules:
                per_rule.setdefault(rule, []).append(index)
        found_rules: list[np.ndarray] = []
        found_rows: list[np.ndarray] = []
        for rule, indices in per_rule.items():
            admitted = np.zeros(len(combos), dtype=bool)
            admitted[indices] = True
            candidates = admitted[view_combos]
            if not candidates.any():
                continue
            hits = evaluate(view, self.rules[rule].expression) & candidates
            if hits.any():
                where = rows[hits]
                found_rows.append(where)
                found_rules.append(np.full(len(where), rule, dtype=np.int32))
        return _matches(found_rules, found_rows)


def _matches(rules: list[np.ndarray], rows: list[np.ndarray]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "rule": np.concatenate(rules) if rules else np.zeros(0, dtype=np.int32),
            "row": np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64),
        }
    )
