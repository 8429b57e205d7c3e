"""How a result shows: plain text (``str(result)``) and HTML for Jupyter, with every value
from the logs escaped and control characters made visible."""

from __future__ import annotations

import html
import json
import textwrap
from typing import Any

import pandas as pd

from evtxscan.results.cards import card_css, diagnosis_card, escaped, plain
from evtxscan.results.schema import ResultTables
from evtxscan.sources.integrity import FileStatus

ROW_LIMIT = 50
HOST_VIEW = ["host", "diagnoses", "files", "records", "first_time", "last_time", "os_release"]
HOST_VIEW += ["service_pack", "processors", "notes"]
_CSS = (
    ".evtxscan-result table{border-collapse:collapse;margin:.3em 0}"
    ".evtxscan-result th,.evtxscan-result td{border:1px solid #ccc;padding:2px 6px;"
    "text-align:left;vertical-align:top}"
) + card_css(".evtxscan-result")


def _problems(result: ResultTables) -> pd.DataFrame:
    frame = result.integrity
    return frame[frame["status"].astype(str).isin(FileStatus.PROBLEMS)]


def _reasons(row: dict[Any, Any]) -> str:
    try:
        items = json.loads(row.get("errors") or "[]")
    except (TypeError, ValueError):
        items = []
    reasons = "; ".join(str(i.get("reason")) for i in items[:3] if isinstance(i, dict))
    return (reasons + (" ..." if len(items) > 3 else "")) or plain(row.get("notes"))


def summary_line(result: ResultTables) -> str:
    hosts, span = result.hosts, ""
    if not hosts.empty and hosts["first_time"].notna().any():
        first, last = hosts["first_time"].min(), hosts["last_time"].max()
        span = f"; records from {plain(first)[:10]} to {plain(last)[:10]}"
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


def _table_html(frame: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{escaped(v)}</td>" for v in row) + "</tr>"
        for row in frame.itertuples(index=False)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def result_html(result: ResultTables) -> str:
    diagnoses, hosts, problems = result.diagnoses, _ordered_hosts(result), _problems(result)
    cards = "".join(diagnosis_card(r) for r in diagnoses.head(ROW_LIMIT).to_dict("records"))
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
        rating = f"{plain(row['kb']) or 'no KB article'}, confidence {plain(row['confidence'])}"
        if row.get("kind") == "sigma":  # the DRL asks reports of matches to keep the author
            rating = (
                f"Sigma rule {plain(row['signature_id'])}, level {plain(row.get('level'))}, "
                f"by {plain(row.get('author'))}, licence {plain(row.get('licence'))}"
            )
        lines += [
            f"  {plain(row['host'])}: {plain(row['title'])}",
            f"    {rating}, {int(row['occurrences'])} occurrence(s), "
            f"{plain(row['first_seen'])} to {plain(row['last_seen'])}",
        ]
        for label in ("cause", "resolution"):
            text = f"{label.capitalize()}: {plain(row[label])}"
            lines += textwrap.wrap(text, 96, initial_indent="    ", subsequent_indent="      ")
    lines.append(_more(ROW_LIMIT, len(result.diagnoses), "result.diagnoses"))
    hosts = _ordered_hosts(result).head(ROW_LIMIT).map(plain)
    lines += ["Hosts:", textwrap.indent(hosts.to_string(index=False), "  ")]
    lines.append(_more(ROW_LIMIT, len(result.hosts), "result.hosts"))
    problems = _problems(result).head(ROW_LIMIT).to_dict("records")
    lines.append("Integrity problems:" if problems else "Every file was read completely.")
    lines += [f"  {plain(r['path'])}: {r['status']} ({_reasons(r)})" for r in problems]
    return "\n".join(line for line in lines if line is not None).rstrip()
