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
    forked = _forks(monkeypatch)
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


def _forks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The children forked from now on (their pids), counted through ``os.fork``."""
    forked: list[int] = []
    fork = os.fork

    def recorded() -> int:
        pid = fork()
        if pid:
            forked.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", recorded)
    return forked


def _echo(image: bytes) -> Iterator[RawItem]:
    yield ("record", len(image), image.decode())


def _spin_then_echo(image: bytes) -> Iterator[RawItem]:
    spent = time.process_time()
    while time.process_time() - spent < float(image.decode()):
        pass
    yield ("record", 1, image.decode())


def test_one_server_renders_chunk_after_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    forked = _forks(monkeypatch)
    for n in range(5):
        assert list(render_isolated(f"<E>{n}</E>".encode(), _echo)) == [
            ("record", 8, f"<E>{n}</E>")
        ]
    assert len(forked) == 1  # not a child per chunk


def test_after_a_crash_the_next_chunk_gets_a_new_server(monkeypatch: pytest.MonkeyPatch) -> None:
    forked = _forks(monkeypatch)
    render = _two_then("abort")
    for _ in range(2):  # each chunk crashes its server: the second is not blamed for the first
        items = list(render_isolated(b"<E/>", render))  # type: ignore[arg-type]
        assert [kind for kind, _, _ in items] == ["record", "record", "stop"]
        assert items[2][2].count("memory allocation") == 1  # its own server's message only
    assert len(forked) == 2
    assert list(render_isolated(b"<E/>", _echo)) == [("record", 4, "<E/>")]


def test_the_cpu_limit_is_per_chunk_not_per_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(isolated, "CPU_SECONDS", 1)
    forked = _forks(monkeypatch)
    for _ in range(3):  # 1.8 s of CPU in all, 0.6 s per chunk
        assert list(render_isolated(b"0.6", _spin_then_echo)) == [("record", 1, "0.6")]
    assert len(forked) == 1


def test_a_server_left_idle_is_replaced_without_losing_the_chunk(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from evtxscan.sources.evtx import render_server

    monkeypatch.setattr(render_server, "IDLE_SECONDS", 0.2)
    forked = _forks(monkeypatch)
    assert list(render_isolated(b"a", _echo)) == [("record", 1, "a")]
    time.sleep(0.6)  # it has left
    assert list(render_isolated(b"b", _echo)) == [("record", 1, "b")]
    assert len(forked) == 2
    with pytest.raises(ChildProcessError):
        os.waitpid(forked[0], os.WNOHANG)  # the one that left was reaped


def test_threads_have_servers_of_their_own_and_forked_processes_none() -> None:
    import threading

    from evtxscan.sources.evtx import render_server

    assert list(render_isolated(b"main", _echo)) == [("record", 4, "main")]
    mine = render_server.server_for(_echo)
    seen: list[object] = []
    thread = threading.Thread(target=lambda: seen.append(render_server.server_for(_echo)))
    thread.start()
    thread.join()
    assert seen and seen[0] is not mine
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # a process forked from this one: its parent's servers are not its own
        os.write(write_end, b"%d" % len(render_server._servers))
        os._exit(0)
    os.close(write_end)
    os.waitpid(pid, 0)
    assert os.read(read_end, 16) == b"0"
    os.close(read_end)
    assert list(render_isolated(b"again", _echo)) == [("record", 5, "again")]  # still serves


def _warn_or_die(image: bytes) -> Iterator[RawItem]:
    if image == b"die":
        os.abort()
    os.write(2, b"thread panicked: caught, the record refused\n")  # as a caught panic prints
    yield ("error", 0, "pyevtx-rs: refused")


def test_a_crash_is_named_by_what_its_own_chunk_printed() -> None:
    assert list(render_isolated(b"warn", _warn_or_die)) == [("error", 0, "pyevtx-rs: refused")]
    items = list(render_isolated(b"die", _warn_or_die))  # the same server, then it crashes
    assert items == [("stop", 0, "pyevtx-rs crashed (SIGABRT) on the chunk")]


def test_the_server_of_a_thread_that_ended_is_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    forked = _forks(monkeypatch)
    thread = threading.Thread(target=lambda: list(render_isolated(b"t", _echo)))
    thread.start()
    thread.join()
    assert len(forked) == 1
    items = list(render_isolated(b"main", _two_then("none")))  # type: ignore[arg-type]
    assert [kind for kind, _, _ in items] == ["record", "record"]  # a server of its own
    with pytest.raises(ChildProcessError):
        os.waitpid(forked[0], os.WNOHANG)  # the ended thread's server: stopped and reaped


def test_a_server_reaped_by_someone_else_fails_its_chunk_and_is_replaced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    waitpid = os.waitpid

    def reaped_elsewhere(pid: int, options: int) -> tuple[int, int]:
        waitpid(pid, options)  # as another part of the program waiting for any child would
        raise ChildProcessError(pid)

    monkeypatch.setattr(os, "waitpid", reaped_elsewhere)
    items = list(render_isolated(b"x", _two_then("abort")))  # type: ignore[arg-type]
    monkeypatch.undo()
    assert [kind for kind, _, _ in items] == ["record", "record", "stop"]
    assert "failed (exit status 70)" in items[2][2]  # its real status is not known
    assert list(render_isolated(b"y", _echo)) == [("record", 1, "y")]
