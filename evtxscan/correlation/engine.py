"""Assemble a scan's results from the kept rows: deduplication, incidents, diagnoses,
timeline and daily counts.

:mod:`evtxscan.scanning` streams the records and keeps the symptom and context rows; this module
turns them into the result tables.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from evtxscan.correlation.incidents import (
    Hit,
    Incident,
    find_incidents,
)
from evtxscan.correlation.sessions import HostFacts, assign_sessions
from evtxscan.signatures.model import Signature


def data_texts(rows: pd.DataFrame) -> pd.api.extensions.ExtensionArray:
    """Each row's data values, joined: with the logged text, the content two copies of an
    event share (a text export's records carry no record id)."""
    data = rows["data"].array._pa_array.combine_chunks()
    joined = pc.binary_join(
        pa.ListArray.from_arrays(data.offsets, pc.struct_field(data.values, "value")), "\x1f"
    )
    return pd.array(joined, dtype=pd.ArrowDtype(pa.string()))


def _dedupe_key(rows: pd.DataFrame) -> pd.DataFrame:
    """What makes two kept rows the same event: host, channel, id and content (provider,
    event ID, time, every data value; the logged text for text exports, which carry no
    record id and no strings)."""
    return pd.DataFrame(
        {
            "host": rows["host"].astype(str),
            "channel": rows["channel"].astype(str),
            "id": rows["event_record_id"],
            "provider": rows["provider_key"],
            "event_id": rows["event_id"],
            "time": rows["time"],
            "values": data_texts(rows),
            "logged": rows["message_logged"],
        }
    )


def dedupe(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per event seen in overlapping exports (same host, channel, id and content)."""
    if rows.empty:
        return rows
    return rows[~_dedupe_key(rows).duplicated().to_numpy()].reset_index(drop=True)


class SeenRows:
    """Drops kept rows already seen, batch by batch, so a collection holding the same log
    many times (copies, overlapping exports) keeps one copy in memory, not all of them.

    Rows are compared by a 64-bit hash of :func:`dedupe`'s key (the exact de-duplication
    still runs on what is left); the first occurrence wins, as in :func:`dedupe`.
    """

    def __init__(self) -> None:
        self._seen = np.zeros(0, dtype=np.uint64)

    def fresh(self, rows: pd.DataFrame) -> pd.DataFrame:
        """The rows of ``rows`` not seen in this or an earlier batch."""
        if rows.empty:
            return rows
        hashes = pd.util.hash_pandas_object(_dedupe_key(rows), index=False).to_numpy()
        keep = ~pd.Series(hashes).duplicated().to_numpy() & ~self._known(hashes)
        # Two sorted runs: a stable (merge) sort joins them in linear time.
        self._seen = np.concatenate([self._seen, np.sort(hashes[keep])])
        self._seen.sort(kind="stable")
        return rows if keep.all() else rows[keep].reset_index(drop=True)

    def _known(self, hashes: np.ndarray) -> np.ndarray:
        if not len(self._seen):
            return np.zeros(len(hashes), dtype=bool)
        at = np.minimum(np.searchsorted(self._seen, hashes), len(self._seen) - 1)
        return np.asarray(self._seen[at] == hashes)


def incidents_of(
    signatures: list[Signature], rows: pd.DataFrame, facts: dict[str, HostFacts]
) -> list[Incident]:
    if rows.empty:
        return []
    # Only rows with a symptom make hits, and only their hosts need boot sessions: most
    # hosts of a large collection have none (no per-host or per-row work for them).
    matched = rows["signatures"].tolist()
    hit_rows = [i for i, names in enumerate(matched) if names]
    if not hit_rows:
        return []
    hosts = rows["host"].astype(str).to_numpy(dtype=object)
    wanted = set(hosts[hit_rows].tolist())
    sessions = np.full(len(rows), -1, dtype=np.int64)
    for host, index in rows.groupby("host", observed=True).groups.items():
        if str(host) in wanted:
            sessions[index] = assign_sessions(rows.loc[index, "time"], facts.get(str(host)))
    hits: dict[tuple[str, str], list[Hit]] = {}
    times = rows["time"]
    for i in hit_rows:
        host, names, time = hosts[i], matched[i], times.iat[i]
        if not isinstance(time, pd.Timestamp):  # NaT
            continue
        for name in names:
            signature_id, symptom = name.split(":", 1)
            hits.setdefault((host, signature_id), []).append(
                Hit(i, symptom, time, int(sessions[i]))
            )
    by_id = {s.id: s for s in signatures}
    found: list[Incident] = []
    for (host, signature_id), host_hits in sorted(hits.items()):
        found += find_incidents(by_id[signature_id], host, host_hits, facts.get(host))
    # A generic (fallback) finding yields to a KB diagnosis that explains the same records.
    explained = {(i.host, h.row) for i in found if not i.signature.fallback for h in i.hits}
    return [
        i
        for i in found
        if not i.signature.fallback or not any((i.host, h.row) in explained for h in i.hits)
    ]
