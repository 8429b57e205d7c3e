"""Sigma rules on evtxscan records: load with pySigma, compile, match record batches.

``load_sigma(path...)`` gives a :class:`SigmaRuleSet` (compiled detections, correlation rules,
refusals with file and reason); :class:`SigmaMatcher` finds which records each detection
matches in a batch, with column operations on the candidate rows only.
"""

from evtxscan.signatures.sigma.loading import SigmaPathError, SigmaRuleSet, load_sigma
from evtxscan.signatures.sigma.model import (
    CompiledRule,
    CorrelationRule,
    CorrelationType,
    Refusal,
    RuleInfo,
)

__all__ = [
    "CompiledRule",
    "CorrelationRule",
    "CorrelationType",
    "Refusal",
    "RuleInfo",
    "SigmaPathError",
    "SigmaRuleSet",
    "load_sigma",
]
