"""The result tables declared once: each table's columns and dtypes, and how a frame is
brought to them (:func:`conform`), so every producer and writer agrees on one schema."""

from __future__ import annotations

from typing import Any, Final, Protocol

import pandas as pd

TEXT = pd.Series(["x"]).dtype  # pandas' default string dtype (``str`` on pandas 3)
UTC: Final = "datetime64[us, UTC]"
HOST_DTYPES: dict[str, Any] = {
    "host": TEXT,
    **dict.fromkeys(["files", "records"], "int64"),
    **dict.fromkeys(["first_time", "last_time"], UTC),
    **dict.fromkeys(["os_version", "build", "service_pack"], TEXT),
    "processors": "category",
    "diagnoses": "int64",
}
HOST_COLUMNS = list(HOST_DTYPES)
DAILY_DTYPES: dict[str, Any] = {"host": TEXT, "day": UTC, "records": "int64", "errors": "int64"}
DIAGNOSIS_DTYPES: dict[str, Any] = {
    **dict.fromkeys(["diagnosis_id", "host", "signature_id", "kb", "title"], TEXT),
    "confidence": "float64",
    "occurrences": "int64",
    **dict.fromkeys(["first_seen", "last_seen"], UTC),
    **dict.fromkeys(["evidence", "cause", "resolution", "reference"], TEXT),
}
INTEGRITY_DTYPES: dict[str, Any] = {
    **dict.fromkeys(["path", "sha256", "duplicate_of", "errors", "notes"], TEXT),
    **dict.fromkeys(["size", "records", "recovered", "torn", "chunks"], "int64"),
    **dict.fromkeys(["chunks_skipped", "missing_records", "error_count"], "int64"),
    **dict.fromkeys(["header_dirty", "filtered_export"], "bool"),
    **dict.fromkeys(["status", "format"], "category"),
    **dict.fromkeys(["first_time", "last_time"], UTC),
}
EVIDENCE_COLUMNS = ["diagnosis_id", "host", "signature_id", "kb", "time", "symptom", "channel"]
EVIDENCE_COLUMNS += ["provider", "event_id", "event_record_id", "record_number", "source_file"]


def _cast(column: pd.Series, dtype: Any) -> pd.Series:
    if column.dtype == dtype:
        return column
    try:
        if dtype == UTC:
            return pd.to_datetime(column, utc=True).astype(UTC)
        if dtype in ("int64", "bool") and column.isna().any():
            dtype = pd.Int64Dtype() if dtype == "int64" else pd.BooleanDtype()
        out: pd.Series = column.astype(dtype)
        return out
    except (TypeError, ValueError):
        return column


def conform(frame: pd.DataFrame, dtypes: dict[str, Any]) -> pd.DataFrame:
    """``frame`` with the columns of ``dtypes`` in those dtypes (missing ones added as NA)."""
    if all(n in frame.columns and frame[n].dtype == t for n, t in dtypes.items()):
        return frame
    out = frame.copy()
    for name, dtype in dtypes.items():
        if name not in out.columns:
            out[name] = pd.Series([None] * len(out), index=out.index, dtype=object)
        out[name] = _cast(out[name], dtype)
    return out


def empty_timeline() -> pd.DataFrame:
    from evtxscan.records.batch import empty_frame

    text = pd.StringDtype("pyarrow")
    return empty_frame().assign(
        message=pd.Series(dtype=text),
        binary_status=pd.Series(dtype=text),
        signatures=pd.Series(dtype=object),
    )


class ResultTables(Protocol):
    """What displays and plots read from a result (a :class:`~evtxscan.results.ScanResult`)."""

    @property
    def timeline(self) -> pd.DataFrame: ...
    @property
    def diagnoses(self) -> pd.DataFrame: ...
    @property
    def hosts(self) -> pd.DataFrame: ...
    @property
    def integrity(self) -> pd.DataFrame: ...
    @property
    def daily(self) -> pd.DataFrame: ...
    def timeline_for(self, host: str) -> pd.DataFrame: ...
    def evidence(self, host: str | None = None) -> pd.DataFrame: ...
