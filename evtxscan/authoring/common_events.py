"""Which (provider, event ID) pairs healthy Windows logs carry, so drafts can be sharpened.

A draft whose cited event is common in real logs (Service Control Manager 7000, DCOM
10010, ...) must not fire on the event ID alone: it then needs the article's quoted text as
a condition, or it is marked noisy. The pairs are data (``data/common_events.json``),
counted over a directory of real logs: ``python -m evtxscan.authoring.common_events DIR``.
Providers that log one event ID for many unrelated problems are common whatever the count.
"""

from __future__ import annotations

import functools
import json
import sys
from collections import Counter
from importlib import resources
from pathlib import Path

from evtxscan.authoring.sources import source_key
from evtxscan.messages.catalog import builtin_catalog
from evtxscan.messages.rules import template_rules

DATA_FILE = Path(__file__).parent / "data" / "common_events.json"
#: One event ID, many problems: the quoted text (service, program, class) tells them apart.
GENERIC_PROVIDERS = frozenset(
    source_key(name)
    for name in (
        "Service Control Manager",
        "DCOM",
        "Application Popup",
        "Application Error",
        "DrWatson",
        "EventLog",
        "Userenv",
        "Perflib",
        "PerfCtrs",
        "Security",
        "Microsoft-Windows-Security-Auditing",
    )
)


@functools.cache
def common_pairs() -> frozenset[tuple[str, int]]:
    """(source key, event ID) pairs seen in the real logs the data file was built from."""
    entry = resources.files("evtxscan.authoring") / "data" / "common_events.json"
    raw = json.loads(entry.read_text("utf-8")) if entry.is_file() else {}
    return frozenset(
        (str(provider), int(event_id))
        for provider, ids in raw.get("pairs", {}).items()
        for event_id in ids
    )


def is_common(provider: str, event_id: int) -> bool:
    """True when healthy logs often carry this event, so its ID alone is not a symptom.

    Providers that evtxscan matches as one (a message catalog's alias group, e.g. the disk
    drivers disk, atapi, aic78xx) count together.
    """
    group = builtin_catalog().provider(provider)
    names = [provider, *((group.name, *group.aliases) if group else ())]
    names += [n for n in (provider_of(provider), template_rules().alias(provider)) if n]
    keys = {source_key(name) for name in names}
    pairs = common_pairs()
    return any(key in GENERIC_PROVIDERS or (key, event_id) in pairs for key in keys)


def count_pairs(directory: str | Path) -> tuple[dict[str, list[int]], dict[str, str]]:
    """Every (provider, event ID) in the logs under ``directory``, by source key, and the
    provider each event source name logs under (``DCOM``: Microsoft-Windows-DistributedCOM)."""
    from evtxscan.scanning.api import read_records

    seen: set[tuple[str, int]] = set()
    providers: Counter[tuple[str, str]] = Counter()
    for batch in read_records(directory, include_recovered=False):
        named = zip(batch["provider"].tolist(), batch["event_source_name"].tolist(), strict=True)
        providers.update(
            (source_key(s), p)
            for p, s in named
            if isinstance(p, str) and isinstance(s, str) and source_key(s) != source_key(p)
        )
        for column in (batch["provider"], batch["event_source_name"]):
            ids = zip(column.tolist(), batch["event_id"].tolist(), strict=True)
            seen.update((source_key(p), int(i)) for p, i in ids if isinstance(p, str) and i == i)
    out: dict[str, set[int]] = {}
    for provider, event_id in seen:
        if provider:
            out.setdefault(provider, set()).add(event_id)
    logs_as: dict[str, str] = {}
    for (source, provider), _ in sorted(providers.items(), key=lambda kv: (-kv[1], kv[0])):
        logs_as.setdefault(source, provider)
    pairs = {provider: sorted(ids) for provider, ids in sorted(out.items())}
    return pairs, dict(sorted(logs_as.items()))


@functools.cache
def _logs_as() -> dict[str, str]:
    entry = resources.files("evtxscan.authoring") / "data" / "common_events.json"
    raw = json.loads(entry.read_text("utf-8")) if entry.is_file() else {}
    return {str(k): str(v) for k, v in raw.get("providers", {}).items()}


def provider_of(source: str) -> str | None:
    """The provider an event source name logs under in modern logs, when seen."""
    return _logs_as().get(source_key(source))


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m evtxscan.authoring.common_events LOG_DIRECTORY", file=sys.stderr)
        return 2
    pairs, providers = count_pairs(argv[0])
    body = {
        "about": "(provider source key, event IDs) seen in real public logs "
        "(shared/samples), and the provider each event source name logs under; rebuilt by "
        "python -m evtxscan.authoring.common_events DIR",
        "pairs": pairs,
        "providers": providers,
    }
    DATA_FILE.write_text(json.dumps(body, indent=1) + "\n", "utf-8")
    print(f"{sum(len(ids) for ids in pairs.values())} pairs -> {DATA_FILE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
