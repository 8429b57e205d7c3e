"""XML event exports (wevtutil, Event Viewer, PowerShell): every form and encoding gives the
same normalized records, hostile input is refused or contained, and EVTX parity holds."""

from __future__ import annotations

import mmap
import random
import time
from pathlib import Path

import pandas as pd
import pytest
from evtx import PyEvtxParser
from lxml import etree

import evtxscan
from evtxscan.records.batch import concat_frames
from evtxscan.records.schema import COLUMNS
from evtxscan.sources.integrity import FileReport
from evtxscan.sources.xml import iter_xml_events, read_xml_export, rendering_info
from evtxscan.sources.xml import reader as xml_reader

NS = "http://schemas.microsoft.com/win/2004/08/events/event"
SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "samples"


def _system(body: str, *, computer: str = "HOST1.example.com", channel: str = "System") -> str:
    return f"<System>{body}<Channel>{channel}</Channel><Computer>{computer}</Computer></System>"


SCM = (
    f'<Event xmlns="{NS}">'
    + _system(
        '<Provider Name="Service Control Manager" Guid="{555908d1-a6d7-4695-8e1e-26931d2012f4}"'
        ' EventSourceName="Service Control Manager"/>'
        '<EventID Qualifiers="16384">7036</EventID><Version>0</Version><Level>4</Level>'
        "<Task>0</Task><Opcode>0</Opcode><Keywords>0x8080000000000000</Keywords>"
        '<TimeCreated SystemTime="2021-03-04T05:06:07.1234567Z"/>'
        "<EventRecordID>101</EventRecordID><Correlation/>"
        '<Execution ProcessID="612" ThreadID="700"/>'
    )
    + '<EventData><Data Name="param1">Windows Update</Data><Data Name="param2">running</Data>'
    "<Binary>770075006100750073007600\n0000000000</Binary></EventData></Event>"
)
MSI = (
    f'<Event xmlns="{NS}">\r\n  '
    + _system(
        '<Provider Name="MsiInstaller"/><EventID Qualifiers="0">1033</EventID>'
        "<Level>4</Level><Task>0</Task><Keywords>0x80000000000000</Keywords>"
        '<TimeCreated SystemTime="2021-03-04T05:06:08.5Z"/><EventRecordID>102</EventRecordID>'
        '<Security UserID="S-1-5-21-1004336348-1177238915-682003330-512"/>',
        channel="Application",
    )
    + "\r\n  <EventData><Data>Tool &amp; Co &lt;x64&gt;</Data><Data>1.0</Data><Data></Data>"
    "<Binary>7B41424344457D</Binary></EventData>"
    '<RenderingInfo Culture="en-US"><Message>Installed Tool &amp; Co.\r\nOK</Message>'
    "<Level>Information</Level><Keywords><Keyword>Classic</Keyword></Keywords>"
    "</RenderingInfo>\r\n</Event>"
)
CLEARED = (
    f'<Event xmlns="{NS}">'
    + _system(
        '<Provider Name="Microsoft-Windows-Eventlog"'
        ' Guid="{fc65ddd8-d6ef-4962-83d5-6e5cfe9ce148}"/>'
        "<EventID>1102</EventID><Version>0</Version><Level>4</Level><Task>104</Task>"
        "<Opcode>0</Opcode><Keywords>0x4020000000000000</Keywords>"
        '<TimeCreated SystemTime="2021-03-04T05:06:09.123456789Z"/>'
        '<EventRecordID>103</EventRecordID><Execution ProcessID="1000" ThreadID="2000"/>',
        channel="Security",
    )
    + '<UserData><LogFileCleared xmlns="http://manifests.microsoft.com/win/2004/08/windows/'
    'eventlog"><SubjectUserSid>S-1-5-21-1</SubjectUserSid><SubjectUserName>admin'
    "</SubjectUserName></LogFileCleared></UserData></Event>"
)
ODD = (  # no EventRecordID; control characters raw and as references; CDATA; a comment
    f'<Event xmlns="{NS}"><!-- <Event> in a comment -->'
    + _system(
        '<Provider Name="Odd"/><EventID>5</EventID><TimeCreated SystemTime="2021-03-04T05:06:10Z"/>'
    )
    + '<EventData><Data Name="ctl">a\x03b&#x1F;c&#65;&#10;d</Data>'
    '<Data Name="cdata"><![CDATA[<Event xmlns="x">&amp;]]></Data>'
    '<Data Name="caf\u00e9">\u00e9\u6f22\U0001f600</Data></EventData></Event>'
)
EVENTS = [SCM, MSI, CLEARED, ODD]


#: Encoding name -> (codec, BOM); "utf-16" is what Windows writes: little-endian, with a BOM.
ENCODINGS = {
    "utf-8": ("utf-8", b""),
    "utf-8-sig": ("utf-8", b"\xef\xbb\xbf"),
    "utf-16": ("utf-16-le", b"\xff\xfe"),
    "utf-16-le": ("utf-16-le", b""),
    "utf-16-be": ("utf-16-be", b"\xfe\xff"),
}


def _build(form: str, encoding: str, events: list[str] = EVENTS) -> tuple[bytes, list[int]]:
    """An export of ``events`` and the byte offset of each ``<Event``."""
    codec, bom = ENCODINGS[encoding]
    declared = "UTF-16" if "16" in encoding else "UTF-8"
    head = f'<?xml version="1.0" encoding="{declared}"?>\r\n<Events>\r\n'
    head = head if form == "event_viewer" else ""
    sep = {"wevtutil": "", "powershell": "\r\n", "event_viewer": "\r\n"}[form]
    out, offsets = bom + head.encode(codec), []
    for event in events:
        offsets.append(len(out))
        out += (event + sep).encode(codec)
    return out + (b"" if form != "event_viewer" else "</Events>\r\n".encode(codec)), offsets


def _read(data: bytes | mmap.mmap, batch_size: int = 10_000) -> tuple[pd.DataFrame, FileReport]:
    report = FileReport(path="export.xml")
    frames = list(read_xml_export(data, source="export.xml", report=report, batch_size=batch_size))
    for frame in frames:
        assert list(frame.columns) == list(COLUMNS)
    return concat_frames(frames), report


def _values(frame: pd.DataFrame, column: str) -> list[object]:
    return [None if v is None or v is pd.NA or v != v else v for v in frame[column].tolist()]


def _check_records(frame: pd.DataFrame, offsets: list[int]) -> None:
    assert len(frame) == 4
    assert _values(frame, "provider") == [
        "Service Control Manager",
        "MsiInstaller",
        "Microsoft-Windows-Eventlog",
        "Odd",
    ]
    assert _values(frame, "event_id") == [7036, 1033, 1102, 5]
    assert _values(frame, "qualifiers") == [16384, 0, None, None]
    assert _values(frame, "level") == [4, 4, 4, None]
    assert _values(frame, "task") == [0, 0, 104, None]
    assert _values(frame, "keywords") == [
        0x8080000000000000,
        0x80000000000000,
        0x4020000000000000,
        None,
    ]
    assert _values(frame, "event_record_id") == [101, 102, 103, None]
    assert _values(frame, "record_number") == [1, 2, 3, 4]  # position: exports have no header
    assert _values(frame, "channel") == ["System", "Application", "Security", "System"]
    assert _values(frame, "computer") == ["HOST1.example.com"] * 4
    assert _values(frame, "user_sid") == [
        None,
        "S-1-5-21-1004336348-1177238915-682003330-512",
        None,
        None,
    ]
    assert _values(frame, "process_id") == [612, None, 1000, None]
    assert _values(frame, "thread_id") == [700, None, 2000, None]
    assert _values(frame, "provider_guid") == [
        "{555908D1-A6D7-4695-8E1E-26931D2012F4}",
        None,
        "{FC65DDD8-D6EF-4962-83D5-6E5CFE9CE148}",
        None,
    ]
    assert _values(frame, "event_source_name") == ["Service Control Manager", None, None, None]
    assert _values(frame, "time") == [
        pd.Timestamp("2021-03-04T05:06:07.123456Z"),
        pd.Timestamp("2021-03-04T05:06:08.5Z"),
        pd.Timestamp("2021-03-04T05:06:09.123456Z"),
        pd.Timestamp("2021-03-04T05:06:10Z"),
    ]
    assert frame["data"].tolist() == [
        [{"name": "param1", "value": "Windows Update"}, {"name": "param2", "value": "running"}],
        [
            {"name": None, "value": "Tool & Co <x64>"},
            {"name": None, "value": "1.0"},
            {"name": None, "value": ""},
        ],
        [
            {"name": "LogFileCleared.SubjectUserSid", "value": "S-1-5-21-1"},
            {"name": "LogFileCleared.SubjectUserName", "value": "admin"},
        ],
        [
            {"name": "ctl", "value": "a\x03b\x1fcA\nd"},
            {"name": "cdata", "value": '<Event xmlns="x">&amp;'},
            {"name": "caf\u00e9", "value": "\u00e9\u6f22\U0001f600"},
        ],
    ]
    assert _values(frame, "binary") == [
        "7700750061007500730076000000000000",
        "7B41424344457D",
        None,
        None,
    ]
    assert _values(frame, "offset") == offsets
    assert set(frame["source_format"]) == {"xml"}
    assert not frame["torn"].any() and not frame["recovered"].any()
    assert frame["written_time"].isna().all() and frame["chunk"].isna().all()


FORMS = [
    ("wevtutil", "utf-8"),
    ("wevtutil", "utf-8-sig"),
    ("wevtutil", "utf-16"),
    ("wevtutil", "utf-16-le"),  # UTF-16 without a BOM
    ("powershell", "utf-16"),
    ("powershell", "utf-16-be"),
    ("event_viewer", "utf-16"),
    ("event_viewer", "utf-8"),
    ("event_viewer", "utf-8-sig"),
]


@pytest.mark.parametrize(("form", "encoding"), FORMS)
def test_every_form_and_encoding_gives_the_same_records(form: str, encoding: str) -> None:
    data, offsets = _build(form, encoding)
    frame, report = _read(data)
    _check_records(frame, offsets)
    assert report.errors == []
    assert report.notes == ["1 events carry RenderingInfo (logged text)"]
    data, offsets = _build(form, encoding, EVENTS * 2)  # offsets after non-ASCII text too
    assert _values(_read(data)[0], "offset") == offsets


@pytest.mark.parametrize(("form", "encoding"), FORMS)
@pytest.mark.parametrize("block", [1, 7, 64, 4096])
def test_tiny_read_blocks_change_nothing(
    form: str, encoding: str, block: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every mark, declaration, comment and character may straddle a block boundary."""
    monkeypatch.setattr(xml_reader, "BLOCK_BYTES", block)
    data, offsets = _build(form, encoding)
    frame, report = _read(data, batch_size=3)
    _check_records(frame, offsets)
    assert report.errors == []


def test_mmap_input_and_batches(tmp_path: Path) -> None:
    data, offsets = _build("wevtutil", "utf-8", EVENTS * 3)
    path = tmp_path / "export.xml"
    path.write_bytes(data)
    report = FileReport(path=str(path))
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as m:
        frames = list(read_xml_export(m, source=str(path), report=report, batch_size=5))
    assert [len(f) for f in frames] == [5, 5, 2]
    assert _values(concat_frames(frames), "offset") == offsets
    assert report.errors == []


def test_rendering_info_is_available_to_callers() -> None:
    data, _ = _build("event_viewer", "utf-16")
    events = list(iter_xml_events(data, report=FileReport(path="x")))
    assert [(e.message, e.culture) for e in events] == [
        (None, None),
        ("Installed Tool & Co.\nOK", "en-US"),
        (None, None),
        (None, None),
    ]
    element = etree.fromstring(MSI.encode())
    assert rendering_info(element) == ("Installed Tool & Co.\nOK", "en-US")


def test_declared_single_byte_encoding_and_prefixed_event() -> None:
    doc = (
        '<?xml version="1.0" encoding="windows-1252"?>\n<Events>'
        f'<e:Event xmlns:e="{NS}"><e:System><e:Provider Name="caf\u00e9"/>'
        "<e:EventID>1</e:EventID></e:System></e:Event></Events>"
    )
    frame, report = _read(doc.encode("cp1252"))
    assert _values(frame, "provider") == ["caf\u00e9"]
    assert _values(frame, "offset") == [None]  # a prefixed <e:Event> has no located start
    assert report.errors == []


# -- hostile and damaged input ------------------------------------------------------------

BILLION_LAUGHS = (
    '<?xml version="1.0"?>\n<!DOCTYPE Events [\n <!ENTITY lol "lol">\n'
    + "".join(
        f' <!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i > 1 else "&lol;" * 10}">\n'
        for i in range(1, 10)
    )
    + f']>\n<Events><Event xmlns="{NS}"><EventData><Data>&lol9;</Data></EventData></Event>'
    "</Events>"
)
XXE = (
    '<?xml version="1.0"?><!DOCTYPE Event [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    f'<Event xmlns="{NS}"><EventData><Data>&xxe;</Data></EventData></Event>'
)


@pytest.mark.parametrize("doc", [BILLION_LAUGHS, XXE], ids=["billion-laughs", "xxe"])
@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_dtd_is_refused_before_any_expansion(doc: str, encoding: str) -> None:
    started = time.perf_counter()
    frame, report = _read(doc.encode(encoding))
    assert time.perf_counter() - started < 2
    assert frame.empty
    assert [e.reason for e in report.errors] == [xml_reader.DTD_REFUSED]
    assert "DTD/entity declarations are not allowed in an event export" in str(report.row())


def test_dtd_after_events_keeps_them_and_stops() -> None:
    data = (SCM + MSI + '<!DOCTYPE x [<!ENTITY a "b">]>' + CLEARED).encode()
    frame, report = _read(data)
    assert _values(frame, "event_record_id") == [101, 102]
    assert [(e.reason, e.offset) for e in report.errors] == [
        (xml_reader.DTD_REFUSED, len((SCM + MSI).encode()))
    ]


def test_entities_are_never_resolved_and_the_parser_is_hardened() -> None:
    options = xml_reader.PARSER_OPTIONS
    assert options["resolve_entities"] is False and options["load_dtd"] is False
    assert options["no_network"] is True and options["huge_tree"] is False
    bad = CLEARED.replace("admin", "&xxe;")  # an undeclared entity: libxml2 stops the event
    frame, report = _read((SCM + bad + MSI).encode())
    assert _values(frame, "event_record_id") == [101, 102]
    assert [e.offset for e in report.errors] == [len(SCM)]
    assert "xxe" not in str(frame["data"].tolist()) and "root:" not in str(frame.to_dict())


def test_malformed_xml_midway_keeps_the_events_around_it() -> None:
    broken = CLEARED.replace("</SubjectUserName>", "</SubjectUserNam>")
    data = (SCM + MSI + broken + ODD).encode()
    frame, report = _read(data)
    assert _values(frame, "event_record_id") == [101, 102, None]
    (error,) = report.errors
    line = 1 + (SCM + MSI).count("\n")
    assert error.reason.startswith(f"malformed XML at line {line}: Opening and ending tag")
    assert error.offset == len((SCM + MSI).encode())  # the broken event's start


def test_event_cut_short_by_the_next_one_loses_only_itself() -> None:
    for cut in (150, 151, 300, len(MSI) - 3):  # inside tags, attributes, text
        data = (SCM + MSI[:cut] + CLEARED + ODD).encode()
        frame, report = _read(data)
        assert _values(frame, "event_record_id") == [101, 103, None], cut
        assert [e.offset for e in report.errors] == [len(SCM.encode())], cut
        assert "malformed" in report.errors[0].reason or "cut short" in report.errors[0].reason


def test_truncated_export_keeps_complete_events() -> None:
    data, _ = _build("event_viewer", "utf-16")
    frame, report = _read(data[: data.index("<EventRecordID>103".encode("utf-16-le"))])
    assert _values(frame, "event_record_id") == [101, 102]
    assert [e.reason for e in report.errors] == [
        "the export ends inside an <Event> (truncated): that event is lost"
    ]
    frame, report = _read(data[: data.index("</Events>".encode("utf-16-le"))])
    assert len(frame) == 4 and "before </Events>" in report.errors[0].reason


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b'<?xml version="1.0"?>\n<catalog><book/></catalog>', "root element <catalog>"),
        ("<html><body/></html>".encode("utf-16"), "root element <html>"),
        (b"<<<< not xml", "no root element"),
        (b" \r\n\t ", "holds no events"),
        (b"", "holds no events"),
        (b"<!-- only a comment -->", "holds no events"),
        (b"\xef\xbb\xbfhello <Event/>", "text before the first element"),
    ],
)
def test_not_an_event_export(data: bytes, reason: str) -> None:
    frame, report = _read(data)
    assert frame.empty
    assert len(report.errors) == 1 and reason in report.errors[0].reason


def test_invalid_bytes_are_replaced_and_reported() -> None:
    data = SCM.encode() + MSI.encode().replace(b"Tool", b"To\xffl") + CLEARED.encode()
    frame, report = _read(data)
    assert frame["data"][1][0]["value"] == "To\ufffdl & Co <x64>"
    (error,) = report.errors
    assert "not valid utf-8" in error.reason and error.offset == data.index(b"\xff")


def test_junk_between_events_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(xml_reader, "MAX_EVENT_CHARS", 10_000)
    monkeypatch.setattr(xml_reader, "BLOCK_BYTES", 1000)
    junk = "<Junk>" + "<x>abc</x>" * 3000 + "</Junk>"
    frame, report = _read((SCM + junk + MSI).encode())
    assert _values(frame, "event_record_id") == [101, 102]
    assert "no event ended" in report.errors[0].reason


def test_finished_events_are_freed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Bounded memory: after each event the tree holds nothing but that (cleared) event."""
    sizes: list[int] = []
    original = xml_reader._discard

    def spy(element: etree._Element) -> None:
        original(element)
        parent = element.getparent()
        sizes.append(len(parent) + len(element) if parent is not None else -1)

    monkeypatch.setattr(xml_reader, "_discard", spy)
    data, _ = _build("event_viewer", "utf-16", EVENTS * 50)
    frame, _ = _read(data)
    assert len(frame) == 200 and set(sizes) == {1}


def test_random_damage_never_raises_or_hangs() -> None:
    data, _ = _build("powershell", "utf-16", EVENTS * 2)
    rng = random.Random(7)
    started = time.perf_counter()
    for _ in range(300):
        damaged = bytearray(data[: rng.randrange(len(data) + 1)])
        for _ in range(rng.randrange(4)):
            if damaged:
                damaged[rng.randrange(len(damaged))] = rng.choice(b"<>&;\"'/?!\x00\xff")
        report = FileReport(path="x")
        assert len(list(iter_xml_events(bytes(damaged), report=report))) <= 8
        assert not any("internal error" in e.reason for e in report.errors)
    assert time.perf_counter() - started < 10


# -- parity with the EVTX reader ------------------------------------------------------------

PARITY = ["plaso/test_data/evtx/System.evtx", "omerbenamram-evtx/samples/security.evtx"]
COMPARED = [
    "provider", "event_id", "qualifiers", "level", "task", "keywords", "time",
    "event_record_id", "channel", "computer", "user_sid", "data", "binary",
]  # fmt: skip


def _xml_records(path: Path) -> list[str]:
    out: list[str] = []
    records = PyEvtxParser(str(path), number_of_threads=1).records()
    while True:
        try:
            xml = str(next(records)["data"])  # type: ignore[index]
        except StopIteration:
            return out
        except RuntimeError:
            continue
        out.append(xml[xml.index("?>") + 2 :].strip() if xml.startswith("<?xml") else xml)


def _comparable(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame[COMPARED].sort_values("event_record_id", kind="stable").reset_index(drop=True)
    for name in ("provider", "channel", "computer", "user_sid"):
        out[name] = out[name].astype(object)
    return out


@pytest.mark.parametrize("name", PARITY)
def test_parity_with_the_evtx_reader(name: str) -> None:
    path = SAMPLES / name
    if not path.is_file():
        pytest.skip(f"sample {path} not found (the corpus lives in ../shared/samples)")
    xmls = _xml_records(path)
    expected = evtxscan.read_frame(path)
    expected = _comparable(expected[~expected["recovered"]])
    bare = "\r\n".join(xmls).encode()
    rooted = '<?xml version="1.0" encoding="UTF-16"?>\r\n<Events>' + "".join(xmls) + "</Events>"
    for data in (bare, rooted.encode("utf-16")):
        frame, report = _read(data)
        assert report.errors == []
        assert len(frame) == len(xmls) == len(expected)
        pd.testing.assert_frame_equal(_comparable(frame), expected, obj=name)
