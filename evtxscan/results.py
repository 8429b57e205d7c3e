"""The result of a scan: timeline, diagnoses, hosts and integrity, as DataFrames."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pandas as pd

from evtxscan.correlation.sessions import HostFacts
from evtxscan.signatures.model import Signature

HOST_COLUMNS = [
    "host",
    "files",
    "records",
    "first_time",
    "last_time",
    "os_version",
    "build",
    "service_pack",
    "processors",
    "diagnoses",
]


@dataclass(frozen=True)
class ScanResult:
    """What a scan found.

    - ``diagnoses``: one row per host and signature (cause, resolution, KB, confidence,
      occurrences, first/last seen, evidence record keys);
    - ``timeline``: per host, time-ordered symptom matches and nearby context events, with
      their messages and the signatures each row matched;
    - ``hosts``: per host files, records, time span and OS facts from the 6009 banner;
    - ``integrity``: one row per input file, from the readers;
    - ``daily``: records and errors per host and UTC day (for plots).
    """

    timeline: pd.DataFrame
    diagnoses: pd.DataFrame
    hosts: pd.DataFrame
    integrity: pd.DataFrame
    daily: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)
    signatures: tuple[Signature, ...] = ()

    def timeline_for(self, host: str) -> pd.DataFrame:
        """One host's timeline (host as normalized, e.g. ``exch01``)."""
        if self.timeline.empty:
            return self.timeline
        return self.timeline[self.timeline["host"].astype(str) == host].reset_index(drop=True)

    def __repr__(self) -> str:
        return (
            f"ScanResult({len(self.hosts)} hosts, {len(self.diagnoses)} diagnoses, "
            f"{len(self.timeline)} timeline rows, {len(self.integrity)} files)"
        )


def hosts_frame(
    stats: list[pd.DataFrame],
    host_files: set[tuple[str, str]],
    facts: dict[str, HostFacts],
    diagnoses: pd.DataFrame,
) -> pd.DataFrame:
    """Per-host summary from the batches' statistics and the host facts."""
    if not stats:
        return pd.DataFrame(columns=HOST_COLUMNS)
    combined = pd.concat([s.reset_index() for s in stats], ignore_index=True)
    combined["host"] = combined["host"].astype(str)
    summary = (
        combined.groupby("host")
        .agg(
            records=("records", "sum"),
            first_time=("first_time", "min"),
            last_time=("last_time", "max"),
        )
        .reset_index()
    )
    files: dict[str, int] = {}
    for host, _ in host_files:
        files[host] = files.get(host, 0) + 1
    summary.insert(1, "files", [files.get(h, 0) for h in summary["host"]])
    counts = diagnoses.groupby("host").size() if not diagnoses.empty else pd.Series(dtype=int)
    rows = []
    for record in summary.to_dict("records"):
        fact = facts.get(record["host"]) or HostFacts()
        rows.append(
            {
                **record,
                "os_version": fact.os_version,
                "build": fact.build,
                "service_pack": fact.service_pack,
                "processors": fact.processors,
                "diagnoses": int(counts.get(record["host"], 0)),
            }
        )
    return pd.DataFrame(rows, columns=HOST_COLUMNS)
