"""Test helpers: writers of valid (or deliberately damaged) .evtx and legacy .evt files."""

from evtxscan.synth.binxml import DataValue, HexInt32, HexInt64, Sid
from evtxscan.synth.evt_writer import EvtEventSpec, EvtOptions, evt_bytes, write_evt
from evtxscan.synth.evtx_writer import EventSpec, EvtxOptions, UserData, evtx_bytes, write_evtx

__all__ = [
    "DataValue",
    "EventSpec",
    "EvtEventSpec",
    "EvtOptions",
    "EvtxOptions",
    "HexInt32",
    "HexInt64",
    "Sid",
    "UserData",
    "evt_bytes",
    "evtx_bytes",
    "write_evt",
    "write_evtx",
]
