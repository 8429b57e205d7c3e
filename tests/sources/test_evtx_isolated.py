"""pyevtx-rs in a child process: a crash, a runaway or a hang of the native code costs the
chunk's remaining records, never the reading process (``sources/evtx/isolated.py``)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from evtxscan.sources.budget import TimeBudgetExceeded, within
from evtxscan.sources.evtx import backends, isolated
from evtxscan.sources.evtx.chunk_events import BackendError
from evtxscan.sources.evtx.isolated import RawItem, render_isolated

pytestmark = pytest.mark.skipif(not isolated.can_isolate(), reason="needs os.fork")


def _two_then(action: str) -> object:
    def render(image: bytes) -> Iterator[RawItem]:
        yield ("record", 1, "<Event>one</Event>")
        yield ("record", 2, image.decode())
        if action == "abort":
            os.write(2, b"memory allocation of 12222464 bytes failed\n")
            os.abort()
        elif action == "spin":
            while True:
                pass
        elif action == "sleep":
            time.sleep(60)
        elif action == "raise":
            raise RuntimeError("not caught by the renderer")

    return render


def test_records_before_an_abort_arrive_and_the_abort_names_its_reason() -> None:
    items = list(render_isolated(b"<Event>two</Event>", _two_then("abort")))  # type: ignore[arg-type]
    assert items[:2] == [("record", 1, "<Event>one</Event>"), ("record", 2, "<Event>two</Event>")]
    kind, _, reason = items[2]
    assert kind == "stop" and len(items) == 3
    assert "crashed (SIGABRT)" in reason and "memory allocation of 12222464 bytes failed" in reason


def test_a_finished_child_adds_nothing() -> None:
    items = list(render_isolated(b"x", _two_then("none")))  # type: ignore[arg-type]
    assert [kind for kind, _, _ in items] == ["record", "record"]


def test_an_exception_in_the_child_stops_the_chunk() -> None:
    items = list(render_isolated(b"x", _two_then("raise")))  # type: ignore[arg-type]
    assert items[-1][0] == "stop" and "exit status 70" in items[-1][2]


@pytest.mark.parametrize(
    ("limit", "value", "action", "reason"),
    [("CPU_SECONDS", 1, "spin", "CPU time"), ("WALL_SECONDS", 1.0, "sleep", "SIGKILL")],
)
def test_a_child_past_its_limit_is_stopped(
    monkeypatch: pytest.MonkeyPatch, limit: str, value: float, action: str, reason: str
) -> None:
    """A spinning child meets its CPU limit, a stalled one is killed after the wall limit."""
    monkeypatch.setattr(isolated, limit, value)
    started = time.monotonic()
    items = list(render_isolated(b"x", _two_then(action)))  # type: ignore[arg-type]
    assert time.monotonic() - started < 30
    assert len(items) == 3 and reason in items[2][2]


def test_the_file_time_budget_stops_the_wait_and_the_child(monkeypatch: pytest.MonkeyPatch) -> None:
    forked: list[int] = []
    fork = os.fork

    def recorded() -> int:
        pid = fork()
        if pid:
            forked.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", recorded)
    started = time.monotonic()
    with pytest.raises(TimeBudgetExceeded):
        within(0.5, lambda: list(render_isolated(b"x", _two_then("sleep"))))  # type: ignore[arg-type]
    assert time.monotonic() - started < 30
    assert len(forked) == 1
    with pytest.raises(ChildProcessError):
        os.waitpid(forked[0], os.WNOHANG)  # killed and reaped: not even a zombie is left


def test_isolated_rendering_equals_rendering_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import datetime

    from evtxscan.synth import EventSpec, evtx_bytes

    when = datetime(2024, 1, 2, 3, 4, 5)
    events = [EventSpec("P", i, when, data=(("Name", f"value {i}"),)) for i in range(50)]
    image = evtx_bytes(events)
    apart = list(backends.rust_events(image))
    monkeypatch.setattr(backends, "can_isolate", lambda: False)
    assert apart == list(backends.rust_events(image))
    assert len(apart) == 50 and not any(isinstance(e, BackendError) for e in apart)


def test_huge_output_crosses_the_pipe() -> None:
    big = "<Data>" + "x" * (8 << 20) + "</Data>"

    def render(image: bytes) -> Iterator[RawItem]:
        yield ("record", 7, big)

    assert list(render_isolated(b"", render)) == [("record", 7, big)]
