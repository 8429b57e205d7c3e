"""Sigma fixtures: the corpus in ../shared/sigma loaded once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from evtxscan.signatures.sigma import SigmaRuleSet, load_sigma


@pytest.fixture(scope="session")
def sigma_set(sigma_dir: Path) -> SigmaRuleSet:
    """Everything in the corpus, loaded (and refused) by the engine."""
    return load_sigma(sigma_dir)
