"""Turn an article's quoted event text into tolerant ``where`` conditions.

Two ways, best first:

- **Insertion strings.** When evtxscan's message catalog has the event's template
  (``The %1 service terminated with the following error: %n%2``), the quoted text is matched
  against it and each specific insertion string becomes a ``data.N`` condition: the service
  name ``Server``; an error text that is a Win32 message becomes the codes Windows logs
  (``%%2``, ``2``) or the text itself. Placeholders (``<computer name>``, ``xxxx``, ``%1``)
  and numbers that change per occurrence give no condition.
- **Message words.** Otherwise the longest run of plain words in the quote (a typo-free
  stretch with no numbers, paths or placeholders) becomes a ``message`` regex with any
  punctuation or spacing between the words. It matches when the record's message is
  rendered (a catalog, a text export with its logged message).

Text is "specific" only with at least :data:`MIN_WORDS` plain words; shorter or
placeholder-only quotes give no condition at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from evtxscan.messages.catalog import MessageCatalog, builtin_catalog
from evtxscan.messages.errors import parameter_table

MIN_WORDS = 4
MAX_WORDS = 12
_PLACEHOLDER = re.compile(
    r"<[^>]*>|%\d+|\b[xX#]{3,}\b|\bx{2,}\.|\.\.\.|\[[^\]]*\]|\(date,? time\)|\bnnn+\b"
)
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*[A-Za-z]|[A-Za-z]")
_TOKEN = re.compile(r"\S+")
_MARK = "PLACEHOLDERMARK"
_INSERT = re.compile(r"%(\d+)(?:!\w+!)?")


@dataclass(frozen=True)
class Condition:
    """One ``where`` entry: field, test (``equals``/``any_of``/``regex``) and value."""

    field: str
    test: str
    value: str | tuple[str, ...]

    def as_yaml(self) -> dict[str, object]:
        value = list(self.value) if isinstance(self.value, tuple) else self.value
        return {self.test: value}


def _tolerant(text: str) -> str:
    """Regex for literal text: words in order, any spacing or punctuation between them."""
    words = _WORD.findall(text)
    return r"\W+".join(re.escape(w) for w in words)


def _template_regex(template: str) -> tuple[re.Pattern[str], list[int]] | None:
    """The template as a regex with one group per insertion string, in order of use."""
    template = template.replace("%n", " ").replace("%t", " ").replace("%r", " ")
    parts = _INSERT.split(template)
    literal, numbers = parts[0::2], [int(n) for n in parts[1::2]]
    if len(set(numbers)) != len(numbers):
        return None
    pattern = ""
    for i, text in enumerate(literal):
        words = _tolerant(text)
        pattern += (r"\W*" + words + r"\W*") if words else r"\W*"
        if i < len(numbers):
            pattern += "(.+?)"
    return re.compile("^" + pattern + "$", re.IGNORECASE | re.DOTALL), numbers


def _specific(value: str) -> bool:
    value = value.strip(" .,:;\"'")
    if not value or _MARK in value or _PLACEHOLDER.search(value):
        return False
    if re.fullmatch(r"[\d\s.,:-]+", value):
        return False  # counts, times, process IDs change per occurrence
    return len(value) >= 2


def _error_values(text: str, table: dict[int, str]) -> tuple[str, ...] | None:
    """The codes a logged error text is written with, when the text is a known message."""
    wanted = re.sub(r"\W+", " ", text).strip().casefold()
    for code, message in table.items():
        if re.sub(r"\W+", " ", message).strip().casefold() == wanted:
            return (f"%%{code}", str(code), text.strip())
    return None


def insert_conditions(
    provider: str, event_id: int, description: str, catalog: MessageCatalog | None = None
) -> list[Condition] | None:
    """``data.N`` conditions from aligning the quote with the catalog template, or None when
    there is no template or the quote does not follow it."""
    messages = (catalog or builtin_catalog()).provider(provider)
    if messages is None or event_id not in messages.events:
        return None
    table = parameter_table(messages.parameters) if messages.parameters else {}
    for variant in messages.events[event_id]:
        compiled = _template_regex(variant.text)
        if compiled is None:
            continue
        pattern, numbers = compiled
        match = pattern.match(_PLACEHOLDER.sub(_MARK, description.strip()))
        if match is None:
            continue
        out = []
        for number, value in zip(numbers, match.groups(), strict=True):
            value = value.strip(" .,;\"'")
            if not _specific(value):
                continue
            codes = _error_values(value, table) if table else None
            if codes is not None:
                out.append(Condition(f"data.{number}", "any_of", codes))
            elif len(value) <= 80:
                out.append(Condition(f"data.{number}", "equals", value))
        return out
    return None


def message_condition(description: str) -> Condition | None:
    """A ``message`` regex over the longest run of plain words, or None when not specific."""
    runs: list[list[str]] = [[]]
    for token in _TOKEN.findall(_PLACEHOLDER.sub(" \x00 ", description)):
        word = token.strip(".,;:!?()\"'")
        if not _WORD.fullmatch(word) or token == "\x00":
            runs.append([])  # a number, path or placeholder ends a run
            continue
        if token[:1] in "(\"'":
            runs.append([])
        runs[-1].append(word)
        if token[-1:] in ".;:!?)\"'":
            runs.append([])  # so does the end of a sentence or clause
    best = max(runs, key=len)
    if len(best) < MIN_WORDS:
        return None
    return Condition("message", "regex", r"\W+".join(re.escape(w) for w in best[:MAX_WORDS]))
