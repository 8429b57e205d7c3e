"""Assemble a message catalog from the built-in data and the user's options."""

from __future__ import annotations

from pathlib import Path

from evtxscan.messages.catalog import MessageCatalog, builtin_catalog, catalog_files, parse_catalog
from evtxscan.messages.template_db import TemplateDatabase
from evtxscan.messages.templates import TemplateSource, builtin_templates
from evtxscan.messages.winevt_rc import WinevtRcDatabase


def load_catalog(
    *directories: str | Path,
    database: str | Path | None = None,
    messages_db: str | Path | None = None,
) -> MessageCatalog:
    """The built-in catalogs plus the YAML catalogs in ``directories`` (theirs win).

    ``messages_db``: a message-template database in the ts-evtx schema, asked before the
    built-in template catalog. ``database``: a plaso ``winevt-rc.db``, asked for events no
    catalog knows.
    """
    extra = [parse_catalog(t, n) for d in directories for n, t in catalog_files(Path(d))]
    external = WinevtRcDatabase(database) if database is not None else None
    templates: list[TemplateSource] = [builtin_templates()]
    if messages_db is not None:
        templates.insert(0, TemplateDatabase(messages_db))
    return MessageCatalog([*extra, *builtin_catalog().providers], external, templates)
