"""Choosing a template among the candidates of one (provider, event ID)."""

from __future__ import annotations

from evtxscan.messages.choice import Verdict, alignment, choose, is_label, name_words
from evtxscan.messages.templates import Candidate, builtin_templates

KERNEL_GENERAL = "Microsoft-Windows-Kernel-General"


def _candidates(provider: str, event_id: int) -> tuple[Candidate, ...]:
    found = builtin_templates().candidates(provider, event_id)
    assert found, f"no candidates for {provider} {event_id}"
    return found


def test_kernel_general_12_is_the_boot_event() -> None:
    # Six candidates share the ID (the message file is shared with other kernel providers).
    names = (
        "MajorVersion",
        "MinorVersion",
        "BuildVersion",
        "QfeVersion",
        "ServiceVersion",
        "BootMode",
        "StartTime",
    )
    candidates = _candidates(KERNEL_GENERAL, 12)
    assert len(candidates) >= 6
    choice = choose(candidates, names)
    assert choice.text == "The operating system started at system time %7."
    assert choice.verdict is Verdict.CHOSEN


def test_kernel_general_1_picks_the_time_change_wording_the_record_fits() -> None:
    candidates = _candidates(KERNEL_GENERAL, 1)
    short = choose(candidates, ("NewTime", "OldTime", "Reason")).text
    assert short == "The system time has changed to %1 from %2.%n%nChange Reason: %3."
    longer = choose(candidates, ("NewTime", "OldTime", "Reason", "ProcessName", "ProcessID")).text
    assert longer is not None and longer.endswith("Process: '%4' (PID %5).")
    # "Process %1 started at time %2 ..." has five inserts too, but its words do not fit.
    assert "started at time" not in longer


def test_unrelated_sole_candidates_from_a_sibling_file_never_win() -> None:
    # FilterManager 6 has its own template and a sibling's "The device, %1, had a seek error."
    names = ("FinalStatus", "DeviceVersionMajor", "DeviceVersionMinor", "DeviceNameLength")
    names += ("DeviceName", "DeviceTime")
    text = choose(_candidates("Microsoft-Windows-FilterManager", 6), names).text
    assert text is not None and text.startswith("File System Filter '%5'")


def test_no_candidate_fits_too_few_values() -> None:
    candidates = (Candidate("Value %1 and %2."),)
    assert choose(candidates, ("A",)) == choose(candidates, ("A",))
    assert choose(candidates, ("A",)).verdict is Verdict.NO_FIT
    assert choose(candidates, ("A",)).text is None
    assert choose((), ("A",)).verdict is Verdict.NO_CANDIDATE


def test_two_unaligned_templates_are_ambiguous() -> None:
    candidates = (Candidate("Disk %1 failed."), Candidate("Printer %1 jammed."))
    choice = choose(candidates, ("QueueLength",))
    assert choice.text is None and choice.verdict is Verdict.AMBIGUOUS


def test_two_zero_insert_sentences_are_ambiguous_until_pinned() -> None:
    candidates = (Candidate("Group Policy Session started."), Candidate("Making system call."))
    assert choose(candidates, ("IsMachine",)).verdict is Verdict.AMBIGUOUS
    pinned = choose(candidates, ("IsMachine",), {"Group Policy Session": None})
    assert pinned.text == "Group Policy Session started." and pinned.verdict is Verdict.PINNED


def test_labels_are_never_messages() -> None:
    assert is_label("Start")
    assert is_label("Boot Chain Signer Hard Enforced")
    assert not is_label("DHCPv4 client service is started")
    assert not is_label("The system has resumed from sleep.")
    assert not is_label("Deprecated module %1.")
    assert choose((Candidate("Start"),), ()).verdict is Verdict.NO_FIT


def test_positional_values_prefer_the_template_using_most_inserts() -> None:
    candidates = (Candidate("Short %1."), Candidate("Long %1 and %2."))
    assert choose(candidates, (None, None)).text == "Long %1 and %2."
    assert choose(candidates, (None,)).text == "Short %1."


def test_alignment_reads_the_words_next_to_each_insert() -> None:
    assert alignment("Change Reason: %1", ("Reason",)) == 1.0
    assert alignment("Process %1 started", ("NewTime",)) == 0.0
    assert name_words("InstallDeviceID.DriverName") >= {"insta", "devic", "drive", "name"}
    assert "tm" in name_words("TmId")


def test_application_error_1000_reads_its_hex_values_with_0x() -> None:
    from evtxscan.messages import MessageRenderer

    values = ["Explorer.EXE", "10.0.22000.318", "b0f3b043", "Windows.UI.Xaml.dll"]
    values += ["10.0.22000.318", "468bae17", "c000027b", "000000000033dd00", "10c4"]
    values += ["01d87b9236889552", "C:\\Windows\\Explorer.EXE", "C:\\x.dll", "{1CE4}", "", ""]
    text = MessageRenderer().render("Application Error", None, 1000, 0, 2, values)
    assert "\nFaulting process id: 0x10c4\nFaulting application start time: 0x01d87b" in text
    assert text.startswith("Faulting application name: Explorer.EXE, version: 10.0.22000.318")
