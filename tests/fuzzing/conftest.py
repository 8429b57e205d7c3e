"""The fuzzing harness lives in ``fuzz/`` at the repository root, beside ``evtxscan``."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
