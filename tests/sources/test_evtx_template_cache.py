"""Templates are shared by every file a process reads, but only where their bytes agree: a
file that defines another template under a common GUID and size changes nothing else."""

from __future__ import annotations

import struct
from datetime import UTC, datetime
from pathlib import Path

from evtxscan.scanning import read_records
from evtxscan.sources.evtx.template import Node, Sub, read_definition
from evtxscan.synth import EventSpec, evtx_bytes

FILE_HEADER = 4096
FIRST_RECORD = FILE_HEADER + 512  # after the chunk header
DEFINITION_AT = 24 + 4 + 6  # record header, fragment header, then the instance's field


def _sub_index(root: Node, name: str) -> int:
    """The value index of the substitution that fills element ``name`` of the System part."""
    for node in root.content:
        if isinstance(node, Node):
            if node.name == name:
                (sub,) = [piece for piece in node.content if isinstance(piece, Sub)]
                return sub.index
            if node.name in ("Event", "System"):
                try:
                    return _sub_index(node, name)
                except LookupError:
                    pass
    raise LookupError(name)


def _hostile_copy(data: bytes) -> bytes:
    """``data`` with its template's EventID substitution pointed at the Task value: the same
    GUID and size, another meaning."""
    (offset,) = struct.unpack_from("<I", data, FIRST_RECORD + DEFINITION_AT)
    chunk = data[FILE_HEADER : FILE_HEADER + 65536]
    root = read_definition(chunk, offset).root
    event, task = _sub_index(root, "EventID"), _sub_index(root, "Task")
    size = struct.unpack_from("<I", chunk, offset + 20)[0]
    body = bytearray(chunk[offset + 24 : offset + 24 + size])
    changed = 0
    for at in range(len(body) - 3):
        if body[at] in (0x0D, 0x0E) and body[at + 1 : at + 3] == event.to_bytes(2, "little"):
            body[at + 1 : at + 3] = task.to_bytes(2, "little")
            changed += 1
    assert changed == 1
    start = FILE_HEADER + offset + 24
    return data[:start] + bytes(body) + data[start + size :]


def _event_ids(path: Path, name: str) -> list[int]:
    stream = read_records(path, backend="rust")
    ids: list[int] = []
    for batch in stream:
        mine = batch[batch["source_file"].astype(str).str.endswith(name)]
        ids += mine["event_id"].astype(int).tolist()
    return ids


def test_a_hostile_template_does_not_change_how_other_files_are_read(tmp_path: Path) -> None:
    when = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
    events = [EventSpec("Service Control Manager", 7036, when, task=9) for _ in range(5)]
    data = evtx_bytes(events)
    (tmp_path / "b-genuine.evtx").write_bytes(data)
    # read first, in the same process and batch: its template would be cached under the
    # genuine one's GUID and size
    (tmp_path / "a-hostile.evtx").write_bytes(_hostile_copy(data))
    assert _event_ids(tmp_path / "a-hostile.evtx", "a-hostile.evtx") == [9] * 5
    assert _event_ids(tmp_path, "b-genuine.evtx") == [7036] * 5
    assert _event_ids(tmp_path, "a-hostile.evtx") == [9] * 5


def test_forgetting_the_templates_changes_nothing_read_later(tmp_path: Path) -> None:
    """Between a scan's phases the process's template memos are emptied (for memory): what
    is read next parses its templates again and reads the same."""
    from evtxscan.sources.evtx import decode, index

    events = [EventSpec("Tcpip", 4201, datetime(2021, 1, 1, tzinfo=UTC), data=((None, "x"),))]
    path = tmp_path / "System.evtx"
    path.write_bytes(evtx_bytes(events * 3))
    before, indexed = read_records(path).frame(), index.index_files([path])
    caches = (index._SHARED.get(), decode._DECODER.get())
    assert all(cache.entries for cache in caches)
    decode.forget_templates()
    assert not any(cache.entries or cache.shapes for cache in caches)
    after = read_records(path).frame()
    assert after.equals(before)
    assert index.index_files([path]).event_id.values.tolist() == indexed.event_id.values.tolist()


def test_each_thread_has_its_own_template_memos(tmp_path: Path) -> None:
    """A thread forgetting its templates (or trimming them) never empties another thread's
    memo in the middle of that thread's batch."""
    import threading

    from evtxscan.sources.evtx import decode, index

    events = [EventSpec("Tcpip", 4201, datetime(2021, 1, 1, tzinfo=UTC), data=((None, "x"),))]
    path = tmp_path / "System.evtx"
    path.write_bytes(evtx_bytes(events))
    index.index_files([path])
    mine = index._SHARED.get()
    assert mine.entries
    other: list[object] = []

    def elsewhere() -> None:
        other.append(index._SHARED.get())
        decode.forget_templates()

    thread = threading.Thread(target=elsewhere)
    thread.start()
    thread.join()
    assert other and other[0] is not mine
    assert mine.entries  # untouched by the other thread's forgetting


def test_large_templates_are_forgotten_by_their_bytes() -> None:
    """A hostile file's large templates (their trees take up to 30 times their bytes) are
    forgotten once ``limit_bytes`` of them are kept, far before ``limit`` of them; what is
    read after is read as before."""
    from evtxscan.sources.evtx.instances import TemplateCache
    from evtxscan.sources.evtx.template import read_template

    places = []
    for number in range(6):
        data = evtx_bytes(
            [
                EventSpec(
                    "Svc",
                    7036,
                    datetime(2024, 1, 1, tzinfo=UTC),
                    data=(*((f"v{number}-{i}", "x") for i in range(40)),),
                )
            ]
        )
        (offset,) = struct.unpack_from("<I", data, FIRST_RECORD + DEFINITION_AT)
        places.append((data[FILE_HEADER : FILE_HEADER + 65536], offset))
    size = read_template(*places[0])[0].data_size
    cache = TemplateCache(limit_bytes=3 * size)
    for chunk, offset in places:
        found = cache.lookup(chunk, offset)
        assert cache.entries[found].definition == read_template(chunk, offset)[0]
        cache.trim()  # (between batches)
        assert len(cache.entries) <= 3 and cache.body_bytes <= 3 * size + size
    assert cache.body_bytes < 6 * size  # forgotten at least once
