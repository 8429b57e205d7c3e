"""Progress reporting for long reads: a bar on a terminal, silence otherwise (cron, pipes)."""

from __future__ import annotations

import sys
from typing import IO, Any

from evtxscan.sources.integrity import FileReport


class Progress:
    """Counts files and records; draws a tqdm bar on stderr only when it is a terminal."""

    def __init__(
        self, total_files: int | None, *, enabled: bool | None = None, stream: IO[str] | None = None
    ) -> None:
        self.stream = stream or sys.stderr
        if enabled is None:
            enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.records = 0
        self.files = 0
        self.bar: Any = None
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(
                total=total_files,
                unit="file",
                file=self.stream,
                dynamic_ncols=True,
                desc="evtxscan",
            )

    def records_done(self, count: int) -> None:
        self.records += count
        if self.bar is not None:
            self.bar.set_postfix(records=f"{self.records:,}", refresh=False)

    def file_done(self, report: FileReport) -> None:
        self.files += 1
        if self.bar is not None:
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
