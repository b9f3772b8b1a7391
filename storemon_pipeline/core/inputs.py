"""Reading the three input CSV kinds into validated rows and rows kept aside.

Every rule here is docs/report-semantics.md#input-files. A file is parsed by pandas'
C reader (no Python loop per row); only a file the fast reader cannot take
(ragged rows, fields spanning lines) goes through the csv module, so one bad
line costs speed, never data.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from storemon_pipeline.core.formats import (
    BUSINESS_HOURS,
    PINGS,
    REJECTED_COLUMNS,
    TIMEZONES,
    ParsedFile,
    UnknownFileKind,
    decode_text,
    detect_kind,
    find_lines,
    lines_are_rows,
    split_header,
)
from storemon_pipeline.core.values import (
    EARLIEST_PING_US,
    known_zone_names,
    parse_days_of_week,
    parse_timestamps_us,
    parse_times_of_day_s,
    ping_times_in_range,
)

# Longer store ids are kept aside: no export has them, and PostgreSQL cannot index a
# value of several kilobytes (the whole file would fail instead of one row).
MAX_STORE_ID_CHARS = 255
# The raw text kept with a rejected row is cut to this length (a 50 MB line stays in
# the file, not in the warehouse); the cut is marked with the full length.
MAX_RAW_CHARS = 2000
# A pings file bigger than this is read, parsed and loaded one part of whole lines at a
# time, so memory is bounded by the part and not by the file (a 1.4 GB history parsed
# whole peaked at 3 GB).
PART_BYTES = 64 << 20


class FileChangedWhileReading(OSError):
    """The bytes parsed are not the bytes hashed: the file was rewritten while being read."""


@dataclass(frozen=True)
class FileScan:
    """One streaming pass over a file's bytes: what is known before it is parsed."""

    sha256: str
    size: int
    # formats.lines_are_rows: the file can be cut at any "\n".
    splittable: bool


def _every_line_has(data: bytes, n_columns: int) -> bool:
    """Every non-empty line after the header has exactly n_columns fields; meaningful only where lines_are_rows."""
    return bool(find_lines(np.frombuffer(data, dtype=np.uint8)).have_fields(n_columns)[1:].all())


def _read_fast(data: bytes, text: str, n_columns: int) -> pd.DataFrame | None:
    """All fields as str plus `line`, or None when the fast reader cannot be trusted.

    pandas' reader cannot report ragged rows: with `names` it drops extra
    fields silently, pads short rows, and a first row one field longer than
    the header turns the first column into the index for the whole file. So
    it only gets files whose field counts are proven by counting commas, which
    holds only when no field is quoted; everything else goes to the careful
    reader.
    """
    if not (lines_are_rows(data) and _every_line_has(data, n_columns)):
        return None
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            header=None,
            skiprows=1,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            skip_blank_lines=False,
            engine="c",
            index_col=False,
            on_bad_lines="error",
            names=list(range(n_columns)),
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError):
        return None
    if frame.empty:
        frame["line"] = pd.Series(dtype="int64")
        return frame
    frame["line"] = np.arange(2, len(frame) + 2, dtype=np.int64)
    return frame


def _read_careful(text: str, n_columns: int) -> tuple[pd.DataFrame, list[tuple[int, str, str]]]:
    """csv-module reader for malformed files: ragged rows are kept aside, not dropped."""
    reader = csv.reader(io.StringIO(text, newline=""))
    next(reader, None)
    good: list[list[str]] = []
    lines: list[int] = []
    bad: list[tuple[int, str, str]] = []
    row_start_line = 2
    for fields in reader:
        line = row_start_line
        row_start_line = reader.line_num + 1
        if not any(field.strip() for field in fields):
            continue
        if len(fields) != n_columns:
            bad.append((line, f"expected {n_columns} fields, found {len(fields)}", ",".join(fields)))
            continue
        good.append(fields)
        lines.append(line)
    frame = pd.DataFrame(good, columns=list(range(n_columns)), dtype=object)
    frame = frame.astype(str) if len(frame) else pd.DataFrame({c: pd.Series(dtype=str) for c in range(n_columns)})
    frame["line"] = np.asarray(lines, dtype=np.int64)
    return frame, bad


def _raw_text(frame: pd.DataFrame, n_columns: int) -> pd.Series:
    raw = frame[0].astype(str)
    for col in range(1, n_columns):
        raw = raw + "," + frame[col].astype(str)
    return raw


def _strip(values: pd.Series) -> pd.Series:
    # pandas' str.strip costs several times a plain comprehension on Python-backed strings.
    return pd.Series([v.strip() for v in values.to_numpy(dtype=object)], index=values.index, dtype=str)


def parse_csv_file(path: str | os.PathLike, ingested_at_us: int) -> ParsedFile:
    path = Path(path)
    data = path.read_bytes()
    return parse_csv_bytes(data, path.name, ingested_at_us)


def parse_csv_parts(
    path: str | os.PathLike, ingested_at_us: int, scan: FileScan, part_bytes: int | None = None
) -> Iterator[ParsedFile]:
    """The file's rows in consecutive parts of whole lines, each a ParsedFile with the file's line numbers.

    One part, unless the file is a splittable pings file over `part_bytes`: the one kind that
    grows to gigabytes, and whose rows each stand alone (a later duplicate wins, as a later line
    does). Raises FileChangedWhileReading, after the last part, if the bytes read are not those
    `scan` hashed: the caller's transaction must then be rolled back.
    """
    path = Path(path)
    part_bytes = PART_BYTES if part_bytes is None else part_bytes
    if scan.size <= part_bytes or not scan.splittable or peek_kind(path) != PINGS:
        parsed = parse_csv_bytes(path.read_bytes(), path.name, ingested_at_us)
        if parsed.sha256 != scan.sha256:
            raise FileChangedWhileReading(f"{path.name} changed while it was being read")
        yield parsed
        return
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        header = handle.readline()
        digest.update(header)
        first_line, carry, at_end = 2, b"", False
        while not at_end:
            block = handle.read(part_bytes)
            digest.update(block)
            at_end = not block
            data = carry + block
            del block
            cut = len(data) if at_end else data.rfind(b"\n") + 1
            carry = data[cut:]
            part_bytes_read = b"".join((header, memoryview(data)[:cut]))  # one copy, not two
            del data
            if len(part_bytes_read) == len(header):
                continue
            n_lines = part_bytes_read.count(b"\n") - header.count(b"\n")
            part = parse_csv_bytes(part_bytes_read, path.name, ingested_at_us, sha256=scan.sha256)
            # Dropped before the caller loads the part: at most one part's bytes are held.
            del part_bytes_read
            # The part's own numbering starts at 2 (its header is line 1).
            part.rows["line"] += first_line - 2
            part.rejected["line"] += first_line - 2
            first_line += n_lines
            yield part
            del part
    if digest.hexdigest() != scan.sha256:
        raise FileChangedWhileReading(f"{path.name} changed while it was being read")


def parse_csv_bytes(data: bytes, file_name: str, ingested_at_us: int, sha256: str | None = None) -> ParsedFile:
    """`sha256`, when the caller knows it (a part of a file carries the whole file's), saves hashing `data`."""
    sha256 = sha256 or hashlib.sha256(data).hexdigest()
    # Nearly every row of a big pings export has one plain shape: those are read with
    # numpy, the other rows by the code below (core/plain_pings.py says how).
    from storemon_pipeline.core.plain_pings import parse_plain_pings

    plain = parse_plain_pings(data, file_name, sha256, ingested_at_us)
    if plain is not None:
        return plain
    text, clean_utf8 = decode_text(data)
    if not text.strip():
        raise UnknownFileKind(f"{file_name}: the file is empty (no header)")
    try:
        header = split_header(text)
        kind, positions = detect_kind(header)
    except UnknownFileKind as exc:
        raise UnknownFileKind(f"{file_name}: {exc}") from None
    n_columns = len(header)

    frame = _read_fast(data, text, n_columns)
    structural: list[tuple[int, str, str]] = []
    if frame is None:
        frame, structural = _read_careful(text, n_columns)

    # Stripping is a Python call per value: do it once per column.
    stripped = {col: _strip(frame[col]) for col in range(n_columns)}
    blank = np.logical_and.reduce([(stripped[col] == "").to_numpy() for col in range(n_columns)])
    frame = frame[~blank]
    stripped = {col: values[~blank] for col, values in stripped.items()}

    reasons = pd.Series("", index=frame.index, dtype=object)

    def reject(mask: pd.Series | np.ndarray, reason: str | pd.Series) -> None:
        """A Series reason may cover only the masked rows: spelling one out for every row is costly."""
        mask = pd.Series(np.asarray(mask, dtype=bool), index=frame.index) & (reasons == "")
        if isinstance(reason, pd.Series):
            reasons[mask] = reason.reindex(frame.index)[mask]
        else:
            reasons[mask] = reason

    if not clean_utf8:
        replaced = [frame[col].str.contains("\ufffd", regex=False).to_numpy() for col in range(n_columns)]
        reject(np.logical_or.reduce(replaced), "not valid UTF-8")
    header_again = pd.Series(True, index=frame.index)
    for col in range(n_columns):
        header_again &= stripped[col].str.lower() == header[col].strip().lower()
    reject(header_again, "repeated header row")

    columns = {name: stripped[pos] for name, pos in positions.items()}
    store_id = columns["store_id"]
    reject(store_id == "", "empty store_id")
    if _longest_line(data) > MAX_STORE_ID_CHARS:
        reject(store_id.str.len() > MAX_STORE_ID_CHARS, f"store_id longer than {MAX_STORE_ID_CHARS} characters")
    if "\x00" in text:
        # PostgreSQL text cannot hold NUL: the same file would load differently per dialect.
        reject(store_id.str.contains("\x00", regex=False), "store_id contains a NUL character")

    if kind == PINGS:
        rows = _validate_pings(columns, reject, ingested_at_us)
    elif kind == BUSINESS_HOURS:
        rows = _validate_business_hours(columns, reject)
    else:
        rows = _validate_timezones(columns, reject)

    ok = (reasons == "").to_numpy()
    rows = rows[ok].reset_index(drop=True)
    if kind == PINGS:
        rows["store_id"] = rows["store_id"].cat.remove_unused_categories()
    rows["line"] = frame["line"].to_numpy()[ok]
    # The raw text is only kept for rejected rows: build it for them alone.
    raw = _raw_text(frame[~ok], n_columns)

    rejected = pd.DataFrame(
        {
            "file": file_name,
            "line": frame["line"].to_numpy()[~ok],
            "reason": reasons.to_numpy()[~ok],
            "raw": raw.to_numpy(),
        }
    )
    if structural:
        extra = pd.DataFrame(structural, columns=["line", "reason", "raw"])
        extra.insert(0, "file", file_name)
        rejected = pd.concat([rejected, extra], ignore_index=True)
    rejected = rejected.astype({"file": str, "line": "int64", "reason": str, "raw": str})
    rejected["raw"] = [_cut_raw(raw_text) for raw_text in rejected["raw"]]
    rejected = rejected.sort_values("line", kind="stable").reset_index(drop=True)
    return ParsedFile(
        file_name=file_name,
        sha256=sha256,
        kind=kind,
        rows=rows,
        rejected=rejected[REJECTED_COLUMNS],
        n_rows=len(rows) + len(rejected),
    )


def _longest_line(data: bytes) -> int:
    """Length in bytes of the longest line (an upper bound of any field's characters)."""
    if len(data) <= MAX_STORE_ID_CHARS:
        return len(data)
    newlines = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == ord("\n"))
    bounds = np.concatenate([[-1], newlines, [len(data)]])
    return int(np.diff(bounds).max())


def _cut_raw(raw_text: str) -> str:
    if len(raw_text) <= MAX_RAW_CHARS:
        return raw_text
    return f"{raw_text[:MAX_RAW_CHARS]}... [cut: {len(raw_text)} characters in all]"


def _validate_pings(columns, reject, ingested_at_us: int) -> pd.DataFrame:
    status = columns["status"].str.lower()
    unknown = ~status.isin(["active", "inactive"])
    reject(unknown, "unknown status " + columns["status"][unknown].str.slice(0, 40).map(repr))
    ts_us = parse_timestamps_us(columns["timestamp_utc"])
    reject(ts_us.isna(), "unparseable timestamp")
    filled = ts_us.fillna(EARLIEST_PING_US)
    reject(~ping_times_in_range(filled, ingested_at_us), "timestamp out of range")
    return pd.DataFrame(
        {
            "store_id": pd.Categorical(columns["store_id"].astype(str).to_numpy()),
            "ts_us": filled.astype("int64").to_numpy(),
            "active": (status == "active").to_numpy(),
        }
    )


def _validate_business_hours(columns, reject) -> pd.DataFrame:
    day = parse_days_of_week(columns["day_of_week"])
    reject(day.isna(), "day of week outside 0-6")
    start_s = parse_times_of_day_s(columns["start_time_local"])
    end_s = parse_times_of_day_s(columns["end_time_local"])
    reject(start_s.isna(), "unparseable start_time_local")
    reject(end_s.isna(), "unparseable end_time_local")
    return pd.DataFrame(
        {
            "store_id": columns["store_id"].astype(str).to_numpy(),
            "day_of_week": day.fillna(0).astype("int8").to_numpy(),
            "start_s": start_s.fillna(0).astype("int32").to_numpy(),
            "end_s": end_s.fillna(0).astype("int32").to_numpy(),
        }
    )


def _validate_timezones(columns, reject) -> pd.DataFrame:
    zone = columns["timezone_str"]
    unknown = ~zone.isin(known_zone_names())
    reject(unknown, "unknown zone name " + zone[unknown].str.slice(0, 60).map(repr))
    return pd.DataFrame({"store_id": columns["store_id"].astype(str).to_numpy(), "timezone": zone.to_numpy()})



def peek_kind(path: str | os.PathLike) -> str:
    """The kind of a file from its header line alone (no full parse)."""
    with open(path, "rb") as handle:
        head = handle.read(64 * 1024)
    text, _ = decode_text(head)
    if not text.strip():
        raise UnknownFileKind(f"{Path(path).name}: the file is empty (no header)")
    try:
        header = split_header(text)
        return detect_kind(header)[0]
    except UnknownFileKind as exc:
        raise UnknownFileKind(f"{Path(path).name}: {exc}") from None


def scan_csv_file(path: str | os.PathLike) -> FileScan:
    digest = hashlib.sha256()
    size, splittable, held_cr = 0, True, b""
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
            # A "\r" ending the block is judged with the next block's first byte.
            text = held_cr + block
            held_cr = b"\r" if text.endswith(b"\r") else b""
            splittable = splittable and lines_are_rows(text[: len(text) - len(held_cr)])
    return FileScan(digest.hexdigest(), size, splittable and not held_cr)


def file_sha256(path: str | os.PathLike) -> str:
    return scan_csv_file(path).sha256
