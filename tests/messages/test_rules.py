"""The template rules file: parameter tables, aliases and pins, validated with locations."""

from __future__ import annotations

import pytest

from evtxscan.messages import CatalogError, MessageRenderer
from evtxscan.messages.rules import parse_rules, template_rules


def test_shipped_rules() -> None:
    rules = template_rules()
    assert rules.parameter_table("Service Control Manager") == "win32"
    assert rules.parameter_table("Microsoft-Windows-GroupPolicy") == "own"
    assert rules.parameter_table("Vendor") is None
    assert rules.alias("windows update agent") == "Microsoft-Windows-WindowsUpdateClient"
    assert rules.pinned("Microsoft-Windows-Kernel-Power", 41)


def test_group_policy_parameters_come_from_its_own_messages() -> None:
    renderer = MessageRenderer()
    text = renderer.render(
        "Microsoft-Windows-GroupPolicy", None, 5320, None, 4, ["%%4165"], None, ["InfoDescription"]
    )
    assert text == "Finished checking for non-system extensions."


def test_legacy_source_alias_renders_with_the_modern_provider() -> None:
    text = MessageRenderer().render(None, "Windows Update Agent", 19, None, 4, ["KB123"])
    assert (
        text
        == "Installation Successful: Windows successfully installed the following update: KB123"
    )


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("parameters:\n  kernel33: [A]\n", "unknown table 'kernel33'"),
        ("parameters:\n  win32: A\n", "parameters.win32: must be a list"),
        ("aliases: [A]\n", "aliases must map"),
        ("pins:\n  - provider: P\n", "pin 1: needs an event ID"),
        ("pins:\n  - event: 1\n", "pin 1: needs a provider"),
        ("- 1\n", "must be a mapping"),
    ],
)
def test_malformed_rules_say_where(text: str, error: str) -> None:
    with pytest.raises(CatalogError, match=error):
        parse_rules(text, "rules.yaml")
