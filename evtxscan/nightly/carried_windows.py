"""What a nightly run carries to the next: the rows that later symptoms may correlate with.

Symptoms of one incident can arrive over several nights (logs of one host come a day apart),
so each run keeps, per host, the recent symptom rows, the boot and version-banner rows that
place them, and the context rows of the last timeline window; the next run correlates them
again together with its new records (:meth:`ScanPipeline.rows`).
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd

from evtxscan.correlation.incidents import Incident
from evtxscan.correlation.selection import BOOT_START, VERSION_BANNER
from evtxscan.correlation.sessions import HostFacts, service_changes
from evtxscan.nightly.changes import SERVICE_STATE
from evtxscan.nightly.model import HostRecord
from evtxscan.scanning.pipeline import ScanPipeline
from evtxscan.scanning.read_plans import Chooser, hosts_among, near_chooser, rows_by_host
from evtxscan.signatures.model import Role, Signature

#: Carried beyond the longest correlation window: logs of one host arrive a day apart.
CARRY_SLACK = timedelta(days=1)


def carry_span(signatures: list[Signature]) -> timedelta:
    """How far back from a host's newest record symptom rows are carried to the next run."""
    longest = timedelta(0)
    for signature in signatures:
        within = [s.within for s in signature.symptoms if s.role is Role.ABSENT and s.within]
        longest = max(longest, signature.window + max(within, default=timedelta(0)))
    return longest + CARRY_SLACK


def merge_facts(facts: dict[str, HostFacts], stored: dict[str, HostRecord]) -> None:
    """Fill what tonight's rows do not say from the facts earlier runs saw."""
    for host, fact in facts.items():
        old = stored.get(host)
        if old is None:
            continue
        fact.os_version = fact.os_version or old.os_version
        fact.build = fact.build or old.build
        fact.service_pack = fact.service_pack or old.service_pack
        kinds = {fact.processors, old.processors}
        for kind in ("multiprocessor", "uniprocessor"):
            if kind in kinds:
                fact.processors = kind
                break


def carry_rows(
    rows: pd.DataFrame, incidents: list[Incident], symptoms: timedelta, context: timedelta
) -> pd.DataFrame:
    """The rows the next run needs, per host: symptom rows of the last ``symptoms`` span with
    whole incidents reaching into it; the latest boot start and version banner before it and
    all after (sessions, host facts); other context rows of the last ``context`` span (the
    timeline around a symptom that comes next)."""
    if rows.empty:
        return rows
    hosts = rows["host"].astype(str)
    times = rows["time"]
    newest = times.groupby(hosts).transform("max")
    recent = (times >= newest - symptoms).fillna(False).to_numpy(dtype=bool, copy=True)
    keep = (times >= newest - context).fillna(False).to_numpy(dtype=bool, copy=True)
    pairs = list(zip(rows["provider_key"], rows["event_id"].astype("Int64"), strict=True))
    symptom = rows["signatures"].map(len).to_numpy() > 0
    keep |= recent & symptom
    for incident in incidents:
        where = [h.row for h in (*incident.hits, *incident.context.values())]
        if keep[where].any():
            keep[where] = True
    for kind in (BOOT_START, {VERSION_BANNER}):
        marker = np.array([p in kind for p in pairs], dtype=bool)
        keep |= marker & recent
        before = rows[marker & ~recent & times.notna().to_numpy()]
        if not before.empty:
            keep[before.groupby(hosts[before.index]).tail(1).index] = True
    return rows[keep].reset_index(drop=True)


def with_located(pipeline: ScanPipeline, rows: pd.DataFrame, diagnosed: set[str]) -> pd.DataFrame:
    """``rows`` and after them (their positions unchanged) the located records a nightly
    run needs decoded, in one second read: a run that reads index-first locates context
    records without decoding them, as a scan does, but

    - the next run's timeline needs the context of each host's last timeline window (its
      last record: the newest of its rows and located records, as if every record had been
      decoded and kept), so they are carried;
    - a service now running may resolve a diagnosis (``changes.merge``): the service state
      changes (Service Control Manager 7036) of the ``diagnosed`` hosts."""
    located = _newest_located(pipeline)
    if located.empty:
        return rows
    ends = [located]
    if not rows.empty:
        ends.append(pd.DataFrame({"host": rows["host"].astype(str), "time": rows["time"]}))
    newest = pd.concat(ends, ignore_index=True).groupby("host")["time"].max()
    near = near_chooser(newest.dropna().reset_index(), pipeline.settings.window)
    changes = _service_changes(pipeline, diagnosed)

    def needed(hosts: pd.Categorical, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(near(hosts, frame) | changes(hosts, frame))

    extra = pipeline.read_located(needed)
    if extra.empty or rows.empty:  # nothing kept tonight: the located records are the rows
        return rows if extra.empty else extra
    return pd.concat([rows, extra[list(rows.columns)]], ignore_index=True)


def _newest_located(pipeline: ScanPipeline) -> pd.DataFrame:
    """Per host, the time of its newest located record (``host``, ``time``)."""
    located, hosts = pipeline.located_table()
    times = located.frame["time"].to_numpy(dtype="datetime64[us]", na_value=np.datetime64("NaT"))
    dated = ~np.isnat(times)
    newest: dict[str, np.datetime64] = {}
    for host, rows in rows_by_host(hosts, np.flatnonzero(dated)).items():
        newest[host] = times[rows].max()
    names = sorted(newest)
    ends = np.array([newest[h] for h in names], dtype="datetime64[us]")
    return pd.DataFrame({"host": names, "time": pd.to_datetime(ends).tz_localize("UTC")})


def _service_changes(pipeline: ScanPipeline, hosts: set[str]) -> Chooser:
    """A chooser of the located Service Control Manager 7036 records of ``hosts``."""
    wanted, names = frozenset(hosts), pipeline.scanner.index.names

    def changes(found: pd.Categorical, frame: pd.DataFrame) -> np.ndarray:
        if not wanted:
            return np.zeros(len(frame), dtype=bool)
        return np.asarray(
            service_changes(frame, names, (SERVICE_STATE,)) & hosts_among(found, wanted)
        )

    return changes
