"""Host identity: one name per machine, however its logs spell it.

By default a host is the logged Computer name case-folded with its DNS suffix stripped, so
``EXCH01``, ``Exch01`` and ``exch01.corp.example.com`` are one host. Suffix stripping can
merge different machines (``web01.eu`` and ``web01.us``), so a :class:`HostMap` can override
it with an explicit mapping file or a regex on the collection path.
"""

from __future__ import annotations

import csv
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from evtxscan.records.categories import from_codes

UNKNOWN_HOST = "unknown"


def default_host(computer: str | None) -> str:
    """Case-fold and strip the DNS suffix; IP addresses, and names whose first label is
    empty, stay whole."""
    if computer is None:
        return UNKNOWN_HOST
    name = computer.strip().rstrip(".").casefold()
    if not name:
        return UNKNOWN_HOST
    try:
        ipaddress.ip_address(name)
        return name
    except ValueError:
        pass
    if name.startswith("\\\\"):
        name = name[2:]
    # A name whose first label is empty (".\\x", "..\\x") is not a DNS name: kept whole, so
    # two such machines stay two hosts (file names are made safe when written).
    return name.split(".", 1)[0] or name


@dataclass(frozen=True)
class HostMap:
    """How Computer names (and collection paths) become host identities.

    ``names`` maps a Computer name (matched case-insensitively, as logged or as its
    suffix-stripped form) to a host. ``path_pattern`` is a regex with a named group ``host``
    searched in the source path; when it matches, it names the host of every record in
    that file, so use it only where each collected folder is one machine (never for
    forwarded-events logs, which hold many hosts).
    """

    names: Mapping[str, str] = field(default_factory=dict)
    path_pattern: re.Pattern[str] | None = None

    def __post_init__(self) -> None:
        if self.path_pattern is not None and "host" not in self.path_pattern.groupindex:
            raise ValueError("host_map path pattern needs a named group (?P<host>...)")
        folded = {k.strip().casefold(): v.strip() for k, v in self.names.items()}
        object.__setattr__(self, "names", folded)

    @classmethod
    def from_file(cls, path: str | Path) -> HostMap:
        """Read a two-column CSV (``computer,host``; a header row is allowed)."""
        names: dict[str, str] = {}
        with open(path, newline="", encoding="utf-8-sig") as handle:
            for lineno, row in enumerate(csv.reader(handle), start=1):
                if not row or row[0].startswith("#"):
                    continue
                if len(row) < 2:
                    raise ValueError(f"{path}:{lineno}: expected 'computer,host', got {row!r}")
                if lineno == 1 and row[0].strip().casefold() == "computer":
                    continue
                names[row[0]] = row[1]
        return cls(names=names)

    @classmethod
    def from_option(cls, value: str | Path | Mapping[str, str] | HostMap | None) -> HostMap:
        """Accept a HostMap, a mapping, a CSV path, or ``regex:<pattern>`` for paths."""
        if value is None:
            return cls()
        if isinstance(value, HostMap):
            return value
        if isinstance(value, Mapping):
            return cls(names=dict(value))
        text = str(value)
        if text.startswith("regex:"):
            return cls(path_pattern=re.compile(text[len("regex:") :]))
        return cls.from_file(text)

    def host_for(self, computer: str | None, source_path: str = "") -> str:
        """The host of one record."""
        if computer is not None and self.names:
            key = computer.strip().casefold()
            mapped = self.names.get(key) or self.names.get(default_host(computer))
            if mapped:
                return mapped
        if self.path_pattern is not None and source_path:
            match = self.path_pattern.search(source_path)
            if match and match.group("host"):
                return default_host(match.group("host"))
        return default_host(computer)

    def hosts_for(self, computers: pd.Categorical, source_path: str) -> pd.Categorical:
        """Vectorized: map each distinct Computer name once, then broadcast."""
        lookup = [self.host_for(c, source_path) for c in computers.categories]
        lookup.append(self.host_for(None, source_path))  # code -1: no Computer logged
        names = sorted(set(lookup))
        code_of = {name: code for code, name in enumerate(names)}
        codes = np.array([code_of[host] for host in lookup], dtype=np.int64)
        return from_codes(codes[computers.codes], tuple(names))
