"""A self-contained HTML report: summary, diagnoses, hosts, per-host stories, integrity.

One file, no scripts and no network fetches: styles are inline and plots are inline SVG.
Every value from the logs is HTML-escaped. Each host has a collapsed ``<details>`` section
(open when it has a diagnosis) telling its story: its Windows release and counts of notable
events, its diagnoses, an events-per-day plot on a true time axis and its timeline, with
repeated identical events grouped and, past 200 rows, the most telling rows kept (see
:mod:`evtxscan.outputs.html_timeline`). Tables wrap to the page width.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Mapping, Sequence
from html import escape
from typing import Any

import numpy as np
import pandas as pd

from evtxscan._version import __version__
from evtxscan.correlation.notable import COUNT_COLUMNS, Notable
from evtxscan.outputs.html_timeline import (
    CAP_RULE,
    SHOWN_COLUMNS,
    TIMELINE_CAP,
    CellTexts,
    capped_rows,
    day_plot_of,
    day_times,
    priorities,
    timeline_html,
)
from evtxscan.outputs.names import unique_file_names
from evtxscan.outputs.tables import rows_by_host
from evtxscan.results import ScanResult
from evtxscan.results.cards import card_css, diagnosis_card, escaped
from evtxscan.results.evidence import evidence_lists
from evtxscan.results.repeats import group_repeats
from evtxscan.results.sigma_tables import credit_line
from evtxscan.sources.integrity import FileStatus

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em;color:#222;max-width:1200px}
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:1.6em}h3{font-size:1.05em}
table{border-collapse:collapse;margin:.5em 0;width:100%}table.timeline{table-layout:fixed}
th,td{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top;
overflow-wrap:anywhere;word-break:break-word}th{background:#f2f2f2}
td.msg{white-space:pre-wrap}details{margin:.4em 0;border:1px solid #ddd;padding:.3em .6em;
border-radius:4px}summary{cursor:pointer;font-weight:600}.ok{color:#2a7d2a}
.bad{color:#b00020}tr.sym{background:#fdecea}tr.crit{background:#f9d6d5}
tr.err{background:#fff1f0}tr.mark{background:#eef4fb}svg{background:#fafafa;
border:1px solid #eee;max-width:100%;height:auto}
col.c-time{width:11em}col.c-channel{width:7em}col.c-provider{width:11em}col.c-id{width:4.5em}
col.c-level{width:6em}col.c-repeat{width:10em}col.c-sig{width:9em}
"""
#: Hosts overview: (column, header) and the story line's kinds, most severe first.
_OVERVIEW = [
    ("host", "host"),
    ("os_release", "Windows"),
    ("records", "records"),
    ("first_time", "first record"),
    ("last_time", "last record"),
    ("diagnoses", "diagnoses"),
    ("bugchecks", "bugchecks"),
    ("unexpected_shutdowns", "unexpected shutdowns"),
    ("service_crashes", "service crashes"),
    ("critical", "critical"),
    ("errors", "errors"),
]
_STORY = [COUNT_COLUMNS[k] for k in Notable if k not in (Notable.OS_VERSION,)]
_NONE = np.zeros(0, dtype=np.int64)
#: Timeline rows turned into Python rows at a time, for a block of hosts' sections.
ROWS_AT_ONCE = 2048


def _table(frame: pd.DataFrame, columns: list[tuple[str, str]], tz: str) -> str:
    head = "".join(f"<th>{escape(title)}</th>" for _, title in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{escaped(row.get(c), tz)}</td>" for c, _ in columns) + "</tr>"
        for row in frame.to_dict("records")
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _story_line(host: Mapping[Hashable, Any]) -> str:
    """``Windows Server 2022 (20348) · 3 boots · 1 unexpected shutdown …`` for one host."""
    parts = [escaped(host.get("os_release")) or "Windows release unknown"]
    for column in _STORY:
        value = host.get(column)
        count = 0 if value is None or pd.isna(value) else int(value)
        if count:
            name = column.replace("_", " ")
            parts.append(f"{count:,} {name[:-1] if count == 1 and name.endswith('s') else name}")
    return " &middot; ".join(parts)


def _row_dicts(frame: pd.DataFrame) -> list[dict[Hashable, Any]]:
    """``frame.to_dict("records")``, the same values, made column by column (faster: pandas
    boxes value by value)."""
    names = list(frame.columns)
    columns = [_cells(frame[name]) for name in names]
    return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]


def _cells(column: pd.Series) -> list[Any]:
    """A column's values as ``to_dict`` gives them: ``pd.NA`` as None."""
    values = column.tolist()
    if isinstance(column.dtype, pd.api.extensions.ExtensionDtype) and column.hasnans:
        return [None if value is pd.NA else value for value in values]
    return values


class _HostParts:
    """The tables a host's section shows, split per host once (a section costs slices, not
    filters of every table): grouped timeline rows (only those shown turned into Python
    rows), diagnoses and their evidence times, records and errors per day."""

    def __init__(self, result: ScanResult, order: Sequence[str]) -> None:
        # Repeats never span hosts: grouped once for the whole timeline, then split.
        self.groups = group_repeats(result.timeline)
        self.group_rows = rows_by_host(self.groups)
        tier, recent = priorities(self.groups)
        self.shown = {h: capped_rows(r, tier, recent) for h, r in self.group_rows.items()}
        self.order = list(order)  # hosts in the order their sections are made
        self.position = {name: at for at, name in enumerate(self.order)}
        self.rows: dict[int, dict[Hashable, Any]] = {}  # Python rows of a block of hosts
        self.diagnoses = result.diagnoses.to_dict("records")
        self.diagnosis_rows = rows_by_host(result.diagnoses)
        self.evidence = evidence_lists(result.diagnoses["evidence"])
        daily = result.daily.groupby(["host", "day"], observed=True)[["records", "errors"]]
        per_day = daily.sum().reset_index()
        self.day_rows = rows_by_host(per_day)
        self.day_times = day_times(per_day["day"])  # plain arrays: a host's plot slices them
        self.day_counts = per_day[["records", "errors"]].to_numpy(dtype=np.int64).reshape(-1, 2)
        self.counts = self.groups["count"].to_numpy()
        self.cells: dict[str, CellTexts] = {}  # cell texts made once per report, by zone

    def shown_rows(self, name: str) -> list[dict[Hashable, Any]]:
        """A host's shown timeline rows as Python rows, made for a block of hosts at a time
        (from this one on, in section order, up to :data:`ROWS_AT_ONCE` rows; the block
        before is dropped): a report of hundreds of hosts holds only a block of them."""
        shown = self.shown.get(name, _NONE).tolist()
        if shown and shown[0] not in self.rows:
            at = self.position.get(name)
            names = [name] if at is None else self.order[at:]
            block: list[np.ndarray] = []
            count = 0
            for host in names:
                rows = self.shown.get(host, _NONE)
                if block and count + len(rows) > ROWS_AT_ONCE:
                    break
                block.append(rows)
                count += len(rows)
            every = np.concatenate(block)
            converted = _row_dicts(self.groups.iloc[every][SHOWN_COLUMNS])
            self.rows = dict(zip(every.tolist(), converted, strict=True))
        return [self.rows[i] for i in shown]

    def section(self, host: Mapping[Hashable, Any], anchor: str, timeline_file: str | None,
                tz: str) -> str:  # fmt: skip
        """One host's section."""
        name = str(host["host"])
        mine = self.diagnosis_rows.get(name, _NONE)
        diagnoses = [self.diagnoses[i] for i in mine]
        marks = [k.time for i in mine for k in self.evidence[i]]
        groups = self.group_rows.get(name, _NONE)
        shown = self.shown.get(name, _NONE)
        more = ""
        if len(groups) > len(shown):
            link = timeline_file or "timeline.csv"
            events = int(self.counts[groups].sum())
            more = (
                f'<p class="muted">Showing {len(shown):,} of {len(groups):,} rows '
                f"({events:,} events; {CAP_RULE}). Every event is in "
                f'<a href="timelines/{escape(link)}">{escape(link)}</a>.</p>'
            )
        table = (
            timeline_html(self.shown_rows(name), tz, self.cells.setdefault(tz, CellTexts(tz)))
            if len(shown)
            else '<p class="muted">No events.</p>'
        )
        days = self.day_rows.get(name, _NONE)
        plot = day_plot_of(self.day_times[days], self.day_counts[days], marks)
        cards = "".join(diagnosis_card(r, tz=tz, show_host=False) for r in diagnoses)
        status = (
            f'<span class="bad">{len(diagnoses)} diagnoses</span>'
            if len(diagnoses)
            else '<span class="ok">no diagnosis</span>'
        )
        notes = escaped(host.get("notes"))
        notes = f'<p class="muted">{notes}</p>' if notes else ""
        return (
            f'<details{" open" if len(diagnoses) else ""} id="host-{escape(anchor)}"><summary>'
            f"{escape(name)} — {status}</summary><p>{_story_line(host)}</p>{notes}{cards}"
            f"<h3>Events per day</h3>{plot}<h3>Timeline</h3>{table}"
            f"{more}</details>"
        )


def _severity(hosts: pd.DataFrame) -> pd.Series:
    """Order of host sections: diagnosed first, then crashes and errors, then by name."""
    count = hosts[[*COUNT_COLUMNS.values(), "diagnoses"]].fillna(0).astype("int64")
    crashes = count["bugchecks"] + count["unexpected_shutdowns"] + count["service_crashes"]
    errors = count["critical"] + count["errors"]
    keys = zip(-count["diagnoses"], -crashes, -errors, strict=True)
    return pd.Series(list(keys), index=hosts.index)


def render_report(
    result: ScanResult,
    *,
    tz: str = "UTC",
    timeline_files: dict[str, str] | None = None,
    title: str = "evtxscan report",
) -> str:
    """The report page for a :class:`~evtxscan.results.ScanResult`."""
    return "".join(report_parts(result, tz=tz, timeline_files=timeline_files, title=title))


def report_parts(
    result: ScanResult,
    *,
    tz: str = "UTC",
    timeline_files: dict[str, str] | None = None,
    title: str = "evtxscan report",
) -> Iterator[str]:
    """The report page in parts (the head, each host's section, the end), made as they are
    taken: written to a file as they come, a report of hundreds of hosts is never whole in
    memory."""
    diagnoses, hosts, integrity = result.diagnoses, result.hosts, result.integrity
    problems = integrity[integrity["status"].isin(FileStatus.PROBLEMS)]
    summary = (
        f"{len(hosts)} hosts, {len(diagnoses)} diagnoses, {len(integrity)} files "
        f"({len(problems)} with problems). Times shown in {escape(tz)}."
    )
    files = timeline_files or unique_file_names(hosts["host"].astype(str))
    ordered = hosts.assign(_order=_severity(hosts)).sort_values(["_order", "host"])
    diag_table = (
        _table(
            diagnoses,
            [(c, c) for c in ("host", "title", "kb", "confidence", "occurrences")]
            + [("first_seen", "first seen"), ("last_seen", "last seen")],
            tz,
        )
        if not diagnoses.empty
        else '<p class="ok">No diagnosis.</p>'
    )
    yield (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_CSS}{card_css()}</style></head><body>"
        f"<h1>{escape(title)}</h1><p>{summary}</p><h2>Diagnoses</h2>{diag_table}"
        f"<h2>Hosts</h2>{_table(ordered, _OVERVIEW, tz)}<h2>Host by host</h2>"
    )
    rows = ordered.to_dict("records")
    parts = _HostParts(result, [str(row["host"]) for row in rows])
    for row in rows:
        name = str(row["host"])
        file_name = files.get(name) or name
        anchor = file_name.rsplit(".", 1)[0]
        yield parts.section(row, anchor, files.get(name), tz)
    sigma_credit = credit_line(diagnoses)
    credit = f'<p class="muted">{escape(sigma_credit)}</p>' if sigma_credit else ""
    problem_table = (
        _table(problems, [(c, c) for c in ("path", "format", "status", "records", "errors")], tz)
        if not problems.empty
        else '<p class="ok">Every file was read completely.</p>'
    )
    yield (
        f"<h2>Integrity problems</h2>{problem_table}"
        f'{credit}<p class="muted">evtxscan {escape(__version__)}; timelines cap at '
        f"{TIMELINE_CAP} rows per host.</p></body></html>"
    )
