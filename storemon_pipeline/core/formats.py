"""What an input file is, before any of its values is read: kind, header, lines and fields.

The dispatcher (core/inputs.py) and both readers (core/csv_general.py,
core/csv_plain_pings.py) share these facts, so the readers cannot come to
disagree on them: which header names which kind, what a parsed file holds,
when every line is one row (`lines_are_rows`, the one test every fast path
rests on) and where a line's fields lie (`find_lines`, the one count of commas
per line).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

PINGS = "pings"
BUSINESS_HOURS = "business_hours"
TIMEZONES = "timezones"

# Canonical column -> accepted header spellings (compared trimmed, case-insensitive).
KIND_COLUMNS: dict[str, dict[str, tuple[str, ...]]] = {
    PINGS: {
        "store_id": ("store_id",),
        "status": ("status",),
        "timestamp_utc": ("timestamp_utc",),
    },
    BUSINESS_HOURS: {
        "store_id": ("store_id",),
        "day_of_week": ("dayofweek", "day"),
        "start_time_local": ("start_time_local",),
        "end_time_local": ("end_time_local",),
    },
    TIMEZONES: {
        "store_id": ("store_id",),
        "timezone_str": ("timezone_str",),
    },
}

REJECTED_COLUMNS = ["file", "line", "reason", "raw"]
UTF8_BOM = b"\xef\xbb\xbf"
# A real header is a few dozen characters; a longer first line (a 50 MB line, a binary
# file) is refused as a whole instead of being split into millions of "columns".
MAX_HEADER_CHARS = 16 * 1024
_FIRST_LINE_END = re.compile(r"[\r\n]")

# The csv module refuses fields over 128 KiB by raising, which would stop a whole
# file for one oversized row; such rows are judged (and kept aside) like any other.
csv.field_size_limit(2**31 - 1)


class UnknownFileKind(ValueError):
    """The header names none of the three input kinds."""


@dataclass
class ParsedFile:
    file_name: str
    sha256: str
    kind: str
    # The valid rows and their `line`. A pings file's store_id is categorical, its categories
    # the ids of these rows, sorted: millions of rows then hold one string per store.
    rows: pd.DataFrame
    # Rows kept aside, REJECTED_COLUMNS: the file, the line, why, and the line's text.
    rejected: pd.DataFrame
    n_rows: int


def detect_kind(header: list[str]) -> tuple[str, dict[str, int]]:
    """Kind of a file and the position of each canonical column in its header."""
    normalized = [h.strip().lower() for h in header]
    for kind, columns in KIND_COLUMNS.items():
        positions: dict[str, int] = {}
        for canonical, spellings in columns.items():
            found = [i for i, h in enumerate(normalized) if h in spellings]
            if not found:
                break
            positions[canonical] = found[0]
        else:
            return kind, positions
    expected = "; ".join(
        f"{kind}: {', '.join(spellings[0] for spellings in cols.values())}"
        for kind, cols in KIND_COLUMNS.items()
    )
    shown = ",".join(header)[:200]
    raise UnknownFileKind(f"header {shown!r} matches no input kind (expected {expected})")


def decode_text(data: bytes) -> tuple[str, bool]:
    """Text of the file; the flag says some bytes were not UTF-8 (replaced by U+FFFD)."""
    try:
        text = data.decode("utf-8")
        clean = True
    except UnicodeDecodeError:
        text = data.decode("utf-8", errors="replace")
        clean = False
    if text.startswith("\ufeff"):
        text = text[1:]
    return text, clean


def split_header(text: str) -> list[str]:
    """The header's fields: the first line of `text`, which a bare "\r" (old Mac line ends) ends too."""
    first_line_end = _FIRST_LINE_END.search(text, 0, MAX_HEADER_CHARS + 2)
    header_line = text if first_line_end is None else text[: first_line_end.start()]
    if len(header_line) > MAX_HEADER_CHARS:
        raise UnknownFileKind(
            f"the first line is longer than {MAX_HEADER_CHARS} characters: not a header of any input kind"
        )
    return next(csv.reader([header_line]), [])


def read_header(text: str, file_name: str) -> tuple[list[str], str, dict[str, int]]:
    """The header, kind and column positions of a file's text; UnknownFileKind names the file."""
    if not text.strip():
        raise UnknownFileKind(f"{file_name}: the file is empty (no header)")
    try:
        header = split_header(text)
        kind, positions = detect_kind(header)
    except UnknownFileKind as exc:
        raise UnknownFileKind(f"{file_name}: {exc}") from None
    return header, kind, positions


def plain_pings_columns(data: bytes) -> dict[str, int] | None:
    """Column positions of a pings file the numpy reader may take, or None: the general reader's.

    Such a file has the pings header of three columns, every line one row, and ASCII
    bytes only after an optional BOM: then a field is the bytes between two commas.
    Whether each row has the plain shape is the numpy reader's to tell, line by line.
    """
    body_start = len(UTF8_BOM) if data.startswith(UTF8_BOM) else 0
    header_end = data.find(b"\n")
    if header_end < 0 or not lines_are_rows(data) or not data[body_start:].isascii():
        return None
    try:
        header = split_header(data[body_start:header_end].decode("ascii"))
        kind, positions = detect_kind(header)
    except UnknownFileKind:
        return None
    return positions if kind == PINGS and len(header) == 3 else None


def lines_are_rows(data: bytes) -> bool:
    """No double quote and no bare "\r": every physical line of `data` is exactly one row.

    Every fast path rests on this: only then may a file be cut at any "\n" (a quoted
    field may hold a line break), and its fields be found by counting commas (a quoted
    field may hold a comma; pandas' C reader ends a row at a bare "\r", the counts here
    do not).
    """
    # (`in` first: most exports have no "\r", and counting costs two more passes.)
    return b'"' not in data and (b"\r" not in data or data.count(b"\r") == data.count(b"\r\n"))


@dataclass(frozen=True)
class LineLayout:
    """Where the lines of some bytes and their commas lie; fields only where lines_are_rows holds."""

    # First byte of each line, and one past its last byte without a closing "\r". Nothing
    # after a final "\n" is a line.
    starts: np.ndarray
    ends: np.ndarray
    # The position of every comma, and how many each line has.
    commas: np.ndarray
    commas_per_line: np.ndarray

    @property
    def empty(self) -> np.ndarray:
        """Which lines have no byte (an empty CRLF line leaves a lone "\r", not counted)."""
        return self.ends == self.starts

    def have_fields(self, n_fields: int) -> np.ndarray:
        """Which lines are empty or hold exactly n_fields fields (n_fields - 1 commas)."""
        return np.where(self.empty, self.commas_per_line == 0, self.commas_per_line == n_fields - 1)


def find_lines(buf: np.ndarray) -> LineLayout:
    """The LineLayout of `buf`, bytes as uint8: one pass for newlines, one for commas."""
    newlines = np.flatnonzero(buf == ord("\n"))
    starts = np.concatenate([[0], newlines + 1])
    ends = np.concatenate([newlines, [len(buf)]])
    if len(buf) and buf[-1] == ord("\n"):
        starts, ends = starts[:-1], ends[:-1]
    last_bytes = buf[np.maximum(ends - 1, 0)] if len(buf) else np.zeros(len(ends), dtype=np.uint8)
    has_cr = (ends > starts) & (last_bytes == ord("\r"))
    commas = np.flatnonzero(buf == ord(","))
    # A comma before the k-th newline lies on line k; none can lie after a final "\n".
    commas_per_line = np.bincount(np.searchsorted(newlines, commas), minlength=len(starts))
    return LineLayout(starts, ends - has_cr, commas, commas_per_line)
