"""Load Sigma rules: every rule is compiled or refused with its file and reason.

A rule set is kept compiled in a per-user cache (:mod:`~evtxscan.signatures.sigma.cache`),
keyed by the files' texts; only a miss parses them with pySigma
(:mod:`~evtxscan.signatures.sigma.parsing`), whose import is left to that miss.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from evtxscan.signatures.sigma.cache import cache_key, read_cached, write_cached
from evtxscan.signatures.sigma.model import CompiledRule, CorrelationRule, Refusal, RuleInfo

SUFFIXES = (".yml", ".yaml")


class SigmaPathError(ValueError):
    """A path given for Sigma rules that does not exist or holds no rule files."""


@dataclass(frozen=True)
class SigmaRuleSet:
    """The loaded rules: detections, correlations and what was refused (with reasons)."""

    detections: tuple[CompiledRule, ...]
    correlations: tuple[CorrelationRule, ...]
    refused: tuple[Refusal, ...]
    files: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.detections) + len(self.correlations)

    def field_needs(self) -> dict[str, tuple[str, ...]]:
        """Per detection rule key, the fields its correlations group or count by."""
        detections = {d.info.key for d in self.detections}
        needs: dict[str, set[str]] = {}
        for rule in self.correlations:
            names = [*rule.group_by, *([rule.value_field] if rule.value_field else [])]
            for key in rule.rules:
                if key in detections:
                    needs.setdefault(key, set()).update(rule.field_for(n, key) for n in names)
        return {key: tuple(sorted(names)) for key, names in needs.items()}

    def info(self) -> dict[str, RuleInfo]:
        """Every loaded rule's metadata by key."""
        found = {r.info.key: r.info for r in self.detections}
        found.update({c.info.key: c.info for c in self.correlations})
        return found


def rule_files(paths: Iterable[str | Path]) -> list[Path]:
    """Every rule file (``*.yml``/``*.yaml``); directories recursively, in name order."""
    found: list[Path] = []
    for item in paths:
        path = Path(item)
        if path.is_file():
            found.append(path)
        elif path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.suffix.lower() in SUFFIXES)
            found.extend(f for f in files if f.is_file())
        else:
            raise SigmaPathError(f"Sigma rules not found: {path}")
    return found


def load_sigma(*paths: str | Path) -> SigmaRuleSet:
    """Load Sigma rule files and directories (``*.yml``/``*.yaml``, recursively).

    Never raises for a bad rule: it is refused with its file and reason. Raises
    SigmaPathError when a path does not exist.
    """
    files = rule_files(paths)
    texts = [_text(path) for path in files]
    set_key = cache_key(files, texts)
    cached = read_cached(set_key, SigmaRuleSet)
    if cached is not None:
        return cached
    from evtxscan.signatures.sigma.parsing import parsed_rules  # pySigma: on a miss only

    parsed = parsed_rules(files, texts)
    loaded = SigmaRuleSet(
        parsed.detections, parsed.correlations, parsed.refused, tuple(str(p) for p in files)
    )
    write_cached(set_key, loaded)
    return loaded


def _text(path: Path) -> str | OSError | UnicodeDecodeError:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return exc
