"""How a scan's inputs are cut into units of work (``scanning.units.plan_units``)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from evtxscan.scanning.units import GROUP_BYTES, SPLIT_BYTES, UNITS_PER_READER, plan_units
from evtxscan.sources.inputs import expand_paths
from evtxscan.synth import EventSpec, write_evtx


def test_a_log_larger_than_split_bytes_is_read_in_ranges(samples: Path) -> None:
    """Grouping small files up to GROUP_BYTES does not keep a 16 MiB log whole: it is still
    two ranges, which two workers read side by side."""
    log = samples / "bench" / "system-stitched.evtx"
    assert SPLIT_BYTES < log.stat().st_size < GROUP_BYTES
    units = plan_units(expand_paths(log))
    assert [(u.range.part, u.range.parts) for u in units if u.range is not None] == [(0, 2), (1, 2)]
    assert len(units) == 2


def test_small_logs_share_units_up_to_group_bytes(tmp_path: Path) -> None:
    when = datetime(2024, 1, 1, tzinfo=UTC)
    for number in range(5):
        events = [EventSpec("P", 1, when, f"H{number}")]
        write_evtx(tmp_path / f"log{number}.evtx", events)
    size = (tmp_path / "log0.evtx").stat().st_size
    units = plan_units(expand_paths(tmp_path), group_bytes=2 * size)
    assert [len(u.files) for u in units] == [2, 2, 1]
    assert len(plan_units(expand_paths(tmp_path))) == 1  # all five in one default unit


def _sparse_logs(root: Path, count: int, mib: int) -> list[Path]:
    paths = []
    root.mkdir()
    for number in range(count):
        path = root / f"log{number:03d}.evtx"
        with path.open("wb") as handle:
            handle.truncate(mib << 20)  # sizes are all planning reads
        paths.append(path)
    return paths


def test_units_are_sized_for_the_readers(tmp_path: Path) -> None:
    """Small files are grouped up to GROUP_BYTES, less where that would leave fewer than
    UNITS_PER_READER units per reading process (never less than SPLIT_BYTES)."""
    assert (GROUP_BYTES, SPLIT_BYTES, UNITS_PER_READER) == (32 << 20, 12 << 20, 4)
    few = _sparse_logs(tmp_path / "few", 20, 4)  # 80 MiB
    sizes = {r: [len(u.files) for u in plan_units(expand_paths(few), readers=r)] for r in (1, 2)}
    assert sizes == {1: [5] * 4, 2: [3] * 6 + [2]}
    assert [len(u.files) for u in plan_units(expand_paths(few))] == [3] * 6 + [2]
    many = _sparse_logs(tmp_path / "many", 64, 4)  # 256 MiB
    assert [len(u.files) for u in plan_units(expand_paths(many), readers=2)] == [8] * 8
