"""Sigma field names -> where the values are in our records.

Sigma rules for Windows name fields as Windows writes them: ``EventID``, ``Channel``,
``Provider_Name``, ``Computer`` ... are System fields (our record columns); everything else is
an EventData/UserData item, matched by name with case and spaces ignored (a rule's
``SourceName`` matches ``<Data Name="Source Name">``), and UserData by its leaf name
(``SubjectUserName`` matches ``LogFileCleared.SubjectUserName``). ``Data`` also means the
unnamed, positional ``<Data>`` values of classic providers.

``EventID`` and ``Provider_Name`` always mean the System fields (every event has them). The
other System names mean the event's own data item when it has one, else the System field:
event 104 ("log cleared") carries the cleared log's name as UserData ``Channel``, and SigmaHQ's
rule for it tests that one. Conditions a log source adds (pySigma's pipelines) always test the
System fields.
"""

from __future__ import annotations

from evtxscan.signatures.sigma.expression import FieldRef, Scope, SystemKind

#: Normalized Sigma name -> (record column, comparison kind).
SYSTEM_FIELDS: dict[str, tuple[str, SystemKind]] = {
    "eventid": ("event_id", SystemKind.INTEGER),
    "provider_name": ("provider", SystemKind.TEXT),
    "channel": ("channel", SystemKind.TEXT),
    "computer": ("computer", SystemKind.TEXT),
    "level": ("level", SystemKind.INTEGER),
    "task": ("task", SystemKind.INTEGER),
    "opcode": ("opcode", SystemKind.INTEGER),
    "keywords": ("keywords", SystemKind.HEX),
    "version": ("version", SystemKind.INTEGER),
    "qualifiers": ("qualifiers", SystemKind.INTEGER),
    "eventrecordid": ("event_record_id", SystemKind.INTEGER),
    "provider_guid": ("provider_guid", SystemKind.TEXT),
    "provider_eventsourcename": ("event_source_name", SystemKind.TEXT),
    "eventsourcename": ("event_source_name", SystemKind.TEXT),
    "execution_processid": ("process_id", SystemKind.INTEGER),
    "execution_threadid": ("thread_id", SystemKind.INTEGER),
    "security_userid": ("user_sid", SystemKind.TEXT),
    "binary": ("binary", SystemKind.TEXT),
}

#: Names that never mean a data item.
ALWAYS_SYSTEM = frozenset({"eventid", "provider_name"})

#: The name that also selects unnamed ``<Data>`` items.
POSITIONAL_DATA = "data"

#: The System columns the prefilter reads, by normalized Sigma name.
PREFILTER_FIELDS = {"channel": "channels", "provider_name": "providers", "eventid": "event_ids"}


def normalize(name: str) -> str:
    """The comparison key of a field name: case-folded, without spaces."""
    return name.replace(" ", "").casefold()


def data_keys(name: str | None) -> tuple[str, ...]:
    """The keys a data item answers to: its full name and its UserData leaf name."""
    if name is None:
        return (POSITIONAL_DATA,)
    full = normalize(name)
    leaf = normalize(name.rsplit(".", 1)[-1])
    return (full,) if leaf == full else (full, leaf)


def resolve(name: str, *, from_logsource: bool = False) -> FieldRef:
    """Where a rule's field lives; ``from_logsource`` for conditions a pipeline added."""
    key = normalize(name)
    system = SYSTEM_FIELDS.get(key)
    if system is None:
        return FieldRef(name=name, key=key, scope=Scope.DATA)
    column, kind = system
    scope = Scope.SYSTEM if from_logsource or key in ALWAYS_SYSTEM else Scope.DATA_OR_SYSTEM
    return FieldRef(name=name, key=key, scope=scope, column=column, kind=kind)
