"""Text and HTML pieces shared by every view of a result (Jupyter, ``str(result)``, and the
``report.html`` page): display text of a value, and the one diagnosis card.

Every value from the logs is escaped, control characters are made visible, times are shown
in the viewer's zone, and a reference becomes a link only when it is an http(s) address.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from typing import Any

import pandas as pd

from evtxscan.results.evidence import EvidenceKey, evidence_lists

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def card_css(scope: str = "") -> str:
    """The CSS the card needs (classes ``diag`` and ``muted``), optionally under ``scope``."""
    at = f"{scope} " if scope else ""
    return (
        f"{at}.diag{{background:#fff7e6;border-left:4px solid #e69500;padding:.3em .8em;"
        f"margin:.5em 0}}{at}.muted{{color:#666}}"
    )


def plain(value: Any, tz: str = "UTC") -> str:
    """Display text: '' when missing, times in ``tz``, control characters escaped."""
    if value is None or value is pd.NA or value is pd.NaT or (value != value) is True:
        return ""
    if isinstance(value, pd.Timestamp):
        if value.tzinfo is None:
            return value.strftime("%Y-%m-%d %H:%M:%S")
        return value.tz_convert(tz).strftime("%Y-%m-%d %H:%M:%S %Z")
    if isinstance(value, float):
        return f"{value:.2f}"
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(value))


def escaped(value: Any, tz: str = "UTC") -> str:
    """:func:`plain` text, HTML-escaped."""
    return html.escape(plain(value, tz))


def safe_link(url: Any, text_html: str) -> str:
    """``text_html`` as a link to ``url`` when it is an http(s) address, else as it is."""
    target = plain(url)
    if not target.startswith(("https://", "http://")):
        return text_html
    return f'<a href="{html.escape(target)}" target="_blank" rel="noopener">{text_html}</a>'


def _evidence_item(key: EvidenceKey, tz: str) -> str:
    return (
        f"<li>{escaped(key.time, tz)}: {escaped(key.channel)} {escaped(key.provider)} "
        f"{escaped(key.event_id)} ({escaped(key.symptom)}), record "
        f"{escaped(key.event_record_id)} in {escaped(key.source_file)}</li>"
    )


def diagnosis_card(row: Mapping[Any, Any], *, tz: str = "UTC", show_host: bool = True) -> str:
    """One diagnosis as an HTML card: title, KB link, confidence, occurrences, time span,
    cause, resolution and the evidence records (collapsed)."""
    keys = evidence_lists(pd.Series([row.get("evidence")], dtype=object))[0]
    kb = safe_link(row.get("reference"), escaped(row.get("kb")) or "no KB article")
    rating = f"confidence {escaped(row.get('confidence'))}"
    if row.get("kind") == "sigma":  # the DRL asks reports of matches to keep the author
        kb = (
            f"Sigma rule {escaped(row.get('signature_id'))} ("
            + safe_link(row.get("reference"), "reference")
            + ")"
        )
        rating = (
            f"level {escaped(row.get('level'))} &middot; by {escaped(row.get('author'))} "
            f"&middot; licence {escaped(row.get('licence'))}"
        )
    host = f"<b>{escaped(row.get('host'))}</b>: " if show_host else ""
    items = "".join(_evidence_item(k, tz) for k in keys)
    return (
        f'<div class="diag">{host}<b>{escaped(row.get("title"))}</b><br>'
        f'<span class="muted">{kb} &middot; {rating} '
        f"&middot; {int(row.get('occurrences') or 0)} occurrence(s) &middot; "
        f"{escaped(row.get('first_seen'), tz)} to {escaped(row.get('last_seen'), tz)}</span>"
        f"<p><b>Cause.</b> {escaped(row.get('cause'))}</p>"
        f"<p><b>Resolution.</b> {escaped(row.get('resolution'))}</p>"
        f"<details><summary>Evidence ({len(keys)} records)</summary><ul>{items}</ul>"
        f"</details></div>"
    )
