"""Parse Sigma rules with pySigma: every rule is compiled or refused with its file and reason.

Files are parsed one by one (a broken file costs only its own rules), Sigma filters are
applied across the set, detection rules go through the log source pipelines and compile to
expressions, and correlation rules are resolved against the rules that loaded (chains in
dependency order; a reference to a missing or refused rule refuses the correlation).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError, SigmaRuleLocation
from sigma.filters import SigmaFilter
from sigma.rule import SigmaRule

from evtxscan.signatures.safe_yaml import YamlInputError, load_yaml_documents
from evtxscan.signatures.sigma.compile import any_of, compile_rule
from evtxscan.signatures.sigma.correlations import convert_correlation
from evtxscan.signatures.sigma.logsources import pipelines, variants
from evtxscan.signatures.sigma.metadata import licence_for
from evtxscan.signatures.sigma.model import (
    CompiledRule,
    CorrelationRule,
    Refusal,
    RuleInfo,
    RuleKind,
)
from evtxscan.signatures.sigma.prefilter import combine, literals_of, prefilter_of
from evtxscan.signatures.sigma.values import UnsupportedValue

AnyRule = SigmaRule | SigmaCorrelationRule


@dataclass(frozen=True)
class Parsed:
    """What the rule files gave: compiled detections, correlations, refusals."""

    detections: tuple[CompiledRule, ...]
    correlations: tuple[CorrelationRule, ...]
    refused: tuple[Refusal, ...]


def parsed_rules(files: list[Path], texts: list[str | OSError | UnicodeDecodeError]) -> Parsed:
    """Parse and compile the rule files (``texts``: each file's text, or why it is
    unreadable); every rule is compiled or refused with its file and reason."""
    loader = _Loader()
    for path, text in zip(files, texts, strict=True):
        loader.read(path, text)
    loader.apply_filters()
    detections: dict[str, CompiledRule] = {}
    pending: list[tuple[SigmaCorrelationRule, RuleInfo]] = []
    for rule, key, licence in loader.rules:
        source = str(rule.source.path) if rule.source is not None else ""
        info = info_of(rule, key, source, licence)
        if isinstance(rule, SigmaCorrelationRule):
            pending.append((rule, info))
            continue
        try:
            detections[key] = _compile(rule, info)
        except (UnsupportedValue, SigmaError) as exc:
            loader.refuse(source, info.title, _reason(exc))
    correlations = _correlations(pending, loader, set(detections))
    used_quietly = _used_without_generate(pending, loader.keys)
    return Parsed(
        detections=tuple(
            replace(d, reported=d.info.key not in used_quietly) for d in detections.values()
        ),
        correlations=tuple(
            replace(c, reported=c.info.key not in used_quietly) for c in correlations
        ),
        refused=tuple(loader.refused),
    )


def _where(error: SigmaError, fallback: str) -> str:
    source = error.source
    if source is None:
        return fallback
    line = f":{source.line}" if source.line is not None else ""
    return f"{fallback}{line}"


def _reason(error: Exception) -> str:
    if isinstance(error, SigmaError) and error.args:
        return str(error.args[0])
    return str(error) or type(error).__name__


class _Loader:
    def __init__(self) -> None:
        self.refused: list[Refusal] = []
        self.rules: list[tuple[AnyRule, str, str]] = []  # rule, key, licence
        self.filters: list[SigmaFilter] = []
        self.keys: dict[str, str] = {}  # id / name -> key

    def refuse(self, source: str, rule: str, reason: str) -> None:
        self.refused.append(Refusal(source=source, rule=rule, reason=reason))

    def read(self, path: Path, text: str | OSError | UnicodeDecodeError) -> None:
        source = str(path)
        try:
            if not isinstance(text, str):
                raise text
            documents = load_yaml_documents(text, source=source)
            collection = SigmaCollection.from_dicts(
                documents,  # type: ignore[arg-type]
                collect_errors=True,
                source=SigmaRuleLocation(path),
                collect_filters=True,
                resolve_references=False,
            )
        except YamlInputError as exc:
            where = f"{source}:{exc.line}" if exc.line else source
            self.refuse(where, "", f"cannot be read as Sigma YAML: {exc.reason}")
            return
        except (OSError, UnicodeDecodeError, SigmaError, TypeError, AttributeError) as exc:
            self.refuse(source, "", f"cannot be read as Sigma YAML: {_reason(exc)}")
            return
        for error in collection.errors:
            if not any(error in r.errors for r in collection.rules):
                self.refuse(_where(error, source), "", _reason(error))
        self.filters.extend(f for f in collection.filters if not f.errors)
        licence = licence_for(path)
        for position, rule in enumerate(collection.rules, start=1):
            label = rule.title or (str(rule.id) if rule.id else f"rule {position}")
            if rule.errors:
                reasons = "; ".join(_reason(e) for e in rule.errors)
                self.refuse(_where(rule.errors[0], source), label, reasons)
                continue
            key = rule_key(rule, source, position)
            if key in self.keys.values():
                self.refuse(source, label, f"duplicate rule id or name {key!r}")
                continue
            self.rules.append((rule, key, licence))
            self.keys[key] = key
            for alias in (str(rule.id) if rule.id else None, rule.name):
                if alias:
                    self.keys.setdefault(alias, key)

    def apply_filters(self) -> None:
        """Sigma filters (``filter:`` documents) narrow the rules they name, across files."""
        for index, (rule, key, licence) in enumerate(self.rules):
            for sigma_filter in self.filters:
                try:
                    rule = sigma_filter.apply_on_rule(rule)
                except SigmaError as exc:
                    source = str(rule.source.path) if rule.source is not None else ""
                    self.refuse(source, rule.title, f"filter cannot apply: {_reason(exc)}")
            self.rules[index] = (rule, key, licence)


def _compile(rule: SigmaRule, info: RuleInfo) -> CompiledRule:
    found = pipelines()
    expressions = []
    keys = None
    for variant in variants(rule):
        expression = compile_rule(variant.rule, found.adds_condition)
        expressions.append(expression)
        own = replace(prefilter_of(expression), literals=literals_of(expression))
        keys = own if keys is None else combine(keys, own, both=False)
    assert keys is not None
    return CompiledRule(info=info, expression=any_of(expressions), prefilter=keys)


def _correlations(
    pending: list[tuple[SigmaCorrelationRule, RuleInfo]], loader: _Loader, loaded: set[str]
) -> list[CorrelationRule]:
    """Convert correlations in dependency order (a chain's inner rules first)."""
    done: list[CorrelationRule] = []
    available = set(loaded)
    waiting = list(pending)
    while waiting:
        progressed = False
        for item in list(waiting):
            rule, info = item
            refs = [r.reference for r in rule.rules or []] or _extended_refs(rule)
            keys = [loader.keys.get(r) for r in refs]
            if any(k is not None and k not in available and _is_pending(k, waiting) for k in keys):
                continue  # an inner correlation not converted yet
            waiting.remove(item)
            progressed = True
            usable = {ref: key for ref, key in loader.keys.items() if key in available}
            try:
                converted = convert_correlation(rule, info, usable)
            except (UnsupportedValue, SigmaError, ValueError) as exc:
                loader.refuse(info.source, info.title, _reason(exc))
                continue
            done.append(converted)
            available.add(info.key)
        if not progressed:
            for _, info in waiting:
                loader.refuse(info.source, info.title, "correlation rules reference each other")
            break
    return done


def _extended_refs(rule: SigmaCorrelationRule) -> list[str]:
    condition = rule.condition
    getter = getattr(condition, "get_referenced_rules", None)
    return list(getter()) if getter is not None else []


def _is_pending(key: str, waiting: list[tuple[SigmaCorrelationRule, RuleInfo]]) -> bool:
    return any(info.key == key for _, info in waiting)


def _used_without_generate(
    pending: list[tuple[SigmaCorrelationRule, RuleInfo]], keys: dict[str, str]
) -> set[str]:
    """Rules referenced only by correlations that do not ``generate`` them."""
    quiet: set[str] = set()
    loud: set[str] = set()
    for rule, _ in pending:
        refs = [r.reference for r in rule.rules or []] or _extended_refs(rule)
        target = loud if rule.generate else quiet
        target.update(keys[r] for r in refs if r in keys)
    return quiet - loud


def rule_key(rule: SigmaRule | SigmaCorrelationRule, source: str, position: int) -> str:
    """Unique key: the id, else the name, else the file and position."""
    if rule.id is not None:
        return str(rule.id)
    if rule.name:
        return rule.name
    return f"{source}#{position}"


def info_of(
    rule: SigmaRule | SigmaCorrelationRule, key: str, source: str, licence: str
) -> RuleInfo:
    """The metadata a diagnosis shows."""
    kind = RuleKind.CORRELATION if isinstance(rule, SigmaCorrelationRule) else RuleKind.DETECTION
    return RuleInfo(
        key=key,
        id=str(rule.id) if rule.id is not None else None,
        name=rule.name,
        title=rule.title or key,
        kind=kind,
        level=rule.level.name.lower() if rule.level is not None else "",
        status=rule.status.name.lower() if rule.status is not None else "",
        author=rule.author or "",
        description=(rule.description or "").strip(),
        references=tuple(str(r) for r in rule.references),
        tags=tuple(str(t) for t in rule.tags),
        falsepositives=tuple(str(f) for f in rule.falsepositives),
        licence=rule.license or licence,
        source=source,
    )
