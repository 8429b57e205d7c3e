"""Offline message rendering: catalogs, FormatMessage syntax, error and parameter tables,
and an optional external message database (plaso's winevt-rc.db)."""

from evtxscan.messages.catalog import CatalogError, MessageCatalog, load_catalog
from evtxscan.messages.formatting import format_message
from evtxscan.messages.render import MessageRenderer, add_messages
from evtxscan.messages.winevt_rc import ExternalDatabaseError, WinevtRcDatabase

__all__ = [
    "CatalogError",
    "ExternalDatabaseError",
    "MessageCatalog",
    "MessageRenderer",
    "WinevtRcDatabase",
    "add_messages",
    "format_message",
    "load_catalog",
]
