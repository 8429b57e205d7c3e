"""Offline message rendering: catalogs, FormatMessage syntax, error and parameter tables."""

from evtxscan.messages.catalog import CatalogError, MessageCatalog, load_catalog
from evtxscan.messages.formatting import format_message
from evtxscan.messages.render import MessageRenderer, add_messages

__all__ = [
    "CatalogError",
    "MessageCatalog",
    "MessageRenderer",
    "add_messages",
    "format_message",
    "load_catalog",
]
