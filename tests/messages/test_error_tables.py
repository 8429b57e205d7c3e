"""The whole Win32 and NTSTATUS tables, curated wording first, and HRESULTs of facility Win32."""

from __future__ import annotations

from evtxscan.messages import MessageRenderer
from evtxscan.messages.error_tables import (
    hresult_win32_code,
    ntstatus_codes,
    ntstatus_message,
    win32_errors,
    win32_message,
)


def test_the_whole_win32_table_is_there() -> None:
    table = win32_errors()
    assert len(table) > 2700
    assert win32_message(126) == "The specified module could not be found."
    assert win32_message(641) == "The system is in the process of shutting down."
    assert win32_message(1311) == (
        "There are currently no logon servers available to service the logon request."
    )
    assert win32_message(5906) == "No network adapters are available."
    # A code whose only "text" is its symbolic name has none.
    assert win32_message(640) is None


def test_curated_wording_wins_over_ms_erref() -> None:
    # MS-ERREF words 14 as "Not enough storage ..."; Event Viewer shows the FormatMessage text.
    assert win32_message(14) == (
        "Not enough memory resources are available to complete this operation."
    )


def test_the_whole_ntstatus_table_is_there() -> None:
    assert len(ntstatus_codes()) > 1700
    assert ntstatus_message(0xC0000034) == "Object Name not found."
    assert ntstatus_message(0xC000006D) is not None


def test_hresult_of_facility_win32() -> None:
    assert hresult_win32_code(2147942414) == 14  # 0x8007000E
    assert hresult_win32_code(0x80070005) == 5
    assert hresult_win32_code(0x80004005) is None  # E_FAIL: facility null
    assert hresult_win32_code(14) is None
    assert hresult_win32_code(0x1_0000_0000) is None


def test_hresult_parameters_decode_to_the_win32_text() -> None:
    renderer = MessageRenderer()
    text = renderer.render("Service Control Manager", None, 7023, 0xC000, 2, ["X", "%%2147942414"])
    assert text.endswith("Not enough memory resources are available to complete this operation.")
    # An unknown provider's small %%N is still never guessed; an HRESULT is unambiguous.
    assert renderer.render("Vendor", None, 1, None, 2, ["%%2"]) == "Vendor event 1: %%2"
    assert renderer.render("Vendor", None, 1, None, 2, ["%%2147942405"]) == (
        "Vendor event 1: Access is denied."
    )


def test_build_reads_impacket_tables_as_data(tmp_path: object) -> None:
    from evtxscan.messages.build_error_tables import read_messages

    source = (
        "# comment\nimport os\nERROR_MESSAGES = {\n"
        '    0x00000002: ("ERROR_FILE_NOT_FOUND", "The system cannot find the file specified."),\n'
        '    0x00000280: ("ERROR_MULTIPLE_FAULT_VIOLATION", "ERROR_MULTIPLE_FAULT_VIOLATION"),\n'
        "}\n"
    )
    assert read_messages(source) == {2: "The system cannot find the file specified."}
