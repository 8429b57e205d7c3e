"""Files a stream has seen, by content: byte-identical files are read once.

A file's SHA-256 decides. For nightly runs the files read by earlier runs count too, and a
file on disk whose size and modification time equal an earlier run's is not hashed again:
the earlier hash stands (the rule rsync uses; the nightly state keeps the three).
"""

from __future__ import annotations

from collections.abc import Mapping

from evtxscan.sources.fileview import FileView
from evtxscan.sources.inputs import Buffer, sha256_of
from evtxscan.sources.integrity import FileReport, FileStatus


class KnownFiles:
    """SHA-256 -> the first path read with it, this run's and earlier runs'."""

    def __init__(self) -> None:
        self._seen: dict[str, str] = {}
        self._earlier: frozenset[str] = frozenset()
        self._stats: Mapping[str, tuple[int, int, str]] = {}
        self.hashed = 0  # files hashed here (not judged by size and time, nor hashed before)

    def remember(
        self, files: Mapping[str, str], stats: Mapping[str, tuple[int, int, str]] | None = None
    ) -> None:
        """Treat files read by an earlier run (sha256 -> path) as duplicates of those;
        ``stats``: path -> (size, modification time in ns, sha256) of those on disk."""
        self._seen.update(files)
        self._earlier = frozenset(files)
        self._stats = stats or {}

    @property
    def by_stats(self) -> bool:
        """Whether some files may be judged by their size and time, unhashed."""
        return bool(self._stats)

    def unchanged(self, path: str, size: int, mtime_ns: int) -> bool:
        """Whether the file at ``path`` has the size and time of one an earlier run read
        (it is then judged by the earlier hash, not hashed)."""
        known = self._stats.get(path)
        return known is not None and known[:2] == (size, mtime_ns)

    def duplicate(self, report: FileReport, content: Buffer, sha256: str | None = None) -> bool:
        """Hash the file (unless its size and time say it is unchanged, or ``sha256`` is its
        hash, made already); True, and the report says so, when its contents were read
        before."""
        if isinstance(content, FileView):
            report.mtime_ns = content.mtime_ns
        if report.mtime_ns is not None and self.unchanged(
            report.path, len(content), report.mtime_ns
        ):
            report.sha256 = self._stats[report.path][2]
        else:
            if sha256 is None:
                sha256 = sha256_of(content)
                self.hashed += 1
            report.sha256 = sha256
        return self.seen_before(report, report.sha256)

    def seen_before(self, report: FileReport, sha256: str) -> bool:
        """True, and the report says so, when contents with this hash were read before
        (the hash made elsewhere, e.g. by a worker process)."""
        report.sha256 = sha256
        first = self._seen.setdefault(report.sha256, report.path)
        if first != report.path or report.sha256 in self._earlier:
            report.status = FileStatus.DUPLICATE
            report.duplicate_of = first
            return True
        return False
