"""Sigma rules in a scan: match every batch, keep the hits, correlate them at the end.

The stage sees the same batches as the KB scanner (after the time range, in whichever process
reads them) and keeps only the matched records' keys and the fields correlations need; the
pipeline joins every unit's hits and correlates them at the end. :class:`SigmaSelector` widens the
scan's record selection so records a Sigma rule may match are decoded (the scan otherwise
only counts what no KB signature needs); its keys are the rules' prefilter keys, checked on
the record index's columns.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from evtxscan.correlation.engine import data_texts
from evtxscan.correlation.sigma import sigma_findings
from evtxscan.results.sigma_tables import sigma_diagnoses_table
from evtxscan.signatures.sigma import SigmaRuleSet, load_sigma
from evtxscan.signatures.sigma.hits import empty_hits, hits_of
from evtxscan.signatures.sigma.matcher import SigmaMatcher, WantedKeys
from evtxscan.sources.evtx.index import RecordIndex
from evtxscan.sources.evtx.selectors import IndexSelector

_NO_EVENT_ID = 65536

SigmaOption = SigmaRuleSet | str | Path | Iterable[str | Path] | None
#: Columns that identify one hit (the same event read twice from overlapping exports).
_HIT_KEY = ["rule", "host", "channel", "event_record_id", "event_id", "provider", "time"]


def sigma_rules(option: SigmaOption) -> SigmaRuleSet | None:
    """A loaded rule set from ``scan(sigma=...)``: a rule set, or rule files/directories."""
    if option is None or isinstance(option, SigmaRuleSet):
        return option
    paths = [option] if isinstance(option, str | Path) else list(option)
    return load_sigma(*paths)


#: Per (channel, provider, EventID) combination: whether a rule admits it, and the literals
#: one of which a value of a record must hold for any of those rules to match (None: no such
#: literals, the record is decoded whatever it holds).
Need = tuple[bool, frozenset[str] | None]


@dataclass
class SigmaSelector:
    """The scan's record selector, widened to every record a Sigma rule may match.

    From the record index's columns: a record is decoded when ``inner`` wants it or some
    rule admits its (channel, provider, EventID). Each distinct combination of a range is
    looked up once (cached). Where every rule admitting a combination needs one of some
    literals in a value (:meth:`text_needs`), the reader decodes only the records whose bytes
    may hold one (``sources.evtx.text_gate``); the batch matcher applies every test after.
    """

    inner: IndexSelector
    keys: WantedKeys
    _cache: dict[tuple[str, str, int], Need] = field(default_factory=dict, repr=False)

    def __getstate__(self) -> dict[str, object]:
        return {"inner": self.inner, "keys": self.keys, "_cache": {}}

    def defer_mask(self, index: RecordIndex) -> np.ndarray:
        """The inner selector's context records (those a rule wants are decoded anyway)."""
        return self.inner.defer_mask(index)

    def decode_mask(self, index: RecordIndex) -> np.ndarray:
        """True for the records to decode."""
        mask: np.ndarray = self.inner.decode_mask(index)
        if self.keys.everything:
            return np.ones(len(index), dtype=bool)
        if not len(index):
            return mask
        needs, inverse = self._needs(index)
        admitted = np.array([wanted for wanted, _ in needs], dtype=bool)
        return np.asarray(mask | admitted[inverse], dtype=bool)

    def text_needs(self, index: RecordIndex) -> tuple[np.ndarray, list[frozenset[str]]]:
        """Per record, which literal set (numbered) a value must hold to be worth decoding
        for the rules (-1: decoded whatever it holds, or not for the rules at all)."""
        if not len(index):
            return np.zeros(0, dtype=np.int64), []
        needs, inverse = self._needs(index)
        numbers: dict[frozenset[str], int] = {}
        per_combo = np.full(len(needs), -1, dtype=np.int64)
        for position, (wanted, literals) in enumerate(needs):
            if wanted and literals:
                per_combo[position] = numbers.setdefault(literals, len(numbers))
        per_record = per_combo[inverse]
        if numbers:
            per_record[np.asarray(self.inner.decode_mask(index), dtype=bool)] = -1
        return per_record, list(numbers)

    def _needs(self, index: RecordIndex) -> tuple[list[Need], np.ndarray]:
        """The need of each distinct combination of ``index``, and each record's combination."""
        channel, provider, event = index.channel, index.provider, index.event_id
        width = _NO_EVENT_ID + 1
        event_ids = np.where(event.present, event.values.astype(np.int64), _NO_EVENT_ID)
        providers = len(provider.values) + 1
        packed = (
            (channel.codes.astype(np.int64) + 1) * providers + provider.codes.astype(np.int64) + 1
        ) * width + event_ids
        combos, inverse = np.unique(packed, return_inverse=True)
        needs: list[Need] = []
        for combo in combos.tolist():
            head, event_id = divmod(combo, width)
            channel_code, provider_code = divmod(head, providers)
            key = (
                channel.values[channel_code - 1].casefold() if channel_code else "",
                provider.values[provider_code - 1].casefold() if provider_code else "",
                event_id,
            )
            found = self._cache.get(key)
            if found is None:
                found = self._cache[key] = _need(self.keys.requirements(*key))
            needs.append(found)
        return needs, inverse.reshape(-1)


def _need(requirements: list[frozenset[str] | None]) -> Need:
    if not requirements or any(r is None for r in requirements):
        return bool(requirements), None
    return True, frozenset().union(*(r for r in requirements if r is not None))


class SigmaStage:
    """Matches a scan's batches against the Sigma rules (one per process and config)."""

    def __init__(self, rules: SigmaRuleSet, include_recovered: bool) -> None:
        self.rules = rules
        self.matcher = SigmaMatcher(rules.detections)
        self.needs = rules.field_needs()
        self.include_recovered = include_recovered

    def selector(self, inner: IndexSelector) -> SigmaSelector:
        """The scan's record selector, widened to the records these rules may match."""
        return SigmaSelector(inner, self.matcher.wanted())

    def hits_in(self, batch: pd.DataFrame) -> list[pd.DataFrame]:
        """The hit table of one batch (already cut to the scan's time range), if any."""
        if not self.include_recovered:
            batch = batch[~batch["recovered"].to_numpy()].reset_index(drop=True)
        matches = self.matcher.match(batch)
        if not len(matches):
            return []
        hits = hits_of(batch, matches, self.rules.detections, self.needs)
        hits["content"] = _content(batch, matches["row"].to_numpy())
        return [hits]


def combined_hits(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Every hit once (an event read from two overlapping exports counts once)."""
    if not parts:
        return empty_hits()
    hits = pd.concat(parts, ignore_index=True)
    keep = ~hits.duplicated(subset=[*_HIT_KEY, "content"]).to_numpy()
    return hits[keep].drop(columns="content").reset_index(drop=True)


def _content(batch: pd.DataFrame, rows: np.ndarray) -> np.ndarray:
    """What tells apart events without a record id (text exports; damaged records) that
    share a rule, host, channel, event and second: a fingerprint of their data values and
    logged text, as the kept rows' de-duplication compares them. 0 for the others: their id
    decides."""
    prints = np.zeros(len(rows), dtype=np.uint64)
    idless = batch["event_record_id"].isna().to_numpy()[rows]
    if idless.any():  # (only theirs: a hit with an id needs no fingerprint)
        taken = batch.iloc[rows[idless]].reset_index(drop=True)
        content = pd.DataFrame({"values": data_texts(taken), "logged": taken["message_logged"]})
        prints[idless] = pd.util.hash_pandas_object(content, index=False).to_numpy()
    return prints


def sigma_diagnoses(rules: SigmaRuleSet, parts: list[pd.DataFrame]) -> pd.DataFrame:
    """The Sigma diagnosis rows of a scan, from its hit tables."""
    hits = combined_hits(parts)
    return sigma_diagnoses_table(sigma_findings(rules, hits), hits, rules)
