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

import functools
import re
from dataclasses import dataclass

from evtxscan.authoring.common_events import provider_of
from evtxscan.messages.catalog import builtin_catalog
from evtxscan.messages.error_tables import parameter_table
from evtxscan.messages.rules import template_rules
from evtxscan.messages.templates import builtin_templates

MIN_WORDS = 4
MAX_WORDS = 12
_PLACEHOLDER = re.compile(
    r"<[^>]*>|%\d+|\b[xX#]{3,}\b|\bx{2,}\.|\.\.\.|\[[^\]]*\]|\(date,? time\)|\bnnn+\b"
)
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*[A-Za-z]|[A-Za-z]")
_TOKEN = re.compile(r"\S+")
#: Sentences many messages end with; they say nothing about the problem.
_BOILERPLATE = re.compile(
    r"For (?:additional|more) information.*|Please contact Microsoft Product Support.*"
    r"|Contact (?:Microsoft )?Product Support.*",
    re.IGNORECASE | re.DOTALL,
)
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


def _words(text: str) -> str:
    return re.sub(r"\W+", " ", text).strip().casefold()


@functools.cache
def _codes_by_text(table_name: str) -> dict[str, int]:
    """A parameter table reversed: message words -> the lowest code with that text."""
    out: dict[str, int] = {}
    for code, message in sorted(parameter_table(table_name).items()):
        out.setdefault(_words(message), code)
    return out


def _error_values(text: str, table_name: str) -> tuple[str, ...] | None:
    """The codes a logged error text is written with, when the text is a known message."""
    code = _codes_by_text(table_name).get(_words(text))
    return None if code is None else (f"%%{code}", str(code), text.strip())


def templates(provider: str, event_id: int) -> list[str]:
    """Every message template evtxscan could render the event with: the YAML catalogs'
    variants, then the built-in template catalog's candidates (also under the provider a
    legacy source name logs with)."""
    found: list[str] = []
    messages = builtin_catalog().provider(provider)
    if messages is not None:
        found += [v.text for v in messages.events.get(event_id, ())]
    source = builtin_templates()
    rules = template_rules()
    names = (provider, rules.alias(provider), provider_of(provider))
    for name in dict.fromkeys(n for n in names if n):
        found += [c.text for c in source.candidates(name, event_id) if c.text != "%1"]
    return list(dict.fromkeys(found))


def _balanced(text: str, start: int, end: int) -> str:
    """The matched insertion string, with a closing bracket the template's separator took."""
    value = text[start:end]
    while value.count("(") > value.count(")") and text[end : end + 1] == ")":
        value, end = value + ")", end + 1
    return value


def _parameters(provider: str) -> str | None:
    """The name of the table a provider's ``%%N`` insertion strings are looked up in."""
    messages = builtin_catalog().provider(provider)
    name = (messages.parameters if messages else None) or template_rules().parameter_table(
        provider, provider_of(provider)
    )
    return name if name in ("win32", "msobjs") else None


def insert_conditions(provider: str, event_id: int, description: str) -> list[Condition] | None:
    """``data.N`` conditions from aligning the quote with a template of the event, or None
    when there is no template or the quote follows none of them."""
    table = _parameters(provider)
    marked = _PLACEHOLDER.sub(_MARK, description.strip())
    for template in templates(provider, event_id):
        compiled = _template_regex(template)
        if compiled is None:
            continue
        pattern, numbers = compiled
        match = pattern.match(marked)
        if match is None:
            continue
        out = []
        for index, number in enumerate(numbers, start=1):
            value = _balanced(marked, match.start(index), match.end(index)).strip(" .,;\"'")
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
    text = _BOILERPLATE.sub(" \x00 ", description)
    for token in _TOKEN.findall(_PLACEHOLDER.sub(" \x00 ", text)):
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
