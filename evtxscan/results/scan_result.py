"""The result of a scan: timeline, diagnoses, hosts and integrity, as DataFrames.

In Jupyter a result shows as HTML (hosts, diagnoses with cause and resolution, integrity
problems), elsewhere ``str(result)`` gives the same as plain text; every value from the logs
is escaped. Frames keep typed columns (UTC datetimes, categoricals, integers) even when
empty. ``plot_timeline`` and ``plot_hosts`` draw with matplotlib (:mod:`evtxscan.results.plots`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from evtxscan.results.display import result_html, result_text, summary_line
from evtxscan.results.schema import DAILY, DIAGNOSES, HOSTS, INTEGRITY, TIMELINE
from evtxscan.results.tables import evidence_frame
from evtxscan.signatures.model import Signature

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from evtxscan.signatures.sigma.loading import SigmaRuleSet


@dataclass(frozen=True)
class ScanResult:
    """What a scan found.

    - ``diagnoses``: one row per host and signature (cause, resolution, KB, confidence,
      occurrences, first/last seen, and the evidence record keys as a typed list column;
      ``evidence()`` gives them one row per record);
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
    sigma: SigmaRuleSet | None = None  # the Sigma rules run (loaded and refused), if any

    def __post_init__(self) -> None:
        typed = {
            "timeline": TIMELINE.conform(self.timeline),
            "diagnoses": DIAGNOSES.conform(self.diagnoses),
            "hosts": HOSTS.conform(self.hosts),
            "integrity": INTEGRITY.conform(self.integrity),
            "daily": DAILY.conform(self.daily),
        }
        for name, frame in typed.items():
            object.__setattr__(self, name, frame)

    def timeline_for(self, host: str) -> pd.DataFrame:
        """One host's timeline (host as normalized, e.g. ``exch01``)."""
        if self.timeline.empty:
            return self.timeline
        return self.timeline[self.timeline["host"].astype(str) == host].reset_index(drop=True)

    def evidence(self, host: str | None = None) -> pd.DataFrame:
        """The diagnoses' evidence records, one row each (all hosts, or one)."""
        frame = evidence_frame(self.diagnoses)
        return frame if host is None else frame[frame["host"] == host].reset_index(drop=True)

    def plot_timeline(
        self,
        host: str,
        *,
        since: object = None,
        until: object = None,
        figsize: tuple[float, float] | None = None,
    ) -> Figure:
        """One host: events per day, and its timeline by provider and level with the
        symptoms and each diagnosis' evidence times marked (see :mod:`evtxscan.plots`)."""
        from evtxscan.results.plots import plot_timeline

        return plot_timeline(self, host, since=since, until=until, figsize=figsize)

    def plot_hosts(
        self,
        *,
        value: str = "errors",
        freq: str | None = None,
        max_hosts: int = 40,
        since: object = None,
        until: object = None,
        ax: Axes | None = None,
        figsize: tuple[float, float] | None = None,
    ) -> Figure:
        """Hosts x days (or weeks, months) heatmap of ``value`` with diagnoses marked."""
        from evtxscan.results.plots import plot_hosts

        return plot_hosts(
            self,
            value=value,
            freq=freq,
            max_hosts=max_hosts,
            since=since,
            until=until,
            ax=ax,
            figsize=figsize,
        )

    def summary(self) -> str:
        """One line: hosts, diagnoses, files (with problems) and timeline rows."""
        return summary_line(self)

    def __repr__(self) -> str:
        return (
            f"ScanResult({len(self.hosts)} hosts, {len(self.diagnoses)} diagnoses, "
            f"{len(self.timeline)} timeline rows, {len(self.integrity)} files)"
        )

    def __str__(self) -> str:
        return result_text(self)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self) if cycle else result_text(self))

    def _repr_html_(self) -> str:
        return result_html(self)
