"""Reduce one ``<Event>`` XML element to :class:`EventFields` (the reference normalizer).

This is the slow, general path: lxml, any element order, namespaces, UserData, nested
EventData. The python-evtx backend and the XML-export reader use it for every event; the
pyevtx-rs backend uses it for the events its fast text path does not recognise. Tests assert
that the fast path and this one agree on every sample file.
"""

from __future__ import annotations

from lxml import etree

from evtxscan.records.schema import DataPairs, EventFields

_SAFE_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, recover=False
)
_RECOVERING_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, recover=True
)


def _local(tag: object) -> str:
    text = str(tag)
    return text.rsplit("}", 1)[-1]


def _int(text: str | None, base: int = 10) -> int | None:
    if text is None:
        return None
    text = text.strip()
    if not text:
        return None
    try:
        if text.lower().startswith("0x"):
            return int(text, 16)
        return int(text, base)
    except ValueError:
        return None


def _binary(text: str | None) -> str | None:
    if text is None:
        return None
    text = "".join(text.split()).upper()
    return text or None


def _flatten(element: etree._Element, prefix: str, out: DataPairs) -> None:
    """Append every leaf value below ``element`` with a dotted path name, in document order."""
    for name, value in element.attrib.items():
        if _local(name) != "xmlns":
            out.append((f"{prefix}@{_local(name)}", str(value)))
    children = [c for c in element if isinstance(c.tag, str)]
    if not children:
        out.append((prefix, element.text or ""))
        return
    for child in children:
        _flatten(child, f"{prefix}.{_local(child.tag)}", out)


def _event_data(element: etree._Element) -> tuple[DataPairs, str | None]:
    pairs: DataPairs = []
    binary: str | None = None
    for child in element:
        if not isinstance(child.tag, str):
            continue
        tag = _local(child.tag)
        if tag == "Data":
            name = child.get("Name")
            if len(child):
                _flatten(child, name or "Data", pairs)
            else:
                pairs.append((name, child.text or ""))
        elif tag == "Binary":
            binary = _binary(child.text)
        else:
            _flatten(child, tag, pairs)
    return pairs, binary


def _user_data(element: etree._Element) -> DataPairs:
    pairs: DataPairs = []
    for child in element:
        if isinstance(child.tag, str):
            _flatten(child, _local(child.tag), pairs)
    return pairs


def fields_from_element(event: etree._Element) -> EventFields:
    """Normalize one parsed ``<Event>`` element."""
    system: dict[str, etree._Element] = {}
    data: DataPairs = []
    binary: str | None = None
    for part in event:
        if not isinstance(part.tag, str):
            continue
        tag = _local(part.tag)
        if tag == "System":
            for child in part:
                if isinstance(child.tag, str):
                    system.setdefault(_local(child.tag), child)
        elif tag == "EventData":
            data, binary = _event_data(part)
        elif tag == "UserData":
            data = _user_data(part)
        elif tag != "RenderingInfo":  # ProcessingErrorData, DebugData, ...: keep the values
            _flatten(part, tag, data)

    def text(name: str) -> str | None:
        node = system.get(name)
        return None if node is None else (node.text or "").strip()

    def attr(name: str, attribute: str) -> str | None:
        node = system.get(name)
        return None if node is None else node.get(attribute)

    shown = {
        "event_id": text("EventID"),
        "qualifiers": attr("EventID", "Qualifiers"),
        "version": text("Version"),
        "level": text("Level"),
        "task": text("Task"),
        "opcode": text("Opcode"),
        "keywords": text("Keywords"),
        "event_record_id": text("EventRecordID"),
        "process_id": attr("Execution", "ProcessID"),
        "thread_id": attr("Execution", "ThreadID"),
    }
    numbers = {name: _int(value, 16 if name == "keywords" else 10) for name, value in shown.items()}
    return EventFields(
        provider=attr("Provider", "Name"),
        provider_guid=attr("Provider", "Guid") or None,
        event_source_name=attr("Provider", "EventSourceName"),
        event_id=numbers["event_id"],
        qualifiers=numbers["qualifiers"],
        version=numbers["version"],
        level=numbers["level"],
        task=numbers["task"],
        opcode=numbers["opcode"],
        keywords=numbers["keywords"],
        time_created=attr("TimeCreated", "SystemTime"),
        event_record_id=numbers["event_record_id"],
        process_id=numbers["process_id"],
        thread_id=numbers["thread_id"],
        channel=text("Channel"),
        computer=text("Computer"),
        user_sid=attr("Security", "UserID") or None,
        data=data,
        binary=binary,
        malformed=tuple(
            name for name, value in shown.items() if (value or "").strip() and numbers[name] is None
        ),
    )


def fields_from_xml(xml: str | bytes) -> EventFields:
    """Parse and normalize one event's XML text (entities and DTDs are never resolved).

    Falls back to libxml2's recovering parser for text a strict parser refuses (for example
    control characters a lossy decoder left in a value).
    """
    raw = xml.encode("utf-8") if isinstance(xml, str) else xml
    if raw.startswith(b"<?xml"):
        raw = raw[raw.index(b"?>") + 2 :]
    try:
        root = etree.fromstring(raw, _SAFE_PARSER)
    except etree.XMLSyntaxError:
        root = etree.fromstring(raw, _RECOVERING_PARSER)
        if root is None:
            raise
    return fields_from_element(root)
