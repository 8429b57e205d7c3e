"""A self-contained HTML report: summary, per-host sections, plots, integrity problems.

One file, no scripts and no network fetches: styles are inline and plots are inline SVG.
Every value from the logs is HTML-escaped. Host sections are collapsed ``<details>`` so the
page stays usable for hundreds of hosts, and each host's timeline is capped, with a pointer
to its CSV.
"""

from __future__ import annotations

from html import escape
from typing import Any

import pandas as pd

from evtxscan._version import __version__
from evtxscan.results import ScanResult
from evtxscan.results.cards import diagnosis_card
from evtxscan.results.evidence import evidence_lists
from evtxscan.results.sigma_tables import credit_line
from evtxscan.sources.integrity import FileStatus

TIMELINE_CAP = 200
_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em;color:#222;max-width:1200px}
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:1.6em}table{border-collapse:collapse;
margin:.5em 0;width:100%}th,td{border:1px solid #ccc;padding:3px 6px;text-align:left;
vertical-align:top}th{background:#f2f2f2}details{margin:.4em 0;border:1px solid #ddd;
padding:.3em .6em;border-radius:4px}summary{cursor:pointer;font-weight:600}
.diag{background:#fff7e6;border-left:4px solid #e69500;padding:.4em .8em;margin:.6em 0}
.ok{color:#2a7d2a}.bad{color:#b00020}.muted{color:#666}pre{white-space:pre-wrap;margin:0}
.sym{background:#fdecea}svg{background:#fafafa;border:1px solid #eee}
"""


def _e(value: Any) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, pd.Timestamp):
        return escape(value.strftime("%Y-%m-%d %H:%M:%S %Z"))
    return escape(str(value))


def _when(value: Any, tz: str) -> str:
    if value is None or value is pd.NaT or value is pd.NA:
        return ""
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return escape(stamp.tz_convert(tz).strftime("%Y-%m-%d %H:%M:%S %Z"))


def _table(frame: pd.DataFrame, columns: list[str], tz: str, row_class: Any = None) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    rows = []
    for _, row in frame.iterrows():
        cells = []
        for column in columns:
            value = row.get(column)
            text = _when(value, tz) if isinstance(value, pd.Timestamp) else _e(value)
            cells.append(f"<td>{text}</td>")
        css = f' class="{row_class(row)}"' if row_class and row_class(row) else ""
        rows.append(f"<tr{css}>{''.join(cells)}</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _plot(daily: pd.DataFrame, marks: list[pd.Timestamp], tz: str) -> str:
    """Events per day as bars (errors darker) with incident days marked."""
    if daily.empty:
        return '<p class="muted">No records.</p>'
    days = daily.sort_values("day")
    width, height, pad = 760, 120, 20
    count = len(days)
    bar = min(40.0, max(1.0, (width - 2 * pad) / max(count, 1)))
    top = max(int(days["records"].max()), 1)
    marked = {pd.Timestamp(m).floor("D") for m in marks}
    parts = [f'<svg role="img" aria-label="events per day" width="{width}" height="{height}">']
    for i, (_, row) in enumerate(days.iterrows()):
        x = pad + i * bar
        h = (height - 2 * pad) * row["records"] / top
        e = (height - 2 * pad) * row["errors"] / top
        label = _when(row["day"], tz)[:10]
        parts.append(
            f'<rect x="{x:.1f}" y="{height - pad - h:.1f}" width="{max(bar - 1, 0.5):.1f}" '
            f'height="{h:.1f}" fill="#9bb7d4"><title>{label}: {int(row["records"])} '
            f"records, {int(row['errors'])} errors</title></rect>"
            f'<rect x="{x:.1f}" y="{height - pad - e:.1f}" width="{max(bar - 1, 0.5):.1f}" '
            f'height="{e:.1f}" fill="#c0392b"/>'
        )
        if row["day"] in marked:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{pad - 4}" font-size="14" '
                f'text-anchor="middle" fill="#e69500" class="incident">▼</text>'
            )
    first, last = _when(days["day"].iloc[0], tz)[:10], _when(days["day"].iloc[-1], tz)[:10]
    parts.append(
        f'<text x="{pad}" y="{height - 4}" font-size="10">{first}</text>'
        f'<text x="{width - pad}" y="{height - 4}" font-size="10" '
        f'text-anchor="end">{last}</text></svg>'
    )
    return "".join(parts)


def render_report(
    result: ScanResult,
    *,
    tz: str = "UTC",
    timeline_files: dict[str, str] | None = None,
    title: str = "evtxscan report",
) -> str:
    """The report page for a :class:`~evtxscan.results.ScanResult`."""
    diagnoses, hosts, integrity = result.diagnoses, result.hosts, result.integrity
    problems = integrity[integrity["status"].isin(FileStatus.PROBLEMS)]
    summary = (
        f"{len(hosts)} hosts, {len(diagnoses)} diagnoses, {len(integrity)} files "
        f"({len(problems)} with problems). Times shown in {escape(tz)}."
    )
    sections = []
    order = sorted(
        hosts["host"].astype(str),
        key=lambda h: (-int((diagnoses["host"] == h).sum()) if not diagnoses.empty else 0, h),
    )
    for host in order:
        mine = diagnoses[diagnoses["host"] == host] if not diagnoses.empty else diagnoses
        timeline = result.timeline_for(host)
        daily = (
            result.daily[result.daily["host"] == host] if not result.daily.empty else result.daily
        )
        marks = [k.time for keys in evidence_lists(mine["evidence"]) for k in keys]
        shown = timeline.head(TIMELINE_CAP)
        more = ""
        if len(timeline) > TIMELINE_CAP:
            link = (timeline_files or {}).get(host, "timeline.csv")
            more = (
                f'<p class="muted">Showing {TIMELINE_CAP} of {len(timeline)} rows; the rest '
                f'is in <a href="timelines/{escape(link)}">{escape(link)}</a>.</p>'
            )
        blocks = "".join(
            diagnosis_card(row, tz=tz, show_host=False) for row in mine.to_dict("records")
        )
        status = (
            f'<span class="bad">{len(mine)} diagnoses</span>'
            if len(mine)
            else '<span class="ok">no diagnosis</span>'
        )
        table = (
            _table(
                shown.assign(signatures=shown["signatures"].map(", ".join))
                if not shown.empty
                else shown,
                ["time", "channel", "provider", "event_id", "level", "message", "signatures"],
                tz,
                lambda r: "sym" if r.get("signatures") else "",
            )
            if not shown.empty
            else '<p class="muted">No symptom or context events.</p>'
        )
        sections.append(
            f'<details{" open" if len(mine) else ""} id="host-{escape(host)}"><summary>'
            f"{escape(host)} — {status}</summary>{blocks}<h3>Events per day</h3>"
            f"{_plot(daily, marks, tz)}<h3>Timeline</h3>{table}{more}</details>"
        )
    diag_table = (
        _table(
            diagnoses,
            ["host", "title", "kb", "confidence", "occurrences", "first_seen", "last_seen"],
            tz,
        )
        if not diagnoses.empty
        else '<p class="ok">No diagnosis.</p>'
    )
    sigma_credit = credit_line(diagnoses)
    credit = f'<p class="muted">{escape(sigma_credit)}</p>' if sigma_credit else ""
    problem_table = (
        _table(problems, ["path", "format", "status", "records", "errors"], tz)
        if not problems.empty
        else '<p class="ok">Every file was read completely.</p>'
    )
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{escape(title)}</h1><p>{summary}</p><h2>Diagnoses</h2>{diag_table}"
        f"<h2>Hosts</h2>{''.join(sections)}<h2>Integrity problems</h2>{problem_table}"
        f'{credit}<p class="muted">evtxscan {escape(__version__)}</p></body></html>'
    )
