"""A file's trailing zeros are found as stripping them would, whatever holds the bytes."""

from __future__ import annotations

import mmap
import random
from pathlib import Path

import pytest

from evtxscan.sources.evtx import zero_tail
from evtxscan.sources.fileview import FileView


def _cases() -> list[bytes]:
    rng = random.Random(7)
    cases = [b"", b"\x00" * 10, b"a" + b"\x00" * 5000, b"\x00" * 9000 + b"x", b"\x01" * (3 << 20)]
    for _ in range(12):
        head = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 3000)))
        tail = b"\x00" * rng.choice([0, 1, 4095, 4096, 4097, 70_000, (1 << 20) + 3, 3 << 20])
        cases.append(head + tail)
    return cases


@pytest.mark.parametrize("holder", ["bytes", "bytearray", "mmap", "fileview"])
def test_zero_tail_start_is_where_stripping_zeros_ends(tmp_path: Path, holder: str) -> None:
    for number, case in enumerate(_cases()):
        zero_tail._ZERO_TAILS.clear()
        path = tmp_path / f"{number}.bin"
        path.write_bytes(case)
        expected = len(case.rstrip(b"\x00"))
        if holder == "bytes":
            assert zero_tail.zero_tail_start(case) == expected
        elif holder == "bytearray":
            assert zero_tail.zero_tail_start(bytearray(case)) == expected
        elif holder == "fileview":
            view = FileView(path)
            try:
                assert zero_tail.zero_tail_start(view) == expected
            finally:
                view.close()
        elif case:  # an empty file cannot be mapped
            with (
                path.open("rb") as handle,
                mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as m,
            ):
                assert zero_tail.zero_tail_start(m) == expected
