"""The readers of formats read as one piece (not by EVTX chunk ranges): .evt, XML and text
exports, each imported only when a file of its format turns up."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator

import numpy as np
import pandas as pd

from evtxscan.messages.catalog import MessageCatalog
from evtxscan.records.hosts import HostMap
from evtxscan.sources.detect import LogFormat
from evtxscan.sources.inputs import Buffer
from evtxscan.sources.integrity import FileReport


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


#: The formats read as one piece.
WHOLE_FORMATS = (LogFormat.EVT, LogFormat.XML, LogFormat.TEXT)


def read_whole_at(
    fmt: LogFormat,
    content: Buffer,
    offsets: Iterable[int],
    *,
    source: str,
    host_map: HostMap | None,
    batch_size: int,
    include_recovered: bool,
    tz: str,
    catalog: MessageCatalog | None,
) -> Iterator[pd.DataFrame]:
    """The records of a log of ``fmt`` (read as one piece) at file ``offsets``, as its
    reader gives them: a second read, of records located by the first. An .evt log's walk is
    made again and only the wanted records decoded; an export is read again whole (its
    records cannot be parsed apart from what comes before them) and the wanted rows kept,
    batch by batch."""
    if fmt is LogFormat.EVT:
        from evtxscan.sources.evt import read_evt_at

        yield from read_evt_at(
            content,  # type: ignore[arg-type]
            offsets,
            source=source,
            host_map=host_map,
            batch_size=batch_size,
            include_recovered=include_recovered,
        )
        return
    wanted = np.array(sorted(set(offsets)), dtype=np.int64)
    read = whole_file_reader(fmt, include_recovered, tz, catalog)
    report = FileReport(path=source)  # (the first read's report stands)
    for frame in read(content, source=source, report=report, host_map=host_map,
                      batch_size=batch_size):  # fmt: skip
        at = frame["offset"].to_numpy(dtype=np.int64, na_value=-1)
        rows = np.isin(at, wanted) & (at >= 0)
        if rows.any():
            yield frame[rows].reset_index(drop=True)
