"""The EVTX layouts and BinXml declarations read what the format description says."""

from __future__ import annotations

from datetime import UTC, datetime

from evtxscan.sources.evtx import binxml, layout
from evtxscan.synth import EventSpec, evtx_bytes


def test_header_structs_cover_the_documented_bytes() -> None:
    assert layout.FILE_HEADER.size == 128
    assert layout.CHUNK_HEADER.size == 128
    assert layout.RECORD_HEADER.size == layout.RECORD_HEADER_SIZE
    assert binxml.TEMPLATE_INSTANCE.size == 10
    assert binxml.TEMPLATE_DEFINITION.size == 24
    assert binxml.VALUE_DESCRIPTOR.size == 4


def test_written_file_reads_back_through_the_structs() -> None:
    events = [
        EventSpec(provider="P", event_id=n, time=datetime(2024, 1, 1, tzinfo=UTC)) for n in range(5)
    ]
    data = evtx_bytes(events, dirty=True)
    header = layout.parse_file_header(data)
    assert header is not None and header.checksum_ok and header.dirty and header.chunk_count == 1
    chunk_fields = layout.CHUNK_HEADER.unpack_from(data, layout.FILE_HEADER_SIZE)
    magic, first, last, _first_id, _last_id, size, _last_at, free, _crc, _flags, crc = chunk_fields
    assert (magic, first, last, size) == (layout.CHUNK_MAGIC, 1, 5, 128)
    chunk = data[layout.FILE_HEADER_SIZE : layout.FILE_HEADER_SIZE + layout.CHUNK_SIZE]
    assert layout.chunk_header_crc(chunk) == crc
    records = layout.walk_records(chunk, layout.CHUNK_HEADER_SIZE, free)
    assert [r.record_number for r in records] == [1, 2, 3, 4, 5]
    body = records[0].offset + layout.RECORD_HEADER_SIZE
    assert chunk[body : body + 4] == binxml.FRAGMENT_HEADER
    token, _unknown, _template_id, definition = binxml.TEMPLATE_INSTANCE.unpack_from(
        chunk, body + 4
    )
    assert token == binxml.Token.TEMPLATE_INSTANCE
    assert definition == body + 4 + binxml.TEMPLATE_INSTANCE.size  # defined inline on first use


def test_image_header_matches_the_file_header_layout() -> None:
    image = layout.file_header_image(3)
    header = layout.parse_file_header(image)
    assert header is not None and header.checksum_ok and not header.dirty
    assert (header.chunk_count, header.last_chunk, header.major_version) == (3, 2, 3)


def test_name_hash_is_the_documented_multiplicative_hash() -> None:
    expected = 0
    for unit in "System".encode("utf-16-le")[::2]:
        expected = (expected * 65599 + unit) & 0xFFFFFFFF
    assert binxml.name_hash("System") == expected & 0xFFFF
