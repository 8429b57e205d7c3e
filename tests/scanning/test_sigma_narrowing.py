"""Records only Sigma rules want are decoded only when a value may hold a rule's literal
(``SigmaSelector.text_needs`` and ``selectors.narrowed``), and a scan finds the same hits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

import evtxscan
from evtxscan.correlation.index_probe import IndexProbe
from evtxscan.scanning.sigma_stage import SigmaSelector
from evtxscan.signatures.sigma import load_sigma
from evtxscan.signatures.sigma.matcher import SigmaMatcher
from evtxscan.sources.evtx import selective
from evtxscan.sources.evtx.index import RecordIndex, index_chunks
from evtxscan.sources.evtx.layout import FILE_HEADER_SIZE
from evtxscan.sources.evtx.reader import chunk_ranges
from evtxscan.sources.evtx.selectors import Admitted, Choice, choose, narrowed
from evtxscan.synth import EventSpec, evtx_bytes, write_evtx

T0 = datetime(2024, 3, 5, 8, 0, tzinfo=UTC)
SCM = "Service Control Manager"
RULES = {
    "remote.yml": """title: Remote access tool installed
id: 7c7ea4a8-4a0b-4a42-9d1a-2a9f6f1a0001
status: test
logsource: {product: windows, service: system}
detection:
    selection:
        Provider_Name: Service Control Manager
        EventID: 7045
        ImagePath|contains: ['AnyDesk', 'TeamViewer']
    condition: selection
level: high
""",
    "stopped.yml": """title: Any service stopped
id: 7c7ea4a8-4a0b-4a42-9d1a-2a9f6f1a0002
status: test
logsource: {product: windows, service: system}
detection:
    selection:
        Provider_Name: Service Control Manager
        EventID: 7036
        param2: stopped
    filter:
        param1: Spooler
    condition: selection and not filter
level: low
""",
}


def _service(seconds: int, event_id: int, *data: tuple[str, str]) -> EventSpec:
    return EventSpec(SCM, event_id, T0 + timedelta(seconds=seconds), "PC1", data=data)


EVENTS = [
    _service(1, 7045, ("ServiceName", "AD"), ("ImagePath", r"C:\Programs\AnyDesk\AnyDesk.exe")),
    _service(2, 7045, ("ServiceName", "Spool"), ("ImagePath", r"C:\Windows\spoolsv.exe")),
    _service(3, 7045, ("ServiceName", "TV"), ("ImagePath", r"C:\TEAMVIEWER\tv.exe")),
    _service(4, 7036, ("param1", "Spooler"), ("param2", "stopped")),
    _service(5, 7036, ("param1", "BITS"), ("param2", "stopped")),
]


def index_file(data: bytes) -> RecordIndex:
    return index_chunks(data, chunk_ranges(len(data), FILE_HEADER_SIZE, 64))


def _rules(tmp_path: Path) -> Path:
    folder = tmp_path / "rules"
    folder.mkdir()
    for name, text in RULES.items():
        (folder / name).write_text(text)
    return folder


def _selector(tmp_path: Path) -> SigmaSelector:
    keys = SigmaMatcher(load_sigma(_rules(tmp_path)).detections).wanted()
    return SigmaSelector(IndexProbe(frozenset()), keys)


def test_text_needs_per_record(tmp_path: Path) -> None:
    index = index_file(evtx_bytes(EVENTS))
    needs, texts = _selector(tmp_path).text_needs(index)
    tools, stopped = frozenset({"anydesk", "teamviewer"}), frozenset({"stopped"})
    # 7036: the selection's literal (``param1: Spooler`` is under NOT: it gives none)
    assert [texts[n] for n in needs.tolist()] == [tools, tools, tools, stopped, stopped]


def test_records_the_scan_wants_anyway_have_no_need(tmp_path: Path) -> None:
    selector = _selector(tmp_path)
    selector.inner = IndexProbe(frozenset({(SCM.casefold(), 7045)}))
    needs, texts = selector.text_needs(index_file(evtx_bytes(EVENTS)))
    assert needs[:3].tolist() == [-1, -1, -1]  # 7045: decoded for the KB signatures anyway
    assert [texts[n] for n in needs[3:].tolist()] == [frozenset({"stopped"})] * 2


@dataclass
class _Needing:
    """A selector decoding everything for literal ``{"x"}`` and locating records 0 and 1."""

    def decode_mask(self, index: RecordIndex) -> np.ndarray:
        return np.ones(len(index), dtype=bool)

    def defer_mask(self, index: RecordIndex) -> np.ndarray:
        return np.arange(len(index)) < 2

    def text_needs(self, index: RecordIndex) -> tuple[np.ndarray, list[frozenset[str]]]:
        needs = np.zeros(len(index), dtype=np.int64)
        needs[-1] = -1
        return needs, [frozenset({"x"})]


def test_narrowed_drops_what_cannot_hold_and_locates_what_was_to_be_located() -> None:
    index = index_file(evtx_bytes(EVENTS))
    selector = _Needing()
    asked: list[tuple[list[int], list[int], list[frozenset[str]]]] = []

    def holds(rows: np.ndarray, need: np.ndarray, texts: list[frozenset[str]]) -> np.ndarray:
        asked.append((rows.tolist(), need.tolist(), texts))
        return rows == 2

    choice = narrowed(choose(selector, index), selector, index, holds)
    assert asked == [([0, 1, 2, 3], [0, 0, 0, 0], [frozenset({"x"})])]  # record 4: no need
    assert choice.decode.tolist() == [False, False, True, False, True]
    assert choice.later is not None and choice.later.tolist() == [True, True, False, False, False]
    # through a nightly admission: only admitted records are looked at
    admitted = Admitted(selector, (_AdmitFirstThree(),))
    asked.clear()
    choice = narrowed(choose(admitted, index), admitted, index, holds)
    assert asked == [([0, 1, 2], [0, 0, 0], [frozenset({"x"})])]
    assert choice.decode.tolist() == [False, False, True, False, False]


@dataclass
class _AdmitFirstThree:
    def admit_mask(self, index: RecordIndex) -> np.ndarray:
        return np.arange(len(index)) < 3

    def summary(self, index: RecordIndex, passed: int) -> object:
        return None


def test_a_selector_without_needs_is_left_alone() -> None:
    index = index_file(evtx_bytes(EVENTS))
    probe = IndexProbe(frozenset())
    choice = choose(probe, index)
    assert narrowed(choice, probe, index, lambda rows, *_: rows < 0) is choice
    bare = Choice(choice.decode, None, None)
    assert narrowed(bare, None, index, lambda rows, *_: rows < 0) is bare


def test_a_scan_finds_the_same_hits_and_decodes_fewer_records(
    tmp_path: Path, monkeypatch: object
) -> None:
    log = write_evtx(tmp_path / "System.evtx", EVENTS * 40)
    rules = _rules(tmp_path)
    looked: list[int] = []
    real = selective.may_hold

    def counting(*args: object) -> np.ndarray:
        found = real(*args)  # type: ignore[arg-type]
        looked.append(int((~found).sum()))
        return found

    monkeypatch.setattr(selective, "may_hold", counting)  # type: ignore[attr-defined]
    narrow = evtxscan.scan(log, sigma=rules, workers=1)
    monkeypatch.setattr(selective, "narrowed", lambda choice, *_: choice)  # type: ignore[attr-defined]
    every = evtxscan.scan(log, sigma=rules, workers=1)
    assert sum(looked) == 40  # the spooler's ImagePath, once per copy of the events
    sigma = narrow.diagnoses[narrow.diagnoses["kind"] == "sigma"]
    assert sorted(sigma["title"]) == ["Any service stopped", "Remote access tool installed"]
    keep = ["signature_id", "host", "evidence", "first_seen", "last_seen"]
    assert sigma[keep].equals(every.diagnoses[every.diagnoses["kind"] == "sigma"][keep])
