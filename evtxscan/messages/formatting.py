"""FormatMessage insert syntax, as Windows' message tables use it, implemented offline.

Supported: ``%1``..``%99`` (optionally with a printf-style format ``%1!x!``), ``%n`` (new
line), ``%t`` (tab), ``%r`` (carriage return), ``%0`` (end, no trailing new line), ``%%``
(a percent sign), ``%.``, ``%!`` and ``%space`` (the character itself). A missing insert
stays visible as ``%N`` rather than disappearing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

_TOKEN = re.compile(r"%(?:(\d{1,2})(?:!([^!]*)!)?|(.)|$)", re.DOTALL)
_PRINTF = re.compile(r"^[-+ #0]*\d*(?:\.\d+)?(?:hh|h|ll|l|I64|I32|I|w)?([diouxXcsSeEfgGp])$")


def _printf(value: str, spec: str) -> str:
    """Apply a printf-style insert format to an insertion string (text in, text out)."""
    match = _PRINTF.match(spec)
    if match is None:
        return value
    conversion = match.group(1)
    if conversion in "sScS":
        return value
    try:
        number = int(value, 0) if value.strip().lower().startswith("0x") else int(value)
    except ValueError:
        return value
    python_spec = re.sub(r"(hh|h|ll|l|I64|I32|I|w)", "", spec)
    if conversion == "u":
        python_spec = python_spec[:-1] + "d"
        number &= 0xFFFFFFFFFFFFFFFF if "64" in spec or "ll" in spec else 0xFFFFFFFF
    elif conversion in "xX" and number < 0:
        number &= 0xFFFFFFFFFFFFFFFF if "64" in spec or "ll" in spec else 0xFFFFFFFF
    try:
        return ("%" + python_spec) % number
    except (TypeError, ValueError):
        return value


def format_message(
    template: str,
    inserts: Sequence[str],
    *,
    expand: Callable[[str], str] | None = None,
) -> str:
    """Render ``template`` with ``inserts`` (1-based), as FormatMessage would.

    ``expand`` is applied to each insert before substitution; the renderer uses it to
    resolve ``%%N`` parameter references in insertion strings.
    """
    out: list[str] = []
    position = 0
    for token in _TOKEN.finditer(template):
        out.append(template[position : token.start()])
        position = token.end()
        number, spec, char = token.groups()
        if number is not None:
            index = int(number)
            if index == 0:
                return "".join(out)
            if index <= len(inserts):
                value = inserts[index - 1]
                value = expand(value) if expand is not None else value
                out.append(_printf(value, spec) if spec else value)
            else:
                out.append(token.group(0))
        elif char is None:
            out.append("%")  # a lone % at the end
        else:
            out.append({"n": "\n", "t": "\t", "r": "\r", "b": " "}.get(char, char))
    out.append(template[position:])
    return "".join(out)
