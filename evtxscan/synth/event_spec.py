"""What the test writers write: one event's System values and its EventData, Binary or
UserData payload, validated on creation so a bad description fails where it is made."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime

from evtxscan.synth import binxml
from evtxscan.synth.binxml import DataValue, Sid, encode_value

_XML_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


def check_range(value: object, low: int, high: int, what: str, optional: bool = False) -> None:
    if optional and value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError(f"{what} must be an integer in {low}..{high}, got {value!r}")


def _check_text(value: object, what: str) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} must be a non-empty string, got {value!r}")


@dataclass(frozen=True)
class UserData:
    """A ``<UserData>`` payload: ``<name xmlns=...>`` with leaf ``(name, value)`` children.

    A child may itself be a ``UserData`` (nested element, usually without ``xmlns``).
    """

    name: str
    xmlns: str | None = None
    children: tuple[tuple[str, DataValue] | UserData, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _XML_NAME.match(self.name):
            raise ValueError(f"not a usable XML element name: {self.name!r}")
        if self.xmlns is not None and not isinstance(self.xmlns, str):
            raise ValueError(f"xmlns must be a string, got {self.xmlns!r}")
        object.__setattr__(self, "children", tuple(self.children))
        for child in self.children:
            if isinstance(child, UserData):
                continue
            if not isinstance(child, tuple) or len(child) != 2:
                raise ValueError(f"UserData child must be (name, value) or UserData: {child!r}")
            if not isinstance(child[0], str) or not _XML_NAME.match(child[0]):
                raise ValueError(f"not a usable XML element name: {child[0]!r}")
            encode_value(child[1])  # raises on unsupported types and ranges


@dataclass(frozen=True)
class EventSpec:
    """One event to write: its System values and EventData, Binary or UserData payload.

    ``data`` entries with name None become unnamed positional ``<Data>`` elements.
    ``event_record_id`` defaults to the record's header number.
    """

    provider: str
    event_id: int
    time: datetime
    computer: str = "HOST01"
    channel: str = "System"
    level: int = 4
    qualifiers: int | None = None
    version: int | None = None
    task: int = 0
    opcode: int | None = None
    keywords: int = 0x80000000000000
    event_record_id: int | None = None
    process_id: int | None = None
    thread_id: int | None = None
    user_sid: str | None = None
    provider_guid: str | None = None
    event_source_name: str | None = None
    data: tuple[tuple[str | None, DataValue], ...] = ()
    binary: bytes | None = None
    user_data: UserData | None = None

    def __post_init__(self) -> None:
        _check_text(self.provider, "provider")
        _check_text(self.computer, "computer")
        _check_text(self.channel, "channel")
        if not isinstance(self.time, datetime):
            raise ValueError(f"time must be a datetime, got {self.time!r}")
        binxml.filetime(self.time)  # raises before 1601
        check_range(self.event_id, 0, 0xFFFF, "event_id")
        check_range(self.qualifiers, 0, 0xFFFF, "qualifiers", optional=True)
        check_range(self.level, 0, 0xFF, "level")
        check_range(self.version, 0, 0xFF, "version", optional=True)
        check_range(self.task, 0, 0xFFFF, "task")
        check_range(self.opcode, 0, 0xFF, "opcode", optional=True)
        check_range(self.keywords, 0, 2**64 - 1, "keywords")
        check_range(self.event_record_id, 0, 2**64 - 1, "event_record_id", optional=True)
        check_range(self.process_id, 0, 2**32 - 1, "process_id", optional=True)
        check_range(self.thread_id, 0, 2**32 - 1, "thread_id", optional=True)
        if (self.process_id is None) != (self.thread_id is None):
            raise ValueError("process_id and thread_id must be given together")
        if self.user_sid is not None:
            Sid(self.user_sid)
        if self.provider_guid is not None:
            uuid.UUID(self.provider_guid)  # raises ValueError when malformed
        if self.event_source_name is not None:
            _check_text(self.event_source_name, "event_source_name")
        object.__setattr__(self, "data", tuple(self.data))
        for entry in self.data:
            if not isinstance(entry, tuple) or len(entry) != 2:
                raise ValueError(f"data entries must be (name, value) pairs: {entry!r}")
            if entry[0] is not None and (not isinstance(entry[0], str) or not entry[0]):
                raise ValueError(f"data name must be a non-empty string or None: {entry[0]!r}")
            encode_value(entry[1])
        if self.binary is not None and (
            not isinstance(self.binary, bytes) or len(self.binary) > 0xFFFF
        ):
            raise ValueError("binary must be bytes, at most 65535 of them")
        if self.user_data is not None:
            if not isinstance(self.user_data, UserData):
                raise ValueError("user_data must be a UserData")
            if self.data or self.binary is not None:
                raise ValueError("an event has either EventData (data/binary) or UserData")
