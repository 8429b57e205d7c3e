"""Windows event-log XML exports (wevtutil, Event Viewer "Save as XML", PowerShell ToXml)."""

from evtxscan.sources.xml.encoding import detect_encoding
from evtxscan.sources.xml.reader import (
    XmlEvent,
    iter_xml_events,
    read_xml_export,
    rendering_info,
)

__all__ = ["XmlEvent", "detect_encoding", "iter_xml_events", "read_xml_export", "rendering_info"]
