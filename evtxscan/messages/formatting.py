"""FormatMessage insert syntax, as Windows' message tables use it, implemented offline.

Supported: ``%1``..``%99`` (optionally with a printf-style format ``%1!x!``), ``%n`` (new
line), ``%t`` (tab), ``%r`` (carriage return), ``%0`` (end, no trailing new line), ``%%``
(a percent sign), ``%.``, ``%!`` and ``%space`` (the character itself). A missing insert
stays visible as ``%N`` rather than disappearing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

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


# -- compiled templates, for rendering many records with one template ---------------------

_LINE_TABS = re.compile(r"(?m)^\t+")
_INNER_TABS = re.compile(r"[ ]*\t[\t ]*")
_TRAILING_TABS = re.compile(r"\t+(?=\n|$)")
_MARK = "\x00"


def tidy_layout(text: str) -> str:
    """Tabs and line ends as a reader wants them, not as Event Viewer aligns them.

    ``"%tLogon Type:%t%t%9"`` reads "  Logon Type: 2": tabs starting a line indent by two
    spaces each, other runs of tabs become one space, CR LF becomes LF, and white space at
    line ends goes (other spaces are kept: "error: %n%2" keeps its space, as Windows shows it).
    """
    text = text.replace("\r\n", "\n").replace("\r", "")
    text = _TRAILING_TABS.sub("", text)
    text = _LINE_TABS.sub(lambda m: "  " * len(m.group(0)), text)
    return _INNER_TABS.sub(" ", text)


@dataclass(frozen=True)
class Insert:
    """A ``%N`` in a compiled template, with its optional printf-style format."""

    index: int
    spec: str | None = None


@dataclass(frozen=True)
class CompiledTemplate:
    """A template parsed once: literal text (layout tidied) and inserts, in order."""

    parts: tuple[str | Insert, ...]

    @property
    def inserts(self) -> tuple[Insert, ...]:
        return tuple(p for p in self.parts if isinstance(p, Insert))

    def without_explanation(self) -> CompiledTemplate:
        """The template without the insert-free paragraphs after its last insert.

        Security auditing messages end in a general explanation ("This event is generated
        when ...", about 1 KB) that is the same for every record of the event.
        """
        last = max((i for i, p in enumerate(self.parts) if isinstance(p, Insert)), default=-1)
        tail = self.parts[last + 1 :] if last >= 0 else ()
        if len(tail) != 1 or not isinstance(tail[0], str) or "\n\n" not in tail[0]:
            return self
        kept = tail[0].split("\n\n", 1)[0].rstrip()
        return CompiledTemplate((*self.parts[: last + 1], *((kept,) if kept else ())))

    def render(self, values: Sequence[str]) -> str:
        """The message for one record's (already expanded) values; missing ones stay %N."""
        out: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
            elif part.index <= len(values):
                value = values[part.index - 1]
                out.append(_printf(value, part.spec) if part.spec else value)
            else:
                out.append(f"%{part.index}")
        return "".join(out)


@lru_cache(maxsize=20_000)
def compile_template(template: str, *, tidy: bool = True) -> CompiledTemplate:
    """Parse a FormatMessage template (see :func:`format_message` for the syntax); cached."""
    text: list[str] = []
    inserts: list[Insert] = []
    position = 0
    for token in _TOKEN.finditer(template):
        text.append(template[position : token.start()])
        position = token.end()
        number, spec, char = token.groups()
        if number is not None:
            if int(number) == 0:
                position = len(template)
                break
            text.append(f"{_MARK}{len(inserts)}{_MARK}")
            inserts.append(Insert(int(number), spec))
        elif char is None:
            text.append("%")
        else:
            text.append({"n": "\n", "t": "\t", "r": "\r", "b": " "}.get(char, char))
    text.append(template[position:])
    joined = "".join(text)
    if tidy:
        joined = tidy_layout(joined)
    parts: list[str | Insert] = []
    for number, piece in enumerate(joined.split(_MARK)):
        if number % 2 == 0:
            if piece:
                parts.append(piece)
        else:
            parts.append(inserts[int(piece)])
    return CompiledTemplate(tuple(parts))
