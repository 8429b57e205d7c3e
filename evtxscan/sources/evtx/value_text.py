"""Value texts as pyevtx-rs 0.14 writes them into event XML, one rule per value type.

The python-evtx backend renders with these rules (so both backends give the same rows), and
the on-demand decoder uses them for the value types it does not convert column-wise. The
rules were measured by patching values of every type into real records and reading them back
with pyevtx-rs (see ``tests/sources/test_python_backend.py``).
"""

from __future__ import annotations

import calendar
import struct
from collections.abc import Callable
from datetime import datetime, timedelta
from uuid import UUID

from evtxscan.records.filetime import FILETIME_EPOCH
from evtxscan.sources.evtx.binxml import ARRAY_FLAG, ValueType

#: What :func:`value_text` raises for a value pyevtx-rs refuses to render.
REFUSED = (ValueError, OverflowError, struct.error)

_NULL, _WSTRING, _ANSI, _BINARY = (
    ValueType.NULL,
    ValueType.STRING,
    ValueType.ANSI_STRING,
    ValueType.BINARY,
)
_SIZE_T, _SID, _ARRAY = ValueType.SIZE_T, ValueType.SID, ARRAY_FLAG
_FILETIME_EPOCH = FILETIME_EPOCH.replace(tzinfo=None)  # naive: pyevtx-rs' text has no zone
_BOOLS = {0: "false", 1: "true"}
#: The latest instant pyevtx-rs' time library holds; a later FILETIME/SYSTEMTIME is an error.
LATEST = datetime(9999, 12, 30, 22, 0, 0, 999999)
#: ANSI text is Windows-1252; its five undefined bytes stay C1 controls (as WHATWG decoders do).
CP1252 = {b: ord(bytes([b]).decode("cp1252", "ignore") or chr(b)) for b in range(0x80, 0xA0)}


def _float(text: str, fixed_min: int, fixed_max: int) -> str:
    """Shortest digits (``text``: their repr) as pyevtx-rs lays them out: plain (``.0`` on whole
    numbers) while value = 0.DIGITS x 10^kk has fixed_min < kk <= fixed_max, else ``De+X``."""
    if text in ("nan", "inf", "-inf"):
        return {"nan": "NaN"}.get(text, text)
    sign, text = ("-", text[1:]) if text.startswith("-") else ("", text)
    mantissa, _, exponent = text.partition("e")
    whole, _, fraction = mantissa.partition(".")
    every = whole + fraction
    digits = every.strip("0")
    if not digits:
        return sign + "0.0"
    kk = len(whole) + int(exponent or 0) - (len(every) - len(every.lstrip("0")))
    n = len(digits)
    if not fixed_min < kk <= fixed_max:
        tail = "." + digits[1:] if n > 1 else ""
        return f"{sign}{digits[0]}{tail}e{'+' if kk > 0 else '-'}{abs(kk - 1)}"
    if kk <= 0:
        return f"{sign}0.{'0' * -kk}{digits}"
    return sign + (digits + "0" * (kk - n) + ".0" if kk >= n else f"{digits[:kk]}.{digits[kk:]}")


def _f32(raw: bytes) -> str:
    value = struct.unpack_from("<f", raw)[0]
    text = repr(value)
    for precision in range(9) if value == value and abs(value) != float("inf") else ():
        text = f"{value:.{precision}e}"  # the shortest decimal that reads back as this f32
        try:
            if struct.unpack("<f", struct.pack("<f", float(text)))[0] == value:
                break
        except OverflowError:  # rounded past the largest f32
            continue
    return _float(text, -6, 13)


def _sid(raw: bytes) -> str:
    if len(raw) < 8:
        raise ValueError(f"SID of {len(raw)} bytes")
    subs = struct.unpack_from(f"<{min(raw[1], (len(raw) - 8) // 4)}I", raw, 8)
    return "-".join(["S", str(raw[0]), str(int.from_bytes(raw[2:8], "big")), *map(str, subs)])


def _filetime(raw: bytes) -> str:
    moment = _FILETIME_EPOCH + timedelta(microseconds=struct.unpack_from("<Q", raw)[0] // 10)
    if moment > LATEST:
        raise ValueError(f"FILETIME after {LATEST}")
    return moment.isoformat("T", "microseconds") + "Z"


def _systemtime(raw: bytes) -> str:
    """All zero is FILETIME 0; year 0 is valid; anything out of range is an error."""
    parts = struct.unpack_from("<8H", raw)
    if not any(parts):
        return "1601-01-01T00:00:00.000000Z"
    year, month, _weekday, day, hour, minute, second, millis = parts
    valid = 1 <= month <= 12 and hour < 24 and minute < 60 and second < 60 and millis < 1000
    late = (year, month, day, hour, minute, second, millis) > (9999, 12, 30, 22, 0, 0, 999)
    if not valid or late or not 1 <= day <= calendar.monthrange(year or 2000, month)[1]:
        raise ValueError(f"invalid SYSTEMTIME {parts}")
    return f"{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{millis:03}000Z"


def _number(fmt: str, hexadecimal: bool = False) -> Callable[[bytes], str]:
    unpack = struct.Struct(fmt).unpack_from
    return (lambda raw: f"0x{unpack(raw)[0]:x}") if hexadecimal else lambda raw: str(unpack(raw)[0])


#: Fixed-size type code -> (size, formatter); a boolean other than 0/1 prints as its number.
FIXED_SCALARS: dict[int, tuple[int, Callable[[bytes], str]]] = {
    code: (struct.calcsize(fmt), _number("<" + fmt)) for code, fmt in enumerate("bBhHiIqQ", 3)
}
FIXED_SCALARS |= {
    ValueType.REAL32: (4, _f32),
    ValueType.REAL64: (8, lambda raw: _float(repr(struct.unpack_from("<d", raw)[0]), -5, 16)),
    ValueType.BOOL: (4, lambda raw: _BOOLS.get(n := struct.unpack_from("<i", raw)[0], str(n))),
    ValueType.GUID: (16, lambda raw: str(UUID(bytes_le=raw[:16])).upper()),
    ValueType.FILETIME: (8, _filetime),
    ValueType.SYSTEMTIME: (16, _systemtime),
    ValueType.HEXINT32: (4, _number("<I", True)),
    ValueType.HEXINT64: (8, _number("<Q", True)),
}


def array_items(value_type: int, raw: bytes) -> list[str | None] | None:
    """Item texts of an array value (None: empty string), or None when it is no array.

    Booleans in an array print as their stored numbers; SIDs follow each other unaligned."""
    if value_type == _ARRAY | _WSTRING:  # NUL-terminated strings (the last may lack its NUL)
        text = raw[: len(raw) & ~1].decode("utf-16-le", "ignore")
        return [item or None for item in text.removesuffix("\0").split("\0")]
    if value_type == _ARRAY | _SID:
        sids = list[str | None]()
        while raw:
            size = 8 + 4 * raw[1] if len(raw) > 1 else 1
            sids.append(_sid(raw[:size]))
            raw = raw[size:]
        return sids
    scalar = FIXED_SCALARS.get(value_type & ~_ARRAY) if value_type & _ARRAY else None
    if scalar is None:
        return None
    size, fmt = (4, _number("<i")) if value_type == _ARRAY | ValueType.BOOL else scalar
    if len(raw) % size:
        raise ValueError(f"array of {len(raw)} bytes for {size}-byte items")
    return [fmt(raw[i : i + size]) for i in range(0, len(raw), size)]


def value_text(value_type: int, raw: bytes) -> str:
    """The text pyevtx-rs writes for one non-BinXml value (unescaped)."""
    if value_type == _WSTRING:
        # UTF-16LE up to the first NUL; unpaired surrogates are dropped
        return raw[: len(raw) & ~1].decode("utf-16-le", "ignore").split("\0", 1)[0]
    if value_type in (_NULL, _ANSI):  # ANSI: Windows-1252 with every NUL removed
        return raw.replace(b"\0", b"").decode("latin-1").translate(CP1252) if value_type else ""
    if value_type in (_BINARY, _SID):
        return raw.hex().upper() if value_type == _BINARY else _sid(raw)
    if value_type == _SIZE_T and len(raw) in (4, 8):  # hex, 4 or 8 bytes wide
        return _number("<I" if len(raw) == 4 else "<Q", True)(raw)
    if value_type in FIXED_SCALARS:
        size, fmt = FIXED_SCALARS[value_type]
        if len(raw) < size:
            raise ValueError(f"value type {value_type:#x} needs {size} bytes, has {len(raw)}")
        return fmt(raw)
    items = array_items(value_type, raw)
    if items is None:
        raise ValueError(f"unsupported value type {value_type:#x}")
    return ",".join(item or "" for item in items)
