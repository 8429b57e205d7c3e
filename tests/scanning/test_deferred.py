"""The second, targeted read: context near symptoms, service changes for a server role."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest

import evtxscan
from evtxscan.correlation.selection import ProviderNames
from evtxscan.scanning.located import LocatedHosts, LocatedTable, located_table
from evtxscan.scanning.located import joined as joined_tables
from evtxscan.scanning.read_plans import marks_by_host, near_marks, role_evidence
from evtxscan.sources.evtx.located_rows import LocatedRows
from evtxscan.sources.inputs import Source
from evtxscan.synth import EventSpec, write_evtx

if TYPE_CHECKING:
    from evtxscan.scanning.pipeline import ScanPipeline
    from evtxscan.scanning.read_plans import DeferredRead

BOOT = datetime(2021, 2, 12, 8, 0, tzinfo=UTC)
BANNER = (("", "10.00."), ("", "14393"), ("", ""), ("", "Multiprocessor Free"))


def _host(root: Path, name: str, service: str, after: timedelta) -> None:
    def spec(
        provider: str, event_id: int, when: datetime, data: tuple[tuple[str, str], ...] = ()
    ) -> EventSpec:
        values = tuple((None, v) for _, v in data)
        return EventSpec(provider, event_id, when, computer=name, data=values)

    events = [
        spec("EventLog", 6005, BOOT),
        spec("EventLog", 6009, BOOT, BANNER),
        spec("Service Control Manager", 7036, BOOT + after, (("", service), ("", "running"))),
        spec("Service Control Manager", 7036, BOOT + after, (("", "Print Spooler"), ("", "x"))),
    ]
    write_evtx(root / name / "System.evtx", events)


def _located_everything(
    root: Path, names: tuple[str, ...]
) -> tuple[ScanPipeline, list[DeferredRead]]:
    """A pipeline that read the hosts ``names`` (written into ``root``), and second reads
    of every record it located."""
    import evtxscan.scanning.read_plans as read_plans
    from evtxscan.scanning.api import chosen_signatures
    from evtxscan.scanning.local_engine import LocalEngine
    from evtxscan.scanning.pipeline import ScanPipeline, ScanSettings
    from evtxscan.scanning.units import plan_units
    from evtxscan.sources.inputs import expand_paths

    for name in names:
        _host(root, name, "Themes", timedelta(minutes=2))
    pipeline = ScanPipeline(chosen_signatures(None), ScanSettings())
    LocalEngine(1).read(pipeline, plan_units(expand_paths(root)), None)

    def everything(hosts: np.ndarray, frame: pd.DataFrame) -> np.ndarray:
        return np.ones(len(frame), dtype=bool)

    reads = read_plans.plan_reads(*_table(pipeline.located, lambda _c, _p: "x"), everything)
    return pipeline, reads


def test_a_server_service_started_at_boot_names_the_server_release(tmp_path: Path) -> None:
    _host(tmp_path, "dc", "DNS Server", timedelta(minutes=2))
    _host(tmp_path, "ws", "Themes", timedelta(minutes=2))
    # Service changes are only located by the first read (never decoded): the release
    # comes from the second read of the unsure hosts' service changes after a boot.
    hosts = evtxscan.scan(tmp_path).hosts.set_index("host")
    assert hosts.loc["dc", "os_release"] == "Windows Server 2016 (14393)"
    assert hosts.loc["ws", "os_release"] == "Windows 10 1607 / Server 2016 (14393)"


def test_role_evidence_takes_service_changes_after_a_boot() -> None:
    times = pd.to_datetime(
        ["2021-02-12 08:05", "2021-02-12 11:00", "2021-02-12 08:05", "2021-02-12 08:05"]
    ).tz_localize("UTC")
    frame = pd.DataFrame(
        {
            "provider": ["Service Control Manager"] * 3 + ["EventLog"],
            "event_id": [7036, 7036, 7040, 7036],
            "time": times,
        }
    )
    hosts = pd.Categorical(["dc", "dc", "nobootinfo", "dc"])
    boots = {"dc": [pd.Timestamp(BOOT)], "nobootinfo": []}
    chosen = role_evidence(boots, ProviderNames())(hosts, frame)
    assert chosen.tolist() == [True, False, True, False]


def test_near_marks_is_per_host_and_both_sides() -> None:
    marks = pd.DataFrame({"host": ["a"], "time": [pd.Timestamp("2021-01-01 12:00", tz="UTC")]})
    times = np.array(
        ["2021-01-01T11:50", "2021-01-01T12:30", "2021-01-01T12:05", "NaT"], dtype="datetime64[us]"
    )
    hosts = pd.Categorical(["a", "a", "b", "a"])
    near = near_marks(hosts, times, marks_by_host(marks), timedelta(minutes=15))
    assert near.tolist() == [True, False, False, False]


def test_second_reads_group_chunk_runs_up_to_a_bound() -> None:
    from evtxscan.scanning.deferred import GROUP_CHUNKS, _groups
    from evtxscan.sources.evtx.reader import ChunkRange

    spans = [ChunkRange(4096, i * 10, i * 10 + 3) for i in range(200)] + [
        ChunkRange(4096, 5000, 5000 + GROUP_CHUNKS + 5)
    ]
    groups = _groups(spans)
    assert [s for g in groups for s in g] == spans  # all of them, in order
    assert all(sum(s.stop - s.start for s in g) <= GROUP_CHUNKS for g in groups[:-1])
    assert groups[-1] == [spans[-1]]  # a long run is a group of its own


def test_a_file_located_in_several_ranges_is_read_again_once() -> None:
    from evtxscan.scanning.read_plans import plan_reads
    from evtxscan.sources.inputs import Source

    source, other = Source("file", "big.evtx"), Source("file", "other.evtx")
    located = [
        (source, _located(["A"], [9000])),
        (other, _located(["B"], [100])),
        (source, _located(["A", "A"], [5000, 70000])),
    ]

    def everything(hosts: np.ndarray, frame: pd.DataFrame) -> np.ndarray:
        return np.ones(len(frame), dtype=bool)

    reads = plan_reads(*_table(located, lambda c, _p: c or "?"), everything)
    assert [(r.source, r.offsets) for r in reads] == [
        (source, (5000, 9000, 70000)),
        (other, (100,)),
    ]


def _located(computers: list[str | None], offsets: list[int]) -> pd.DataFrame:
    """A located frame (the columns ``located_frame`` gives), categorical names."""
    return pd.DataFrame(
        {
            "computer": pd.Categorical(computers),
            "provider": pd.Categorical(["Service Control Manager"] * len(offsets)),
            "event_id": np.full(len(offsets), 7036, dtype=np.int32),
            "time": pd.to_datetime([BOOT] * len(offsets)),
            "chunk": np.zeros(len(offsets), dtype=np.int32),
            "offset": np.array(offsets, dtype=np.int64),
        }
    )


def test_located_records_are_held_compactly(tmp_path: Path) -> None:
    """A scan holds every located context record until it correlates (a million on a 2 GiB
    collection): names are categorical, event ID and chunk 32-bit, nothing per row in
    Python objects."""
    from evtxscan.scanning.api import chosen_signatures
    from evtxscan.scanning.local_engine import LocalEngine
    from evtxscan.scanning.pipeline import ScanPipeline, ScanSettings
    from evtxscan.scanning.units import plan_units
    from evtxscan.sources.inputs import expand_paths

    _host(tmp_path, "ws", "Themes", timedelta(minutes=2))
    pipeline = ScanPipeline(chosen_signatures(None), ScanSettings())
    LocalEngine(1).read(pipeline, plan_units(expand_paths(tmp_path)), None)
    (_, located), *_ = pipeline.located
    frame = located.table()
    assert len(frame) == 2  # the two service changes: located, not decoded
    assert frame["computer"].dtype == "category" and frame["provider"].dtype == "category"
    assert frame["computer"].tolist() == ["ws", "ws"]
    assert frame["event_id"].dtype == np.int32 and frame["chunk"].dtype == np.int32
    assert frame["event_id"].tolist() == [7036, 7036]
    assert "object" not in {str(dtype) for dtype in frame.dtypes}


def test_role_evidence_reads_categorical_providers_with_gaps() -> None:
    """Located providers are categorical; a record without one is never a service change."""
    provider = pd.Categorical.from_codes([0, -1, 0], categories=["Service Control Manager"])
    frame = pd.DataFrame(
        {
            "provider": provider,
            "event_id": [7036, 7036, 7036],
            "time": pd.to_datetime(["2021-02-12 08:05"] * 3).tz_localize("UTC"),
        }
    )
    hosts = pd.Categorical(["dc"] * 3)
    chosen = role_evidence({"dc": [pd.Timestamp(BOOT)]}, ProviderNames())(hosts, frame)
    assert chosen.tolist() == [True, False, True]


def test_located_hosts_name_records_without_a_computer_by_their_file() -> None:
    from evtxscan.scanning.located import LocatedHosts
    from evtxscan.sources.inputs import Source

    computers = pd.Categorical.from_codes([0, -1, 0], categories=["PC1", "UNUSED"])
    seen: list[tuple[str | None, str]] = []

    def host_of(computer: str | None, path: str) -> str:
        seen.append((computer, path))
        return (computer or path).lower()

    source = Source("file", "HOST2/System.evtx")
    frame = pd.DataFrame({"computer": computers})
    hosts = LocatedHosts(host_of)(source, LocatedRows.whole(frame))
    assert hosts.tolist() == ["pc1", "host2/system.evtx", "pc1"]
    # once per computer its records name: not for a category no record uses
    assert sorted(seen, key=str) == [("PC1", "HOST2/System.evtx"), (None, "HOST2/System.evtx")]
    as_text = pd.DataFrame({"computer": ["PC1", None, "PC1"]})
    assert LocatedHosts(host_of)(source, LocatedRows.whole(as_text)).tolist() == hosts.tolist()
    # a source's rows of a batch's frame: their hosts only
    some = LocatedHosts(host_of)(source, LocatedRows(frame, np.array([2, 1])))
    assert some.tolist() == ["pc1", "host2/system.evtx"]


def test_a_second_read_yields_each_group_as_it_is_decoded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Role evidence is judged frame by frame, so the second read hands over each group's
    rows as soon as they are decoded, in read order, not all of them at the end."""
    import evtxscan.scanning.deferred as deferred

    pipeline, reads = _located_everything(tmp_path, ("alpha", "beta"))
    assert len(reads) == 2
    monkeypatch.setattr(deferred, "GROUP_CHUNKS", 1)  # one file's chunk per group
    frames = deferred.read_again(reads, pipeline.read_options(), pipeline.config)
    first = next(frames)
    assert first["host"].astype(str).unique().tolist() == ["alpha"]
    assert first["event_id"].tolist() == [7036, 7036]
    (second,) = list(frames)
    assert second["host"].astype(str).unique().tolist() == ["beta"]


def test_a_batch_of_files_is_read_again_as_one_frame_of_the_wanted_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files decoded together give one frame (one pass of the scanner over the batch) with
    each file's wanted records only, in input order: the rows of reading them one by one."""
    import evtxscan.scanning.deferred as deferred
    import evtxscan.scanning.read_plans as read_plans
    from evtxscan.scanning.api import chosen_signatures
    from evtxscan.scanning.local_engine import LocalEngine
    from evtxscan.scanning.pipeline import ScanPipeline, ScanSettings
    from evtxscan.scanning.units import plan_units
    from evtxscan.sources.inputs import expand_paths

    for name in ("alpha", "beta", "gamma"):
        _host(tmp_path, name, "Themes", timedelta(minutes=2))
    pipeline = ScanPipeline(chosen_signatures(None), ScanSettings())
    LocalEngine(1).read(pipeline, plan_units(expand_paths(tmp_path)), None)

    def spooler_only(hosts: np.ndarray, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(frame["event_id"].to_numpy() == 7036) & (np.arange(len(frame)) % 2 == 1)

    reads = read_plans.plan_reads(*_table(pipeline.located, lambda _c, _p: "x"), spooler_only)
    assert len(reads) == 3 and all(len(r.offsets) == 1 for r in reads)
    together = list(deferred.read_again(reads, pipeline.read_options(), pipeline.config))
    monkeypatch.setattr(deferred, "GROUP_CHUNKS", 1)  # one file per group
    alone = list(deferred.read_again(reads, pipeline.read_options(), pipeline.config))
    assert len(together) == 1 and len(alone) == 3
    (joined,) = together
    assert joined["host"].astype(str).tolist() == ["alpha", "beta", "gamma"]
    assert joined["offset"].tolist() == [r.offsets[0] for r in reads]
    pd.testing.assert_frame_equal(
        joined.astype(str), pd.concat(alone, ignore_index=True).astype(str)
    )


def test_a_stream_read_drops_kept_rows_seen_before_as_they_come(tmp_path: Path) -> None:
    """Overlapping exports of one log (the nightly read path, every record decoded): rows
    kept twice are dropped as batches arrive, so memory follows the distinct rows."""
    from evtxscan.records.batch import concat_frames
    from evtxscan.scanning.api import chosen_signatures
    from evtxscan.scanning.pipeline import ScanPipeline, ScanSettings
    from evtxscan.scanning.scanner import combine_rows

    events = [
        EventSpec("Service Control Manager", 7036, BOOT + timedelta(minutes=i), computer="ws",
                  data=((None, f"Service{i}"), (None, "running")))
        for i in range(30)
    ]  # fmt: skip
    write_evtx(tmp_path / "monday" / "System.evtx", events[:20])
    write_evtx(tmp_path / "tuesday" / "System.evtx", events)  # the first 20 again, and more
    pipeline = ScanPipeline(chosen_signatures(None), ScanSettings(select=False, feed_rows=5))
    pipeline.read_stream(tmp_path)
    kept = concat_frames(pipeline.scanner.kept)
    assert len(kept) == 30  # not 50
    assert len(combine_rows(None, pipeline.scanner.kept)) == 30
    assert sorted(kept["time"]) == sorted(pd.Timestamp(e.time) for e in events)


def test_a_scan_drops_its_located_records_once_the_context_is_read(tmp_path: Path) -> None:
    """Nothing reads located records after the context in a scan: correlating for the last
    read drops them before the timeline is made, and the result is the same."""
    from evtxscan.scanning.api import chosen_signatures
    from evtxscan.scanning.local_engine import LocalEngine
    from evtxscan.scanning.pipeline import ScanPipeline, ScanSettings
    from evtxscan.scanning.units import plan_units
    from evtxscan.sources.inputs import expand_paths

    _host(tmp_path, "dc", "DNS Server", timedelta(minutes=2))
    found = []
    for last in (False, True):
        pipeline = ScanPipeline(chosen_signatures(None), ScanSettings())
        LocalEngine(1).read(pipeline, plan_units(expand_paths(tmp_path)), None)
        assert pipeline.located and pipeline.has_located
        found.append(pipeline.correlate(pipeline.rows(), last_read=last))
        assert pipeline.located == []  # joined into one table, the frames let go
        assert pipeline.has_located is not last  # the table still holds them
        located, hosts = pipeline.located_table()
        assert bool(len(located)) is not last and len(hosts) == len(located)
    pd.testing.assert_frame_equal(found[0].timeline, found[1].timeline)
    assert found[0].facts["dc"].server_role and found[1].facts["dc"].server_role


def test_files_gone_before_the_second_read_give_nothing(tmp_path: Path) -> None:
    """Nothing to read again (a nightly run's role check often has nothing), or located
    files that cannot be opened again (deleted since the first read): the second read gives
    no rows, and fails on nothing."""
    import evtxscan.scanning.deferred as deferred

    pipeline, reads = _located_everything(tmp_path, ("alpha", "beta"))
    assert len(reads) == 2
    assert list(deferred.read_again([], pipeline.read_options(), pipeline.config)) == []
    for path in tmp_path.rglob("*.evtx"):
        path.unlink()
    assert list(deferred.read_again(reads, pipeline.read_options(), pipeline.config)) == []
    # one gone, one still there: the other's rows only
    _host(tmp_path, "beta", "Themes", timedelta(minutes=2))
    frames = list(deferred.read_again(reads, pipeline.read_options(), pipeline.config))
    assert [f["host"].astype(str).unique().tolist() for f in frames] == [["beta"]]


def test_an_unsure_host_without_service_changes_scans(tmp_path: Path) -> None:
    """A host whose release needs its role, with located records but no service change to
    read again: nothing is read, and the release stays the build's."""
    events = [
        EventSpec("EventLog", 6005, BOOT, computer="pc"),
        EventSpec("EventLog", 6009, BOOT, computer="pc", data=tuple((None, v) for _, v in BANNER)),
        EventSpec(
            "Tcpip",
            4199,
            BOOT + timedelta(minutes=1),
            computer="pc",
            level=3,
            data=((None, "10.0.0.7"),),
        ),
    ]
    write_evtx(tmp_path / "pc" / "System.evtx", events)
    hosts = evtxscan.scan(tmp_path).hosts.set_index("host")
    assert hosts.loc["pc", "os_release"] == "Windows 10 1607 / Server 2016 (14393)"


def test_the_located_table_joins_frames_of_different_categories_row_for_row() -> None:
    from evtxscan.sources.inputs import Source

    def frame(
        computers: list[str | None], providers: list[str | None], cats: list[str]
    ) -> pd.DataFrame:
        located = _located(computers, list(range(100, 100 + len(computers))))
        return located.assign(provider=pd.Categorical(providers, categories=cats))

    located = [
        (Source("file", "H1/System.evtx"), frame(["A", None], ["Tcpip", None], ["Tcpip", "X"])),
        (Source("file", "H2/System.evtx"), frame([], [], ["Y"])),
        (
            Source("file", "H3/System.evtx"),
            frame([None, "B", "A"], ["X", "Tcpip", "Z"], ["Z", "X", "Tcpip"]),
        ),
    ]
    asked: list[tuple[str | None, str]] = []

    def host_of(computer: str | None, path: str) -> str:
        asked.append((computer, path))
        return (computer or path.split("/")[0]).lower()

    table, hosts = _table(located, host_of)
    assert table.sources == (located[0][0], located[2][0])  # empty frames are left out
    assert table.frame["part"].tolist() == [0, 0, 1, 1, 1]
    assert list(hosts.astype(object)) == ["a", "h1", "h3", "b", "a"]
    assert len(asked) == 5  # once per (frame, computer named), not per row or category
    for name, expected in (
        ("provider", ["Tcpip", None, "X", "Tcpip", "Z"]),
        ("computer", ["A", None, None, "B", "A"]),
    ):
        column = table.frame[name].astype(object)
        assert column.where(column.notna(), None).tolist() == expected, name
    joined = pd.concat([f for _s, f in located], ignore_index=True)
    for name in ("event_id", "time", "offset"):
        assert table.frame[name].tolist() == joined[name].tolist(), name
    # joined with a table of later frames: the same as one table of all of them
    rows = [(source, LocatedRows.whole(frame)) for source, frame in located]
    first, second = located_table(rows[:2]), located_table(rows[2:])
    pd.testing.assert_frame_equal(joined_tables(first, second).frame, table.frame)
    assert joined_tables(first, second).sources == table.sources


def _table(
    located: Sequence[tuple[Source, pd.DataFrame | LocatedRows]],
    host_of: Callable[[str | None, str], str],
) -> tuple[LocatedTable, pd.Categorical]:
    """The table of located frames (whole) or rows, and its hosts."""
    table = located_table(
        [(s, f if isinstance(f, LocatedRows) else LocatedRows.whole(f)) for s, f in located]
    )
    return table, LocatedHosts(host_of).of(table)


def test_sources_sharing_a_batch_frame_give_the_table_of_frames_of_their_own() -> None:
    """A batch of small logs locates its records in one frame, each file's being positions
    in it: the table is the one their own frames would give, whether the sources sharing a
    frame come one after the other or not, in any order of positions."""
    from evtxscan.sources.inputs import Source

    batch = _located(["A", "B", None, "A", "C", "B"], [10, 20, 30, 40, 50, 60])
    batch = batch.assign(provider=pd.Categorical(["X", "Y", "X", None, "Y", "X"]))
    other = _located(["D"], [70])
    h1, h2, h3, h4 = (Source("file", f"H{n}/System.evtx") for n in range(1, 5))
    cuts = [
        (h1, batch, np.array([0, 3])),
        (h2, batch, np.array([], dtype=np.int64)),  # nothing located: left out
        (h3, batch, np.array([4, 1])),
        (h4, other, np.array([0])),
        (h2, batch, np.array([2, 5])),  # the batch's frame again, after another frame
        (h4, other, slice(0, 1)),
        (h1, batch, slice(0, 2)),  # runs of rows following each other (taken as one run)
        (h3, batch, slice(2, 2)),
        (h4, batch, slice(2, 4)),
        (h2, other, slice(0, 1)),
        (h1, batch, slice(0, 1)),  # runs of rows with a gap between them
        (h2, batch, slice(4, 6)),
    ]
    shared = [(src, LocatedRows(frame, rows)) for src, frame, rows in cuts]
    own = [(src, frame.iloc[rows].reset_index(drop=True)) for src, frame, rows in cuts]

    def host_of(computer: str | None, path: str) -> str:
        return computer or path

    table, hosts = _table(shared, host_of)
    expected, expected_hosts = _table(own, host_of)
    assert table.sources == expected.sources == (h1, h3, h4, h2, h4, h1, h4, h2, h1, h2)
    pd.testing.assert_frame_equal(table.frame, expected.frame)
    assert list(hosts) == list(expected_hosts)
    offsets = [10, 40, 50, 20, 70, 30, 60, 70, 10, 20, 30, 40, 70, 10, 50, 60]
    assert table.frame["offset"].tolist() == offsets
    providers, SCM = table.frame["provider"].astype(object), "Service Control Manager"
    shown = ["X", None, "Y", "Y", SCM, "X", "X", SCM, "X", "Y", "X", None, SCM, "X", "Y", "X"]
    assert providers.where(providers.notna(), None).tolist() == shown


def test_located_rows_refuse_positions_outside_their_frame() -> None:
    frame = _located(["A", "B"], [10, 20])
    run = LocatedRows(frame, slice(1, 2))
    assert len(run) == 1 and run.positions().tolist() == [1]
    assert run.table()["offset"].tolist() == [20]
    assert len(LocatedRows(frame, slice(2, 2))) == 0 and len(LocatedRows.whole(frame)) == 2
    bad_runs = (slice(0, 3), slice(1, 0), slice(-1, 1), slice(0, 2, 2))
    bad_positions = (np.array([2]), np.array([-1]), np.array([0.5]), np.zeros((1, 1), dtype=int))
    for bad in (*bad_runs, *bad_positions):
        with pytest.raises(ValueError, match="located rows"):
            LocatedRows(frame, bad)


def test_rows_by_host_groups_every_row_or_some_and_leaves_out_rows_without_a_host() -> None:
    from evtxscan.scanning.read_plans import rows_by_host

    hosts = pd.Categorical(["b", None, "a", "b", "a", "c"], categories=["a", "b", "c", "d"])
    every = rows_by_host(hosts)
    assert {h: r.tolist() for h, r in every.items()} == {"a": [2, 4], "b": [0, 3], "c": [5]}
    some = rows_by_host(hosts, np.array([1, 3, 4, 5]))
    assert {h: r.tolist() for h, r in some.items()} == {"a": [4], "b": [3], "c": [5]}
    assert rows_by_host(hosts, np.zeros(0, dtype=np.int64)) == {}
    assert rows_by_host(pd.Categorical([], categories=["a"])) == {}


def test_hosts_among_marks_rows_of_the_wanted_hosts_and_never_rows_without_one() -> None:
    from evtxscan.scanning.read_plans import hosts_among

    hosts = pd.Categorical(["b", None, "a", "b", "c"], categories=["a", "b", "c", "d"])
    assert hosts_among(hosts, {"b", "d"}).tolist() == [True, False, False, True, False]
    assert hosts_among(hosts, frozenset()).tolist() == [False] * 5
    assert hosts_among(hosts, ["a", "b", "c"]).tolist() == [True, False, True, True, True]
    assert hosts_among(pd.Categorical([], categories=[]), {"a"}).tolist() == []
