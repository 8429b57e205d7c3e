"""Quoted event text as where-conditions: catalog inserts first, message words otherwise."""

from __future__ import annotations

import re

from evtxscan.authoring.conditions import Condition, insert_conditions, message_condition


def test_service_control_manager_inserts_and_error_codes() -> None:
    found = insert_conditions(
        "Service Control Manager",
        7023,
        "The Widget service terminated with the following error: "
        "The system cannot find the file specified.",
    )
    assert found == [
        Condition("data.1", "equals", "Widget"),
        Condition("data.2", "any_of", ("%%2", "2", "The system cannot find the file specified")),
    ]


def test_placeholders_give_no_condition() -> None:
    found = insert_conditions(
        "Service Control Manager",
        7000,
        "The <service name> service failed to start due to the following error: "
        "The service did not respond to the start or control request in a timely fashion.",
    )
    assert found is not None
    assert [c.field for c in found] == ["data.2"]  # the service name is a placeholder


def test_no_template_or_no_fit() -> None:
    assert insert_conditions("NoSuchWidgetSource", 5, "Anything at all here.") is None
    assert insert_conditions("Service Control Manager", 7023, "Words that fit no template") is None


def test_message_words() -> None:
    found = message_condition(
        "MSExchangeIS (386) The database engine could not access the file called e:\\data."
    )
    assert found is not None and found.field == "message"
    pattern = re.compile(str(found.value), re.IGNORECASE)
    assert pattern.search("ESE (12) The database engine could not access the file called x")
    assert not pattern.search("The database engine stopped")


def test_short_or_placeholder_text_is_not_specific() -> None:
    assert message_condition("<computer name> is down.") is None
    assert message_condition("Error 0x451.") is None
    assert message_condition("") is None
    # boilerplate does not count as the problem's text
    assert message_condition("For more information, see Help and Support Center at a site.") is None
