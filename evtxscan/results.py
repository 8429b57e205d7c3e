"""The result of a scan: timeline, diagnoses, hosts and integrity, as DataFrames.

In Jupyter a result shows as HTML (hosts, diagnoses with cause and resolution, integrity
problems), elsewhere ``str(result)`` gives the same as plain text; every value from the logs
is escaped. Frames keep typed columns (UTC datetimes, categoricals, integers) even when
empty. ``plot_timeline`` and ``plot_hosts`` draw with matplotlib (:mod:`evtxscan.plots`).
"""

from __future__ import annotations

import dataclasses
import html
import json
import re
import textwrap
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import pandas as pd

from evtxscan.correlation.sessions import HostFacts
from evtxscan.signatures.model import Signature

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

TEXT = pd.Series(["x"]).dtype  # pandas' default string dtype (``str`` on pandas 3)
UTC: Final = "datetime64[us, UTC]"
HOST_DTYPES: dict[str, Any] = {
    "host": TEXT,
    **dict.fromkeys(["files", "records"], "int64"),
    **dict.fromkeys(["first_time", "last_time"], UTC),
    **dict.fromkeys(["os_version", "build", "service_pack"], TEXT),
    "processors": "category",
    "diagnoses": "int64",
}
HOST_COLUMNS = list(HOST_DTYPES)
DAILY_DTYPES: dict[str, Any] = {"host": TEXT, "day": UTC, "records": "int64", "errors": "int64"}
DIAGNOSIS_DTYPES: dict[str, Any] = {
    **dict.fromkeys(["diagnosis_id", "host", "signature_id", "kb", "title"], TEXT),
    "confidence": "float64",
    "occurrences": "int64",
    **dict.fromkeys(["first_seen", "last_seen"], UTC),
    **dict.fromkeys(["evidence", "cause", "resolution", "reference"], TEXT),
}
INTEGRITY_DTYPES: dict[str, Any] = {
    **dict.fromkeys(["path", "sha256", "duplicate_of", "errors", "notes"], TEXT),
    **dict.fromkeys(["size", "records", "recovered", "torn", "chunks"], "int64"),
    **dict.fromkeys(["chunks_skipped", "missing_records", "error_count"], "int64"),
    **dict.fromkeys(["header_dirty", "filtered_export"], "bool"),
    **dict.fromkeys(["status", "format"], "category"),
    **dict.fromkeys(["first_time", "last_time"], UTC),
}
EVIDENCE_COLUMNS = ["diagnosis_id", "host", "signature_id", "kb", "time", "symptom", "channel"]
EVIDENCE_COLUMNS += ["provider", "event_id", "event_record_id", "record_number", "source_file"]


def _cast(column: pd.Series, dtype: Any) -> pd.Series:
    if column.dtype == dtype:
        return column
    try:
        if dtype == UTC:
            return pd.to_datetime(column, utc=True).astype(UTC)
        if dtype in ("int64", "bool") and column.isna().any():
            dtype = pd.Int64Dtype() if dtype == "int64" else pd.BooleanDtype()
        out: pd.Series = column.astype(dtype)
        return out
    except (TypeError, ValueError):
        return column


def conform(frame: pd.DataFrame, dtypes: dict[str, Any]) -> pd.DataFrame:
    """``frame`` with the columns of ``dtypes`` in those dtypes (missing ones added as NA)."""
    if all(n in frame.columns and frame[n].dtype == t for n, t in dtypes.items()):
        return frame
    out = frame.copy()
    for name, dtype in dtypes.items():
        if name not in out.columns:
            out[name] = pd.Series([None] * len(out), index=out.index, dtype=object)
        out[name] = _cast(out[name], dtype)
    return out


def _empty_timeline() -> pd.DataFrame:
    from evtxscan.records.schema import empty_frame

    text = pd.StringDtype("pyarrow")
    return empty_frame().assign(
        message=pd.Series(dtype=text),
        binary_status=pd.Series(dtype=text),
        signatures=pd.Series(dtype=object),
    )


def evidence_frame(diagnoses: pd.DataFrame) -> pd.DataFrame:
    """One row per evidence record of each diagnosis (from its ``evidence`` JSON)."""
    rows = []
    for diagnosis in diagnoses.to_dict("records"):
        text = diagnosis.get("evidence")
        for item in json.loads(text) if isinstance(text, str) and text else []:
            rows.append(
                {
                    **{k: item.get(k) for k in EVIDENCE_COLUMNS},
                    **{k: diagnosis.get(k) for k in ("diagnosis_id", "host", "signature_id")},
                    "kb": diagnosis.get("kb"),
                }
            )
    frame = pd.DataFrame(rows, columns=EVIDENCE_COLUMNS)
    frame["time"] = pd.to_datetime(frame["time"], utc=True, format="ISO8601").astype(UTC)
    for name in ("event_id", "event_record_id", "record_number"):
        frame[name] = pd.to_numeric(frame[name]).astype(pd.Int64Dtype())
    return conform(frame, dict.fromkeys(["diagnosis_id", "host", "signature_id", "kb"], TEXT))


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


def _problems(result: ScanResult) -> pd.DataFrame:
    frame = result.integrity
    return frame[frame["status"].astype(str).isin(["damaged", "unreadable"])]


def _reasons(row: dict[Any, Any]) -> str:
    try:
        items = json.loads(row.get("errors") or "[]")
    except (TypeError, ValueError):
        items = []
    reasons = "; ".join(str(i.get("reason")) for i in items[:3] if isinstance(i, dict))
    return (reasons + (" ..." if len(items) > 3 else "")) or _plain(row.get("notes"))


def _summary_line(result: ScanResult) -> str:
    hosts, span = result.hosts, ""
    if not hosts.empty and hosts["first_time"].notna().any():
        first, last = hosts["first_time"].min(), hosts["last_time"].max()
        span = f"; records from {_plain(first)[:10]} to {_plain(last)[:10]}"
    return (
        f"evtxscan scan: {len(hosts)} hosts, {len(result.diagnoses)} diagnoses, "
        f"{len(result.integrity)} files ({len(_problems(result))} with problems), "
        f"{len(result.timeline)} timeline rows{span}"
    )


def _ordered_hosts(result: ScanResult) -> pd.DataFrame:
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


def _result_html(result: ScanResult) -> str:
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
            f"<p><b>{html.escape(_summary_line(result))}</b></p><h4>Diagnoses</h4>",
            cards or "<p>No diagnosis.</p>",
            f'<p class="muted">{_more(ROW_LIMIT, len(diagnoses), "result.diagnoses")}</p>',
            f"<h4>Hosts</h4>{_table_html(hosts.head(ROW_LIMIT))}",
            f'<p class="muted">{_more(ROW_LIMIT, len(hosts), "result.hosts")}</p>',
            "<h4>Integrity problems</h4>",
            _table_html(table) if files else "<p>Every file was read completely.</p>",
            f'<p class="muted">{_more(ROW_LIMIT, len(problems), "result.integrity")}</p></div>',
        ]
    )


def _result_text(result: ScanResult) -> str:
    lines = [_summary_line(result), "", "Diagnoses:" if len(result.diagnoses) else "No diagnosis."]
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

    def __post_init__(self) -> None:
        typed = {
            "diagnoses": conform(self.diagnoses, DIAGNOSIS_DTYPES),
            "hosts": conform(self.hosts, HOST_DTYPES),
            "integrity": conform(self.integrity, INTEGRITY_DTYPES),
            "daily": conform(self.daily, DAILY_DTYPES),
        }
        if self.timeline.columns.empty:
            typed["timeline"] = _empty_timeline()
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
        from evtxscan.plots import plot_timeline

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
        from evtxscan.plots import plot_hosts

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
        return _summary_line(self)

    def __repr__(self) -> str:
        return (
            f"ScanResult({len(self.hosts)} hosts, {len(self.diagnoses)} diagnoses, "
            f"{len(self.timeline)} timeline rows, {len(self.integrity)} files)"
        )

    def __str__(self) -> str:
        return _result_text(self)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self) if cycle else _result_text(self))

    def _repr_html_(self) -> str:
        return _result_html(self)


def hosts_frame(
    stats: list[pd.DataFrame],
    host_files: set[tuple[str, str]],
    facts: dict[str, HostFacts],
    diagnoses: pd.DataFrame,
) -> pd.DataFrame:
    """Per-host summary from the batches' statistics and the host facts."""
    if not stats:
        return conform(pd.DataFrame(columns=HOST_COLUMNS), HOST_DTYPES)
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
    return conform(pd.DataFrame(rows, columns=HOST_COLUMNS), HOST_DTYPES)
