"""Keep what a scan needs from each record batch: symptom candidates (matched against the
signatures), context events (boots, shutdowns, service changes, errors and warnings), and
per host and day statistics of every record.

Batches are prefiltered with column operations, so memory follows the matches, not the input.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from evtxscan.correlation.engine import dedupe
from evtxscan.correlation.selection import SignatureIndex
from evtxscan.messages import MessageRenderer, add_messages, load_catalog
from evtxscan.records.batch import concat_frames, held_categories
from evtxscan.records.hosts import HostMap
from evtxscan.scanning.day_counts import DAY_COLUMNS, day_counts
from evtxscan.signatures.model import Signature
from evtxscan.sources.skipped import SkippedStats

if TYPE_CHECKING:  # Sigma support is optional (pip install "evtxscan[sigma]")
    from evtxscan.scanning.sigma_stage import SigmaStage
    from evtxscan.signatures.sigma import SigmaRuleSet


@dataclass(frozen=True)
class ScannerConfig:
    """What a scanner needs, in any process: the signatures and what to keep.

    Picklable; a process builds the expensive parts (signature index, message catalog) once
    per config (:meth:`Scanner.from_config`), keyed by ``token``.
    """

    signatures: tuple[Signature, ...]
    since: pd.Timestamp | None = None
    until: pd.Timestamp | None = None
    keep_all: bool = False
    include_recovered: bool = False
    catalogs: tuple[str | Path, ...] = ()
    messages_db: str | Path | None = None  # a ts-evtx template database (--messages-db)
    input_tz: str = "UTC"
    feed_rows: int = 20_000
    sigma: SigmaRuleSet | None = None  # Sigma rules matched on every batch as well
    token: str = field(default_factory=lambda: uuid.uuid4().hex)


_BUILT: dict[str, tuple[SignatureIndex, MessageRenderer]] = {}
_SIGMA: dict[str, SigmaStage] = {}  # per config token: the compiled matcher, built once


def _sigma_stage(config: ScannerConfig) -> SigmaStage | None:
    if config.sigma is None:
        return None
    stage = _SIGMA.get(config.token)
    if stage is None:
        from evtxscan.scanning.sigma_stage import SigmaStage

        stage = SigmaStage(config.sigma, config.include_recovered)
        _SIGMA.clear()
        _SIGMA[config.token] = stage
    return stage


class Scanner:
    """One unit's (or one run's) state: the kept rows and per host, file and day counts."""

    def __init__(self, config: ScannerConfig) -> None:
        built = _BUILT.get(config.token)
        if built is None:
            built = (
                SignatureIndex(list(config.signatures), None),
                MessageRenderer(load_catalog(*config.catalogs, messages_db=config.messages_db)),
            )
            _BUILT.clear()  # one config at a time per process
            _BUILT[config.token] = built
        self.config = config
        self.index, self.renderer = built
        self.since, self.until = config.since, config.until
        self.keep_all = config.keep_all
        self.include_recovered = config.include_recovered
        self.kept: list[pd.DataFrame] = []
        self.days: list[pd.DataFrame] = []
        self.sigma_hits: list[pd.DataFrame] = []  # Sigma matches (see sigma_stage)
        self.sigma = _sigma_stage(config)

    @classmethod
    def from_config(cls, config: ScannerConfig) -> Scanner:
        return cls(config)

    def feed(self, batch: pd.DataFrame) -> None:
        if self.since is not None:
            batch = batch[batch["time"] >= self.since]
        if self.until is not None:
            batch = batch[batch["time"] < self.until]
        if batch.empty:
            return
        if self.sigma is not None:
            self.sigma_hits += self.sigma.hits_in(batch)
        # One grouping per batch: records, errors and time span per (host, file, day); host
        # totals, files per host and daily counts are summed from it at the end.
        self.days.append(day_counts(batch))
        self._keep(batch)

    def keep(self, batch: pd.DataFrame) -> None:
        """Keep the rows correlation and the timeline need, without counting the batch
        (records read a second time: context located earlier, decoded near a symptom)."""
        if self.since is not None:
            batch = batch[batch["time"] >= self.since]
        if self.until is not None:
            batch = batch[batch["time"] < self.until]
        if not batch.empty:
            self._keep(batch)

    def _keep(self, batch: pd.DataFrame) -> None:
        candidates, context, canon = self.index.prefilter(batch)
        if not self.include_recovered:
            candidates &= ~batch["recovered"].to_numpy()
        keep = candidates | context | (self.keep_all and True)
        if not keep.any():
            return
        rows = batch if keep.all() else batch[keep]
        rows = rows.reset_index(drop=True)
        matched: list[list[str]] = [[] for _ in range(len(rows))]
        messages = np.full(len(rows), None, dtype=object)
        binary_status = np.full(len(rows), None, dtype=object)
        cand_rows = np.flatnonzero(candidates[keep])
        if len(cand_rows):
            # Messages only for symptom candidates now (conditions may test them); context
            # rows get theirs at the end, and only if they make it into the timeline.
            rendered = add_messages(rows.iloc[cand_rows], self.renderer)
            hits_per_row = self.index.match(rendered, canon[keep][cand_rows])
            for i, hits in zip(cand_rows.tolist(), hits_per_row, strict=True):
                matched[i] = hits
            messages[cand_rows] = rendered["message"].to_numpy(dtype=object)
            binary_status[cand_rows] = rendered["binary_status"].to_numpy(dtype=object)
        rows["message"] = pd.array(messages, dtype=pd.StringDtype("pyarrow"))
        rows["binary_status"] = pd.array(binary_status, dtype=pd.StringDtype("pyarrow"))
        rows["signatures"] = matched
        rows["provider_key"] = canon[keep]
        self.kept.append(rows)

    def add_skipped(self, skipped: SkippedStats, host_map: HostMap) -> None:
        """Count the records a prefilter skipped (they were never decoded)."""
        if not skipped:
            return
        keys, counts = list(skipped), list(skipped.values())
        hosts: dict[tuple[str, str], str] = {}  # one lookup per (computer, file), not per day
        for computer, source, _ in keys:
            if (computer, source) not in hosts:
                hosts[computer, source] = host_map.host_for(computer or None, source)
        frame = pd.DataFrame(
            {
                "host": [hosts[computer, source] for computer, source, _ in keys],
                "source_file": [source for _, source, _ in keys],
                "day": [day for _, _, day in keys],
                "records": [count[0] for count in counts],
                "errors": 0,
                "first_time": [count[1] for count in counts],
                "last_time": [count[2] for count in counts],
            }
        )
        for name in ("first_time", "last_time"):
            frame[name] = pd.to_datetime(
                frame[name], utc=True, format="ISO8601", errors="coerce"
            ).astype("datetime64[us, UTC]")
        frame["day"] = pd.to_datetime(frame["day"], utc=True, errors="coerce").astype(
            "datetime64[us, UTC]"
        )
        if self.since is not None:
            frame = frame[frame["last_time"] >= self.since]
        if self.until is not None:
            frame = frame[frame["first_time"] < self.until]
        self.days.append(frame[DAY_COLUMNS])


def combine_rows(carried: pd.DataFrame | None, kept: list[pd.DataFrame]) -> pd.DataFrame:
    """Carried and new rows, de-duplicated and in one canonical order (host, time, channel,
    EventRecordID, file, offset), with the categories of the values they hold, so results do
    not depend on the order files were read in nor on how they were batched (an engine's
    units, a cluster's host groups)."""
    frames = [f for f in ([carried] if carried is not None else []) + kept if not f.empty]
    if not frames:
        return pd.DataFrame()
    return held_categories(canonical_order(dedupe(concat_frames(frames))))


def canonical_order(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` sorted by host, time, channel, EventRecordID, file and offset (host, channel
    and file as their texts; missing values last, ties in row order)."""
    keys: list[np.ndarray] = []
    for name in ("offset", "source_file", "event_record_id", "channel", "time", "host"):
        value, missing = _sort_key(rows[name])
        keys += [value, missing]  # np.lexsort: the last key sorts first
    return rows.take(np.lexsort(keys)).reset_index(drop=True)


def _sort_key(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """A column as numbers that sort as its values do (texts by their rank among the
    distinct texts, as pandas sorts ``astype(str)``), and where it is missing."""
    kind = column.dtype
    if isinstance(kind, pd.CategoricalDtype):
        codes = column.cat.codes.to_numpy()
        texts = column.cat.categories.astype(str).to_numpy(dtype=object)
    elif isinstance(kind, np.dtype) and kind.kind in "iub":
        return column.to_numpy(), np.zeros(len(column), dtype=bool)
    elif str(kind).startswith("datetime64"):
        values = column.to_numpy(dtype="datetime64[us]")
        return values.view(np.int64), np.isnat(values)
    elif pd.api.types.is_integer_dtype(kind) or pd.api.types.is_bool_dtype(kind):
        missing = column.isna().to_numpy()
        return column.to_numpy(
            dtype=np.uint64 if _unsigned(kind) else np.int64, na_value=0
        ), missing
    else:  # texts, or anything else: as pandas would, by their text
        codes, uniques = pd.factorize(column.astype(str))
        texts = np.asarray(uniques, dtype=object)
    missing = codes < 0
    if not len(texts):
        return np.zeros(len(codes), dtype=np.int64), missing
    _distinct, rank = np.unique(texts, return_inverse=True)
    return np.where(missing, 0, rank.reshape(-1)[np.maximum(codes, 0)]), missing


def _unsigned(kind: object) -> bool:
    return pd.api.types.is_unsigned_integer_dtype(kind)  # type: ignore[arg-type]
