"""A short fuzzing run in the suite: mutated inputs of every format, the contract checked.

The long run (a million inputs and more) is documented in benchmarks/FUZZING.md; this one
keeps the harness working and catches regressions of the classes it found. Set
``EVTXSCAN_FUZZ_SMOKE`` to run more inputs.
"""

from __future__ import annotations

import io
import os
import re
import zipfile
from pathlib import Path

import pytest

from fuzz.driver import Fuzzer, Settings
from fuzz.mutators import mutate_bundle, mutate_evt, mutate_evtx, mutate_text, mutate_xml
from fuzz.nightly_check import NIGHTLY_NAMES
from fuzz.seeds import all_seeds, zip_of

COUNT = int(os.environ.get("EVTXSCAN_FUZZ_SMOKE", "1000"))


def test_smoke_run_finds_nothing(tmp_path: Path) -> None:
    settings = Settings(
        seed=20261205,
        batch=50,
        findings=tmp_path / "findings",
        full_every=5,
        outputs_every=8,
        nightly_every=9,
        sigma_every=7,
        time_budget=10.0,
        hang_seconds=30.0,
    )
    lines: list[str] = []
    stats = Fuzzer(settings).run(COUNT, report=lines.append)
    found = sorted(p.name for p in settings.findings.glob("*")) if stats.findings else []
    notes = [(settings.findings / name / "NOTE.txt").read_text()[:300] for name in found]
    assert stats.findings == 0, notes
    assert stats.inputs >= COUNT and len(stats.by_format) == 6  # 5 formats, nightly runs
    assert stats.peak_rss < settings.max_rss


def test_mutators_are_reproducible_and_change_their_input() -> None:
    import random

    seeds = all_seeds()
    members = [s for k in ("evtx", "evt", "xml", "text") for s in seeds[k]]
    cases = [
        (mutate_evtx, seeds["evtx"]),
        (mutate_evt, seeds["evt"]),
        (mutate_xml, seeds["xml"]),
        (mutate_text, seeds["text"]),
        (lambda d, r: mutate_bundle(d, r, members), seeds["bundle"]),
    ]
    for mutate, inputs in cases:
        changed = 0
        for index in range(30):
            seed = inputs[index % len(inputs)]
            first = mutate(seed, random.Random(index))
            again = mutate(seed, random.Random(index))
            assert first == again
            changed += first != seed
        assert changed >= 20, mutate


def test_bundles_do_not_depend_on_the_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """A zip made in another second is the same zip (mutations must be reproducible)."""
    import time

    members = [("a/l.zip", zip_of([("x.evtx", b"ElfFile")])), ("b.txt", b"x")]
    first = zip_of(members)
    monkeypatch.setattr(time, "time", lambda: 4.0e9)
    again = zip_of(members)
    assert first == again
    assert zipfile.ZipFile(io.BytesIO(again)).getinfo("b.txt").compress_type == 8


def test_a_batch_that_raises_the_peak_memory_is_kept_but_not_a_finding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch raising the process's peak RSS by more than ``rss_jump`` is kept with its
    inputs (to trace where memory went) without counting as a finding."""
    import fuzz.driver as driver

    peaks = iter([100 << 20, 400 << 20, 400 << 20, 400 << 20])
    monkeypatch.setattr(driver, "peak_rss_bytes", lambda: next(peaks))
    settings = Settings(seed=7, batch=4, findings=tmp_path / "findings", rss_jump=256 << 20)
    stats = Fuzzer(settings).run(8, report=lambda _line: None)  # two batches
    kept = sorted(settings.findings.glob("rss-jump-*"))
    assert stats.findings == 0 and [k.name for k in kept] == ["rss-jump-7-4"]
    assert "100 -> 400 MiB" in (kept[0] / "NOTE.txt").read_text()
    assert len([p for p in kept[0].iterdir() if p.name != "NOTE.txt"]) == 4


def test_a_nightly_run_that_fails_is_a_finding_with_both_nights_inputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A nightly batch runs three nights over the same paths; an exception on the second
    night is saved with the logs of both nights."""
    import fuzz.nightly_check as nightly_check

    real = nightly_check.run_nightly
    nights: list[int] = []

    def second_night_fails(paths: object, options: nightly_check.NightlyOptions) -> object:
        nights.append(options.now.day if options.now else 0)
        if len(nights) == 2:
            raise RuntimeError("planted")
        return real(paths, options)  # type: ignore[arg-type]

    monkeypatch.setattr(nightly_check, "run_nightly", second_night_fails)
    settings = Settings(seed=11, batch=3, findings=tmp_path / "findings", nightly_every=1)
    stats = Fuzzer(settings).run(3, report=lambda _line: None)
    assert stats.findings == 1 and stats.by_format == {"nightly": 3} and nights == [1, 2]
    (found,) = settings.findings.glob("nightly-*")
    note = (found / "NOTE.txt").read_text()
    assert note.startswith("night 2: ") and "RuntimeError: planted" in note
    names = sorted(p.name for p in found.iterdir() if p.name != "NOTE.txt")
    kinds = "|".join(re.escape(name) for name in NIGHTLY_NAMES.values())
    assert len(names) == 6 and all(re.fullmatch(rf"00[0-2]-({kinds})\.night[12]", n) for n in names)
    assert [n.split(".night")[0] for n in names[::2]] == [n.split(".night")[0] for n in names[1::2]]


def test_nightly_batches_read_evt_logs_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nightly batches hold .evt logs too, read whole with the watermarks' admission: a
    planted bug in choosing among their rows is a finding."""
    from evtxscan.sources import whole_selection

    def planted(*_args: object) -> object:
        raise RuntimeError("planted in evt_rows")

    monkeypatch.setattr(whole_selection.WholeChoice, "evt_rows", planted)
    settings = Settings(
        seed=3, batch=2, findings=tmp_path / "findings", nightly_every=1, formats=("evt",)
    )
    stats = Fuzzer(settings).run(2, report=lambda _line: None)
    assert stats.by_format == {"nightly": 2} and stats.findings == 1
    (found,) = settings.findings.glob("nightly-*")
    assert "planted in evt_rows" in (found / "NOTE.txt").read_text()
    assert {p.name for p in found.iterdir()} >= {
        "000-SysEvent.Evt.night1",
        "001-SysEvent.Evt.night2",
    }


def test_dump_text_that_differs_from_json_dumps_is_a_finding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every batch's JSON Lines are checked against ``json.dumps`` row by row."""
    import pyarrow.compute as pc

    from evtxscan.outputs import record_text

    real = record_text.json_lines

    def unended(plain: object) -> object:  # a planted bug: lines without their newline
        lines = real(plain)  # type: ignore[arg-type]
        return None if lines is None else pc.replace_substring(lines, "}\n", "}")

    monkeypatch.setattr(record_text, "json_lines", unended)
    settings = Settings(seed=5, batch=20, findings=tmp_path / "findings", formats=("evtx",))
    stats = Fuzzer(settings).run(20, report=lambda _line: None)
    assert stats.findings >= 1
    (found, *_) = settings.findings.glob("record-text-*")
    assert "JSON Lines differ from json.dumps" in (found / "NOTE.txt").read_text()


def test_a_sigma_scan_that_misses_a_hit_is_a_finding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sigma batches compare a scan's hits with a plain read's: a gate that rules out every
    record a literal decides (a planted bug) loses hits, and the batch is kept."""
    import numpy as np

    from evtxscan.sources.evtx import selective

    def nothing_holds(*args: object) -> np.ndarray:
        rows = args[2]
        assert isinstance(rows, np.ndarray)
        return np.zeros(len(rows), dtype=bool)

    monkeypatch.setattr(selective, "may_hold", nothing_holds)
    settings = Settings(
        seed=5, batch=20, findings=tmp_path / "findings", formats=("evtx",), sigma_every=1
    )
    stats = Fuzzer(settings).run(20, report=lambda _line: None)
    assert stats.findings >= 1
    (found, *_) = settings.findings.glob("sigma-*")
    assert "Sigma hits differ from a plain read's" in (found / "NOTE.txt").read_text()


def test_a_sigma_scan_cut_short_by_its_time_budget_is_no_finding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scan that a file's time budget stopped reads fewer records than the plain read and
    says so in its integrity table (a loaded or paused machine): its hits are not compared.
    Counted, they differ: a fuzzer paused mid-batch reported such a "finding"."""
    import fuzz.sigma_check as sigma_check
    from evtxscan.scanning import scan

    inputs = tmp_path / "in"
    inputs.mkdir()
    for n, data in enumerate(all_seeds()["evtx"]):
        (inputs / f"{n:03d}-evtx").write_bytes(data)
    assert sigma_check.check_sigma(inputs, tmp_path / "a") is None

    def hurried(paths: object, **options: object) -> object:
        return scan(paths, **{**options, "time_budget": 1e-9})  # type: ignore[arg-type]

    monkeypatch.setattr(sigma_check, "scan", hurried)
    assert sigma_check.check_sigma(inputs, tmp_path / "b") is None
    monkeypatch.setattr(sigma_check, "_cut_short", lambda _result: False)
    assert "Sigma hits differ" in str(sigma_check.check_sigma(inputs, tmp_path / "c"))


def test_evt_records_read_again_that_differ_are_a_finding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sigma batches also read fuzzed .evt logs' records again by offset (a scan's second
    read): a reader that skips the first wanted record (a planted bug) is found."""
    import fuzz.evt_again as evt_again

    real = evt_again.read_evt_at

    def skipping(data: bytes, offsets: list[int], **options: object) -> object:
        return real(data, offsets[1:], **options)  # type: ignore[arg-type]

    monkeypatch.setattr(evt_again, "read_evt_at", skipping)
    settings = Settings(
        seed=5, batch=10, findings=tmp_path / "findings", formats=("evt",), sigma_every=1
    )
    stats = Fuzzer(settings).run(10, report=lambda _line: None)
    assert stats.findings >= 1
    (found, *_) = settings.findings.glob("evt-again-*")
    assert "the records read again differ" in (found / "NOTE.txt").read_text()


def test_evt_records_read_again_are_the_first_reads(tmp_path: Path) -> None:
    from fuzz.evt_again import check_evt_again

    seeds = [(f"{n}", data) for n, data in enumerate(all_seeds()["evt"])]
    assert seeds and check_evt_again(seeds) is None
