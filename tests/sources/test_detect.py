import pytest

from evtxscan.sources.detect import LogFormat, describe_start, sniff


@pytest.mark.parametrize(
    ("head", "fmt"),
    [
        (b"", LogFormat.EMPTY),
        (b"ElfFile\x00" + b"\x00" * 100, LogFormat.EVTX),
        (b"\x00" * 4096 + b"ElfChnk\x00", LogFormat.EVTX),
        (b"ElfChnk\x00" + b"\x00" * 100, LogFormat.EVTX),
        (b"\x30\x00\x00\x00LfLe\x01\x00\x00\x00", LogFormat.EVT),
        (b"<Events><Event>", LogFormat.XML),
        (b"\xef\xbb\xbf<?xml version='1.0'?>", LogFormat.XML),
        ("\ufeff<Event>".encode("utf-16-le"), LogFormat.XML),
        ("<Event>".encode("utf-16-le"), LogFormat.XML),
        (b"\r\n  <Event xmlns='x'>", LogFormat.XML),
        (b"PK\x03\x04rest", LogFormat.ZIP),
        (b"\x1f\x8b\x08\x00", LogFormat.GZIP),
        (b"../System.evtx", LogFormat.UNKNOWN),
        (b"\x00\x01\x02\x03", LogFormat.UNKNOWN),
    ],
)
def test_sniff_by_content(head: bytes, fmt: LogFormat) -> None:
    assert sniff(head) == fmt


def test_describe_start() -> None:
    assert describe_start(b"../System.evtx") == "text '../System.evtx'"
    assert describe_start(b"\x00\x01") == "bytes 00 01"
