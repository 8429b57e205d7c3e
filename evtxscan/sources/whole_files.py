"""The readers of formats read as one piece (not by EVTX chunk ranges): .evt, XML and text
exports, each imported only when a file of its format turns up."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator

import pandas as pd

from evtxscan.messages.catalog import MessageCatalog
from evtxscan.sources.detect import LogFormat


def whole_file_reader(
    fmt: LogFormat, include_recovered: bool, tz: str, catalog: MessageCatalog | None
) -> Callable[..., Iterator[pd.DataFrame]]:
    """The reader of ``fmt`` with the stream's options bound (``tz`` and ``catalog``: text
    exports' zone and the templates that recover their insertion strings)."""
    if fmt is LogFormat.EVT:
        from evtxscan.sources.evt import read_evt

        return functools.partial(read_evt, include_recovered=include_recovered)
    if fmt is LogFormat.XML:
        from evtxscan.sources.xml import read_xml_export

        return read_xml_export
    from evtxscan.sources.text import read_text_export

    return functools.partial(read_text_export, tz=tz, catalog=catalog)
