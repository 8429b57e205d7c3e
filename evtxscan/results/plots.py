"""Matplotlib views of a scan result: one host's timeline, and hosts by days.

matplotlib is optional (``pip install 'evtxscan[plots]'``) and imported only when a plot is
drawn. Nothing here calls ``show()``, so the figures work under the headless ``Agg`` backend;
they are returned for further styling. Text from the logs is drawn literally (``$`` cannot
start mathtext, control characters are replaced).

Artists carry ``gid`` values, so callers and tests can find them: ``INCIDENT_GID`` (one
marker line per diagnosis at its evidence times), ``INCIDENT_DAY_GID`` (shaded evidence
days), ``SYMPTOM_GID`` (rings around symptom events) and ``DIAGNOSIS_GID`` (heatmap markers).
"""

from __future__ import annotations

import re
from types import ModuleType
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd

from evtxscan.results.schema import ResultTables

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


INCIDENT_GID = "evtxscan-incident"
INCIDENT_DAY_GID = "evtxscan-incident-day"
SYMPTOM_GID = "evtxscan-symptom"
DIAGNOSIS_GID = "evtxscan-diagnosis"
LEVELS = {
    1: ("critical", "#67000d"),
    2: ("error", "#d62728"),
    3: ("warning", "#ff9f1c"),
    4: ("information", "#1f77b4"),
    5: ("verbose", "#9e9e9e"),
}
PALETTE = ["#e69500", "#6a3d9a", "#1b9e77", "#e7298a", "#66a61e", "#a6761d", "#386cb0"]
PERIODS = {"D": "day", "W": "week", "M": "month"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _pyplot() -> ModuleType:
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("plots need matplotlib: pip install 'evtxscan[plots]'") from exc
    return plt


def _label(value: object, limit: int = 48) -> str:
    """Log text as a literal matplotlib label: no mathtext, no control characters."""
    text = _CONTROL.sub("?", "" if value is None or value is pd.NA else str(value))
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text.replace("$", r"\$")


def _naive(values: Any) -> np.ndarray[Any, Any]:
    """UTC times (Series, list or index) as naive ``datetime64[us]`` for matplotlib."""
    index = pd.DatetimeIndex(pd.to_datetime(pd.Series(values), utc=True))
    return index.tz_localize(None).to_numpy(dtype="datetime64[us]")


def _stamp(value: object) -> pd.Timestamp | None:
    if value is None:
        return None
    stamp = pd.Timestamp(cast(Any, value))
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _between(frame: pd.DataFrame, column: str, since: object, until: object) -> pd.DataFrame:
    start, end = _stamp(since), _stamp(until)
    if frame.empty or (start is None and end is None):
        return frame
    keep = pd.Series(True, index=frame.index)
    if start is not None:
        keep &= frame[column] >= (start.floor("D") if column == "day" else start)
    if end is not None:
        keep &= frame[column] < end
    return frame[keep.fillna(False).astype(bool)].reset_index(drop=True)


def _date_axis(ax: Axes) -> None:
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator()  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]


def _empty(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#666")
    ax.set_xticks([])
    ax.set_yticks([])


def _draw_days(ax: Axes, daily: pd.DataFrame, evidence: pd.DataFrame) -> None:
    """Records and errors per day, evidence days shaded."""
    if daily.empty:
        _empty(ax, "no records in this range")
        return
    days = _naive(daily["day"])
    ax.bar(days, daily["records"], width=0.9, align="edge", color="#9bb7d4", label="records")
    ax.bar(days, daily["errors"], width=0.9, align="edge", color=LEVELS[2][1], label="errors")
    one_day = np.timedelta64(1, "D")
    marked: Any = (
        np.unique(_naive(evidence["time"]).astype("datetime64[D]")) if len(evidence) else []
    )
    for i, day in enumerate(marked):
        start = day.astype("datetime64[us]")
        span = ax.axvspan(start, start + one_day, color="#e69500", alpha=0.3, zorder=0)
        span.set_gid(INCIDENT_DAY_GID)
        span.set_label("diagnosis evidence" if i == 0 else "_nolegend_")
    ax.set_ylim(0, max(1, int(daily["records"].max())) * 1.4)
    ax.set_ylabel("records per day")
    ax.legend(loc="upper left", fontsize="small", ncols=3)
    _date_axis(ax)


def _draw_events(ax: Axes, timeline: pd.DataFrame, evidence: pd.DataFrame) -> None:
    """Timeline events by provider (rows) and level (colours), symptoms and evidence marked."""
    if timeline.empty and evidence.empty:
        _empty(ax, "no symptom or context events in this range")
        return
    channels, providers = timeline["channel"].astype(str), timeline["provider"].astype(str)
    rows = channels + ": " + providers if channels.nunique() > 1 else providers
    names = sorted(set(rows))
    y = rows.map({n: i for i, n in enumerate(names)}).to_numpy(dtype=float)
    x = _naive(timeline["time"]) if len(timeline) else np.array([], dtype="datetime64[us]")
    level = timeline["level"].astype("Int64").fillna(4).to_numpy(dtype=int)
    level = np.where((level < 1) | (level > 5), 4, level)
    for value, (name, color) in LEVELS.items():
        mask = level == value
        if mask.any():
            ax.scatter(x[mask], y[mask], s=30, color=color, label=name, zorder=3)
    symptom = timeline["signatures"].map(lambda s: s is not None and len(s) > 0)
    mask = symptom.to_numpy(dtype=bool)
    if mask.any():
        ax.scatter(
            x[mask],
            y[mask],
            s=150,
            facecolors="none",
            edgecolors="black",
            linewidths=1.3,
            label="symptom",
            gid=SYMPTOM_GID,
            zorder=4,
        )
    top = len(names)
    for i, (_, group) in enumerate(evidence.groupby("diagnosis_id", sort=False)):
        times = np.unique(_naive(group["time"]))
        color = PALETTE[i % len(PALETTE)]
        first = group.iloc[0]
        kb = first["kb"] if isinstance(first["kb"], str) and first["kb"] else None
        name = f"{kb or first['signature_id']}: {first['title']}"
        for moment in times:
            ax.axvline(moment, color=color, alpha=0.4, linestyle=":", zorder=1)
        ax.plot(
            times,
            np.full(len(times), top),
            linestyle="none",
            marker="v",
            markersize=11,
            color=color,
            markeredgecolor="black",
            label=_label(name, 90),
            gid=INCIDENT_GID,
            zorder=5,
        )
    ticks = [_label(n, 40) for n in names] + (["diagnoses"] if len(evidence) else [])
    ax.set_yticks(range(len(ticks)), labels=ticks)
    ax.set_ylim(-0.7, len(ticks) - 0.3)
    ax.set_xlabel("time (UTC)")
    ax.legend(loc="upper left", bbox_to_anchor=(0, -0.14), fontsize="small", ncols=3)
    _date_axis(ax)


def plot_timeline(
    result: ResultTables,
    host: str,
    *,
    since: object = None,
    until: object = None,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """One host: records and errors per day (top) and its timeline by provider and level
    (bottom), symptom events ringed and each diagnosis' evidence times marked (▼).

    ``since``/``until`` limit the time range (UTC unless given). Returns the figure; its
    ``axes`` are the two panels.
    """
    plt = _pyplot()
    timeline = result.timeline_for(host)
    daily = result.daily[result.daily["host"].astype(str) == host]
    if timeline.empty and daily.empty:
        known = ", ".join(sorted(result.hosts["host"].astype(str))[:20])
        raise KeyError(f"no records for host {host!r} (hosts: {known})")
    titles: Any = (
        result.diagnoses.set_index("diagnosis_id")["title"] if len(result.diagnoses) else {}
    )
    evidence = result.evidence(host)
    evidence = evidence.assign(title=[titles.get(d, "") for d in evidence["diagnosis_id"]])
    timeline = _between(timeline, "time", since, until)
    daily = _between(daily.reset_index(drop=True), "day", since, until)
    evidence = _between(evidence, "time", since, until)
    fig, (days_ax, events_ax) = plt.subplots(
        2, 1, figsize=figsize or (11, 6.5), height_ratios=(1, 2.4), layout="constrained"
    )
    _draw_days(days_ax, daily, evidence)
    _draw_events(events_ax, timeline, evidence)
    found = evidence["diagnosis_id"].nunique()
    what = f"{found} diagnosis" if found == 1 else f"{found} diagnoses"
    fig.suptitle(_label(f"{host}: {what}, {len(timeline)} timeline events", 100))
    return cast("Figure", fig)


def _host_order(result: ResultTables, cells: pd.DataFrame) -> list[str]:
    """Hosts with diagnoses first, then by errors, then by name."""
    diagnosed: Any = result.diagnoses.groupby("host").size() if len(result.diagnoses) else {}
    errors = cells.groupby(level="host")["errors"].sum()
    hosts = sorted(errors.index.astype(str))
    return sorted(hosts, key=lambda h: (-int(diagnosed.get(h, 0)), -int(errors.get(h, 0)), h))


def _diagnosis_cells(result: ResultTables, freq: str, shown: list[str]) -> pd.DataFrame:
    """(diagnosis, host, period) for each diagnosis' evidence (or first-seen) periods."""
    evidence = result.evidence()
    rows = evidence[["diagnosis_id", "host", "time"]]
    missing = result.diagnoses[~result.diagnoses["diagnosis_id"].isin(evidence["diagnosis_id"])]
    if len(missing):
        extra = missing[["diagnosis_id", "host", "first_seen"]].rename(
            columns={"first_seen": "time"}
        )
        rows = pd.concat([rows, extra], ignore_index=True)
    rows = rows[rows["host"].isin(shown) & rows["time"].notna()]
    period = pd.Series(_naive(rows["time"])).dt.to_period(freq).dt.start_time
    return rows.assign(period=period.to_numpy()).drop_duplicates(["diagnosis_id", "period"])


def plot_hosts(
    result: ResultTables,
    *,
    value: str = "errors",
    freq: str | None = None,
    max_hosts: int = 40,
    since: object = None,
    until: object = None,
    ax: Axes | None = None,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """Hosts x periods heatmap of ``value`` (``errors`` or ``records``) from ``result.daily``,
    with a ◆ in each period holding a diagnosis' evidence; grey cells have no records.

    ``freq``: ``"D"``, ``"W"`` or ``"M"`` (default: from the time span). Hosts with
    diagnoses come first, then the most errors; at most ``max_hosts`` rows. ``since`` and
    ``until`` limit the days shown. Returns the figure (``ax``'s, when given).
    """
    plt = _pyplot()
    from matplotlib.colors import PowerNorm
    from matplotlib.patches import Patch

    if value not in ("errors", "records"):
        raise ValueError(f"value must be 'errors' or 'records', got {value!r}")
    daily = _between(result.daily, "day", since, until)
    hosts_count = daily["host"].nunique() if len(daily) else 0
    if ax is None:
        height = 1.8 + 0.32 * min(max(hosts_count, 1), max_hosts)
        fig, ax = plt.subplots(figsize=figsize or (11, height), layout="constrained")
    fig = cast("Figure", ax.figure)
    if daily.empty:
        _empty(ax, "no records")
        return fig
    days = pd.Series(_naive(daily["day"]))
    span = int((days.max() - days.min()) / pd.Timedelta(days=1))
    freq = freq or ("D" if span <= 92 else "W" if span <= 731 else "M")
    if freq not in PERIODS:
        raise ValueError(f"freq must be one of {sorted(PERIODS)}, got {freq!r}")
    period = days.dt.to_period(freq).dt.start_time.to_numpy()
    cells = (
        daily.assign(host=daily["host"].astype(str), period=period)
        .groupby(["host", "period"])[["records", "errors"]]
        .sum()
    )
    order = _host_order(result, cells)
    shown = order[:max_hosts]
    periods = pd.period_range(days.min(), days.max(), freq=freq)
    starts = periods.start_time
    edges = starts.append(pd.DatetimeIndex([(periods[-1] + 1).start_time]))
    grid = cells[value].unstack("period").reindex(index=shown, columns=starts)
    present = cells["records"].unstack("period").reindex(index=shown, columns=starts).fillna(0)
    data = np.ma.masked_where(present.to_numpy() <= 0, grid.fillna(0).to_numpy(dtype=float))
    cmap = plt.get_cmap("Reds" if value == "errors" else "Blues").with_extremes(bad="#e6e6e6")
    top = max(1.0, float(data.max()) if data.count() else 1.0)
    mesh = ax.pcolormesh(
        edges.to_numpy(dtype="datetime64[us]"),
        np.arange(len(shown) + 1),
        data,
        cmap=cmap,
        norm=PowerNorm(0.5, vmin=0, vmax=top),
        shading="flat",
    )
    marks = _diagnosis_cells(result, freq, shown)
    marks = marks[(marks["period"] >= starts[0]) & (marks["period"] <= starts[-1])]
    if len(marks):
        centers = pd.Series(marks["period"].to_numpy())
        ends = pd.Series([(p + 1).start_time for p in centers.dt.to_period(freq)])
        row = {h: i for i, h in enumerate(shown)}
        ax.scatter(
            (centers + (ends - centers) / 2).to_numpy(dtype="datetime64[us]"),
            [row[h] + 0.5 for h in marks["host"]],
            marker="D",
            s=55,
            facecolor="#ffd700",
            edgecolor="black",
            zorder=3,
            gid=DIAGNOSIS_GID,
            label="diagnosis evidence",
        )
    ax.set_yticks(np.arange(len(shown)) + 0.5, labels=[_label(h, 40) for h in shown])
    ax.set_ylim(len(shown), 0)
    name = PERIODS[freq]
    fig.colorbar(mesh, ax=ax, label=f"{value} per {name}", pad=0.01)
    handles, _ = ax.get_legend_handles_labels()
    handles.append(Patch(facecolor="#e6e6e6", label="no records"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(0, -0.12), ncols=2)
    more = f" (top {len(shown)} of {len(order)} hosts)" if len(order) > len(shown) else ""
    ax.set_title(f"{value} per {name} by host{more}")
    _date_axis(ax)
    return fig
