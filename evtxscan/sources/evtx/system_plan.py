"""Where a template keeps each System field: a substitution slot, a constant, or nowhere.

Windows writes most System values as substitutions (a fixed slot of the value array per
field) and some as literal text in the template (Computer always, Channel and the Provider
attributes often): those are constants of the template. The plan is derived once per
template and tells the record index where to read every field of every record using it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from functools import cached_property

from evtxscan.sources.evtx.template import Literal, Node, Piece, Sub


class Source(Enum):
    """How a template provides one System field."""

    ABSENT = "absent"  # the element or attribute is not in the template
    CONSTANT = "constant"  # literal text in the template
    SLOT = "slot"  # one substitution value


#: System fields (the record schema's names) -> (element, attribute or None for its text).
FIELD_PLACES: dict[str, tuple[str, str | None]] = {
    "provider": ("Provider", "Name"),
    "provider_guid": ("Provider", "Guid"),
    "event_source_name": ("Provider", "EventSourceName"),
    "event_id": ("EventID", None),
    "qualifiers": ("EventID", "Qualifiers"),
    "version": ("Version", None),
    "level": ("Level", None),
    "task": ("Task", None),
    "opcode": ("Opcode", None),
    "keywords": ("Keywords", None),
    "time_created": ("TimeCreated", "SystemTime"),
    "event_record_id": ("EventRecordID", None),
    "process_id": ("Execution", "ProcessID"),
    "thread_id": ("Execution", "ThreadID"),
    "channel": ("Channel", None),
    "computer": ("Computer", None),
    "user_sid": ("Security", "UserID"),
}


#: The highest substitution slot a System field (or, in the decoder, an EventData value) may
#: use (Windows' System template uses 0-17; the readers take every record's slots up to the
#: highest one its templates use, so a damaged template naming slot 60,000 would cost
#: 240 KB a record). Records of templates beyond it go to the renderer.
MAX_SLOT = 256


@dataclass(frozen=True)
class FieldPlan:
    """One field's source. An attribute whose value is empty is left out (the field is
    absent); an element's text is present, if empty."""

    source: Source
    attribute: bool
    text: str = ""  # CONSTANT
    slot: int = -1  # SLOT: index into the value array
    optional: bool = False  # SLOT: an optional substitution


@dataclass(frozen=True)
class SystemPlan:
    """Every System field's plan, or the reason the template's System is not indexable."""

    fields: dict[str, FieldPlan]
    problem: str | None = None

    @cached_property
    def layout(self) -> tuple[object, ...]:
        """The plan without its constant texts: templates that differ only in literal text
        (as the same template does on two machines: Computer) read their records alike."""
        return (
            self.problem,
            *(
                (plan.source, plan.attribute, plan.slot, plan.optional)
                for plan in self.fields.values()
            ),
        )


#: Plans by System element, kept for the templates still to come: most templates of a log,
#: and the same template on every machine, share one System element.
_KEPT_PLANS = 256
_PLANS: dict[Node, SystemPlan] = {}


def system_plan(root: Node) -> SystemPlan:
    """The plan for a template whose root element is ``root`` (normally ``<Event>``)."""
    systems = [child for child in root.children() if child.name == "System"]
    if len(systems) != 1:
        if not systems and any(isinstance(item, Sub) for item in root.content):
            return SystemPlan({}, "System in a nested BinXml value")
        return SystemPlan({}, f"{len(systems)} System elements")
    found = _PLANS.get(systems[0])
    if found is None:
        if len(_PLANS) >= _KEPT_PLANS:
            _PLANS.clear()
        found = _PLANS[systems[0]] = _plan(systems[0])
    return found


def _plan(system: Node) -> SystemPlan:
    """The plan of a template's System element."""
    if any(isinstance(item, Sub) for item in system.content):
        return SystemPlan({}, "a substitution directly inside System")
    elements: dict[str, Node] = {}  # the first child element of each name
    for item in system.content:
        if isinstance(item, Node):
            elements.setdefault(item.name, item)
    fields: dict[str, FieldPlan] = {}
    attributes: dict[str, dict[str, tuple[Piece, ...]]] = {}  # the first of each name
    for name, (element_name, attribute) in FIELD_PLACES.items():
        element = elements.get(element_name)
        if element is None:
            pieces = None
        elif attribute is not None:
            found = attributes.get(element_name)
            if found is None:
                found = attributes[element_name] = dict(reversed(element.attributes))
            pieces = found.get(attribute)
        elif any(isinstance(item, Node) for item in element.content):
            return SystemPlan({}, f"<{element_name}> holds elements")
        else:
            pieces = element.content  # type: ignore[assignment]  # pieces only, as checked
        plan = _field_plan(pieces, attribute is not None)
        if plan is None:
            return SystemPlan({}, f"<{element_name}> mixes text and substitutions")
        if plan.slot >= MAX_SLOT:  # a damaged template; the index reads slots up to the last
            return SystemPlan({}, f"<{element_name}> in substitution {plan.slot}")
        fields[name] = plan
    return SystemPlan(fields)


def _field_plan(pieces: tuple[Literal | Sub, ...] | None, attribute: bool) -> FieldPlan | None:
    if pieces is None or (attribute and not pieces):  # an attribute without a value is left out
        return _ABSENT[attribute]
    if len(pieces) == 1:
        (piece,) = pieces
        if isinstance(piece, Sub):
            return _slot_plan(attribute, piece.index, piece.optional)
        return FieldPlan(Source.CONSTANT, attribute, text=piece.text)
    if any(isinstance(piece, Sub) for piece in pieces):
        return None
    text = "".join(piece.text for piece in pieces if isinstance(piece, Literal))
    return FieldPlan(Source.CONSTANT, attribute, text=text)


_ABSENT = {attribute: FieldPlan(Source.ABSENT, attribute) for attribute in (False, True)}
#: Slot plans made once (a template's System is planned for every template a process reads,
#: and the plans repeat): at most 2 x MAX_SLOT x 2 of them.
_SLOT_PLANS: dict[tuple[bool, int, bool], FieldPlan] = {}


def _slot_plan(attribute: bool, slot: int, optional: bool) -> FieldPlan:
    key = (attribute, slot, optional)
    found = _SLOT_PLANS.get(key)
    if found is None:
        found = FieldPlan(Source.SLOT, attribute, slot=slot, optional=optional)
        if slot < MAX_SLOT:
            _SLOT_PLANS[key] = found
    return found
