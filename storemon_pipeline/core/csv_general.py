"""The general reader: any file of the three kinds, validated row by row, odd rows kept aside.

This reader is the definition of every rule of docs/report-semantics.md#input-files
for a row: what is trimmed, which rows are blank, why a row is kept aside and with
what text. A file is parsed by pandas' C reader (no Python loop per row); only a
file the C reader cannot be trusted with (ragged rows, quoted fields, fields
spanning lines) goes through the csv module, so one bad line costs speed, never
data. The numpy reader (core/csv_plain_pings.py) is a shortcut for rows whose
result this reader would give; it is checked against this one in the tests.
"""

from __future__ import annotations

import csv
import io

import numpy as np
import pandas as pd

from storemon_pipeline.core.formats import (
    BUSINESS_HOURS,
    PINGS,
    REJECTED_COLUMNS,
    ParsedFile,
    decode_text,
    find_lines,
    lines_are_rows,
    read_header,
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


def parse_general_csv(data: bytes, file_name: str, sha256: str, ingested_at_us: int) -> ParsedFile:
    """The valid rows and the rows kept aside of any input file; `sha256` is the file's, as given."""
    text, clean_utf8 = decode_text(data)
    header, kind, positions = read_header(text, file_name)
    n_columns = len(header)

    frame = _read_with_c_reader(data, text, n_columns)
    structural: list[tuple[int, str, str]] = []
    if frame is None:
        frame, structural = _read_with_csv_module(text, n_columns)

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


def _every_line_has(data: bytes, n_columns: int) -> bool:
    """Every non-empty line after the header has exactly n_columns fields; meaningful only where lines_are_rows."""
    return bool(find_lines(np.frombuffer(data, dtype=np.uint8)).have_fields(n_columns)[1:].all())


def _read_with_c_reader(data: bytes, text: str, n_columns: int) -> pd.DataFrame | None:
    """All fields as str plus `line`, or None when pandas' C reader cannot be trusted.

    pandas' reader cannot report ragged rows: with `names` it drops extra
    fields silently, pads short rows, and a first row one field longer than
    the header turns the first column into the index for the whole file. So
    it only gets files whose field counts are proven by counting commas, which
    holds only when every line is one row; everything else goes to the csv
    module.
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


def _read_with_csv_module(text: str, n_columns: int) -> tuple[pd.DataFrame, list[tuple[int, str, str]]]:
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
