"""Legacy Windows NT/2000/XP/2003 event logs (``.evt``)."""

from evtxscan.sources.evt.reader import read_evt

__all__ = ["read_evt"]
