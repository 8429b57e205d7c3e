"""Event Viewer text/CSV exports and dumpel output (lossy text renderings of event logs)."""

from evtxscan.sources.text.layout import looks_like_text_export
from evtxscan.sources.text.reader import iter_text_events, read_text_export

__all__ = ["iter_text_events", "looks_like_text_export", "read_text_export"]
