import pytest

from evtxscan.messages.formatting import format_message


@pytest.mark.parametrize(
    ("template", "inserts", "expected"),
    [
        (
            "The %1 service terminated with the following error: %n%2",
            ["Server", "x"],
            "The Server service terminated with the following error: \nx",
        ),
        ("a%tb%%c%.%!", [], "a\tb%c.!"),
        ("value %1!x! and %2!08X!", ["255", "48879"], "value ff and 0000BEEF"),
        ("signed %1!d!", ["-5"], "signed -5"),
        ("text %1!s!", ["abc"], "text abc"),
        ("missing %3 stays", ["a"], "missing %3 stays"),
        ("stop here%0 and not here", [], "stop here"),
        ("%10 after %1", ["a", "", "", "", "", "", "", "", "", "ten"], "ten after a"),
        ("not a number %1!x!", ["abc"], "not a number abc"),
        ("trailing %", [], "trailing %"),
    ],
)
def test_format_message(template: str, inserts: list[str], expected: str) -> None:
    assert format_message(template, inserts) == expected


def test_expand_runs_on_inserts_only() -> None:
    out = format_message("%1 / %%2", ["%%5"], expand=lambda v: v.replace("%%5", "Access"))
    assert out == "Access / %2"
