"""Fuzzing the ingest: random CSVs of the three kinds, valid and broken rows mixed.

Each example writes a file, parses it and ingests it into a fresh SQLite warehouse.
The generator knows what it wrote, so the checks are exact:

- nothing crashes: a file either loads, or (broken header only) raises UnknownFileKind
  and leaves the warehouse empty;
- rows loaded + rows kept aside = rows in the file, where a row is a non-blank data line
  after the header (a physical line; a quoted field spanning lines makes one row);
- the rows loaded are exactly the rows generated valid, the rows kept aside exactly the
  others, each at the physical line where it starts;
- the warehouse holds what the rows say (distinct pings, the last zone per store, every
  hours row) and `rejected_rows` one row per row kept aside.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storemon_pipeline.core.inputs import UnknownFileKind, parse_csv_file
from storemon_pipeline.warehouse import Warehouse

NOW = datetime(2023, 1, 26, tzinfo=timezone.utc)
NOW_US = int(NOW.timestamp() * 1_000_000)

COLUMNS = {
    "pings": ["store_id", "status", "timestamp_utc"],
    "business_hours": ["store_id", "dayOfWeek", "start_time_local", "end_time_local"],
    "timezones": ["store_id", "timezone_str"],
}

# Characters of store ids: CSV-significant ones and SQL-significant ones included.
STORE_ID_CHARS = "abcXYZ019-_.,;'\"%?:()é "


@dataclass
class Row:
    fields: list[str]  # in the file's column order (extra column included)
    valid: bool
    key: tuple  # what the warehouse keeps for a valid row


def value(valid_values, invalid_values):
    """(text, is_valid) from one of two pools."""
    return st.one_of(
        st.sampled_from(valid_values).map(lambda v: (v, True)),
        st.sampled_from(invalid_values).map(lambda v: (v, False)),
    )


store_ids = st.one_of(
    st.text(alphabet=STORE_ID_CHARS, min_size=1, max_size=10).filter(lambda s: s.strip()).map(lambda s: (s, True)),
    st.sampled_from(["", "   "]).map(lambda s: (s, False)),
)

instants = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2023, 1, 25, 23, 59, 59))
TIMESTAMP_FORMATS = [
    lambda t: t.strftime("%Y-%m-%d %H:%M:%S.%f UTC"),
    lambda t: t.strftime("%Y-%m-%d %H:%M:%S UTC"),
    lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ"),
    lambda t: t.strftime("%Y-%m-%dT%H:%M:%S.%f"),
    lambda t: " " + t.strftime("%Y-%m-%d %H:%M:%S") + " ",
]


@st.composite
def timestamps(draw):
    if draw(st.integers(0, 3)) == 0:
        bad = ["", "yesterday", "2023-13-01 00:00:00", "1999-12-31 23:59:59 UTC", "2030-01-01T00:00:00Z", "12:00"]
        return draw(st.sampled_from(bad)), False, None
    instant = draw(instants)
    form = draw(st.sampled_from(range(len(TIMESTAMP_FORMATS))))
    if form in (1, 2, 4):
        instant = instant.replace(microsecond=0)
    ts_us = int(instant.replace(tzinfo=timezone.utc).timestamp() * 1_000_000)
    return TIMESTAMP_FORMATS[form](instant), True, ts_us


@st.composite
def rows(draw, kind: str, order: list[int], extra: bool):
    store_id, store_ok = draw(store_ids)
    if kind == "pings":
        status, status_ok = draw(value(["active", "inactive", "Active", " INACTIVE "], ["up", "", "actve", "0"]))
        ts_text, ts_ok, ts_us = draw(timestamps())
        canonical = [store_id, status, ts_text]
        ok = store_ok and status_ok and ts_ok
        key = (store_id.strip(), ts_us)
    elif kind == "business_hours":
        day, day_ok = draw(value([str(d) for d in range(7)], ["7", "-1", "Mon", ""]))
        times = ["09:00:00", "17:30", "0:00", "23:59:59", "12:00"]
        start, start_ok = draw(value(times, ["25:00:00", "12:60", "noon", ""]))
        end, end_ok = draw(value(times, ["24:00:01", "9", ""]))
        canonical = [store_id, day, start, end]
        ok = store_ok and day_ok and start_ok and end_ok
        key = (store_id.strip(), day, start, end)
    else:
        zone, zone_ok = draw(value(["America/Chicago", "Asia/Kolkata", "UTC", " Europe/Paris "],
                                   ["America/Chicagoo", "", "Mars/Base", "america/chicago"]))
        canonical = [store_id, zone]
        ok = store_ok and zone_ok
        key = (store_id.strip(),)
    fields = [canonical[i] for i in order]
    if extra:
        fields.append(draw(st.text(alphabet="ab ,\"\n'é", max_size=8)))
    # Broken structure: a field missing or one too many.
    shape = draw(st.sampled_from(["ok"] * 8 + ["short", "long"]))
    if shape == "short":
        fields = fields[:-1]
        ok = False
    elif shape == "long":
        fields = [*fields, "surplus"]
        ok = False
    return Row(fields, ok, key)


def csv_line(fields: list[str], quote_all: bool) -> str:
    out = []
    for field in fields:
        if quote_all or any(c in field for c in ',"\n\r') or field.startswith(" "):
            out.append('"' + field.replace('"', '""') + '"')
        else:
            out.append(field)
    return ",".join(out)


@st.composite
def csv_files(draw):
    kind = draw(st.sampled_from(list(COLUMNS)))
    names = COLUMNS[kind]
    order = draw(st.permutations(range(len(names))))
    extra = draw(st.booleans())
    header = [names[i] for i in order] + (["note"] if extra else [])
    if kind == "business_hours" and draw(st.booleans()):
        header = ["day" if h == "dayOfWeek" else h for h in header]
    header_style = draw(st.sampled_from(["plain"] * 10 + ["upper", "semicolons", "misspelt"]))
    if header_style == "upper":
        header = [f" {h.upper()} " for h in header]
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    quote_all = draw(st.booleans())
    header_text = ";".join(header) if header_style == "semicolons" else csv_line(header, quote_all)
    if header_style == "misspelt":
        header_text = header_text.replace("store_id", "storeid")
    generated = draw(st.lists(rows(kind, list(order), extra), max_size=25))
    not_utf8 = draw(st.lists(st.booleans(), min_size=len(generated), max_size=len(generated)))

    data = (b"\xef\xbb\xbf" if draw(st.booleans()) else b"") + (header_text + newline).encode()
    line = 2
    expected = []  # (row, physical start line, valid after encoding)
    for row, latin1 in zip(generated, not_utf8):
        while draw(st.integers(0, 5)) == 0:  # blank lines between rows: not rows
            data += newline.encode()
            line += 1
        text = csv_line(row.fields, quote_all)
        encoded = text.encode("latin-1") if latin1 else text.encode("utf-8")
        counted = any(f.strip() for f in row.fields)
        valid = row.valid and not (latin1 and not text.isascii())
        if counted:
            expected.append((row, line, valid))
        data += encoded + newline.encode()
        line += 1 + text.count("\n")
    file_level_error = header_style in ("semicolons", "misspelt")
    return kind, data, expected, file_level_error


@settings(max_examples=60, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(csv_files())
def test_random_files_never_crash_and_every_row_is_loaded_or_kept_aside(example):
    kind, data, expected, file_level_error = example
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.csv"
        path.write_bytes(data)
        warehouse = Warehouse(f"sqlite:///{folder}/warehouse.db")
        try:
            if file_level_error:
                try:
                    parse_csv_file(path, NOW_US)
                except UnknownFileKind as error:
                    assert "fuzz.csv" in str(error)
                else:
                    raise AssertionError("a header of no known kind was accepted")
                assert warehouse.ingested_files().empty
                return
            parsed = parse_csv_file(path, NOW_US)
            result = warehouse.ingest(parsed, NOW_US)
            check(kind, parsed, result, expected, warehouse)
        finally:
            warehouse.dispose()


def check(kind, parsed, result, expected, warehouse):
    valid = [(row, line) for row, line, ok in expected if ok]
    invalid_lines = [line for _, line, ok in expected if not ok]
    assert parsed.kind == kind
    # Rows loaded + rows kept aside = rows in the file.
    assert result.rows_loaded + result.rows_rejected == parsed.n_rows == len(expected)
    assert (result.rows_loaded, result.rows_rejected) == (len(valid), len(invalid_lines))
    assert list(parsed.rows["line"]) == [line for _, line in valid]
    assert list(parsed.rejected["line"]) == invalid_lines
    assert all(parsed.rejected["reason"] != "")

    # The warehouse holds what the rows say.
    files = warehouse.ingested_files()
    assert list(files[["rows_loaded", "rows_rejected"]].itertuples(index=False, name=None)) == [
        (len(valid), len(invalid_lines))
    ]
    assert list(warehouse.read_rejected("fuzz.csv")["line"]) == invalid_lines
    if kind == "pings":
        stored = warehouse.read_pings(0, 2**62)
        assert set(zip(stored["store_id"], stored["ts_us"])) == {row.key for row, _ in valid}
        assert len(stored) == len({row.key for row, _ in valid})
    elif kind == "business_hours":
        assert len(warehouse.read_business_hours()) == len(valid)
        assert set(warehouse.read_business_hours()["store_id"]) == {row.key[0] for row, _ in valid}
    else:
        zones = warehouse.read_timezones()
        assert sorted(zones["store_id"]) == sorted({row.key[0] for row, _ in valid})


def test_the_generator_makes_every_kind_of_trouble():
    """The strategy above reaches broken headers, rejected rows, blank lines, quoting and bad bytes."""
    seen = set()

    @settings(max_examples=100, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(csv_files())
    def collect(example):
        kind, data, expected, file_level_error = example
        seen.add(kind)
        seen.add("file_level_error" if file_level_error else "header_ok")
        if any(not ok for _, _, ok in expected):
            seen.add("rejected_row")
        if any(ok for _, _, ok in expected):
            seen.add("valid_row")
        if b'"' in data:
            seen.add("quoted")
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            seen.add("not_utf8")

    collect()
    assert seen >= {"pings", "business_hours", "timezones", "file_level_error", "header_ok", "rejected_row",
                    "valid_row", "quoted", "not_utf8"}
