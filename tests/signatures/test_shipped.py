"""Every shipped signature: valid, documented, and its embedded tests pass in the engine."""

import json
from pathlib import Path

import pytest

from evtxscan.authoring.selftest import run_signature_tests
from evtxscan.signatures.loader import load_signatures
from evtxscan.signatures.model import Role

ROOT = Path(__file__).resolve().parents[2]
SIGNATURES = load_signatures()


@pytest.mark.parametrize("signature", SIGNATURES, ids=lambda s: s.id)
def test_embedded_tests_pass(signature) -> None:  # type: ignore[no-untyped-def]
    outcomes = run_signature_tests([signature])
    failed = [f"{o.test}: {o.detail}" for o in outcomes if not o.passed]
    assert not failed
    assert any(t.expect for t in signature.tests) and any(not t.expect for t in signature.tests)


@pytest.mark.parametrize("signature", SIGNATURES, ids=lambda s: s.id)
def test_kb_signatures_cite_the_archive(signature) -> None:  # type: ignore[no-untyped-def]
    if signature.kb is None:
        assert signature.fallback, "a signature without a KB article must be a fallback finding"
        return
    number = int(signature.kb[1:])
    assert signature.reference == (
        f"https://jeffpar.github.io/kbarchive/kb/{number // 1000:03}/{signature.kb}/"
    )
    assert all(s.providers for s in signature.symptoms if s.role is not Role.CONTEXT)


def test_schema_accepts_every_shipped_signature() -> None:
    jsonschema = pytest.importorskip("jsonschema", reason="jsonschema comes with the test extra")
    import yaml

    schema = json.loads((ROOT / "signatures" / "schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    for path in sorted((ROOT / "signatures").glob("*.yaml")):
        jsonschema.validate(yaml.safe_load(path.read_text()), schema)
