"""The draft pack: signatures drafted from 1,255 KB articles, loaded only on request.

The drafts live in ``signatures/drafts/`` (one YAML file each, as ``evtxscan signatures
draft`` wrote them) with ``index.json``: the same signatures, already validated, without
their tests and extraction notes, so that loading the pack reads one JSON file instead of
parsing 1,255 YAML files. A test rebuilds the index from the YAML files and compares.

Drafts marked ``noisy`` (they fire on healthy logs) are left out unless asked for, and a
draft yields to a curated signature for the same article when both are loaded.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable
from importlib.abc import Traversable
from pathlib import Path
from typing import Any

import yaml

from evtxscan.signatures.loader import build_signature, builtin_signatures_root, parse_signature
from evtxscan.signatures.model import Signature, SignatureError, Status
from evtxscan.signatures.safe_yaml import LineMap

INDEX_NAME = "index.json"
INDEX_FORMAT = 1
_LEFT_OUT = ("tests", "draft")  # not needed to scan; read the YAML file for them

try:
    _FastLoader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML without libyaml
    _FastLoader = yaml.SafeLoader


def builtin_drafts_dir() -> Traversable:
    """The shipped pack's directory (``signatures/drafts``, in the wheel or the checkout)."""
    return builtin_signatures_root() / "drafts"


def _yaml_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.yaml"))


def digest(directory: str | Path) -> str:
    """SHA-256 over the YAML files' names and contents (what the index was built from)."""
    hasher = hashlib.sha256()
    for file in _yaml_files(Path(directory)):
        hasher.update(file.name.encode() + b"\0" + file.read_bytes() + b"\0")
    return hasher.hexdigest()


def build_index(directory: str | Path) -> dict[str, Any]:
    """Validate every draft in ``directory`` and return the index mapping."""
    entries = []
    for file in _yaml_files(Path(directory)):
        text = file.read_text("utf-8")
        signature = parse_signature(text, f"signatures/drafts/{file.name}")
        if signature.status is not Status.DRAFT:
            raise SignatureError(signature.source, None, "the draft pack holds drafts only")
        body = yaml.load(text, Loader=_FastLoader)
        entries.append(
            {
                "source": signature.source,
                "signature": {k: v for k, v in body.items() if k not in _LEFT_OUT},
            }
        )
    return {"format": INDEX_FORMAT, "digest": digest(directory), "drafts": entries}


def write_index(directory: str | Path) -> Path:
    """(Re)write ``index.json`` for the drafts in ``directory``."""
    path = Path(directory) / INDEX_NAME
    text = json.dumps(build_index(directory), ensure_ascii=False, separators=(",", ":"))
    path.write_text(text + "\n", "utf-8")
    return path


def as_line_map(value: Any) -> Any:
    """Plain dicts and lists (from the JSON index) as the loader's line-aware mappings."""
    if isinstance(value, dict):
        return LineMap((k, as_line_map(v)) for k, v in value.items())
    if isinstance(value, list):
        return [as_line_map(v) for v in value]
    return value


@functools.cache
def _pack(index_text: str) -> tuple[Signature, ...]:
    raw = json.loads(index_text)
    if raw.get("format") != INDEX_FORMAT:
        raise SignatureError(INDEX_NAME, None, f"unknown draft index format {raw.get('format')}")
    return tuple(
        build_signature(as_line_map(entry["signature"]), entry["source"], checked=False)
        for entry in raw["drafts"]
    )


def load_drafts(
    directory: str | Path | None = None, *, include_noisy: bool = False
) -> list[Signature]:
    """The draft pack (default: the shipped one), without the noisy drafts unless asked."""
    root: Traversable | Path = builtin_drafts_dir() if directory is None else Path(directory)
    index = root / INDEX_NAME
    if not index.is_file():
        raise SignatureError(str(index), None, "no draft index: run signatures draft --index")
    drafts = _pack(index.read_text("utf-8"))
    return [d for d in drafts if include_noisy or d.noisy is None]


def without_curated(drafts: Iterable[Signature], curated: Iterable[Signature]) -> list[Signature]:
    """The drafts whose article no curated signature covers (curated knowledge wins)."""
    covered = {s.kb for s in curated if s.kb and s.status is Status.CURATED}
    return [d for d in drafts if d.kb not in covered]


def with_draft_pack(signatures: list[Signature]) -> list[Signature]:
    """``signatures`` plus the draft pack's drafts for the articles they do not cover."""
    return [*signatures, *without_curated(load_drafts(), signatures)]
