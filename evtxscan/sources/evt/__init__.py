"""Legacy Windows NT/2000/XP/2003 event logs (``.evt``)."""

from evtxscan.sources.evt.reader import read_evt, read_evt_at

__all__ = ["read_evt", "read_evt_at"]
