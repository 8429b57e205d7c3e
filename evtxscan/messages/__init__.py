"""Offline message rendering: catalogs, template choice, FormatMessage syntax, error and
parameter tables, and optional external message databases (``--messages-db``, plaso's
winevt-rc.db)."""

from evtxscan.messages.catalog import (
    CatalogError,
    ExternalDatabaseError,
    MessageCatalog,
    builtin_catalog,
)
from evtxscan.messages.formatting import format_message
from evtxscan.messages.frame import add_messages
from evtxscan.messages.loading import load_catalog
from evtxscan.messages.render import MessageRenderer
from evtxscan.messages.template_db import TemplateDatabase
from evtxscan.messages.winevt_rc import WinevtRcDatabase

__all__ = [
    "CatalogError",
    "ExternalDatabaseError",
    "MessageCatalog",
    "MessageRenderer",
    "TemplateDatabase",
    "WinevtRcDatabase",
    "add_messages",
    "builtin_catalog",
    "format_message",
    "load_catalog",
]
