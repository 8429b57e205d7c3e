"""The FILETIME epoch, apart from the schema so that binary readers need not import pandas."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

#: FILETIME counts 100 ns ticks since this instant (the one epoch of every reader and writer).
FILETIME_EPOCH: Final = datetime(1601, 1, 1, tzinfo=UTC)
#: FILETIME ticks at the Unix epoch (1970-01-01 UTC).
FILETIME_TICKS_AT_1970: Final = 116_444_736_000_000_000
