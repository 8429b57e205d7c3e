"""A nightly run over logs read whole (.evt, XML exports) takes in only what is new and keeps
of it what a scan keeps: symptom candidates and notable events pass on, context is only
located, the rest counted, and the watermarks learn of every admitted record whether it was
passed on or not. Night by night, its outcome and state must equal those of a run that
decodes and passes on every new record (reading in tasks, as on a cluster, does)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from evtx import PyEvtxParser
from nightly_compare import InProcess, run_both
from nightly_scenario import DAY0, Q138713, at, story
from test_nightly_index_first import late_context

from evtxscan.sources.evtx.index import RecordIndex
from evtxscan.sources.whole_selection import WholeChoice
from evtxscan.synth.evt_writer import write_evt
from evtxscan.synth.evtx_writer import write_evtx
from evtxscan.synth.scenarios import as_evt

#: Hosts whose log is collected as an XML export (Event Viewer's "Save as XML"); the rest
#: as legacy .evt logs.
XML_HOSTS = {"exch", "quiet"}


def write_whole_night(collected: Path, night: int) -> list[Path]:
    """Night ``night``: each host's System log up to the end of day ``night - 1`` in a new
    dated folder, as an .evt log or an XML export."""
    logs = {**story(), **late_context()}
    folder = collected / (DAY0 + pd.Timedelta(days=night)).strftime("%Y-%m-%d")
    for host, events in logs.items():
        upto = sorted((e for e in events if e.time < at(night)), key=lambda e: e.time)
        if not upto:
            continue
        if host in XML_HOSTS:
            binary = write_evtx(collected / "evtx" / f"{host}-{night}.evtx", upto)
            texts = [r["data"] for r in PyEvtxParser(str(binary)).records()]
            export = folder / host / "System.xml"
            export.parent.mkdir(parents=True, exist_ok=True)
            export.write_text("".join(t[t.index("?>") + 2 :] for t in texts), encoding="utf-8")
        else:
            write_evt(folder / host / "SysEvent.Evt", [as_evt(e) for e in upto])
    return sorted(p for p in collected.iterdir() if p.name != "evtx")


@pytest.fixture
def passed_on(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[int, int]]]:
    """(rows read, rows passed on) of every batch of a log read whole with a selector."""
    seen: list[tuple[int, int]] = []
    decoded = WholeChoice._decoded

    def counted(self: WholeChoice, index: RecordIndex) -> np.ndarray:
        decode = decoded(self, index)
        seen.append((len(index), int(decode.sum())))
        return decode

    monkeypatch.setattr(WholeChoice, "_decoded", counted)
    yield seen


def test_whole_logs_nightly_equals_decoding_every_new_record(
    tmp_path: Path, passed_on: list[tuple[int, int]]
) -> None:
    done = run_both(tmp_path, 3, InProcess(), write_whole_night)
    local, _ = done[-1]
    assert local.stats.records_new < local.stats.records_decoded  # the earlier nights' too
    diagnosed = {(r.host, r.signature_id) for r in done[0][0].new.itertuples()}
    assert ("srv-a", Q138713) in diagnosed
    assert ("late", Q138713) in {(r.host, r.signature_id) for r in done[1][0].new.itertuples()}
    shown = done[1][0].result.timeline
    late = shown[(shown["host"] == "late") & (shown["event_id"] == 7036)]
    assert pd.Timestamp(at(0, 23, 55)) in set(late["time"])  # context carried to night 2
    # The local runs chose among the rows of logs read whole: not every row was passed on.
    assert passed_on
    read, passed = (sum(column) for column in zip(*passed_on, strict=True))
    assert 0 < passed < read
