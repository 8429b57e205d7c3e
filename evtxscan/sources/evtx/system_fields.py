"""The System fields of many records, read column-wise through their shapes.

Each field of each record comes from its shape (:mod:`evtxscan.sources.evtx.shapes`): a
constant of the template (parsed once per template), or a value at a known offset of the
record's value data. Values of the types Windows uses (UInt8..64 and HexInt for numbers,
FILETIME for the time; any type for texts, each distinct value once) are converted
column-wise; other types value by value with pyevtx-rs' spelling
(:mod:`evtxscan.sources.evtx.value_text`), read back as the XML reader would. Records with
values no reader agrees on (pyevtx-rs refuses them, or a text holds characters XML treats
specially) get a :class:`~evtxscan.sources.evtx.instances.Problem` instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np

from evtxscan.sources.evtx.arrays import Reader, distinct, remap_texts
from evtxscan.sources.evtx.instances import Problem, TemplateCache
from evtxscan.sources.evtx.shapes import COLUMN, FIELDS, NUMBER_BITS, Code, Shapes
from evtxscan.sources.evtx.system_plan import FIELD_PLACES
from evtxscan.sources.evtx.value_text import REFUSED, value_text

#: Microseconds from 1601-01-01 (FILETIME's epoch) to 1970-01-01.
_EPOCH_SHIFT_US = 11_644_473_600_000_000
#: The latest FILETIME pyevtx-rs renders (9999-12-30T22:00:00.999999).
_LATEST_TICKS = (253_402_207_200_999_999 + _EPOCH_SHIFT_US) * 10 + 9
_NAT = np.iinfo(np.int64).min
#: Text that XML escaping or line-end handling would change on the way through the renderer.
_UNUSUAL = re.compile("[\x00-\x1f\x7f&<>\"'\ud800-\udfff\ufffe\uffff]")
#: Bytes copied from the start of each record's values: every number of a Windows System.
_BLOCK = 64
_PROBLEMS = {Code.MISSING: Problem.MISSING_VALUE, Code.REFUSED: Problem.VALUE_TYPE}


@dataclass(frozen=True)
class Texts:
    """A dictionary-encoded text column: ``codes`` (-1: absent) into ``values``."""

    codes: np.ndarray  # int32
    values: list[str]

    def texts(self) -> np.ndarray:
        """The column as an object array of str or None."""
        table = np.array([*self.values, None], dtype=object)
        return np.asarray(table[self.codes])


@dataclass(frozen=True)
class Numbers:
    """An unsigned integer column with a presence mask, and a mask of the values a record
    shows that fit no column (malformed or out of range: read as missing, and counted)."""

    values: np.ndarray  # uint64
    present: np.ndarray  # bool
    lost: np.ndarray  # bool


class SystemReader:
    """Reads System fields of records with known shapes; problems go to ``problem``."""

    def __init__(
        self,
        reader: Reader,
        cache: TemplateCache,
        shapes: Shapes,
        data_at: np.ndarray,
        end: np.ndarray,
        problem: np.ndarray,
    ) -> None:
        self.reader = reader
        self.cache = cache
        self.shapes = shapes
        self.data_at = data_at  # per record: position of its first value byte
        self.end = end  # per record: where its values must end
        self.problem = problem  # per record, updated in place
        self._block: Reader | None = None
        self._every = np.arange(len(shapes.of))
        for name in FIELDS:
            codes = shapes.code[:, COLUMN[name]]
            for code, problem_code in _PROBLEMS.items():
                if (codes == code).any():
                    self._fail(np.flatnonzero(codes[shapes.of] == code), problem_code)

    def _fail(self, rows: np.ndarray, problem: Problem) -> None:
        """Mark records ``rows`` as unreadable, keeping an earlier problem."""
        rows = rows[self.problem[rows] == Problem.NONE]
        self.problem[rows] = problem

    def _rows(self, name: str, code: Code) -> np.ndarray:
        """The records whose shape reads the field with ``code``."""
        matches = self.shapes.code[:, COLUMN[name]] == code
        if matches.all():
            return self._every
        if not matches.any():
            return self._every[:0]
        return np.flatnonzero(matches[self.shapes.of])

    def _values(self, name: str, code: Code) -> tuple[np.ndarray, ...]:
        """Rows with ``code`` for the field, and their values' type, size and position."""
        rows = self._rows(name, code)
        column = COLUMN[name]
        shape = self.shapes.of if len(rows) == len(self._every) else self.shapes.of[rows]
        size = np.ascontiguousarray(self.shapes.size[:, column])[shape]
        offset = np.ascontiguousarray(self.shapes.offset[:, column])[shape]
        data_at = self.data_at if len(rows) == len(self._every) else self.data_at[rows]
        at = data_at + offset
        outside = at + size > (self.end if len(rows) == len(self._every) else self.end[rows])
        if outside.any():
            self._fail(rows[outside], Problem.VALUES_OUTSIDE)
            rows, shape, size, at = rows[~outside], shape[~outside], size[~outside], at[~outside]
        return rows, np.ascontiguousarray(self.shapes.type[:, column])[shape], size, at

    def _read(self, width: int, rows: np.ndarray, at: np.ndarray) -> np.ndarray:
        """Numbers of ``width`` bytes at ``at`` of records ``rows``: from a copy of each
        record's first value bytes when they lie there (one pass over the records' memory
        serves every field), else from the buffer."""
        relative = at - self.data_at[rows]
        if len(at) and relative.max() + width <= _BLOCK:
            if self._block is None:
                room = len(self.reader.buf) - _BLOCK
                block = self.reader.rows(np.minimum(self.data_at, max(room, 0)), _BLOCK)
                shift = np.maximum(self.data_at - room, 0)
                for row in np.flatnonzero(shift).tolist():  # records at the buffer's end
                    tail = self.reader.buf[self.data_at[row] :]
                    block[row] = 0
                    block[row, : len(tail)] = tail[:_BLOCK]
                self._block = Reader(block.ravel())
            return self._block.read(width, rows * _BLOCK + relative)
        return self.reader.read(width, at)

    def _constants(self, name: str) -> tuple[np.ndarray, list[str]]:
        """Rows whose template has the field as literal text, and each shape's text."""
        rows = self._rows(name, Code.CONSTANT)
        if not len(rows):
            return rows, []
        entries = self.cache.entries
        texts = [entries[t].system.fields[name].text for t in self.shapes.template.tolist()]
        return rows, texts

    def _others(self, name: str) -> list[tuple[int, str | None]]:
        """(row, text) of the field's values of unexpected types, converted one by one."""
        out = []
        rows, kinds, sizes, ats = self._values(name, Code.OTHER)
        for row, kind, size, at in zip(
            rows.tolist(), kinds.tolist(), sizes.tolist(), ats.tolist(), strict=True
        ):
            out.append(
                (
                    row,
                    self._render(
                        kind, self.reader.buf[at : at + size].tobytes(), partial(list, (row,))
                    ),
                )
            )
        return out

    def _render(
        self, value_type: int, raw: bytes, rows: Callable[[], np.ndarray | list[int]]
    ) -> str | None:
        """A value's text, or None when pyevtx-rs refuses it (``rows()``: the records
        holding it, which then go to the renderer)."""
        try:
            return value_text(value_type, raw)
        except REFUSED:
            self._fail(np.asarray(rows(), dtype=np.int64), Problem.VALUE_TYPE)
            return None

    def number(self, name: str) -> Numbers:
        """A numeric field: the value when the record shows one that fits the column."""
        n = len(self.shapes.of)
        values = np.zeros(n, dtype=np.uint64)
        present = np.zeros(n, dtype=bool)
        shown = np.zeros(n, dtype=bool)
        base = 16 if name == "keywords" else 10
        rows, _kinds, size, at = self._values(name, Code.VALUE)
        widths = [int(size[0])] if len(size) and size.min() == size.max() else np.unique(size)
        for width in widths:
            picked = slice(None) if len(widths) == 1 else np.flatnonzero(size == width)
            values[rows[picked]] = self._read(width, rows[picked], at[picked])
            present[rows[picked]] = True
        shown |= present
        for row, text in self._others(name):
            number = None if text is None else _int(text, base)
            shown[row] = bool(text)
            if number is not None and 0 <= number < 2**64:  # else it fits no column: missing
                values[row], present[row] = number, True
        rows, texts = self._constants(name)
        if len(rows):
            attribute = FIELD_PLACES[name][1] is not None
            parsed = [_int(text, base) if text or not attribute else None for text in texts]
            known = np.array([v is not None and 0 <= v < 2**64 for v in parsed], dtype=bool)
            numbers = np.array(
                [v if k else 0 for v, k in zip(parsed, known, strict=True)], np.uint64
            )
            given = np.array([bool(text) for text in texts], dtype=bool)
            shape = self.shapes.of[rows]
            values[rows], present[rows], shown[rows] = numbers[shape], known[shape], given[shape]
        if NUMBER_BITS[name] < 64:
            present &= values < 2 ** NUMBER_BITS[name]
        return Numbers(values, present, shown & ~present)

    def time(self) -> np.ndarray:
        """TimeCreated as datetime64[us] (NaT when absent or unreadable)."""
        micros = np.full(len(self.shapes.of), _NAT, dtype=np.int64)
        rows, _kinds, _size, at = self._values("time_created", Code.VALUE)
        ticks = self._read(8, rows, at)
        late = ticks > _LATEST_TICKS
        self._fail(rows[late], Problem.TIME_RANGE)
        micros[rows[~late]] = (ticks[~late] // 10).astype(np.int64) - _EPOCH_SHIFT_US
        texts = {row: text for row, text in self._others("time_created") if text}
        rows, constants = self._constants("time_created")
        shapes = self.shapes.of[rows].tolist()
        texts |= {row: constants[shape] for row, shape in zip(rows.tolist(), shapes, strict=True)}
        if texts:
            micros[list(texts)] = _parse_times(list(texts.values()))
        return micros.view("datetime64[us]")

    def text(self, name: str, clean: Callable[[str], str | None] | None = None) -> Texts:
        """A text field, dictionary-encoded; ``clean`` maps each distinct text once."""
        names: list[str | None] = []
        codes = np.full(len(self.shapes.of), -1, dtype=np.int32)
        rows, kinds, size, at = self._values(name, Code.VALUE)
        types = [int(kinds[0])] if len(kinds) and kinds.min() == kinds.max() else np.unique(kinds)
        for value_type in types:
            picked = (
                np.arange(len(rows)) if len(types) == 1 else np.flatnonzero(kinds == value_type)
            )
            local, raws = distinct(self.reader.buf, at[picked], size[picked])
            holders = partial(_holding, rows[picked], local)
            for code, raw in enumerate(raws):
                names.append(self._render(value_type, raw, partial(holders, code)))
            codes[rows[picked]] = local + (len(names) - len(raws))
        rows, constants = self._constants(name)
        if len(rows):  # one code per shape
            codes[rows] = self.shapes.of[rows] + len(names)
            names.extend(constants)
        for row, text in self._others(name):
            codes[row] = len(names)
            names.append(text)
        rows = self._rows(name, Code.NULL)
        if len(rows):  # an empty attribute is left out; an empty element is ""
            codes[rows] = len(names)
            names.append("")
        attribute = FIELD_PLACES[name][1] is not None
        cleaned = [_clean(text, attribute, clean) for text in names]
        unusual = [text is not None and _UNUSUAL.search(text) is not None for text in cleaned]
        if any(unusual):
            self._fail(np.flatnonzero(np.array([*unusual, False])[codes]), Problem.UNUSUAL_TEXT)
        final, values = remap_texts(codes, cleaned)
        return Texts(final, values)


def _holding(rows: np.ndarray, codes: np.ndarray, code: int) -> np.ndarray:
    return np.asarray(rows[codes == code])


def _clean(
    text: str | None, attribute: bool, clean: Callable[[str], str | None] | None
) -> str | None:
    if text is None or (attribute and not text):
        return None  # an empty attribute is left out of the XML
    return clean(text) if clean is not None else text


def _int(text: str, base: int) -> int | None:
    """The reference normalizer's reading of an integer text (``0x`` always hex)."""
    text = text.strip()
    if not text:
        return None
    try:
        return int(text, 16) if text.lower().startswith("0x") else int(text, base)
    except ValueError:
        return None


def _parse_times(texts: list[str]) -> np.ndarray:
    """ISO-8601 texts as the schema reads them, in microseconds (NaT when unreadable)."""
    import pandas as pd

    series = pd.Series(texts, dtype=object)
    parsed = pd.to_datetime(series, format="ISO8601", utc=True, errors="coerce")
    return parsed.astype("datetime64[us, UTC]").dt.tz_localize(None).to_numpy().view(np.int64)
