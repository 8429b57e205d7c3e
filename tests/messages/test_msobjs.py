"""Security auditing's %%N parameters resolve from MsObjs.dll's table, never from Win32."""

from pathlib import Path

import pytest

from evtxscan.messages import MessageRenderer, load_catalog
from evtxscan.messages.error_tables import parameter_table, win32_message
from evtxscan.messages.rules import template_rules

# Every %%N seen in the real Security samples (shared/samples).
SEEN = [
    *(1537, 1538, 1539, 1540, 1541, 1542, 1552, 1553, 1554, 1793, 1794, 1797, 1801, 1804),
    *(1805, 1811, 1832, 1833, 1840, 1842, 1843, 1846, 1848, 1936, 1937, 1938, 2048, 2050),
    *(2080, 2082, 2084, 2089, 2304, 2309, 2310, 2313, 2432, 2457, 2458, 2459, 2464, 2480),
    *(2481, 2499, 2500, *range(4416, 4425), *range(4432, 4438), 4448, *range(4480, 4496)),
    *(8099, 8100, 8101, 8273, 8274, 8278, 8279, 8280, 8449, 8451),
]


def test_every_parameter_seen_in_the_samples_is_known() -> None:
    table = parameter_table("msobjs")
    assert [n for n in SEEN if n not in table] == []


@pytest.mark.parametrize(
    ("number", "text"),
    [
        (1832, "Identification"),
        (1833, "Impersonation"),
        (1840, "Delegation"),
        (1842, "Yes"),
        (1843, "No"),
        (1793, "<value not set>"),
        (1794, "<never>"),
        (1936, "TokenElevationTypeDefault (1)"),
        (1937, "TokenElevationTypeFull (2)"),
        (1938, "TokenElevationTypeLimited (3)"),
        (2080, "Account Disabled"),
        (2082, "'Password Not Required' - Enabled"),
        (2084, "'Normal Account' - Enabled"),
        (2304, "An Error occured during Logon."),
        (2313, "Unknown user name or bad password."),
        (4416, "ReadData (or ListDirectory)"),
        (4484, "Read from process memory"),
        (8274, "Object Access"),
        (8449, "Success Added"),
    ],
)
def test_msobjs_texts(number: int, text: str) -> None:
    assert parameter_table("msobjs")[number] == text


def test_security_uses_msobjs_under_both_names() -> None:
    rules = template_rules()
    for name in ("Microsoft-Windows-Security-Auditing", "Security", "security"):
        assert rules.parameter_table(name) == "msobjs"


def test_security_parameters_never_resolve_from_win32() -> None:
    renderer = MessageRenderer()
    # 1793 is both "<value not set>" (MsObjs) and "The user's account has expired." (Win32).
    assert win32_message(1793) == "The user's account has expired."
    # Two values fit no 4720 template: the fallback still resolves through MsObjs.
    text = renderer.render("Security", None, 4720, None, 0, ["alice", "%%1793"])
    assert text == "Security event 4720: alice; <value not set>"
    # 2 is a Win32 code only: a Security %%2 stays as it is.
    assert renderer.render("Security", None, 4625, None, 0, ["%%2"]).endswith(": %%2")
    assert renderer.expand(None, "%%1833 / %%2313", ("Security",)) == (
        "Impersonation / Unknown user name or bad password."
    )


def test_a_full_security_template_resolves_inserts(tmp_path: Path) -> None:
    (tmp_path / "sec.yaml").write_text(
        "provider: Microsoft-Windows-Security-Auditing\n"
        "aliases: [Microsoft-Windows-Security-Auditing, Security]\n"
        "parameters: msobjs\n"
        "events:\n"
        "  4624: 'Logon of %1.%n%tImpersonation Level:%t%2%n%tElevated Token:%t%3'\n"
    )
    renderer = MessageRenderer(load_catalog(tmp_path))
    text = renderer.render(
        "Microsoft-Windows-Security-Auditing", None, 4624, None, 0, ["bob", "%%1833", "%%1842"]
    )
    # Tabs read as Windows aligns them: leading ones indent, inner ones separate.
    assert text == "Logon of bob.\n  Impersonation Level: Impersonation\n  Elevated Token: Yes"
