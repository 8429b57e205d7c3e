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


def dedupe(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per event seen in overlapping exports (same host, channel, id and content).

    The content key hashes the provider, event ID, time and every data value, column-wise.
    """
    if rows.empty:
        return rows
    data = rows["data"].array._pa_array.combine_chunks()
    joined = pc.binary_join(
        pa.ListArray.from_arrays(data.offsets, pc.struct_field(data.values, "value")), "\x1f"
    )
    key = pd.DataFrame(
        {
            "host": rows["host"].astype(str),
            "channel": rows["channel"].astype(str),
            "id": rows["event_record_id"],
            "provider": rows["provider_key"],
            "event_id": rows["event_id"],
            "time": rows["time"],
            "values": pd.array(joined, dtype=pd.ArrowDtype(pa.string())),
            # text exports carry no record id and no strings: their logged text tells apart
            "logged": rows["message_logged"],
        }
    )
    return rows[~key.duplicated().to_numpy()].reset_index(drop=True)


def incidents_of(
    signatures: list[Signature], rows: pd.DataFrame, facts: dict[str, HostFacts]
) -> list[Incident]:
    if rows.empty:
        return []
    sessions = np.full(len(rows), -1, dtype=np.int64)
    for host, index in rows.groupby("host", observed=True).groups.items():
        sessions[index] = assign_sessions(rows.loc[index, "time"], facts.get(str(host)))
    hits: dict[tuple[str, str], list[Hit]] = {}
    for i, (host, names, time) in enumerate(
        zip(rows["host"].astype(str), rows["signatures"], rows["time"], strict=True)
    ):
        if time is pd.NaT:
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
