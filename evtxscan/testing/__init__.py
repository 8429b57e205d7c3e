"""Test helpers: a writer of valid (or deliberately damaged) .evtx files."""

from evtxscan.testing.binxml import DataValue, HexInt32, HexInt64, Sid
from evtxscan.testing.evtx_writer import EventSpec, EvtxOptions, UserData, evtx_bytes, write_evtx

__all__ = [
    "DataValue",
    "EventSpec",
    "EvtxOptions",
    "HexInt32",
    "HexInt64",
    "Sid",
    "UserData",
    "evtx_bytes",
    "write_evtx",
]
