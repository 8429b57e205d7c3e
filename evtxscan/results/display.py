"""How a result shows: plain text (``str(result)``) and HTML for Jupyter, with every value
from the logs escaped and control characters made visible."""

from __future__ import annotations

import html
import json
import re
import textwrap
from typing import Any

import pandas as pd

from evtxscan.results.schema import ResultTables
from evtxscan.results.tables import evidence_frame
from evtxscan.sources.integrity import FileStatus

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
ROW_LIMIT = 50
HOST_VIEW = ["host", "diagnoses", "files", "records", "first_time", "last_time", "os_version"]
HOST_VIEW += ["service_pack", "processors"]
_CSS = (
    ".evtxscan-result table{border-collapse:collapse;margin:.3em 0}"
    ".evtxscan-result th,.evtxscan-result td{border:1px solid #ccc;padding:2px 6px;"
    "text-align:left;vertical-align:top}.evtxscan-result .diag{border-left:4px solid #e69500;"
    "padding:.2em .8em;margin:.5em 0}.evtxscan-result .muted{color:#666}"
)


def _plain(value: Any) -> str:
    """Display text: '' when missing, times in UTC, control characters escaped."""
    if value is None or value is pd.NA or value is pd.NaT or (value != value) is True:
        return ""
    if isinstance(value, pd.Timestamp):
        stamp = value.tz_convert("UTC") if value.tzinfo else value
        return stamp.strftime("%Y-%m-%d %H:%M:%S") + (" UTC" if value.tzinfo else "")
    if isinstance(value, float):
        return f"{value:.2f}"
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(value))


def _h(value: Any) -> str:
    return html.escape(_plain(value))


def _problems(result: ResultTables) -> pd.DataFrame:
    frame = result.integrity
    return frame[frame["status"].astype(str).isin(FileStatus.PROBLEMS)]


def _reasons(row: dict[Any, Any]) -> str:
    try:
        items = json.loads(row.get("errors") or "[]")
    except (TypeError, ValueError):
        items = []
    reasons = "; ".join(str(i.get("reason")) for i in items[:3] if isinstance(i, dict))
    return (reasons + (" ..." if len(items) > 3 else "")) or _plain(row.get("notes"))


def summary_line(result: ResultTables) -> str:
    hosts, span = result.hosts, ""
    if not hosts.empty and hosts["first_time"].notna().any():
        first, last = hosts["first_time"].min(), hosts["last_time"].max()
        span = f"; records from {_plain(first)[:10]} to {_plain(last)[:10]}"
    return (
        f"evtxscan scan: {len(hosts)} hosts, {len(result.diagnoses)} diagnoses, "
        f"{len(result.integrity)} files ({len(_problems(result))} with problems), "
        f"{len(result.timeline)} timeline rows{span}"
    )


def _ordered_hosts(result: ResultTables) -> pd.DataFrame:
    hosts = result.hosts.sort_values(["diagnoses", "host"], ascending=[False, True])
    return hosts[[c for c in HOST_VIEW if c in hosts.columns]]


def _more(shown: int, total: int, where: str) -> str:
    return f"{shown} of {total} shown; see {where}" if total > shown else ""


def _diagnosis_html(row: dict[Any, Any]) -> str:
    evidence = evidence_frame(pd.DataFrame([row]))
    items = "".join(
        f"<li>{_h(e.time)}: {_h(e.channel)} {_h(e.provider)} {_h(e.event_id)} "
        f"({_h(e.symptom)}), record {_h(e.event_record_id)} in {_h(e.source_file)}</li>"
        for e in evidence.itertuples()
    )
    kb, reference = _h(row["kb"]) or "no KB article", _plain(row["reference"])
    if reference.startswith(("https://", "http://")):
        kb = f'<a href="{html.escape(reference)}" target="_blank" rel="noopener">{kb}</a>'
    return (
        f'<div class="diag"><b>{_h(row["host"])}</b>: <b>{_h(row["title"])}</b><br>'
        f'<span class="muted">{kb} &middot; confidence {_h(row["confidence"])} &middot; '
        f"{int(row['occurrences'])} occurrence(s) &middot; {_h(row['first_seen'])} to "
        f"{_h(row['last_seen'])}</span><p><b>Cause.</b> {_h(row['cause'])}</p>"
        f"<p><b>Resolution.</b> {_h(row['resolution'])}</p><details><summary>Evidence "
        f"({len(evidence)} records)</summary><ul>{items}</ul></details></div>"
    )


def _table_html(frame: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{_h(v)}</td>" for v in row) + "</tr>"
        for row in frame.itertuples(index=False)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def result_html(result: ResultTables) -> str:
    diagnoses, hosts, problems = result.diagnoses, _ordered_hosts(result), _problems(result)
    cards = "".join(_diagnosis_html(r) for r in diagnoses.head(ROW_LIMIT).to_dict("records"))
    files = problems.head(ROW_LIMIT).to_dict("records")
    table = pd.DataFrame(
        {
            "path": [r["path"] for r in files],
            "status": [r["status"] for r in files],
            "records": [r["records"] for r in files],
            "problem": [_reasons(r) for r in files],
        }
    )
    return "".join(
        [
            f'<div class="evtxscan-result"><style>{_CSS}</style>',
            f"<p><b>{html.escape(summary_line(result))}</b></p><h4>Diagnoses</h4>",
            cards or "<p>No diagnosis.</p>",
            f'<p class="muted">{_more(ROW_LIMIT, len(diagnoses), "result.diagnoses")}</p>',
            f"<h4>Hosts</h4>{_table_html(hosts.head(ROW_LIMIT))}",
            f'<p class="muted">{_more(ROW_LIMIT, len(hosts), "result.hosts")}</p>',
            "<h4>Integrity problems</h4>",
            _table_html(table) if files else "<p>Every file was read completely.</p>",
            f'<p class="muted">{_more(ROW_LIMIT, len(problems), "result.integrity")}</p></div>',
        ]
    )


def result_text(result: ResultTables) -> str:
    lines = [summary_line(result), "", "Diagnoses:" if len(result.diagnoses) else "No diagnosis."]
    for row in result.diagnoses.head(ROW_LIMIT).to_dict("records"):
        lines += [
            f"  {_plain(row['host'])}: {_plain(row['title'])}",
            f"    {_plain(row['kb']) or 'no KB article'}, confidence {_plain(row['confidence'])}, "
            f"{int(row['occurrences'])} occurrence(s), {_plain(row['first_seen'])} to "
            f"{_plain(row['last_seen'])}",
        ]
        for label in ("cause", "resolution"):
            text = f"{label.capitalize()}: {_plain(row[label])}"
            lines += textwrap.wrap(text, 96, initial_indent="    ", subsequent_indent="      ")
    lines.append(_more(ROW_LIMIT, len(result.diagnoses), "result.diagnoses"))
    hosts = _ordered_hosts(result).head(ROW_LIMIT).map(_plain)
    lines += ["Hosts:", textwrap.indent(hosts.to_string(index=False), "  ")]
    lines.append(_more(ROW_LIMIT, len(result.hosts), "result.hosts"))
    problems = _problems(result).head(ROW_LIMIT).to_dict("records")
    lines.append("Integrity problems:" if problems else "Every file was read completely.")
    lines += [f"  {_plain(r['path'])}: {r['status']} ({_reasons(r)})" for r in problems]
    return "\n".join(line for line in lines if line is not None).rstrip()
