"""Read Windows event-log XML exports (wevtutil, Event Viewer, PowerShell) as record batches.

Bytes are decoded block by block, cut at each ``<Event`` (so records get byte offsets) and fed
to a hardened lxml pull parser inside a synthetic root (wevtutil output has none); each event
is normalized, then freed. DTDs are refused before parsing, entities never expanded, and
malformed XML costs the damaged event only: reading resumes at the next ``<Event``.
"""

from __future__ import annotations

import codecs
import mmap
import re
from collections.abc import Iterator
from typing import Any, NamedTuple

import pandas as pd
from lxml import etree

from evtxscan.records.batch import RecordBatch
from evtxscan.records.event_xml import fields_from_element
from evtxscan.records.hosts import HostMap
from evtxscan.records.schema import EventFields, RecordPosition
from evtxscan.sources.budget import check as check_budget
from evtxscan.sources.integrity import FileReport
from evtxscan.sources.xml.encoding import detect_encoding

BLOCK_BYTES = 1 << 20
#: Text fed without an event ending before the parser is dropped (bounds memory on junk).
MAX_EVENT_CHARS = 16 << 20
DTD_REFUSED = "DTD/entity declarations are not allowed in an event export"
_TOO_LONG = f"no event ended in {MAX_EVENT_CHARS >> 20} MiB of text: skipped to the next <Event>"
_CUT = "event cut short or malformed: the next <Event> starts inside it"
#: Never expand entities, load a DTD, touch the network, or lift libxml2's size limits.
PARSER_OPTIONS: dict[str, Any] = dict(resolve_entities=False, no_network=True, load_dtd=False)
PARSER_OPTIONS.update(huge_tree=False, remove_comments=True, remove_pis=True, encoding="utf-8")
_TAGS = ("{*}Event", "{*}Events")

_MARK = re.compile(r"<(?:Event[\s/>]|!|\?)")
_NAME = re.compile(r"<([A-Za-z_][\w.:-]*)")
_POSITION = re.compile(r",? line \d+, column \d+$")
# XML 1.0 cannot hold C0 controls, which Windows writes as they were logged; they travel as
# the noncharacters U+FDD0.. (never in real text) and are restored in the normalized fields.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_CHARREF = re.compile(r"&#(?:[xX]0*([0-9a-fA-F]{1,2})|0*([0-9]{1,2}));")
_MAP = {c: 0xFDD0 + c for c in range(32) if c not in (9, 10, 13)}
_UNMAP = {v: k for k, v in _MAP.items()}


class XmlEvent(NamedTuple):
    """One exported event: its fields, where it sits, and its logged RenderingInfo."""

    fields: EventFields
    position: RecordPosition
    message: str | None
    culture: str | None


class _Piece(NamedTuple):
    text: str
    offset: int  # byte offset of text[0] in the file
    line: int  # line of text[0], 1-based
    candidate: bool  # text starts with "<Event"


def _local(tag: object) -> str:
    return str(tag).rsplit("}", 1)[-1]


def rendering_info(element: etree._Element) -> tuple[str | None, str | None]:
    """The logged (Message, Culture) of an ``<Event>``'s RenderingInfo, if it has one."""
    for part in element:
        if isinstance(part.tag, str) and _local(part.tag) == "RenderingInfo":
            message = next((c.text or "" for c in part if _local(c.tag) == "Message"), None)
            return message, part.get("Culture")
    return None, None


def _byte_length(text: str, codec: str) -> int:
    if text.isascii():
        return len(text) * (2 if codec.startswith("utf-16") else 1)
    return len(text.encode(codec, "replace"))


class _Splitter:
    """Cut decoded text into pieces, a new one at each ``<Event``; drop XML declarations,
    refuse DTDs, check the first element. Comments, CDATA and PIs are passed on unexamined."""

    def __init__(self, codec: str, offset: int) -> None:
        self.codec, self.offset, self.line = codec, offset, 1
        self.buf, self.pos, self.scan = "", 0, 0  # scan: where to look for the next mark
        self.prolog, self.until, self.candidate = True, "", False
        self.out: list[_Piece] = []
        self.refused: tuple[str, int | None] | None = None

    def push(self, text: str, final: bool) -> list[_Piece]:
        """The pieces complete so far (a partial mark is kept for the next push)."""
        self.buf, self.scan = self.buf[self.pos :] + text, max(0, self.scan - self.pos)
        self.pos, self.out = 0, []
        while self.refused is None and self._step(final):
            pass
        return self.out

    def _step(self, final: bool) -> bool:
        buf, scan = self.buf, self.scan
        if self.until:  # inside a comment, CDATA section or PI
            end = buf.find(self.until, scan)
            if end >= 0:
                self.scan, self.until = end + len(self.until), ""
                return True
            self.scan = len(buf) if final else max(scan, len(buf) - len(self.until) + 1)
            self._emit(self.scan)
            return False
        if self.prolog:
            start = buf.find("<", scan)
            if buf[scan : start if start >= 0 else None].strip(" \t\r\n\ufeff"):
                return self._refuse("XML but not an event export: text before the first element")
        else:
            found = _MARK.search(buf, scan)
            start = found.start() if found else -1
        if start < 0 or (len(buf) - start < 4096 and not final):  # keep back partial marks
            tail = max(scan, self.pos, len(buf) - 16)
            cut = max(buf.rfind("<", tail), buf.rfind("&", tail)) if start < 0 else start
            self.scan = len(buf) if final or cut < 0 else cut
            self._emit(self.scan)
            if final and self.prolog:
                self._refuse("XML export holds no events: no element found", None)
            return False
        return self._mark(buf, start)

    def _mark(self, buf: str, start: int) -> bool:
        head = buf[start : start + 10]
        self.scan = start + 2
        if head.startswith(("<!DOCTYPE", "<!ENTITY")):
            self._emit(start)
            return self._refuse(DTD_REFUSED, self.offset)
        if head.startswith("<?xml") and head[5:6] in (" ", "\t", "\r", "\n", "?"):
            end = buf.find("?>", start, start + 4096)
            if end >= 0:  # the declaration goes: the synthetic root comes before it
                self._emit(start)
                self._emit(end + 2, drop=True)
                self.scan = end + 2
            return True
        for opener, closer in (("<!--", "-->"), ("<![CDATA[", "]]>"), ("<?", "?>")):
            if head.startswith(opener):
                self.until = closer
                return True
        if self.prolog:
            name = _NAME.match(buf, start)
            if name is None:
                return self._refuse("XML but not an event export: no root element")
            if _local(name[1].replace(":", "}")) not in ("Event", "Events"):
                return self._refuse(f"XML but not an event export: root element <{name[1]}>")
            self.prolog, self.scan = False, start
        elif head.startswith("<Event"):
            self._emit(start)
            self.candidate = True
        return True

    def _emit(self, end: int, *, drop: bool = False) -> None:
        if end <= self.pos:
            return
        text = self.buf[self.pos : end]
        if not drop:
            self.out.append(_Piece(text, self.offset, self.line, self.candidate))
        self.offset += _byte_length(text, self.codec)
        self.line += text.count("\n")
        self.pos, self.candidate = end, False

    def _refuse(self, reason: str, offset: int | None = 0) -> bool:
        self.refused = (reason, offset)
        return False


class _ExportReader:
    """Feed pieces to a pull parser (a fresh one after malformed XML); finished top-level
    events collect in ``out``."""

    def __init__(self, report: FileReport, codec: str) -> None:
        self.report, self.codec = report, codec
        self.out: list[XmlEvent] = []
        self.replay: list[_Piece] = []  # pieces since an "<Event" the parser has not started
        self.replayed = self.wrapped = self.dirty = self.piece_mapped = False
        self.ordinal = self.rendered = 0
        self.parser: etree.XMLPullParser | None = self._start(1)

    def _start(self, line: int) -> etree.XMLPullParser:
        """A fresh parser inside the synthetic root (and ``<Events>`` if we were in one)."""
        self.parser = etree.XMLPullParser(("start", "end"), tag=_TAGS, **PARSER_OPTIONS)
        prefix = "<root><Events>" if self.wrapped else "<root>"
        self.parser.feed(prefix.encode())
        self.line, self.pending = line, 0
        self.record: etree._Element | None = None
        self.record_offset: int | None = None
        self.candidate: int | None = None  # offset of the last "<Event" not yet started
        return self.parser

    def feed(self, piece: _Piece) -> None:
        if piece.candidate and self.parser is not None and self.candidate is not None:
            self._cut()
        if piece.candidate:
            self.replay, self.replayed = [piece], False
        elif self.replay:
            self.replay.append(piece)
        parser = self.parser
        if parser is None:
            if not piece.candidate:
                return  # skipping damaged text up to the next "<Event"
            parser = self._start(piece.line)
        self._feed(parser, piece)

    def _feed(self, parser: etree.XMLPullParser, piece: _Piece) -> None:
        if piece.candidate:
            self.candidate = piece.offset
        try:
            parser.feed(self._prepare(piece.text))
        except etree.XMLSyntaxError as exc:
            self._drain(parser)
            line = self.line + exc.position[0] - 1
            message = f"malformed XML at line {line}: {_POSITION.sub('', str(exc.msg))}"
            at = self.record_offset if self.record is not None else None  # the broken event
            self.report.error(message, offset=piece.offset if at is None else at)
            return self._restart()
        self.pending += len(piece.text)
        self._drain(parser)
        if self.candidate is None:
            self.replay = []
        if self.pending > MAX_EVENT_CHARS:
            self.report.error(_TOO_LONG, offset=piece.offset)
            self.replay = []
            self._restart()

    def _cut(self) -> None:
        """The parser never started the last ``<Event``: the text before it is broken."""
        record = self.record is not None
        where = self.record_offset if record else self.candidate
        self.report.error(_CUT if record else "malformed XML before an <Event>", offset=where)
        self._restart()

    def _restart(self) -> None:
        """Drop a failed parser; read the last ``<Event`` it never started again, once."""
        self.parser = None
        if self.replay and self.candidate == self.replay[0].offset and not self.replayed:
            self.replayed, pieces = True, list(self.replay)
            fresh = self._start(pieces[0].line)
            for again in pieces:
                if self.parser is fresh:
                    self._feed(fresh, again)
        else:
            self.replay = []

    def _prepare(self, text: str) -> bytes:
        """UTF-8 for the parser, C0 controls (raw or as references) mapped to U+FDD0.."""
        mapped = text.translate(_MAP) if _CONTROL.search(text) else text
        mapped = _CHARREF.sub(_map_charref, mapped) if "&#" in mapped else mapped
        self.piece_mapped = mapped is not text and mapped != text
        self.dirty = self.dirty or self.piece_mapped  # the open event may need restoring
        return mapped.encode("utf-8", "replace")

    def _drain(self, parser: etree.XMLPullParser) -> None:
        for action, element in parser.read_events():
            if not isinstance(element, etree._Element):
                continue
            above = [_local(a.tag) for a in element.iterancestors()]
            top = above in (["root"], ["Events", "root"])  # not nested in an event or other
            if action == "start" and self.record is None and top:
                if _local(element.tag) == "Events":
                    self.wrapped = True
                else:
                    self.record, self.record_offset = element, self.candidate
                    self.candidate = None
            elif action == "end" and element is self.record:
                self.record, self.pending = None, 0
                self.out.append(self._event(element, self.record_offset, self.dirty))
                self.dirty = self.piece_mapped
                _discard(element)
            elif action == "end" and self.record is None and _local(element.tag) == "Events":
                self.wrapped = False
                _discard(element)

    def _event(self, element: etree._Element, offset: int | None, dirty: bool) -> XmlEvent:
        fields = fields_from_element(element)
        message, culture = rendering_info(element)
        if dirty:
            fields = _restore(fields)
            message = None if message is None else message.translate(_UNMAP)
        self.ordinal += 1
        self.rendered += message is not None or culture is not None
        # An export has no record header: number events by position, so a filtered export's
        # jumping EventRecordIDs are labelled as such rather than counted as missing records.
        return XmlEvent(fields, RecordPosition(self.ordinal, None, None, offset), message, culture)

    def finish(self) -> None:
        if self.parser is not None and self.candidate is not None:
            self._cut()
        parser, self.parser = self.parser, None
        if parser is not None and self.record is not None:
            reason = "the export ends inside an <Event> (truncated): that event is lost"
            self.report.error(reason, offset=self.record_offset)
        elif parser is not None and self.wrapped:
            self.report.error("the export ends before </Events> (truncated?)")
        if self.rendered:
            self.report.notes.append(f"{self.rendered} events carry RenderingInfo (logged text)")


def _discard(element: etree._Element) -> None:
    """Free a finished element and everything before it: the tree stays tiny."""
    element.clear()
    parent = element.getparent()
    while parent is not None and element.getprevious() is not None:
        del parent[0]


def _map_charref(match: re.Match[str]) -> str:
    value = int(match[1], 16) if match[1] else int(match[2])
    return chr(_MAP[value]) if value in _MAP else match[0]


def _restore(fields: EventFields) -> EventFields:
    """Undo the control-character mapping in every text of the fields."""
    data = [(n if n is None else n.translate(_UNMAP), v.translate(_UNMAP)) for n, v in fields.data]
    texts = (v.translate(_UNMAP) if isinstance(v, str) else v for v in fields)
    return EventFields._make(texts)._replace(data=data)


def iter_xml_events(data: bytes | mmap.mmap, *, report: FileReport) -> Iterator[XmlEvent]:
    """Every top-level event of an XML export, in file order; problems go to ``report``.

    The lower-level API of :func:`read_xml_export`; it also keeps each logged message.
    """
    try:
        codec, bom = detect_encoding(bytes(data[:4096]))
        splitter, reader = _Splitter(codec, bom), _ExportReader(report, codec)
        decoder = codecs.getincrementaldecoder(codec)("strict")
        for start in range(bom, max(len(data), bom + 1), BLOCK_BYTES):
            final = start + BLOCK_BYTES >= len(data)
            raw, state = bytes(data[start : start + BLOCK_BYTES]), decoder.getstate()
            try:
                text = decoder.decode(raw, final)
            except UnicodeDecodeError as exc:  # again leniently; say where, and go on
                decoder.setstate(state)
                decoder.errors = "replace"
                text, decoder.errors = decoder.decode(raw, final), "strict"
                where = start - len(state[0]) + exc.start
                report.error(f"bytes not valid {codec} replaced by U+FFFD", offset=where)
            for piece in splitter.push(text, final):
                check_budget()
                reader.feed(piece)
                events, reader.out = reader.out, []
                yield from events
            if splitter.refused is not None:
                report.error(splitter.refused[0], offset=splitter.refused[1])
                reader.parser = None
                break
        reader.finish()
        yield from reader.out
    except Exception as exc:  # a reader bug must not end the scan: record it
        report.error(f"internal error while reading XML: {type(exc).__name__}: {exc}")


def read_xml_export(
    data: bytes | mmap.mmap,
    *,
    source: str,
    report: FileReport,
    host_map: HostMap | None = None,
    batch_size: int = 10_000,
) -> Iterator[pd.DataFrame]:
    """Typed record batches of a Windows event-log XML export (never raises for bad input).

    Accepts wevtutil ``/f:xml`` output (no root element), Event Viewer "Save as XML"
    (``<Events>``) and concatenated ``ToXml()`` output; UTF-8/16 with or without BOM.
    """
    batch = RecordBatch()
    for event in iter_xml_events(data, report=report):
        batch.add_fields(event.fields, event.position, (event.message, event.culture))
        if len(batch) >= batch_size:
            yield batch.frame(source_file=source, source_format="xml", host_map=host_map)
            batch.clear()
    if len(batch):
        yield batch.frame(source_file=source, source_format="xml", host_map=host_map)
