"""Assemble a message catalog from the built-in data and the user's options."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from evtxscan.messages.catalog import MessageCatalog, builtin_catalog, catalog_files, parse_catalog
from evtxscan.messages.frame import add_messages
from evtxscan.messages.render import MessageRenderer
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


@dataclass(frozen=True)
class MessageColumns:
    """A batch transform adding the ``message`` and ``binary_status`` columns with the
    catalog these options load. Small and picklable: a worker process given it renders the
    batches it reads, not the process gathering them. Each process loads the catalog once
    for itself (a message database's connection must not cross a fork); the caller's
    process uses the catalog it loaded (:meth:`use`)."""

    directories: tuple[str, ...] = ()
    messages_db: str | None = None

    def use(self, catalog: MessageCatalog) -> None:
        """Render with ``catalog`` (loaded by the caller) in this process."""
        _RENDERERS.clear()  # one set of options at a time
        _RENDERERS[self] = (os.getpid(), MessageRenderer(catalog))

    def __call__(self, frame: pd.DataFrame) -> pd.DataFrame:
        found = _RENDERERS.get(self)
        if found is None or found[0] != os.getpid():  # none yet, or the parent's
            self.use(load_catalog(*self.directories, messages_db=self.messages_db))
            found = _RENDERERS[self]
        return add_messages(frame, found[1])


_RENDERERS: dict[MessageColumns, tuple[int, MessageRenderer]] = {}
