"""Cause and resolution of a draft, in our own words, from facts the article states.

Nothing is copied from the article's prose: its CAUSE, RESOLUTION, WORKAROUND and STATUS
sections are only searched for topics (a closed list of keywords, each with our own
phrase) and for named entities (files, services, registry keys, error codes), and fixed
templates put those together: "The article attributes this to ...; it advises ...".
"""

from __future__ import annotations

import re

from evtxscan.authoring.entities import Entity
from evtxscan.authoring.kb_article import KbArticle

#: (pattern in the cause text, our phrase for it); at most :data:`MAX_TOPICS` are used.
CAUSE_TOPICS: tuple[tuple[str, str], ...] = (
    (r"service pack|hotfix|\bfix\b", "a Service Pack or hotfix"),
    (r"version|mismatch|incompatib|older|newer|out of date", "mismatched file versions"),
    (r"registry|value", "a registry setting"),
    (r"permission|rights|access denied|privilege", "missing permissions or rights"),
    (r"corrupt|damaged|inconsisten", "damaged data"),
    (r"disk space|disk is full|out of space|free space", "a lack of disk space"),
    (r"memory|leak|pool", "memory use"),
    (r"password|account|logon|log on|credential", "an account or logon problem"),
    (r"\bdns\b|\bwins\b|name resolution|resolve", "name resolution"),
    (r"network|connect|tcp/ip|netbios|protocol|transport|binding", "network connectivity"),
    (r"driver", "a device driver"),
    (r"hardware|adapter|\bcard\b|\bnic\b|controller|firmware", "hardware or an adapter"),
    (r"timeout|time-out|timed out|too long", "a timeout"),
    (r"configur|setting|parameter", "the configuration"),
    (r"install|setup|upgrade|remov", "an installation or upgrade step"),
    (r"certificate|encrypt|security", "security settings"),
    (r"database|\bstore\b|log file", "the database or its logs"),
    (r"replicat|synchroni", "replication"),
    (r"by design", "behaviour that is by design"),
    (r"\bbug\b|confirmed this to be a problem|code defect|problem in", "a product defect"),
)
#: (pattern in the fix text, our phrase for the step).
RESOLUTION_ACTIONS: tuple[tuple[str, str], ...] = (
    (r"service pack|hotfix|\bfix\b|corrected in", "installing the fix or Service Pack it names"),
    (r"registry|regedt32|regedit", "a registry change (back up the registry first)"),
    (r"reinstall|re-install|run setup again|rerun setup", "reinstalling the component"),
    (r"copy|replace|expand|extract", "putting the correct file versions in place"),
    (r"delete|remove|rename", "removing or renaming what it lists"),
    (r"permission|rights|grant", "granting the rights it lists"),
    (r"increase|raise|larger|maximum", "raising a limit or parameter"),
    (
        r"disable|enable|turn off|turn on|clear the check box|select the check box",
        "a setting change",
    ),
    (r"restart|reboot|stop and start|start the service", "restarting the service or computer"),
    (r"upgrade|update", "upgrading"),
    (r"restor|backup|back up", "restoring from a backup"),
    (r"contact|product support", "contacting product support"),
)
MAX_TOPICS = 3
MAX_NAMED = 4
_NAMED_KINDS = ("module", "service", "registry_key", "error_code", "symbol")


def _text(article: KbArticle, names: tuple[str, ...]) -> str:
    parts = [s.text() for s in article.sections if s.name in names]
    return " ".join(parts)


def _phrases(text: str, table: tuple[tuple[str, str], ...]) -> list[str]:
    found = [phrase for pattern, phrase in table if re.search(pattern, text, re.IGNORECASE)]
    return list(dict.fromkeys(found))[:MAX_TOPICS]


def _listing(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _named(entities: list[Entity], sections: tuple[str, ...]) -> list[str]:
    chosen = [e for e in entities if e.section in sections and e.kind in _NAMED_KINDS]
    chosen.sort(key=lambda e: _NAMED_KINDS.index(e.kind))
    values = []
    for entity in chosen:
        value = entity.value if entity.kind != "error_code" else f"error {entity.value}"
        if entity.kind == "service":
            value = f"the {entity.value} service"
        values.append(value)
    return list(dict.fromkeys(values))[:MAX_NAMED]


def cause_text(article: KbArticle, entities: list[Entity]) -> str:
    """One or two sentences on the cause, built from topics and names in CAUSE/STATUS."""
    text = _text(article, ("CAUSE", "STATUS"))
    topics = _phrases(text, CAUSE_TOPICS)
    named = _named(entities, ("CAUSE",))
    if not text:
        head = f"{article.article_id} gives no separate cause for these events"
    elif topics:
        head = f"{article.article_id} attributes these events to {_listing(topics)}"
    else:
        head = f"{article.article_id} explains the cause in its CAUSE section"
    if named:
        head += f"; it names {_listing(named)}"
    products = "; ".join(article.products) or "the product"
    return (
        f"Draft (not curated): {head}. Product: {products}. Check the article before acting "
        "on this finding."
    )


def resolution_text(article: KbArticle, entities: list[Entity]) -> str:
    """One or two sentences on the fix, built from actions and names in the fix sections."""
    text = _text(article, ("RESOLUTION", "WORKAROUND", "STATUS"))
    actions = _phrases(text, RESOLUTION_ACTIONS)
    named = _named(entities, ("RESOLUTION", "WORKAROUND"))
    if re.search(r"by design", text, re.IGNORECASE) and not actions:
        head = "It describes the behaviour as by design"
    elif actions:
        head = f"It advises {_listing(actions)}"
    elif text:
        head = "It gives steps in its resolution section"
    else:
        head = "It gives no resolution"
    if named:
        head += f", involving {_listing(named)}"
    return f"{head}. Follow the exact steps in {article.article_id}: {article.link}"
