"""The fast path for the common pings file: plain ASCII, unquoted, three fields a line.

A real pings export has millions of rows of one shape,
`<store_id>,active|inactive,YYYY-MM-DD HH:MM:SS.ffffff UTC`. Reading it through
the general reader makes three Python strings per row and runs several Python
calls per value (strip, suffix cut, ISO 8601 parse): about 6 us a row, most of
a cold ingest. Here the rows of that shape are recognised and parsed on the
file's bytes with numpy, a chunk of lines at a time (memory stays bounded by
the chunk, not the file); store ids become Python strings once per distinct id.

Which files come here is formats.plain_pings_columns' to say, and the dispatcher's
(core/inputs.py) to act on. Every line that is not of the strict shape (spaces to
trim, another case, an offset, a fraction of other than six digits, a time out of
range, anything odd) is left out of the rows read here: the dispatcher has the
general reader (core/csv_general.py) parse a file made of the header and those
lines only, and `PlainPingRows.completed_by` maps its line numbers back. So the
general reader stays the definition of every rule, and this path only takes rows
whose result it computes exactly (checked against the general reader in
test_core_plain_pings). This module imports neither of the two.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.api.types import union_categoricals

from storemon_pipeline.core.formats import PINGS, ParsedFile, find_lines
from storemon_pipeline.core.values import ping_times_in_range

CHUNK_BYTES = 32 << 20
# Longer (or non-printable-ASCII) store ids take the general path.
MAX_FAST_STORE_ID_BYTES = 64
_DIGIT_OFFSETS = np.array([0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18])
_TS_WINDOW = 30
_PADDING = 64
_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)
# Odd multipliers per 8-byte word of a store id: a hash independent of the padding width.
_WORD_MULTIPLIERS = (
    np.random.default_rng(20230314).integers(1, 2**62, MAX_FAST_STORE_ID_BYTES // 8 + 1, dtype=np.int64) * 2 + 1
).astype(np.uint64)


class _NotPlain(Exception):
    """The file is not of the plain shape: the general reader takes all of it."""


@dataclass
class PlainPingRows:
    """The rows of a pings file read by numpy, and the file of the other lines, for the general reader."""

    # store_id (categorical, categories sorted), ts_us, active, line: as the general reader gives them.
    rows: pd.DataFrame
    # The header and every line not of the plain shape, in order; line k (k >= 2) of it is
    # line other_line_numbers[k - 2] of the file.
    other_lines_file: bytes
    other_line_numbers: np.ndarray

    def completed_by(self, other: ParsedFile) -> ParsedFile:
        """The whole file's ParsedFile, given the general reader's of `other_lines_file` (with the file's name and sha256)."""
        if len(self.other_line_numbers) == 0:
            # The general reader's own (empty) table of rejected rows, dtypes included.
            rows, rejected = self.rows, other.rejected
        else:
            other_rows = other.rows.copy()
            other_rows["line"] = self.other_line_numbers[other_rows["line"].to_numpy() - 2]
            rejected = other.rejected.copy()
            rejected["line"] = self.other_line_numbers[rejected["line"].to_numpy() - 2]
            store_id = union_categoricals([self.rows["store_id"].array, other_rows["store_id"].array], sort_categories=True)
            rows = pd.concat([self.rows.drop(columns="store_id"), other_rows.drop(columns="store_id")], ignore_index=True)
            rows.insert(0, "store_id", store_id)
            rows = rows.sort_values("line", kind="stable").reset_index(drop=True)
            rows = rows.astype({"ts_us": "int64", "active": bool, "line": "int64"})
        return ParsedFile(
            file_name=other.file_name,
            sha256=other.sha256,
            kind=PINGS,
            rows=rows[["store_id", "ts_us", "active", "line"]],
            rejected=rejected,
            n_rows=len(rows) + len(rejected),
        )


def read_plain_pings(data: bytes, positions: dict[str, int], ingested_at_us: int) -> PlainPingRows | None:
    """The plain rows of a file formats.plain_pings_columns let through, or None: the general reader reads it all."""
    header_end = data.find(b"\n")
    store_hashes, ts_parts, active_parts, line_parts, other_lines, other_texts = [], [], [], [], [], []
    id_of_hash: dict[int, str] = {}
    first_line = 2  # the header is line 1
    position = header_end + 1
    try:
        while position < len(data):
            end = data.find(b"\n", min(position + CHUNK_BYTES, len(data)) - 1)
            end = len(data) if end < 0 else end + 1
            chunk = np.frombuffer(data, dtype=np.uint8, count=end - position, offset=position)
            n_lines, canonical = _chunk_rows(chunk, positions, ingested_at_us, id_of_hash)
            hashes, ts_us, active, fast_index, other_index, starts, ends = canonical
            store_hashes.append(hashes)
            ts_parts.append(ts_us)
            active_parts.append(active)
            line_parts.append(fast_index + first_line)
            other_lines.append(other_index + first_line)
            other_texts += [data[position + s : position + e] for s, e in zip(starts, ends)]
            first_line += n_lines
            position = end
    except _NotPlain:
        return None

    if not any(len(part) for part in store_hashes):
        return None
    # Each list of per-chunk parts is joined and dropped in turn: a 24 M-row file
    # then holds one extra copy of one column at a time, not of all of them.
    codes, distinct = pd.factorize(_join(store_hashes))
    store_names = np.array([id_of_hash[int(h)] for h in distinct], dtype=object)
    # Categories sorted, as the general reader's (a rank per distinct id, not a sort of the rows).
    by_name = np.argsort(store_names)
    rank = np.empty(len(by_name), dtype=np.int64)
    rank[by_name] = np.arange(len(by_name))
    rows = pd.DataFrame(
        {
            "store_id": pd.Categorical.from_codes(rank[codes], categories=pd.Index(store_names[by_name], dtype="str")),
            "ts_us": _join(ts_parts),
            "active": _join(active_parts),
            "line": _join(line_parts),
        },
        copy=False,
    )
    del codes
    other_line_numbers = np.concatenate(other_lines) if other_lines else np.empty(0, dtype=np.int64)
    other_lines_file = b"\n".join([data[:header_end], *other_texts, b""])
    return PlainPingRows(rows, other_lines_file, other_line_numbers)


def _join(parts: list[np.ndarray]) -> np.ndarray:
    """np.concatenate(parts), emptying `parts` as it goes."""
    joined = np.concatenate(parts)
    parts.clear()
    return joined


def _gather(padded_chunk: np.ndarray, starts: np.ndarray, width: int) -> np.ndarray:
    """padded_chunk[starts[i] + j] for j < width, as an (n, width) uint8 matrix.

    A sliding-window view gathers whole rows at once (no (n, width) index
    matrix); the chunk carries _PADDING zero bytes so every window fits.
    """
    return np.lib.stride_tricks.sliding_window_view(padded_chunk, width)[starts]


def _chunk_rows(chunk: np.ndarray, positions: dict[str, int], ingested_at_us: int, id_of_hash: dict[int, str]):
    padded = np.concatenate([chunk, np.zeros(_PADDING, dtype=np.uint8)])
    lines = find_lines(chunk)
    starts, ends = lines.starts, lines.ends
    n_lines = len(starts)
    if not lines.have_fields(3).all():
        raise _NotPlain
    filled = np.flatnonzero(~lines.empty)
    pairs = lines.commas.reshape(-1, 2)
    field_start = [starts[filled], pairs[:, 0] + 1, pairs[:, 1] + 1]
    field_end = [pairs[:, 0], pairs[:, 1], ends[filled]]
    store_col, status_col, ts_col = positions["store_id"], positions["status"], positions["timestamp_utc"]

    # status: exactly "active" or "inactive"
    status_start, status_len = field_start[status_col], field_end[status_col] - field_start[status_col]
    status_bytes = _gather(padded, status_start, 8)
    is_active = (status_len == 6) & np.all(status_bytes[:, :6] == np.frombuffer(b"active", np.uint8), axis=1)
    is_inactive = (status_len == 8) & np.all(status_bytes == np.frombuffer(b"inactive", np.uint8), axis=1)
    ok = is_active | is_inactive

    ts_us, ts_ok = _timestamps_us(padded, field_start[ts_col], field_end[ts_col] - field_start[ts_col])
    ok &= ts_ok & ping_times_in_range(ts_us, ingested_at_us)

    store_start, store_len = field_start[store_col], field_end[store_col] - field_start[store_col]
    ok &= (store_len >= 1) & (store_len <= MAX_FAST_STORE_ID_BYTES)
    width = int(store_len[ok].max()) if ok.any() else 1
    padded_width = -(-width // 8) * 8
    store_bytes = np.zeros((len(filled), padded_width), dtype=np.uint8)
    store_bytes[:, :width] = _gather(padded, store_start, width)
    inside = np.arange(padded_width) < store_len[:, None]
    store_bytes[~inside] = 0
    printable = (store_bytes >= 0x21) & (store_bytes <= 0x7E)
    ok &= np.all(printable | ~inside, axis=1)

    fast = np.flatnonzero(ok)
    store_bytes = store_bytes[fast]
    lengths = store_len[fast]
    words = store_bytes.view(np.uint64)
    hashes = lengths.astype(np.uint64) * _WORD_MULTIPLIERS[-1]
    for k in range(words.shape[1]):
        hashes += words[:, k] * _WORD_MULTIPLIERS[k]
    _remember_ids(hashes, store_bytes, lengths, id_of_hash)

    other = np.flatnonzero(~ok)
    return n_lines, (
        hashes,
        ts_us[fast],
        is_active[fast],
        filled[fast].astype(np.int64),
        filled[other].astype(np.int64),
        starts[filled[other]],
        ends[filled[other]],
    )


def _remember_ids(hashes: np.ndarray, store_bytes: np.ndarray, lengths: np.ndarray, id_of_hash: dict[int, str]) -> None:
    """Store id text per hash; two ids with one hash make the file take the general path."""
    if len(hashes) == 0:
        return
    codes, distinct = pd.factorize(hashes)
    first = np.empty(len(distinct), dtype=np.int64)
    first[codes[::-1]] = np.arange(len(codes))[::-1]
    representative = first[codes]
    if not (np.array_equal(lengths, lengths[representative]) and np.array_equal(store_bytes, store_bytes[representative])):
        raise _NotPlain
    for h, row in zip(distinct.tolist(), first.tolist()):
        text = store_bytes[row, : lengths[row]].tobytes().decode("ascii")
        known = id_of_hash.setdefault(h, text)
        if known != text:
            raise _NotPlain


def _timestamps_us(chunk: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Microseconds of `YYYY-MM-DD[ T]HH:MM:SS[.ffffff][ UTC|Z]`, and which fields have exactly that shape."""
    raw = _gather(chunk, starts, _TS_WINDOW)
    digits = raw - np.uint8(ord("0"))  # wraps below "0": one comparison tells digits
    is_digit = digits <= 9

    def byte_is(column: int, char: str) -> np.ndarray:
        return raw[:, column] == ord(char)

    shape = (
        np.all(is_digit[:, _DIGIT_OFFSETS], axis=1)
        & byte_is(4, "-") & byte_is(7, "-") & (byte_is(10, " ") | byte_is(10, "T"))
        & byte_is(13, ":") & byte_is(16, ":")
    )
    with_fraction = byte_is(19, ".") & np.all(is_digit[:, 20:26], axis=1)
    utc_at_19 = byte_is(19, " ") & byte_is(20, "U") & byte_is(21, "T") & byte_is(22, "C")
    utc_at_26 = byte_is(26, " ") & byte_is(27, "U") & byte_is(28, "T") & byte_is(29, "C")
    shape &= (
        (lengths == 19)
        | ((lengths == 20) & byte_is(19, "Z"))
        | ((lengths == 23) & utc_at_19)
        | ((lengths == 26) & with_fraction)
        | ((lengths == 27) & with_fraction & byte_is(26, "Z"))
        | ((lengths == 30) & with_fraction & utc_at_26)
    )

    def number(*columns: int) -> np.ndarray:
        value = digits[:, columns[0]].astype(np.int64)
        for column in columns[1:]:
            value = value * 10 + digits[:, column]
        return value

    year, month, day = number(0, 1, 2, 3), number(5, 6), number(8, 9)
    hour, minute, second = number(11, 12), number(14, 15), number(17, 18)
    fraction = np.where(lengths >= 26, number(20, 21, 22, 23, 24, 25), 0)
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    safe_month = np.clip(month, 1, 12)
    month_days = _DAYS_IN_MONTH[safe_month] + ((safe_month == 2) & leap)
    shape &= (month >= 1) & (month <= 12) & (day >= 1) & (day <= month_days)
    shape &= (hour <= 23) & (minute <= 59) & (second <= 59)

    # Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
    y = year - (safe_month <= 2)
    era = y // 400
    year_of_era = y - era * 400
    day_of_year = (153 * (safe_month + np.where(safe_month > 2, -3, 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    days = era * 146097 + day_of_era - 719468
    seconds = days * 86400 + hour * 3600 + minute * 60 + second
    return seconds * 1_000_000 + fraction, shape
