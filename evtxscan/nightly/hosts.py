"""Hosts across runs: when each last sent data, its merged facts, and which are stale."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import pandas as pd

from evtxscan.correlation.sessions import HostFacts
from evtxscan.nightly.model import Change, HistoryRow, HostRecord

STALE_COLUMNS = ["host", "last_data_at", "last_record_time", "runs_without_data", "open_diagnoses"]


@dataclasses.dataclass(frozen=True)
class HostChanges:
    """The host records to keep, the stale table, and hosts forgotten by retention."""

    records: tuple[HostRecord, ...]
    stale: pd.DataFrame
    history: tuple[HistoryRow, ...]
    forgotten: frozenset[str]


def settle_hosts(
    prior: Mapping[str, HostRecord],
    with_data: Mapping[str, pd.Timestamp | None],
    facts: Mapping[str, HostFacts],
    open_diagnoses: Mapping[str, int],
    now: pd.Timestamp,
    retention: pd.Timedelta,
) -> HostChanges:
    """Update every known host; a host with no new record this run is stale.

    A host silent for longer than the retention period is forgotten (no longer listed as
    stale; its watermarks stay, so its old records are still not read again).
    """
    records: list[HostRecord] = []
    stale: list[dict[str, object]] = []
    history: list[HistoryRow] = []
    forgotten: set[str] = set()
    for host in sorted(set(prior) | set(with_data)):
        old = prior.get(host)
        fact = facts.get(host)
        if host in with_data:
            newest = with_data[host]
            if old is not None and old.last_record_time is not None:
                newest = (
                    old.last_record_time if newest is None else max(newest, old.last_record_time)
                )
            record = HostRecord(
                host=host,
                first_data_at=old.first_data_at if old is not None else now,
                last_data_at=now,
                last_record_time=newest,
            )
        else:
            assert old is not None
            if old.last_data_at < now - retention:
                forgotten.add(host)
                continue
            record = dataclasses.replace(old, runs_without_data=old.runs_without_data + 1)
            stale.append(
                {
                    "host": host,
                    "last_data_at": record.last_data_at,
                    "last_record_time": record.last_record_time,
                    "runs_without_data": record.runs_without_data,
                    "open_diagnoses": int(open_diagnoses.get(host, 0)),
                }
            )
            history.append(
                HistoryRow(
                    Change.STALE, host, detail=f"{record.runs_without_data} run(s) without data"
                )
            )
        records.append(_with_facts(record, old, fact))
    frame = pd.DataFrame(stale, columns=STALE_COLUMNS)
    for name in ("last_data_at", "last_record_time"):
        frame[name] = pd.to_datetime(frame[name], utc=True).astype("datetime64[us, UTC]")
    frame["runs_without_data"] = frame["runs_without_data"].astype("int64")
    frame["open_diagnoses"] = frame["open_diagnoses"].astype("int64")
    return HostChanges(tuple(records), frame, tuple(history), frozenset(forgotten))


def _with_facts(record: HostRecord, old: HostRecord | None, fact: HostFacts | None) -> HostRecord:
    """The facts tonight's correlation used (already merged with the stored ones)."""
    if fact is None:
        if old is None:
            return record
        return dataclasses.replace(
            record,
            os_version=old.os_version,
            build=old.build,
            service_pack=old.service_pack,
            processors=old.processors,
        )
    return dataclasses.replace(
        record,
        os_version=fact.os_version,
        build=fact.build,
        service_pack=fact.service_pack,
        processors=fact.processors,
    )
