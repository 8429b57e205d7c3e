"""Read Event Viewer text/CSV exports and dumpel output as record batches (best effort).

These are lossy: no record numbers, qualifiers, binary data or SIDs, local times without a
zone, and (Event Viewer text) the formatted description instead of the insertion strings.
Each file gets an integrity note saying what is missing. Local times are converted to UTC
with the ``tz`` option (default UTC). The description is the logged message
(``message_logged``); when a message catalog template matches it, the insertion strings are
recovered from it (see :mod:`evtxscan.sources.text.inserts`) so that signatures and rendering
work as for binary logs. dumpel's insertion strings are kept as unnamed positional data.
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator

import pandas as pd

from evtxscan.messages.catalog import MessageCatalog
from evtxscan.records.batch import RecordBatch
from evtxscan.records.hosts import HostMap
from evtxscan.records.schema import DataPairs, EventFields, RecordPosition
from evtxscan.sources.integrity import FileReport
from evtxscan.sources.text.assemble import Assembler
from evtxscan.sources.text.fields import RawEvent, event_from_fields
from evtxscan.sources.text.inserts import InsertRecovery
from evtxscan.sources.text.layout import DUMPEL, Layout, delimiter_name
from evtxscan.sources.text.lines import iter_lines
from evtxscan.sources.text.times import DateOrder, Stamp, parse_stamp, utc_texts

SOURCE_FORMAT = "text"
#: Records held back while the file's dates do not yet tell day from month.
DECIDE_AFTER = 200_000

Converted = tuple[EventFields, RecordPosition, str | None]


class _Converter:
    """Raw events -> normalized fields, with the file's date order and the catalog."""

    def __init__(self, report: FileReport, tz: str, recovery: InsertRecovery) -> None:
        self.report, self.tz, self.recovery = report, tz, recovery
        self.order = DateOrder()
        self.minutes = self.shifted = self.messages = self.users_dropped = 0
        self.named_categories = self.sids = 0

    def convert(self, events: list[RawEvent], layout: Layout) -> list[Converted]:
        order = self.order.order or "MDY"
        stamps: list[Stamp | None] = []
        for event in events:
            stamp = parse_stamp(event.date, event.time, order)
            if isinstance(stamp, str):
                self.report.error(f"line {event.line}: {stamp}: time unknown", offset=event.offset)
                stamps.append(None)
            else:
                self.minutes += not stamp.seconds
                stamps.append(stamp)
        times, shifted = utc_texts(stamps, self.tz)
        self.shifted += shifted
        return [self._one(e, t, layout) for e, t in zip(events, times, strict=True)]

    def _one(self, event: RawEvent, time: str | None, layout: Layout) -> Converted:
        for problem in event.problems:
            self.report.error(f"line {event.line}: {problem}", offset=event.offset)
        self.named_categories += event.category_named
        self.sids += event.user_sid is not None
        message = event.description or None
        strings: list[str] | None
        if event.strings is not None:
            strings, message = self._dumpel_tail(event, layout)
        elif message is not None:
            strings = self.recovery.recover(event.source, event.event_id, event.level, message)
        else:
            strings = None
        self.messages += message is not None
        data: DataPairs = [(None, value) for value in strings or []]
        if event.user is not None:
            if strings is None and self.recovery.uses_inserts(
                event.source, event.event_id, event.level
            ):
                self.users_dropped += 1  # the renderer would read it as insertion string %1
            else:
                data.append(("User", event.user))
        fields = EventFields(
            provider=event.source,
            provider_guid=None,
            event_source_name=event.source,
            event_id=event.event_id,
            qualifiers=event.qualifiers,
            version=None,
            level=event.level,
            task=event.task,
            opcode=None,
            keywords=event.keywords,
            time_created=time,
            event_record_id=event.record_id,
            process_id=None,
            thread_id=None,
            channel=event.channel,
            computer=event.computer,
            user_sid=event.user_sid,
            data=data,
            binary=None,
        )
        return fields, RecordPosition(None, None, None, event.offset), message

    def _dumpel_tail(self, event: RawEvent, layout: Layout) -> tuple[list[str], str | None]:
        """(insertion strings, message) of dumpel's fields after the computer: strings
        separated by the field delimiter, by tabs (``-t``) or by spaces, or a message."""
        tail = event.strings or []
        patterns = self.recovery.patterns(event.source, event.event_id or 0, event.level)
        count = max((p.inserts for p in patterns), default=None) if patterns else None
        if tail and not tail[-1] and (len(tail) == 1 or len(tail) - 1 == count):
            tail = tail[:-1]  # a delimiter ending the line
        if count is not None and len(tail) == count:
            return tail, None
        if len(tail) == 1 and "\t" in tail[0]:
            parts = tail[0].split("\t")
            if count is None or len(parts) == count:
                return parts, None
        text = layout.delimiter.join(tail).strip()
        recovered = self.recovery.recover(event.source, event.event_id, event.level, text)
        if recovered is not None and text:
            return recovered, text
        if count and len(tail) == 1 and len(tail[0].split(" ")) == count:
            return tail[0].split(" "), None
        return tail, None

    def notes(self, layout: Layout, records: int) -> list[str]:
        missing = []
        columns = layout.columns
        if "record_id" not in columns:
            missing.append("record numbers and EventRecordIDs")
        if "qualifiers" not in columns and "instance_id" not in columns:
            missing.append("qualifiers")
        missing.append("binary data")
        if not self.sids:
            missing.append("user SIDs (the user column holds names)")
        if "channel" not in columns:
            missing.append("the log name (channel)")
        resolution = "1-minute" if self.minutes else "1-second"
        missing.append(
            f"exact times (local wall-clock times without a zone, {resolution} resolution or "
            f"worse, converted to UTC as {self.tz}: tz option)"
        )
        if layout.name != DUMPEL or self.messages:
            missing.append(
                "insertion strings (only the formatted description; those of "
                f"{self.recovery.recovered} events inferred from it with the message catalogs)"
            )
        if layout.name == DUMPEL and self.messages < records:
            missing.append("the formatted messages (dumpel kept the insertion strings)")
        out = [
            f"lossy text export ({layout.name}, {delimiter_name(layout.delimiter)}): "
            f"missing {', '.join(missing)}"
        ]
        if self.shifted:
            out.append(f"{self.shifted} local times fell in a daylight-saving change ({self.tz})")
        if self.named_categories:
            out.append(f"{self.named_categories} category names lost (task only when numeric)")
        if self.users_dropped:
            out.append(
                f"{self.users_dropped} user names not kept as data: their events' insertion "
                "strings are unknown and the user would be read as the first one"
            )
        if records:
            out.append(f"{self.messages} of {records} events carry the logged description")
        return out


def _date_part(event: RawEvent) -> str:
    if event.time is not None:
        return event.date
    return (event.date.split() or [""])[0]


def _events(
    data: bytes | mmap.mmap, report: FileReport, assembler: Assembler
) -> Iterator[tuple[RawEvent, Layout]]:
    for record in assembler.records(iter_lines(data, report)):
        layout = assembler.layout
        assert layout is not None
        line = record.line
        yield event_from_fields(record.fields, layout, line.number, line.offset), layout


def iter_text_events(
    data: bytes | mmap.mmap,
    *,
    report: FileReport,
    tz: str = "UTC",
    catalog: MessageCatalog | None = None,
    chunk: int = 10_000,
) -> Iterator[list[Converted]]:
    """Lists of (fields, position, logged message) in file order; problems go to ``report``."""
    assembler = Assembler(report)
    converter = _Converter(report, tz, InsertRecovery(catalog))
    held: list[RawEvent] = []
    layout: Layout | None = None
    records = 0
    try:
        for event, layout in _events(data, report, assembler):
            records += 1
            order = converter.order
            if order.order is None:
                order.observe(_date_part(event), event.line)
                held.append(event)
                if order.evident or len(held) >= DECIDE_AFTER:
                    report.notes.append(order.settle())
            else:
                held.append(event)
            if order.order is not None and len(held) >= chunk:
                for start in range(0, len(held), chunk):
                    yield converter.convert(held[start : start + chunk], layout)
                held = []
        if held and layout is not None:
            if converter.order.order is None:
                report.notes.append(converter.order.settle())
            yield converter.convert(held, layout)
    except Exception as exc:  # a reader bug must not end the scan: record it
        report.error(f"internal error while reading text: {type(exc).__name__}: {exc}")
    assembler.finish()
    if layout is None and assembler.layout is not None:
        layout = assembler.layout
    if layout is not None:
        report.notes[:0] = converter.notes(layout, records)
    if assembler.continued:
        report.notes.append(f"{assembler.continued} unquoted line breaks kept in free text")
    if assembler.headers_again:
        report.notes.append(f"header row repeated {assembler.headers_again} time(s)")


def read_text_export(
    data: bytes | mmap.mmap,
    *,
    source: str,
    report: FileReport,
    host_map: HostMap | None = None,
    batch_size: int = 10_000,
    tz: str = "UTC",
    catalog: MessageCatalog | None = None,
) -> Iterator[pd.DataFrame]:
    """Typed record batches of an Event Viewer text/CSV export or dumpel output (never
    raises for bad input). ``tz``: the zone the file's local times are in (IANA name)."""
    batch = RecordBatch()
    for converted in iter_text_events(
        data, report=report, tz=tz, catalog=catalog, chunk=batch_size
    ):
        for fields, position, message in converted:
            batch.add_fields(fields, position, (message, None))
            if len(batch) >= batch_size:
                yield batch.frame(
                    source_file=source, source_format=SOURCE_FORMAT, host_map=host_map
                )
                batch.clear()
    if len(batch):
        yield batch.frame(source_file=source, source_format=SOURCE_FORMAT, host_map=host_map)
