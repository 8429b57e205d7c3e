"""Load signature YAML into the model, failing with the file, line and reason.

A signature is data, not code: adding a KB article is adding one YAML file to
``signatures/`` (or a directory of your own), with its own test events. The format is
documented in ``signatures/README.md`` and described by ``signatures/schema.json``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from datetime import timedelta
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from evtxscan.signatures.durations import EXAMPLES, parse_duration
from evtxscan.signatures.model import (
    AppliesTo,
    BootScope,
    Condition,
    Confidence,
    DraftNotes,
    Extraction,
    Operator,
    Role,
    Selector,
    Signature,
    SignatureError,
    SignatureTest,
    Status,
)
from evtxscan.signatures.parse_cache import cached_parse
from evtxscan.signatures.safe_regex import UnsafeRegexError, compile_rule_regex
from evtxscan.signatures.safe_yaml import LineMap, load_yaml_text

#: The keys each mapping of a signature may have (as in ``signatures/schema.json``).
KEYS: dict[str, frozenset[str]] = {
    "signature": frozenset(
        {"id", "title", "kb", "reference", "applies_to", "symptoms", "extract"}
        | {"correlation", "confidence", "diagnosis", "tests", "fallback"}
        | {"status", "noisy", "draft"}
    ),
    "draft": frozenset(("generator", "products", "events", "entities")),
    "applies_to": frozenset(("products", "os_versions")),
    "correlation": frozenset(("window", "boot", "order")),
    "confidence": frozenset(("base", "optional", "unknown_boot", "os_mismatch")),
    "diagnosis": frozenset(("cause", "resolution")),
    "symptom": frozenset(("provider", "event_id", "role", "channel", "level", "where", "within")),
    "condition": frozenset(("equals", "contains", "regex", "any_of", "case_sensitive", "negate")),
    "extraction": frozenset(("from", "field", "regex", "transform")),
    "test": frozenset(("name", "expect", "events", "expect_fields")),
    "event": frozenset(
        {"at", "provider", "event_source_name", "event_id", "qualifiers", "level", "channel"}
        | {"computer", "data", "binary"}
    ),
}


class _Reader:
    """Reads one file's mappings, turning every problem into a located SignatureError."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: Any, reason: str, key: Any = None) -> SignatureError:
        line = None
        if isinstance(where, LineMap):
            line = where.lines.get(key, where.line) if key is not None else where.line
        return SignatureError(self.source, line, reason)

    def only(self, mapping: LineMap, what: str) -> None:
        """Refuse keys the format does not have (a typo would otherwise be ignored)."""
        for key in mapping:
            if key not in KEYS[what]:
                allowed = ", ".join(sorted(KEYS[what]))
                raise self.fail(mapping, f"unknown key {key!r} in {what} (allowed: {allowed})", key)

    def mapping(self, parent: LineMap, key: str, *, required: bool = True) -> LineMap:
        value = parent.get(key)
        if value is None and not required:
            empty = LineMap()
            empty.line, empty.lines = parent.line, {}
            return empty
        if not isinstance(value, LineMap):
            raise self.fail(parent, f"'{key}' must be a mapping", key if key in parent else None)
        value.line = parent.lines.get(key, value.line)  # point at "key:", not its first child
        return value

    def text(self, parent: LineMap, key: str, *, required: bool = True) -> str | None:
        value = parent.get(key)
        if value is None:
            if required:
                raise self.fail(parent, f"missing '{key}'")
            return None
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise self.fail(parent, f"'{key}' must be text", key)
        return str(value)

    def strings(self, parent: LineMap, key: str) -> tuple[str, ...]:
        value = parent.get(key)
        if value is None:
            return ()
        items = value if isinstance(value, list) else [value]
        if not all(isinstance(v, str | int | float) for v in items):
            raise self.fail(parent, f"'{key}' must be text or a list of text", key)
        return tuple(str(v) for v in items)

    def ints(self, parent: LineMap, key: str) -> tuple[int, ...]:
        value = parent.get(key)
        items = [] if value is None else value if isinstance(value, list) else [value]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in items):
            raise self.fail(parent, f"'{key}' must be a whole number or a list of them", key)
        return tuple(items)

    def duration(self, parent: LineMap, key: str, default: timedelta | None) -> timedelta | None:
        value = parent.get(key)
        if value is None:
            return default
        try:
            return parse_duration(value)
        except ValueError:
            raise self.fail(parent, f"'{key}' must be a duration such as {EXAMPLES}", key) from None

    def build(self, what: str, at: LineMap, key: Any, factory: Any, /, **kwargs: Any) -> Any:
        try:
            return factory(**kwargs)
        except ValueError as exc:
            raise self.fail(at, f"{what}: {exc}", key) from None


def _conditions(reader: _Reader, symptom: LineMap, checked: bool) -> tuple[Condition, ...]:
    where = symptom.get("where")
    if where is None:
        return ()
    if not isinstance(where, LineMap):
        raise reader.fail(symptom, "'where' must map fields to tests", "where")
    out = []
    for field_name, test in where.items():
        if not isinstance(test, LineMap):
            raise reader.fail(
                where, f"'{field_name}' needs a test such as {{equals: x}}", field_name
            )
        reader.only(test, "condition")
        operators = [op for op in Operator if op.value in test]
        if len(operators) != 1:
            raise reader.fail(
                where,
                f"'{field_name}': give exactly one of equals, contains, regex, any_of",
                field_name,
            )
        operator = operators[0]
        raw = test[operator.value]
        value: str | tuple[str, ...] = (
            tuple(str(v) for v in raw) if isinstance(raw, list) else str(raw)
        )
        out.append(
            reader.build(
                f"condition on {field_name}",
                where,
                field_name,
                Condition,
                field=str(field_name),
                operator=operator,
                value=value,
                case_sensitive=bool(test.get("case_sensitive")),
                negate=bool(test.get("negate")),
                checked=checked,
            )
        )
    return tuple(out)


def _symptoms(reader: _Reader, raw: LineMap, checked: bool) -> tuple[Selector, ...]:
    symptoms = reader.mapping(raw, "symptoms")
    out = []
    for name, spec in symptoms.items():
        if not isinstance(spec, LineMap):
            raise reader.fail(symptoms, f"symptom '{name}' must be a mapping", name)
        reader.only(spec, "symptom")
        role_text = reader.text(spec, "role", required=False) or "required"
        if role_text not in {r.value for r in Role}:
            raise reader.fail(
                spec, f"role must be one of {', '.join(r.value for r in Role)}", "role"
            )
        out.append(
            reader.build(
                f"symptom '{name}'",
                symptoms,
                name,
                Selector,
                name=str(name),
                providers=reader.strings(spec, "provider"),
                event_ids=reader.ints(spec, "event_id"),
                role=Role(role_text),
                channel=reader.text(spec, "channel", required=False),
                levels=reader.ints(spec, "level"),
                where=_conditions(reader, spec, checked),
                within=reader.duration(spec, "within", None),
            )
        )
    return tuple(out)


def _extractions(reader: _Reader, raw: LineMap) -> tuple[Extraction, ...]:
    """``name: {from, field, regex, transform}``, or a list of such alternatives (the first
    that yields a value wins)."""
    spec = reader.mapping(raw, "extract", required=False)
    out = []
    for name, value in spec.items():
        items = value if isinstance(value, list) else [value]
        for item in items:
            if not isinstance(item, LineMap):
                raise reader.fail(spec, f"extract '{name}' must be a mapping or a list", name)
            reader.only(item, "extraction")
            pattern = reader.text(item, "regex", required=False)
            try:
                regex = compile_rule_regex(pattern) if pattern else None
            except re.error as exc:
                raise reader.fail(item, f"bad regex: {exc}", "regex") from None
            except UnsafeRegexError as exc:
                raise reader.fail(item, str(exc), "regex") from None
            out.append(
                Extraction(
                    name=str(name),
                    symptoms=reader.strings(item, "from"),
                    field=str(reader.text(item, "field")),
                    regex=regex,
                    transform=reader.text(item, "transform", required=False),
                )
            )
    return tuple(out)


def _tests(reader: _Reader, raw: LineMap) -> tuple[SignatureTest, ...]:
    items = raw.get("tests") or []
    if not isinstance(items, list):
        raise reader.fail(raw, "'tests' must be a list", "tests")
    out = []
    for item in items:
        if not isinstance(item, LineMap) or not isinstance(item.get("events"), list):
            raise reader.fail(
                raw, "each test needs 'name', 'expect' and a list of 'events'", "tests"
            )
        reader.only(item, "test")
        for event in item["events"]:
            if not isinstance(event, LineMap):
                raise reader.fail(item, "each test event must be a mapping", "events")
            reader.only(event, "event")
        expect = reader.text(item, "expect")
        if expect not in ("diagnosis", "none"):
            raise reader.fail(item, "'expect' must be 'diagnosis' or 'none'", "expect")
        fields = item.get("expect_fields") or {}
        out.append(
            SignatureTest(
                name=str(reader.text(item, "name")),
                expect=expect == "diagnosis",
                events=tuple(item["events"]),
                expect_fields={str(k): str(v) for k, v in fields.items()},
            )
        )
    return tuple(out)


def _draft_notes(reader: _Reader, raw: LineMap) -> DraftNotes | None:
    """The ``draft:`` block: the generator and what it extracted (kept for curators)."""
    if raw.get("draft") is None:
        return None
    notes = reader.mapping(raw, "draft")
    reader.only(notes, "draft")
    events, entities = notes.get("events") or [], notes.get("entities") or {}
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        raise reader.fail(notes, "'events' must be a list of mappings", "events")
    if not isinstance(entities, dict):
        raise reader.fail(notes, "'entities' must map kinds to lists", "entities")
    return DraftNotes(
        generator=str(reader.text(notes, "generator")),
        products=reader.strings(notes, "products"),
        events=tuple(events),
        entities=dict(entities),
    )


def _status(reader: _Reader, raw: LineMap) -> Status:
    text = reader.text(raw, "status", required=False) or Status.CURATED.value
    if text not in {s.value for s in Status}:
        raise reader.fail(raw, "status must be 'curated' or 'draft'", "status")
    return Status(text)


@functools.lru_cache(maxsize=256)
def parse_signature(text: str, source: str) -> Signature:
    """Build one signature from YAML text; ``source`` names it in errors."""
    raw = load_yaml_text(text, source=source)
    if not isinstance(raw, LineMap):
        raise SignatureError(source, 1, "a signature file must be a mapping")
    return build_signature(raw, source)


def build_signature(raw: LineMap, source: str, *, checked: bool = True) -> Signature:
    """Build one signature from its mapping (parsed YAML, or :func:`as_line_map` of JSON).

    ``checked=False`` leaves regex compilation to first use: only for mappings that were
    validated when they were stored (the draft pack's index).
    """
    reader = _Reader(source)
    reader.only(raw, "signature")
    correlation = reader.mapping(raw, "correlation", required=False)
    diagnosis = reader.mapping(raw, "diagnosis")
    applies = reader.mapping(raw, "applies_to", required=False)
    confidence = reader.mapping(raw, "confidence", required=False)
    for part, what in ((correlation, "correlation"), (diagnosis, "diagnosis")):
        reader.only(part, what)
    for part, what in ((applies, "applies_to"), (confidence, "confidence")):
        reader.only(part, what)
    boot = reader.text(correlation, "boot", required=False) or "any"
    if boot not in {b.value for b in BootScope}:
        raise reader.fail(correlation, "boot must be 'same' or 'any'", "boot")
    optional = confidence.get("optional") or {}
    signature: Signature = reader.build(
        "signature",
        raw,
        None,
        Signature,
        id=reader.text(raw, "id"),
        title=reader.text(raw, "title"),
        kb=reader.text(raw, "kb", required=False),
        reference=reader.text(raw, "reference", required=False),
        applies_to=AppliesTo(
            products=reader.strings(applies, "products"),
            os_versions=reader.strings(applies, "os_versions"),
        ),
        symptoms=_symptoms(reader, raw, checked),
        extract=_extractions(reader, raw),
        window=reader.duration(correlation, "window", timedelta(hours=1)),
        boot=BootScope(boot),
        ordered=reader.strings(correlation, "order"),
        confidence=reader.build(
            "confidence",
            raw,
            "confidence",
            Confidence,
            base=float(confidence.get("base", 0.6)),
            optional={str(k): float(v) for k, v in optional.items()},
            unknown_boot=float(confidence.get("unknown_boot", 0.8)),
            os_mismatch=float(confidence.get("os_mismatch", 0.6)),
        ),
        cause=reader.text(diagnosis, "cause"),
        resolution=reader.text(diagnosis, "resolution"),
        tests=_tests(reader, raw),
        fallback=bool(raw.get("fallback", False)),
        source=source,
        status=_status(reader, raw),
        noisy=reader.text(raw, "noisy", required=False),
        draft=_draft_notes(reader, raw),
    )
    return signature


def load_signatures(*directories: str | Path, builtin: bool = True) -> list[Signature]:
    """Every ``*.yaml`` signature: the shipped ones (unless ``builtin=False``) and yours.

    A later signature with the same id replaces an earlier one, so a local directory can
    override a shipped signature.
    """
    found: dict[str, Signature] = {}
    for signature in cached_parse(_sources(directories, builtin), parse_signature):
        found[signature.id] = signature
    return list(found.values())


def builtin_signatures_root() -> Traversable:
    """The shipped signatures: ``evtxscan/builtin_signatures`` in an installed wheel (mapped
    from ``signatures/`` by setup.py), or ``signatures/`` beside the package in a checkout."""
    installed = resources.files("evtxscan") / "builtin_signatures"
    if installed.is_dir():
        return installed
    return Path(__file__).resolve().parents[2] / "signatures"


def _sources(directories: Iterable[str | Path], builtin: bool) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if builtin:
        root = builtin_signatures_root()
        entries = sorted(
            (e for e in root.iterdir() if e.name.endswith(".yaml")), key=lambda e: e.name
        )
        out += [(f"signatures/{e.name}", e.read_text("utf-8")) for e in entries]
    for directory in directories:
        path = Path(directory)
        files = [path] if path.is_file() else sorted(path.glob("*.yaml"))
        out += [(str(f), f.read_text("utf-8")) for f in files]
    return out
