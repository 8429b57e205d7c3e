"""An independent, plain-Python Sigma evaluator: the reference the engine is checked against.

Written from the Sigma specification, without the engine and without pySigma: it reads the
rule YAML with PyYAML, parses the condition itself and evaluates one record (a dict) at a time
with Python's ``re``, ``ipaddress`` and string methods. Slow and simple on purpose.

The field policy it implements is the one evtxscan documents: ``EventID`` and ``Provider_Name``
are System fields; other System names (``Channel``, ``Level``, ...) are the event's data item of
that name when it has one, else the System field; any other name is a data item, matched with
case and spaces ignored, by full name or UserData leaf name; ``Data`` also means the unnamed
values. A log source's service adds its channel (System field); ``null`` is absent or empty;
keywords are case-insensitive substrings of any data value or the logged message.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

import pandas as pd

#: Sigma service -> Windows channels (as pySigma's Windows pipeline documents them).
SERVICE_CHANNELS = {
    "security": ["Security"],
    "system": ["System"],
    "application": ["Application"],
    "sysmon": ["Microsoft-Windows-Sysmon/Operational"],
    "powershell": ["Microsoft-Windows-PowerShell/Operational", "PowerShellCore/Operational"],
    "taskscheduler": ["Microsoft-Windows-TaskScheduler/Operational"],
}
SYSTEM_NAMES = {
    "eventid": "event_id",
    "provider_name": "provider",
    "channel": "channel",
    "computer": "computer",
    "level": "level",
    "task": "task",
    "opcode": "opcode",
    "keywords": "keywords",
    "version": "version",
    "eventrecordid": "event_record_id",
    "binary": "binary",
}
ALWAYS_SYSTEM = {"eventid", "provider_name"}


def norm(name: str) -> str:
    return name.replace(" ", "").lower()


def record_dicts(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The frame's rows as plain dicts (data as a list of (name, value))."""
    columns = [*SYSTEM_NAMES.values(), "message_logged"]
    out = []
    for row in frame[[*dict.fromkeys(columns), "data"]].itertuples(index=False):
        record = dict(zip(dict.fromkeys(columns), row[:-1], strict=True))
        record["data"] = [(item["name"], item["value"]) for item in (row[-1] or [])]
        channel = system_text(record, "channel")
        record["_channel"] = channel[0].lower() if channel else None
        record["_values"] = {}
        out.append(record)
    return out


# --- field values ------------------------------------------------------------------------


def system_text(record: dict[str, Any], key: str) -> list[str]:
    value = record[SYSTEM_NAMES[key]]
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return []
    if key == "keywords":
        return [hex(int(value))]
    if not isinstance(value, str):
        return [str(int(value))]
    return [value]


def data_values(record: dict[str, Any], key: str) -> list[str]:
    found = []
    for name, value in record["data"]:
        names = ("data",) if name is None else (norm(name), norm(name.split(".")[-1]))
        if key in names:
            found.append(value)
    return found


def values_of(record: dict[str, Any], field: str) -> list[str]:
    key = norm(field)
    if key in SYSTEM_NAMES and key in ALWAYS_SYSTEM:
        return system_text(record, key)
    own = data_values(record, key)
    if key in SYSTEM_NAMES and not own:
        return system_text(record, key)
    return own


# --- values ------------------------------------------------------------------------------


def wildcard_regex(text: str) -> str:
    """A Sigma string with ``*``/``?`` wildcards and ``\\`` escapes as a Python regex."""
    out, i = [], 0
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text) and text[i + 1] in "*?\\":
            out.append(re.escape(text[i + 1]))
            i += 2
            continue
        out.append(".*" if char == "*" else "." if char == "?" else re.escape(char))
        i += 1
    return "".join(out)


def value_test(value: Any, modifiers: list[str]) -> Any:
    """A predicate on one text value, from a rule value and its modifiers."""
    if "re" in modifiers:
        flags = (re.I if "i" in modifiers else 0) | (re.M if "m" in modifiers else 0)
        flags |= re.S if "s" in modifiers else 0
        pattern = re.compile(str(value), flags)
        return lambda text: pattern.search(text) is not None
    if "cidr" in modifiers:
        network = ipaddress.ip_network(str(value))

        def inside(text: str) -> bool:
            try:
                return ipaddress.ip_address(text.strip()) in network
            except ValueError:
                return False

        return inside
    if isinstance(value, bool):
        value = "true" if value else "false"
    text = str(value)
    body = wildcard_regex(text)
    if "contains" in modifiers:
        body = ".*" + body + ".*"
    elif "startswith" in modifiers:
        body = body + ".*"
    elif "endswith" in modifiers:
        body = ".*" + body
    compiled = re.compile(body, re.I | re.S)
    return lambda t: compiled.fullmatch(t) is not None


class Item:
    """One ``Field|mods: value(s)`` item of a selection, prepared once."""

    def __init__(self, key: str, values: Any) -> None:
        self.field, *modifiers = key.split("|")
        listed = values if isinstance(values, list) else [values]
        self.require_all = "all" in modifiers
        # None stands for Sigma's null (absent or empty); other values become predicates.
        self.tests = [None if v is None else value_test(v, modifiers) for v in listed]
        # Plain values without wildcards: a case-insensitive set lookup (same meaning).
        plain = all(
            isinstance(v, int | str) and not isinstance(v, bool) and not set(str(v)) & set("*?\\")
            for v in listed
        )
        self.equal = {str(v).lower() for v in listed} if plain and not modifiers else None

    def matches(self, record: dict[str, Any]) -> bool:
        cache = record["_values"]
        texts = cache.get(self.field)
        if texts is None:
            texts = cache[self.field] = values_of(record, self.field)
        if self.equal is not None:
            return any(t.lower() in self.equal for t in texts)
        results = (
            not any(t != "" for t in texts) if test is None else any(test(t) for t in texts)
            for test in self.tests
        )
        return all(results) if self.require_all else any(results)


class Selection:
    """A named detection: a map (all items), a list of maps (any), or keywords (any)."""

    def __init__(self, definition: Any) -> None:
        self.alternatives: list[list[Item]] = []
        self.keywords: list[Any] = []
        if isinstance(definition, dict):
            self.alternatives = [[Item(k, v) for k, v in definition.items()]]
        elif isinstance(definition, list) and all(isinstance(d, dict) for d in definition):
            self.alternatives = [[Item(k, v) for k, v in d.items()] for d in definition]
        else:
            listed = definition if isinstance(definition, list) else [definition]
            self.keywords = [
                re.compile(".*" + wildcard_regex(str(k)) + ".*", re.I | re.S) for k in listed
            ]

    def matches(self, record: dict[str, Any]) -> bool:
        if self.keywords:
            texts = [v for _, v in record["data"]]
            if record.get("message_logged") not in (None, pd.NA):
                texts.append(str(record["message_logged"]))
            return any(k.fullmatch(t) for k in self.keywords for t in texts)
        for items in self.alternatives:
            for item in items:
                if not item.matches(record):
                    break
            else:
                return True
        return False


# --- condition ---------------------------------------------------------------------------

TOKEN = re.compile(r"\(|\)|[A-Za-z0-9_*\-]+")


class Condition:
    """A recursive-descent parser of a Sigma condition string, evaluated per record."""

    def __init__(self, text: str, selections: dict[str, Any]) -> None:
        self.tokens = TOKEN.findall(text)
        self.selections = {name: Selection(d) for name, d in selections.items()}
        self.pos = 0
        self.tree = self.parse_or()
        assert self.pos == len(self.tokens), f"trailing tokens in {text!r}"

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str:
        self.pos += 1
        return self.tokens[self.pos - 1]

    def parse_or(self) -> Any:
        node = self.parse_and()
        while self.peek() == "or":
            self.take()
            node = ("or", node, self.parse_and())
        return node

    def parse_and(self) -> Any:
        node = self.parse_not()
        while self.peek() == "and":
            self.take()
            node = ("and", node, self.parse_not())
        return node

    def parse_not(self) -> Any:
        if self.peek() == "not":
            self.take()
            return ("not", self.parse_not())
        return self.parse_atom()

    def parse_atom(self) -> Any:
        token = self.take()
        if token == "(":
            node = self.parse_or()
            assert self.take() == ")"
            return node
        if token in ("1", "any", "all") and self.peek() == "of":
            self.take()
            pattern = self.take()
            names = [n for n in self.selections if not n.startswith("_")]
            if pattern != "them":
                regex = re.compile(pattern.replace("*", ".*"))
                names = [n for n in names if regex.fullmatch(n)]
            return ("all" if token == "all" else "any", names)
        return ("sel", token)

    def compiled(self, node: Any = None) -> Any:
        """The condition as nested closures: record -> bool."""
        node = self.tree if node is None else node
        kind = node[0]
        if kind == "sel":
            return self.selections[node[1]].matches
        if kind == "not":
            inner = self.compiled(node[1])
            return lambda r: not inner(r)
        if kind in ("and", "or"):
            left, right = self.compiled(node[1]), self.compiled(node[2])
            if kind == "and":
                return lambda r: left(r) and right(r)
            return lambda r: left(r) or right(r)
        tests = [self.selections[n].matches for n in node[1]]
        if kind == "all":
            return lambda r: all(t(r) for t in tests)
        return lambda r: any(t(r) for t in tests)


class ReferenceRule:
    """One detection rule from its YAML (a dict), evaluated per record."""

    def __init__(self, rule: dict[str, Any]) -> None:
        detection = dict(rule["detection"])
        condition = detection.pop("condition")
        conditions = condition if isinstance(condition, list) else [condition]
        self.conditions = [Condition(c, detection).compiled() for c in conditions]
        service = rule["logsource"].get("service")
        self.channels = [c.lower() for c in SERVICE_CHANNELS[service]] if service else None

    def matches(self, record: dict[str, Any]) -> bool:
        # The log source's channel: always the System field.
        if self.channels is not None and record["_channel"] not in self.channels:
            return False
        return any(c(record) for c in self.conditions)


def channel_index(records: list[dict[str, Any]]) -> dict[Any, list[int]]:
    """Record positions by (case-folded) channel."""
    by_channel: dict[Any, list[int]] = {}
    for i, record in enumerate(records):
        by_channel.setdefault(record["_channel"], []).append(i)
    return by_channel


def reference_matches(
    rule: ReferenceRule, records: list[dict[str, Any]], by_channel: dict[Any, list[int]]
) -> set[int]:
    """Positions of the records the rule matches (one record at a time).

    Records outside the rule's log source channels are skipped up front: that test is the
    first one :meth:`ReferenceRule.matches` makes anyway.
    """
    if rule.channels is None:
        candidates: Any = range(len(records))
    else:
        candidates = [i for c in rule.channels for i in by_channel.get(c, [])]
    return {i for i in candidates if rule.matches(records[i])}
