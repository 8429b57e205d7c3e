"""The Python API: :func:`scan` (diagnose a collection), :func:`read_records` and
:func:`read_frame` (every record, typed). Documented in the README."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from evtxscan.memory import arrow_from_malloc
from evtxscan.messages.loading import MessageColumns, load_catalog
from evtxscan.results import ScanResult
from evtxscan.results.timeline import DEFAULT_WINDOW, TimelineMode
from evtxscan.scanning.engines import ScanEngine
from evtxscan.scanning.pipeline import HostMapOption, ScanPipeline, ScanSettings
from evtxscan.signatures.drafts import with_draft_pack
from evtxscan.signatures.loader import load_signatures
from evtxscan.signatures.model import Signature
from evtxscan.sources.budget import DEFAULT_TIME_BUDGET
from evtxscan.sources.bundles import BundleLimits
from evtxscan.sources.evtx.backend_kind import Backend
from evtxscan.sources.inputs import PathLike
from evtxscan.sources.stream import RecordStream

if TYPE_CHECKING:  # Sigma support is optional (pip install "evtxscan[sigma]")
    from evtxscan.signatures.sigma import SigmaRuleSet


class SigmaUnavailableError(RuntimeError):
    """Sigma rules were asked for but pySigma is not installed."""


def sigma_rule_set(
    option: SigmaRuleSet | PathLike | Iterable[PathLike] | None,
) -> SigmaRuleSet | None:
    """The rule set ``scan(sigma=...)`` runs: loaded from files/directories, or as given."""
    if option is None:
        return None
    from evtxscan.scanning.sigma_stage import sigma_rules

    try:  # pySigma is imported only to parse rules a cache does not hold
        return sigma_rules(option)  # type: ignore[arg-type]
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.partition(".")[0] != "sigma":
            raise
        raise SigmaUnavailableError(
            f"Sigma rules need pySigma ({exc}): pip install 'evtxscan[sigma]'"
        ) from exc


def _timestamp(value: datetime | str | None) -> pd.Timestamp | None:
    if value is None:
        return None
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def chosen_signatures(
    signatures: Sequence[Signature] | Iterable[PathLike] | None,
) -> list[Signature]:
    """Signature objects as given, or loaded from YAML files/directories (default: shipped)."""
    if signatures is None:
        return load_signatures()
    items = list(signatures)
    if all(isinstance(s, Signature) for s in items):
        return items  # type: ignore[return-value]
    return load_signatures(*items)  # type: ignore[arg-type]


def scan(
    paths: PathLike | Iterable[PathLike],
    *,
    signatures: Sequence[Signature] | Iterable[PathLike] | None = None,
    since: datetime | str | None = None,
    until: datetime | str | None = None,
    backend: str = "rust",
    host_map: HostMapOption = None,
    timeline: str | timedelta = "notable",
    window: timedelta = DEFAULT_WINDOW,
    include_recovered: bool = False,
    workers: int = 0,
    catalogs: Iterable[str | Path] = (),
    messages_db: str | Path | None = None,
    progress: object | None = None,
    input_tz: str = "UTC",
    with_drafts: bool = False,
    time_budget: float | None = DEFAULT_TIME_BUDGET,
    bundle_limits: BundleLimits | None = None,
    sigma: SigmaRuleSet | PathLike | Iterable[PathLike] | None = None,
    join_renamed: bool = True,
    engine: ScanEngine | None = None,
) -> ScanResult:
    """Scan logs for the symptoms signatures describe; see the README for the result.

    ``signatures``: Signature objects or directories/files of YAML (default: the shipped
    ones). ``since``/``until``: a time range (UTC unless given). ``timeline``: which rows
    the timeline holds: ``"notable"`` (every host's notable events plus the context within
    ``window`` of a symptom), ``"symptoms"`` (only that context) or ``"all"`` (every
    record); a timedelta means ``"notable"`` with that window.
    ``include_recovered``: let records recovered from chunk slack count as symptoms.
    ``input_tz``: the zone of the local times in Event Viewer text/CSV exports.
    ``catalogs``: extra message-catalog directories; ``messages_db``: a message-template
    database (ts-evtx schema) asked before the built-in template catalog. ``workers``:
    reading processes (default 0: one per core when there is more than one unit of work;
    1 reads in this process).
    ``with_drafts``: also run the draft pack (signatures drafted from KB articles, at most
    "possible" confidence; noisy drafts and drafts of articles a curated signature covers
    are left out). ``sigma``: Sigma rule files/directories (or a loaded ``SigmaRuleSet``) to
    run as well; their matches are diagnoses of kind ``sigma`` (needs
    ``pip install "evtxscan[sigma]"``).
    ``join_renamed``: a machine renamed (EventLog 6011) is one host under
    its newest name (``False``: its old and new names stay two hosts; hosts.csv notes it).
    ``time_budget`` and ``bundle_limits``: as for :func:`read_records`.
    ``engine``: where to run (default: this process and ``workers`` worker processes; see
    :class:`evtxscan.dask.DaskEngine` for a cluster, or ``evtxscan.scan(client=...)``).
    """
    rule_set = sigma_rule_set(sigma)
    if isinstance(timeline, timedelta):  # the window, as older versions took it
        mode, window = TimelineMode.NOTABLE, timeline
    elif timeline in {m.value for m in TimelineMode}:
        mode = TimelineMode(timeline)
    else:
        raise ValueError(f"timeline={timeline!r}: use 'notable', 'symptoms', 'all' or a timedelta")
    settings = ScanSettings(
        backend=backend,
        host_map=host_map,
        workers=workers,
        since=_timestamp(since),
        until=_timestamp(until),
        timeline=mode,
        window=window,
        join_renamed=join_renamed,
        include_recovered=include_recovered,
        catalogs=tuple(catalogs),
        messages_db=messages_db,
        input_tz=input_tz,
        time_budget=time_budget,
        bundle_limits=bundle_limits or BundleLimits(),
    )
    chosen = chosen_signatures(signatures)
    if with_drafts:
        chosen = with_draft_pack(chosen)
    pipeline = ScanPipeline(chosen, settings, sigma=rule_set)
    with arrow_from_malloc():  # as the command line (see ``evtxscan.memory``)
        return pipeline.scan(paths, progress=progress, engine=engine)


def read_records(
    paths: PathLike | Iterable[PathLike],
    *,
    backend: Backend | str = Backend.RUST,
    batch_size: int = 10_000,
    host_map: HostMapOption = None,
    include_recovered: bool = True,
    workers: int = 1,
    messages: bool = False,
    catalogs: Iterable[str | Path] = (),
    messages_db: str | Path | None = None,
    tz: str = "UTC",
    progress: object | None = None,
    time_budget: float | None = DEFAULT_TIME_BUDGET,
    bundle_limits: BundleLimits | None = None,
) -> RecordStream:
    """Stream the records of every input as typed DataFrame batches (see the README schema).

    ``paths``: files, directories (recursive), glob patterns, .zip/.gz bundles; the format
    is detected from content. ``backend``: ``rust`` (pyevtx-rs, default) or ``python``
    (python-evtx). ``host_map``: a mapping or CSV file of Computer name -> host, or
    ``"regex:<pattern with (?P<host>...)>"`` applied to the file path. ``workers``: worker
    processes for parsing (0 = one per core). ``messages``: add the ``message`` (offline
    English rendering) and ``binary_status`` columns; ``catalogs``: extra message-catalog
    directories; ``messages_db``: a message-template database (SQLite, ts-evtx schema)
    asked before the built-in template catalog. ``tz``: the time zone (IANA name) of the
    local times in Event Viewer text/CSV exports and dumpel output, which carry no zone
    (default UTC).
    ``time_budget``: seconds one file may take (default 600; None: no limit); past it, the
    records read so far are kept and the rest of the file is skipped with an integrity
    error. ``bundle_limits``: bounds on .zip/.gz bundles (:class:`BundleLimits`: nesting
    depth, members, decompressed bytes, compression ratio, in-memory member size); a bundle
    over a bound gets an integrity error naming it. Integrity rows: ``stream.integrity``.
    """
    columns = MessageColumns(
        tuple(str(c) for c in catalogs), None if messages_db is None else str(messages_db)
    )
    catalog = load_catalog(*catalogs, messages_db=messages_db)
    if messages:
        columns.use(catalog)
    return RecordStream(
        paths,
        backend=backend,
        batch_size=batch_size,
        host_map=host_map,
        include_recovered=include_recovered,
        workers=workers,
        catalog=catalog if messages or catalogs else None,
        transform=columns if messages else None,
        transform_in_workers=True,  # each worker renders the messages of what it reads
        progress=progress,
        tz=tz,
        time_budget=time_budget,
        bundle_limits=bundle_limits,
    )


def read_frame(paths: PathLike | Iterable[PathLike], **options: object) -> pd.DataFrame:
    """All records of every input in one DataFrame (``read_records(...).frame()``)."""
    return read_records(paths, **options).frame()  # type: ignore[arg-type]
