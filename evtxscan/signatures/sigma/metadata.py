"""The licence a Sigma rule is shared under (shown with its matches).

The Detection Rule License (DRL 1.1, SigmaHQ's rules) asks that output reporting matches
keep the rule's author, a link to the rule and the licence. The licence is the rule's own
``license`` field, else the licence file found beside the rules (the rule's folder or the
nearest parent, up to the repository root), recognised by its text.
"""

from __future__ import annotations

import functools
from pathlib import Path

_LICENCE_NAMES = ("LICENSE", "LICENCE", "COPYING")
#: Text found in a licence file -> its SPDX-style name (first match wins).
_LICENCE_TEXTS = (
    ("Detection Rule License", "DRL-1.1"),
    ("GNU LESSER GENERAL PUBLIC LICENSE", "LGPL-2.1-only"),
    ("GNU GENERAL PUBLIC LICENSE", "GPL"),
    ("Apache License", "Apache-2.0"),
    ("MIT License", "MIT"),
    ("public domain", "public domain"),
)
UNKNOWN_LICENCE = "unknown (no license field or licence file beside the rule)"


@functools.cache
def _classify(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")[:20_000]
    except OSError:
        return ""
    lowered = text.casefold()
    for needle, name in _LICENCE_TEXTS:
        if needle.casefold() in lowered:
            return name
    return path.name


@functools.cache
def _licence_files(directory: Path) -> tuple[Path, ...]:
    try:
        found = [p for p in directory.iterdir() if p.name.upper().startswith(_LICENCE_NAMES)]
    except OSError:
        return ()
    return tuple(sorted(p for p in found if p.is_file()))


def _licence_in(directory: Path, rule_file: Path) -> str | None:
    """The licence in ``directory`` for a rule below it.

    Several licence files side by side (``LICENSE.pySigma.txt``, ``LICENSE.DRL.txt``): the
    one named after the rule's top folder below ``directory`` wins, else the DRL (SigmaHQ
    repositories ship it beside the licences of their tooling), else all of them.
    """
    files = _licence_files(directory)
    names = {p: _classify(p) for p in files}
    names = {p: n for p, n in names.items() if n}
    if not names:
        return None
    if len(names) > 1:
        top = rule_file.resolve().relative_to(directory).parts[0].casefold()
        for path, name in names.items():
            tags = path.name.casefold().split(".")[1:-1] or [path.stem.casefold()]
            if top in tags:
                return name
    values = list(dict.fromkeys(names.values()))
    return "DRL-1.1" if "DRL-1.1" in values else " / ".join(values)


def licence_for(rule_file: Path) -> str:
    """The licence of the rules in ``rule_file``: the nearest licence file above it.

    The search goes up from the rule's folder and stops at the first folder with a licence
    file, at a repository root (a ``.git`` folder), or at the top of the file system.
    """
    directory = rule_file.parent.resolve()
    while True:
        found = _licence_in(directory, rule_file)
        if found is not None:
            return found
        if (directory / ".git").exists() or directory.parent == directory:
            return UNKNOWN_LICENCE
        directory = directory.parent
