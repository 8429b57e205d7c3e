"""The per-host parts of ``report.html``: the events-per-day plot and the capped timeline.

The plot has a true time axis: one slot per calendar day from the host's first to its last
day, so days without records (a machine switched off, a cleared log) show as gaps. The
timeline groups repeated identical events (``results.repeats``) and, when a host has more
rows than the page shows, keeps the most telling ones: symptoms, then critical events (and
bugchecks, unexpected shutdowns), then errors (and failing services, cleared logs), then
boots, shutdowns and other notable events, then context; the most recent first within each.
The kept rows are shown in time order.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from html import escape
from typing import Any

import numpy as np
import pandas as pd

from evtxscan.correlation.notable import Notable
from evtxscan.results.cards import escaped

TIMELINE_CAP = 200
TIMES = "\N{MULTIPLICATION SIGN}"
LEVEL_NAMES = {1: "Critical", 2: "Error", 3: "Warning", 4: "Information", 5: "Verbose"}
#: Priority of a row when a timeline is capped (lower first); symptoms come before all.
TIERS: dict[str, int] = {
    **dict.fromkeys([Notable.CRITICAL, Notable.BUGCHECK, Notable.UNEXPECTED_SHUTDOWN], 1),
    **dict.fromkeys([Notable.ERROR, Notable.SERVICE_CRASH, Notable.SERVICE_START_FAILURE], 2),
    Notable.LOG_CLEARED: 2,
    **dict.fromkeys([Notable.BOOT, Notable.SHUTDOWN, Notable.OS_VERSION], 3),
    **dict.fromkeys([Notable.TIME_CHANGED, Notable.HOST_RENAMED], 3),
}
CONTEXT_TIER = 4
CAP_RULE = (
    "symptoms first, then critical events, then errors, then boots, shutdowns and other "
    "notable events; the most recent first within each"
)
_PLOT_WIDTH, _PLOT_HEIGHT, _PAD = 760, 130, 24


def priorities(groups: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per row of a grouped timeline, its tier (0 for symptoms, see :data:`TIERS`) and
    minus its time (so the most recent sorts first), as :func:`capped_rows` ranks them."""
    symptom = groups["signatures"].map(len).to_numpy() > 0
    kinds = groups["notable"].astype(object).to_numpy()
    tier = np.array(
        [TIERS.get(k, CONTEXT_TIER) if isinstance(k, str) else CONTEXT_TIER for k in kinds],
        dtype=np.int64,
    )
    tier[symptom] = 0
    times = groups["time"].to_numpy(dtype="datetime64[us]", na_value=np.datetime64("NaT"))
    return tier, -times.astype(np.int64)


def capped_rows(
    rows: np.ndarray, tier: np.ndarray, recent: np.ndarray, cap: int = TIMELINE_CAP
) -> np.ndarray:
    """At most ``cap`` of a host's rows (positions into the arrays of :func:`priorities`),
    chosen by priority (see the module docstring), in time order."""
    if len(rows) <= cap:
        return rows
    chosen = np.lexsort((np.arange(len(rows)), recent[rows], tier[rows]))[:cap]
    return rows[np.sort(chosen)]


def _span(row: Mapping[Hashable, Any], tz: str) -> str:
    """``x 29,205 between 03:19:26 and 03:20:26`` (with a multiplication sign) for a group
    of more than one event."""
    count = int(row["count"])
    if count < 2:
        return ""
    first, last = pd.Timestamp(row["time"]), pd.Timestamp(row["last_time"])
    if pd.isna(first) or pd.isna(last):
        return f"{TIMES} {count:,}"
    first, last = first.tz_convert(tz), last.tz_convert(tz)
    same_day = first.date() == last.date()
    end = last.strftime("%H:%M:%S" if same_day else "%Y-%m-%d %H:%M:%S")
    return f"{TIMES} {count:,} between {first.strftime('%H:%M:%S')} and {end}"


def _row_class(row: Mapping[Hashable, Any]) -> str:
    if len(row["signatures"]):
        return "sym"
    kind = row["notable"]
    tier = TIERS.get(kind, CONTEXT_TIER) if isinstance(kind, str) else CONTEXT_TIER
    return {1: "crit", 2: "err", 3: "mark"}.get(tier, "")


#: The grouped timeline's columns a table row shows.
SHOWN_COLUMNS = ["time", "last_time", "count", "channel", "provider", "event_id", "level",
                 "message", "signatures", "notable"]  # fmt: skip


class CellTexts:
    """:func:`~evtxscan.results.cards.escaped` text of table cells, each distinct value made
    once (by type too: 1 and 1.0 show differently). A report's timelines repeat channels,
    providers, event IDs, signatures and many messages and times, across rows and hosts:
    200 distinct machines' 39,292 rows hold 1,518 distinct messages and 252 times.
    Forgotten past ``limit`` values, so memory stays bounded."""

    def __init__(self, tz: str, limit: int = 1 << 16) -> None:
        self.tz = tz
        self.limit = limit
        self._texts: dict[tuple[type, Any], str] = {}

    def __call__(self, value: Any) -> str:
        key = (type(value), value)
        try:
            found = self._texts.get(key)
        except TypeError:  # unhashable: made each time
            return escaped(value, self.tz)
        if found is None:
            if len(self._texts) >= self.limit:
                self._texts.clear()
            found = self._texts[key] = escaped(value, self.tz)
        return found


def timeline_html(
    groups: Sequence[Mapping[Hashable, Any]], tz: str, cells: CellTexts | None = None
) -> str:
    """A host's (capped, grouped) timeline as a table that wraps to the page width
    (``groups``: its rows as mappings of at least :data:`SHOWN_COLUMNS`; ``cells``: the
    report's memo of cell texts, in ``tz``)."""
    text = cells if cells is not None and cells.tz == tz else CellTexts(tz)
    head = (
        '<table class="timeline"><colgroup><col class="c-time"><col class="c-channel">'
        '<col class="c-provider"><col class="c-id"><col class="c-level"><col class="c-repeat">'
        '<col class="c-message"><col class="c-sig"></colgroup><tr><th>time</th><th>channel'
        "</th><th>provider</th><th>event</th><th>level</th><th>repeats</th><th>message</th>"
        "<th>signatures</th></tr>"
    )
    rows = []
    for row in groups:
        level = row["level"]
        level_name = LEVEL_NAMES.get(int(level), str(level)) if pd.notna(level) else ""
        css = _row_class(row)
        rows.append(
            f"<tr{f' class={chr(34)}{css}{chr(34)}' if css else ''}>"
            f"<td>{text(row['time'])}</td><td>{text(row['channel'])}</td>"
            f"<td>{text(row['provider'])}</td><td>{text(row['event_id'])}</td>"
            f"<td>{escape(level_name)}</td><td>{escape(_span(row, tz))}</td>"
            f'<td class="msg">{text(row["message"])}</td>'
            f"<td>{text(', '.join(row['signatures']))}</td></tr>"
        )
    return head + "".join(rows) + "</table>"


_DAY_US = 86_400_000_000


def _day_text(day: int | np.integer) -> str:
    """``YYYY-MM-DD`` of a day counted from 1970-01-01."""
    return str(np.datetime64(int(day), "D"))


def _ticks(first_day: int, days: int) -> list[int]:
    """Day offsets to label: month starts for long spans, else week starts, else every day
    (``first_day`` counted from 1970-01-01, a Thursday)."""
    dates = np.arange(first_day, first_day + days).astype("datetime64[D]")
    if days > 62:
        marks = np.flatnonzero(dates == dates.astype("datetime64[M]").astype("datetime64[D]"))
    elif days > 14:
        marks = np.flatnonzero((dates.astype(np.int64) + 3) % 7 == 0)  # Mondays
    else:
        marks = np.arange(days)
    return [int(m) for m in marks]


def day_plot(per_day: pd.DataFrame, marks: list[pd.Timestamp]) -> str:
    """Records (light) and errors (dark) per UTC day on a true time axis; ▼ marks days
    holding a diagnosis' evidence (``per_day``: a host's records and errors summed per day,
    indexed by the day, ascending)."""
    counts = per_day[["records", "errors"]].to_numpy(dtype=np.int64).reshape(-1, 2)
    return day_plot_of(day_times(per_day.index), counts, marks)


def day_times(days: pd.Series | pd.Index) -> np.ndarray:
    """Days (datetimes) as :func:`day_plot_of` takes them: microseconds since 1970, UTC."""
    return pd.DatetimeIndex(days).tz_convert("UTC").as_unit("us").asi8


def day_plot_of(when: np.ndarray, counts: np.ndarray, marks: list[pd.Timestamp]) -> str:
    """:func:`day_plot` of plain arrays (``when``: :func:`day_times`; ``counts``: records
    and errors per day, one row each): the report draws one per host, so a plot must not
    cost pandas' per-call overhead."""
    if not len(when):
        return '<p class="muted">No records.</p>'
    first_day = int(when.min() // _DAY_US)
    offsets = ((when - first_day * _DAY_US) / _DAY_US).astype(int)
    start = pd.Timestamp(first_day * _DAY_US, unit="us", tz="UTC")
    days = int(offsets.max()) + 1
    slot = (_PLOT_WIDTH - 2 * _PAD) / days
    bar = max(slot * 0.9, 0.6)
    top = max(int(counts[:, 0].max()), 1)
    scale = (_PLOT_HEIGHT - 2 * _PAD) / top
    base = _PLOT_HEIGHT - _PAD
    parts = [
        f'<svg role="img" aria-label="events per day" width="{_PLOT_WIDTH}" '
        f'height="{_PLOT_HEIGHT}" viewBox="0 0 {_PLOT_WIDTH} {_PLOT_HEIGHT}">',
        f'<line x1="{_PAD}" y1="{base}" x2="{_PLOT_WIDTH - _PAD}" y2="{base}" stroke="#999"/>',
    ]
    labels = np.datetime_as_string(when.astype("datetime64[us]"), unit="D")
    for offset, label, (records, errors) in zip(offsets, labels, counts.tolist(), strict=True):
        x = _PAD + offset * slot
        parts.append(
            f'<rect class="day" x="{x:.2f}" y="{base - records * scale:.2f}" width="{bar:.2f}" '
            f'height="{records * scale:.2f}" fill="#9bb7d4"><title>{label}: {records:,} records, '
            f"{errors:,} errors</title></rect>"
        )
        if errors:
            parts.append(
                f'<rect x="{x:.2f}" y="{base - errors * scale:.2f}" width="{bar:.2f}" '
                f'height="{errors * scale:.2f}" fill="#c0392b"/>'
            )
    marked = {pd.Timestamp(m).tz_convert("UTC").floor("D") for m in marks if pd.notna(m)}
    for day in sorted(marked):
        x = _PAD + ((day - start) / pd.Timedelta(days=1)) * slot + bar / 2
        parts.append(
            f'<text x="{x:.2f}" y="{_PAD - 6}" font-size="14" text-anchor="middle" '
            f'fill="#e69500" class="incident">▼</text>'
        )
    ticks = _ticks(first_day, days)
    labelled = set(ticks[:: max(1, -(-len(ticks) // 8))])
    for offset in ticks:
        x = _PAD + offset * slot
        parts.append(f'<line x1="{x:.2f}" y1="{base}" x2="{x:.2f}" y2="{base + 4}" stroke="#999"/>')
        if offset in labelled:
            label = _day_text(first_day + offset)
            parts.append(f'<text x="{x:.2f}" y="{base + 15}" font-size="10">{label}</text>')
    first, last = _day_text(first_day), _day_text(first_day + days - 1)
    parts.append(
        f'</svg><p class="muted">{first} to {last}: {days:,} UTC days, one slot each '
        "(records light, errors dark; a day without records is a gap).</p>"
    )
    return "".join(parts)
