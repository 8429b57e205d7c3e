"""Facts an article names besides its events: quoted popups and error messages, services,
modules, symbols, error codes and registry keys, each with the section it came from.

Quoted texts are the indented paragraphs of the citing sections that are not event blocks
(the article prints an error message or popup indented under "...the following error
message:"). A caption is the ``<program> - <Title Case words>`` head of such a text
(``Dsamain.exe - Entry Point Not Found``). The rest are patterns over the section text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from evtxscan.authoring.citations import CITING_SECTIONS, collapse
from evtxscan.authoring.fields import lex_field_line
from evtxscan.authoring.kb_article import KbArticle, Section

ENTITY_SECTIONS = (*CITING_SECTIONS, "RESOLUTION", "WORKAROUND")
_MODULE = re.compile(
    r"(?<![\w\\/.-])([A-Za-z0-9_$~-]{1,40}\.(?:dll|exe|sys|drv|ocx|cpl|vxd|com|cfg|inf|edb))\b",
    re.IGNORECASE,
)
_SYMBOL = re.compile(
    r"(?:procedure\s+)?entry\s+point\s+(?P<name>[?@\w$]+)|(?P<decorated>\?[\w@?$]+@@[\w@?$]*)"
    r"|\bordinal\s+(?P<ordinal>\d+)",
    re.IGNORECASE,
)
#: A symbol name, not an English word: a capital after the first letter, a digit, _ ? @ $.
_SYMBOL_NAME = re.compile(r"^.+[A-Z0-9_?@$]|^[?@_]")
_ERROR = re.compile(
    r"\b(?:error|error code|status|return code|rc)\s*[:=]?\s*(?P<code>-?\d{1,10}|0x[0-9a-f]{1,8})\b"
    r"|\b(?P<hex>0x[0-9a-f]{8}|c0000[0-9a-f]{3})\b",
    re.IGNORECASE,
)
_SERVICE = re.compile(
    r"\b(?:the|The)\s+(?P<name>(?:[A-Z][\w.+-]*\s+){0,6}?[A-Z][\w.+-]*)\s+service\b"
    r"(?=\s+(?:failed|terminated|depends|did|could|cannot|is|was|hung|entered|does|will|may"
    r"|stops|stopped|returned|on\b))"
)
_SERVICE_START = re.compile(r"Could not start the (?P<name>.+?) service on", re.IGNORECASE)
#: A registry path: segments may hold spaces except the last (which would run into prose).
_REGISTRY = re.compile(
    r"\b(HKEY_[A-Z_]+(?:\\[\w.$<>{}-]+(?: [\w.$<>{}-]+)*(?=\\))*(?:\\[\w$<>{}-]+(?:\.\w+)*)?)"
)
_CAPTION = re.compile(
    r"^(?P<caption>[\w .$-]{2,40}? - (?:[A-Z][\w-]*\s?){1,5}?)(?:\s+popup)?\s+(?=[A-Z\\\"<])"
)


@dataclass(frozen=True)
class Entity:
    """One named fact: kind (message, service, module, symbol, error_code, registry_key),
    its value, the caption of a quoted message, and the section it came from."""

    kind: str
    value: str
    section: str
    caption: str = ""


def _quoted_texts(section: Section) -> list[Entity]:
    out = []
    previous_prose = ""
    for paragraph in section.paragraphs():
        fields = [lex_field_line(line.text) for line in paragraph]
        indented = all(line.indent > 0 for line in paragraph)
        text = collapse(" ".join(line.text for line in paragraph))
        quoted = indented and not any(fields) and previous_prose.rstrip().endswith(":")
        if quoted and len(text.split()) >= 3:
            caption = _CAPTION.match(text)
            out.append(
                Entity(
                    "message",
                    text[caption.end() :] if caption else text,
                    section.name,
                    caption.group("caption").strip() if caption else "",
                )
            )
        if not indented:
            previous_prose = paragraph[-1].text
    return out


def _dedupe(items: list[Entity]) -> list[Entity]:
    seen: set[tuple[str, str]] = set()
    out = []
    for item in items:
        key = (item.kind, item.value.casefold())
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


def section_entities(section: Section) -> list[Entity]:
    """Everything named in one section, in order of kind then appearance."""
    text = " ".join(line.text for line in section.lines if not line.blank)
    name = section.name
    found: list[Entity] = []
    if section.name in CITING_SECTIONS:
        found += _quoted_texts(section)
    for match in [*_SERVICE.finditer(text), *_SERVICE_START.finditer(text)]:
        found.append(Entity("service", match.group("name").strip(), name))
    found += [Entity("module", m.group(1), name) for m in _MODULE.finditer(text)]
    for match in _SYMBOL.finditer(text):
        if match.group("ordinal"):
            found.append(Entity("symbol", f"ordinal {match.group('ordinal')}", name))
        elif _SYMBOL_NAME.search(match.group("name") or match.group("decorated")):
            found.append(Entity("symbol", match.group("name") or match.group("decorated"), name))
    for match in _ERROR.finditer(text):
        found.append(Entity("error_code", match.group("code") or match.group("hex"), name))
    found += [
        Entity("registry_key", m.group(1).rstrip("\\ "), name) for m in _REGISTRY.finditer(text)
    ]
    return found


def article_entities(article: KbArticle) -> list[Entity]:
    """The entities of the sections that describe the problem and its fix, deduplicated."""
    found = []
    for section in article.sections:
        if section.name in ENTITY_SECTIONS:
            found += section_entities(section)
    return _dedupe(found)
