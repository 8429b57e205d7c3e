from pathlib import Path

import pytest

import evtxscan
from evtxscan.messages import CatalogError, MessageRenderer, add_messages, load_catalog
from evtxscan.messages.catalog import parse_catalog
from evtxscan.messages.error_tables import ntstatus_message, win32_message
from evtxscan.messages.render import io_packet_status


@pytest.fixture(scope="module")
def renderer() -> MessageRenderer:
    return MessageRenderer()


def test_7023_for_the_server_service_renders_as_windows_shows_it(renderer: MessageRenderer) -> None:
    text = renderer.render("Service Control Manager", None, 7023, 0xC000, 2, ["Server", "%%2"])
    assert text == (
        "The Server service terminated with the following error: \n"
        "The system cannot find the file specified."
    )


def test_legacy_source_name_and_aliases_match(renderer: MessageRenderer) -> None:
    assert renderer.render("Srv", None, 2508, 0xC000, 2, []) == (
        "The server service was unable to load the server driver."
    )
    assert renderer.render(None, "eventlog", 6005, None, 4, [""]) == (
        "The Event log service was started."
    )


def test_application_popup_without_qualifiers_uses_the_level(renderer: MessageRenderer) -> None:
    text = renderer.render("Application Popup", None, 26, None, 4, ["Caption", "Body"])
    assert text == "Application popup: Caption : Body"


def test_6009_with_four_or_five_strings(renderer: MessageRenderer) -> None:
    xp = renderer.render(
        "EventLog", None, 6009, 0x8000, 4, ["5.01.", "2600", "Service Pack 2", "Uniprocessor Free"]
    )
    win7 = renderer.render(
        "EventLog",
        None,
        6009,
        0x8000,
        4,
        ["6.01.", "7601", "Service Pack 1", "Multiprocessor Free", "17514"],
    )
    assert xp == "Microsoft (R) Windows (R) 5.01. 2600 Service Pack 2 Uniprocessor Free."
    assert win7 == "Microsoft (R) Windows (R) 6.01. 7601 Service Pack 1 Multiprocessor Free."


def test_parameters_only_from_the_providers_own_table(renderer: MessageRenderer) -> None:
    # An unknown provider's %%2 is not guessed to be Win32.
    assert renderer.render("Some Vendor Service", None, 1, None, 2, ["%%2"]) == (
        "Some Vendor Service event 1: %%2"
    )
    # 7024 carries a service-specific code: shown as the number, never looked up.
    text = renderer.render("Service Control Manager", None, 7024, 0xC000, 2, ["Spooler", "8"])
    assert text.endswith("\n8")


def test_fallbacks_are_never_empty(renderer: MessageRenderer) -> None:
    assert renderer.render(None, None, None, None, None, []) == "Unknown provider event ?"
    assert renderer.render("X", None, 5, None, 4, [], logged="Logged text") == "Logged text"


def test_error_tables() -> None:
    assert win32_message(1067) == "The process terminated unexpectedly."
    assert win32_message(2) == "The system cannot find the file specified."
    assert (
        ntstatus_message(0xC000009A) == "Insufficient system resources exist to complete the API."
    )
    assert win32_message(99999) is None


def test_io_error_log_packet_status() -> None:
    packet = bytearray(0x28)
    packet[0x0C:0x10] = (0xC00009CC).to_bytes(4, "little")  # full ID of event 2508 | 0xC000
    packet[0x14:0x18] = (0xC000009A).to_bytes(4, "little")
    assert io_packet_status(packet.hex().upper(), 2508, 0xC000, declared=False) == "0xC000009A"
    assert io_packet_status(packet.hex().upper(), 2509, 0xC000, declared=False) is None
    assert io_packet_status("34000000", 2505, 0xC000, declared=True) is None


def test_add_messages_on_the_demo_collection() -> None:
    demo = Path(__file__).resolve().parents[2] / "demo" / "collection"
    frame = add_messages(evtxscan.read_frame(demo / "fs01"))
    server = frame[frame["event_id"] == 7023].iloc[0]
    assert server["message"].endswith("The system cannot find the file specified.")
    assert frame[frame["event_id"] == 2508].iloc[0]["binary_status"] == "0xC0000034"
    assert frame["message"].str.len().min() > 0


def test_malformed_catalog_says_where(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match=r"bad\.yaml: event key 'x'"):
        parse_catalog("provider: P\nevents:\n  x: text\n", "bad.yaml")
    with pytest.raises(CatalogError, match="needs a 'provider'"):
        parse_catalog("events: {}\n", "none.yaml")
    (tmp_path / "mine.yaml").write_text(
        "provider: Service Control Manager\nparameters: win32\nevents:\n  7023: 'Custom %1'\n"
    )
    mine = MessageRenderer(load_catalog(tmp_path))
    assert mine.render("Service Control Manager", None, 7023, None, 2, ["A", "%%2"]) == "Custom A"
