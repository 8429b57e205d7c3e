"""Deprecated location of :mod:`evtxscan.synth` (kept for old notebooks; removed in 0.3)."""

from __future__ import annotations

import warnings

from evtxscan.synth import *  # noqa: F403
from evtxscan.synth import __all__ as __all__

warnings.warn("evtxscan.testing moved to evtxscan.synth", DeprecationWarning, stacklevel=2)
