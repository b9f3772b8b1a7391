"""Bad input through the real path: write the file, parse it, ingest it, look at the warehouse.

Every case starts from a warehouse that already holds a small valid baseline (pings,
hours and zones of stores `base-*`), ingests one bad file, and checks three things:

- the good rows of the file are loaded (read back through the Warehouse API);
- the bad rows are kept aside in `rejected_rows` with file, line, reason and raw text;
- nothing else changed: every table the file's kind does not write is identical,
  row for row, to the before-state, and `ingested_files` gained exactly one row.

A file-level problem (empty file, a header of no known kind, a wrong delimiter, a
first line of 50 MB) raises `UnknownFileKind` with a clear message and changes
nothing; it is not recorded in the warehouse (the inbox sensor remembers it in its
cursor instead), so a corrected file (new bytes) is loaded normally.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from storemon_pipeline.core.csv_general import MAX_RAW_CHARS
from storemon_pipeline.core.inputs import (
    BUSINESS_HOURS,
    PINGS,
    TIMEZONES,
    UnknownFileKind,
    parse_csv_file,
)
from storemon_pipeline.warehouse import Warehouse

NOW_US = int(datetime(2023, 1, 26, tzinfo=timezone.utc).timestamp() * 1_000_000)  # the ingest moment
PINGS_HEADER = b"store_id,status,timestamp_utc\n"
HOURS_HEADER = b"store_id,dayOfWeek,start_time_local,end_time_local\n"
ZONES_HEADER = b"store_id,timezone_str\n"

BASELINE = {
    "base_pings.csv": PINGS_HEADER
    + b"base-1,active,2023-01-25 10:00:00 UTC\nbase-2,inactive,2023-01-25 11:00:00 UTC\n",
    "base_hours.csv": HOURS_HEADER + b"base-1,0,09:00:00,17:00:00\nbase-1,1,09:00,17:00\n",
    "base_zones.csv": ZONES_HEADER + b"base-1,Asia/Kolkata\nbase-2,Europe/Paris\n",
}

# The tables an ingest of each kind may write (besides ingested_files and rejected_rows):
# its own, and stores, which keys every store seen in a valid row of any input; a pings
# ingest also rewrites the ping_days rows of the days it adds to.
WRITES = {
    PINGS: {"pings", "ping_days", "stores"},
    BUSINESS_HOURS: {"business_hours", "stores"},
    TIMEZONES: {"timezones", "stores"},
}
BOOKKEEPING = {"ingested_files", "rejected_rows"}


def ts_us(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp() * 1_000_000)


# -- the warehouse, read back --------------------------------------------------------


def snapshot(url: str) -> dict[str, list[tuple]]:
    """Every table of the warehouse database, rows sorted: compares whole states."""
    engine = sa.create_engine(url)
    try:
        reflected = sa.MetaData()
        reflected.reflect(engine)
        with engine.connect() as conn:
            return {
                name: sorted((tuple(row) for row in conn.execute(sa.select(table))), key=repr)
                for name, table in reflected.tables.items()
            }
    finally:
        engine.dispose()


def assert_unchanged_except(before: dict, after: dict, written: set[str]) -> None:
    assert set(after) == set(before), "tables were created or dropped"
    for name in before:
        if name not in written:
            assert after[name] == before[name], f"table {name} changed"


def kind_rows(warehouse: Warehouse, kind: str) -> set[tuple]:
    if kind == PINGS:
        frame = warehouse.read_pings(0, 2**62)
        return {(r.store_id, int(r.ts_us), bool(r.active)) for r in frame.itertuples()}
    if kind == BUSINESS_HOURS:
        frame = warehouse.read_business_hours()
        return {(r.store_id, int(r.day_of_week), int(r.start_s), int(r.end_s)) for r in frame.itertuples()}
    frame = warehouse.read_timezones()
    return {(r.store_id, r.timezone) for r in frame.itertuples()}


@pytest.fixture
def baseline_url(sqlite_url, tmp_path) -> str:
    return load_baseline(sqlite_url, tmp_path)


def load_baseline(url: str, tmp_path: Path) -> str:
    warehouse = Warehouse(url)
    for name, content in BASELINE.items():
        path = tmp_path / name
        path.write_bytes(content)
        assert not warehouse.ingest(parse_csv_file(path, NOW_US), NOW_US).already_ingested
    warehouse.dispose()
    return url


def ingest_bytes(url: str, tmp_path: Path, name: str, content: bytes):
    path = tmp_path / name
    path.write_bytes(content)
    warehouse = Warehouse(url)
    try:
        parsed = parse_csv_file(path, NOW_US)
        return parsed, warehouse.ingest(parsed, NOW_US)
    finally:
        warehouse.dispose()


# -- row-level problems: the good rows load, the bad are kept aside ----------------------


@dataclass
class Case:
    kind: str
    content: bytes
    loaded: set[tuple]  # rows the file adds, in kind_rows' form
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (line, reason contains)
    raw: dict[int, str] = field(default_factory=dict)  # line -> exact raw text kept


T1 = "2023-01-25 12:00:00"
CASES = {
    "header_only": Case(PINGS, PINGS_HEADER, set()),
    "header_only_crlf_no_newline": Case(TIMEZONES, b"store_id,timezone_str\r", set()),
    "bom": Case(
        BUSINESS_HOURS,
        b"\xef\xbb\xbf" + HOURS_HEADER + b"h-1,2,08:00:00,12:00:00\n",
        {("h-1", 2, 8 * 3600, 12 * 3600)},
    ),
    "crlf": Case(
        TIMEZONES,
        b"store_id,timezone_str\r\nz-1,America/Denver\r\n\r\nz-2 , Asia/Tokyo \r\nz-3,Mars/Olympus\r\n",
        {("z-1", "America/Denver"), ("z-2", "Asia/Tokyo")},
        [(5, "unknown zone name 'Mars/Olympus'")],
    ),
    "bare_cr_line_ends": Case(
        PINGS,
        PINGS_HEADER.replace(b"\n", b"\r") + f"p-1,active,{T1} UTC\rp-2,inactive,{T1}Z\r".encode(),
        {("p-1", ts_us(T1), True), ("p-2", ts_us(T1), False)},
    ),
    "quoted_fields": Case(
        PINGS,
        b'"store_id","status","timestamp_utc","note"\n'
        + f'"p,1","Active","{T1} UTC","x"\n'.encode()
        + f'"p""2",inactive,{T1}Z,"a note\nspanning two lines"\n'.encode()
        + f'p-3,"bogus",{T1},"n"\n'.encode(),
        {("p,1", ts_us(T1), True), ('p"2', ts_us(T1), False)},
        [(5, "unknown status 'bogus'")],
        {5: f"p-3,bogus,{T1},n"},
    ),
    "non_utf8_bytes": Case(
        PINGS,
        PINGS_HEADER + f"p-1,active,{T1} UTC\n".encode() + b"caf\xe9-7,active,2023-01-25 12:00:00 UTC\n"
        + b"p-2,\xff\xfeactive,2023-01-25 12:00:00 UTC\n",
        {("p-1", ts_us(T1), True)},
        [(3, "not valid UTF-8"), (4, "not valid UTF-8")],
        {3: f"caf\ufffd-7,active,{T1} UTC"},
    ),
    "timestamps_out_of_range": Case(
        PINGS,
        PINGS_HEADER
        + b"p-1,active,2023-01-26 00:59:59 UTC\n"  # within the hour after the ingest moment
        + b"p-2,active,2023-01-26 01:00:01 UTC\n"  # more than an hour ahead
        + b"p-3,active,2999-01-01T00:00:00Z\n"
        + b"p-4,active,1999-12-31 23:59:59.999999 UTC\n"  # before 2000
        + b"p-5,active,2000-01-01 00:00:00 UTC\n"
        + b"p-6,active,1970-01-01 00:00:00 UTC\n",
        {("p-1", ts_us("2023-01-26 00:59:59"), True), ("p-5", ts_us("2000-01-01 00:00:00"), True)},
        [(3, "out of range"), (4, "out of range"), (5, "out of range"), (7, "out of range")],
    ),
    "unknown_statuses": Case(
        PINGS,
        PINGS_HEADER
        + f"p-1, ACTIVE ,{T1} UTC\np-2,up,{T1} UTC\np-3,,{T1} UTC\np-4,1,{T1} UTC\np-5,inactive!,{T1} UTC\n".encode(),
        {("p-1", ts_us(T1), True)},
        [(3, "unknown status 'up'"), (4, "unknown status ''"), (5, "unknown status '1'"), (6, "unknown status")],
    ),
    "day_7": Case(
        BUSINESS_HOURS,
        HOURS_HEADER + b"h-1,6,09:00,17:00\nh-1,7,09:00,17:00\nh-2,-1,09:00,17:00\nh-3,Mon,09:00,17:00\n",
        {("h-1", 6, 9 * 3600, 17 * 3600)},
        [(3, "day of week outside 0-6"), (4, "day of week outside 0-6"), (5, "day of week outside 0-6")],
    ),
    "hour_25": Case(
        BUSINESS_HOURS,
        HOURS_HEADER
        + b"h-1,0,25:00:00,17:00:00\nh-1,1,09:00:00,24:00:00\nh-1,2,09:60,17:00\nh-1,3,9:00,23:59:59\n",
        {("h-1", 3, 9 * 3600, 86399)},
        [(2, "unparseable start_time_local"), (3, "unparseable end_time_local"), (4, "unparseable start")],
    ),
    "duplicate_header_rows": Case(
        TIMEZONES,
        ZONES_HEADER + b"z-1,Europe/Berlin\n" + ZONES_HEADER + b" STORE_ID , TimeZone_Str \nz-2,UTC\n",
        {("z-1", "Europe/Berlin"), ("z-2", "UTC")},
        [(3, "repeated header row"), (4, "repeated header row")],
    ),
    "misspelt_zone": Case(
        TIMEZONES,
        ZONES_HEADER + b"z-1,America/Chicagoo\nz-2,America/Chicago\nz-3,america/chicago\n",
        {("z-2", "America/Chicago")},
        [(2, "unknown zone name 'America/Chicagoo'"), (4, "unknown zone name")],
        {2: "z-1,America/Chicagoo"},
    ),
    "ragged_rows": Case(
        PINGS,
        PINGS_HEADER + f"p-1,active,{T1} UTC,extra\np-2,active\np-3,inactive,{T1} UTC\n".encode(),
        {("p-3", ts_us(T1), False)},
        [(2, "expected 3 fields, found 4"), (3, "expected 3 fields, found 2")],
    ),
    "empty_and_nul_store_ids": Case(
        PINGS,
        PINGS_HEADER + f"  ,active,{T1} UTC\np\x00-1,active,{T1} UTC\np-2,active,{T1} UTC\n".encode(),
        {("p-2", ts_us(T1), True)},
        [(2, "empty store_id"), (3, "NUL")],
    ),
}


@pytest.mark.parametrize("case_name", list(CASES))
def test_bad_rows_are_kept_aside_and_the_good_rows_load(case_name, baseline_url, tmp_path):
    case = CASES[case_name]
    file_name = f"{case_name}.csv"
    before_state = snapshot(baseline_url)
    before_rows = kind_rows(Warehouse(baseline_url), case.kind)

    parsed, result = ingest_bytes(baseline_url, tmp_path, file_name, case.content)

    assert parsed.kind == case.kind
    assert (result.rows_loaded, result.rows_rejected, result.already_ingested) == (
        len(parsed.rows), len(case.rejected), False,
    )
    warehouse = Warehouse(baseline_url)
    assert kind_rows(warehouse, case.kind) - before_rows == case.loaded
    rejected = warehouse.read_rejected(file_name)
    assert list(rejected["file"]) == [file_name] * len(case.rejected)
    assert list(rejected["line"]) == [line for line, _ in case.rejected]
    for reason, (_, expected) in zip(rejected["reason"], case.rejected):
        assert expected in reason
    for line, raw in case.raw.items():
        assert rejected.loc[rejected["line"] == line, "raw"].item() == raw
    files = warehouse.ingested_files()
    assert len(files) == len(BASELINE) + 1
    last = files.iloc[-1]
    assert (last.file_name, last.kind, last.rows_loaded, last.rows_rejected) == (
        file_name, case.kind, len(parsed.rows), len(case.rejected),
    )
    after_state = snapshot(baseline_url)
    assert_unchanged_except(before_state, after_state, WRITES[case.kind] | BOOKKEEPING)
    # Rows of the baseline are still there (none of these files names a baseline store).
    assert before_rows <= kind_rows(warehouse, case.kind)
    # The same bytes again change nothing at all.
    _, again = ingest_bytes(baseline_url, tmp_path, f"again_{file_name}", case.content)
    assert again.already_ingested and snapshot(baseline_url) == after_state


def test_a_50_mb_line_is_one_row_kept_aside(baseline_url, tmp_path):
    huge_store_id = b"S" * (50 * 1024 * 1024)
    content = PINGS_HEADER + f"p-1,active,{T1} UTC\n".encode() + huge_store_id + f",active,{T1} UTC\n".encode()
    content += f"p-2,inactive,{T1} UTC\n".encode()
    before_state = snapshot(baseline_url)

    parsed, result = ingest_bytes(baseline_url, tmp_path, "huge.csv", content)

    assert (result.rows_loaded, result.rows_rejected) == (2, 1)
    warehouse = Warehouse(baseline_url)
    assert {("p-1", ts_us(T1), True), ("p-2", ts_us(T1), False)} <= kind_rows(warehouse, PINGS)
    rejected = warehouse.read_rejected("huge.csv")
    assert list(rejected["line"]) == [3]
    assert rejected["reason"].item() == "store_id longer than 255 characters"
    # The raw text kept is cut (the 50 MB stay in the file, not in the warehouse) and says so.
    raw = rejected["raw"].item()
    assert raw.startswith("SSSS") and len(raw) < MAX_RAW_CHARS + 100 and "cut" in raw
    assert_unchanged_except(before_state, snapshot(baseline_url), WRITES[PINGS] | BOOKKEEPING)


# -- hostile store ids: stored and read back verbatim, on both dialects --------------------------

HOSTILE_STORE_IDS = [
    "Robert'); DROP TABLE pings;--",
    "' OR '1'='1",
    'quote"inside',
    "comma,inside",
    "1; DELETE FROM ingested_files WHERE 1=1",
    "%s %(store_id)s :store_id ? $1",
    "back\\slash \\N \\. tab\tinside",
    "/* comment */ -- trailing",
    "line\nbreak",
    "магазин-ü-🛒",
]


def csv_field(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def test_hostile_store_ids_round_trip_verbatim(database_url, tmp_path):
    url = load_baseline(database_url, tmp_path)
    before_state = snapshot(url)
    ids = HOSTILE_STORE_IDS
    pings = "store_id,status,timestamp_utc\n" + "".join(f"{csv_field(s)},active,{T1} UTC\n" for s in ids)
    # One more row per id that is bad (unknown status): its raw text goes to rejected_rows.
    pings += "".join(f"{csv_field(s)},{csv_field(s)},{T1} UTC\n" for s in ids)
    hours = "store_id,dayOfWeek,start_time_local,end_time_local\n" + "".join(
        f"{csv_field(s)},3,10:00,11:00\n" for s in ids
    )
    zones = "store_id,timezone_str\n" + "".join(f"{csv_field(s)},Europe/London\n" for s in ids)

    for name, text in (("hostile_pings.csv", pings), ("hostile_hours.csv", hours), ("hostile_zones.csv", zones)):
        _, result = ingest_bytes(url, tmp_path, name, text.encode("utf-8"))
        assert result.rows_loaded == len(ids), name

    warehouse = Warehouse(url)
    try:
        assert {s for s, _, _ in kind_rows(warehouse, PINGS)} == set(ids) | {"base-1", "base-2"}
        assert {(s, d, a, b) for s, d, a, b in kind_rows(warehouse, BUSINESS_HOURS) if not s.startswith("base-")} == {
            (s, 3, 36000, 39600) for s in ids
        }
        assert {(s, z) for s, z in kind_rows(warehouse, TIMEZONES) if not s.startswith("base-")} == {
            (s, "Europe/London") for s in ids
        }
        assert list(warehouse.report_store_ids(NOW_US)) == sorted([*ids, "base-1", "base-2"])
        rejected = warehouse.read_rejected("hostile_pings.csv")
        assert sorted(rejected["raw"]) == sorted(f"{s},{s},{T1} UTC" for s in ids)
        assert all(reason.startswith("unknown status") for reason in rejected["reason"])
    finally:
        warehouse.dispose()
    # Every baseline row survived and no table was dropped or emptied by the SQL-looking text.
    after_state = snapshot(url)
    assert set(after_state) == set(before_state)
    for name, rows in before_state.items():
        if name == "ping_days":
            continue  # a day's one row is rewritten as it gains pings; its pings are those of `pings`, checked here
        assert set(rows) <= set(after_state[name]), name


# -- file-level problems: one clear error, nothing changes ------------------------------------------

FILE_LEVEL = {
    "empty": (b"", "the file is empty"),
    "blank_lines_only": (b"\n \r\n\t\n", "the file is empty"),
    "unknown_header": (b"order_id,amount\n1,2\n", "matches no input kind"),
    "semicolons": (b"store_id;status;timestamp_utc\ns1;active;2023-01-25 12:00:00 UTC\n", "matches no input kind"),
    "tabs": (b"store_id\ttimezone_str\ns1\tUTC\n", "matches no input kind"),
    "misspelt_column": (b"store_id,status,timestamp\ns1,active,2023-01-25 12:00:00 UTC\n", "matches no input kind"),
    "single_50_mb_line": (b"x" * (50 * 1024 * 1024), "first line is longer than"),
    "binary": (bytes(range(256)) * 64, "matches no input kind"),
}


@pytest.mark.parametrize("case_name", list(FILE_LEVEL))
def test_a_file_of_no_known_kind_is_one_clear_error_and_changes_nothing(case_name, baseline_url, tmp_path):
    content, message = FILE_LEVEL[case_name]
    before_state = snapshot(baseline_url)
    with pytest.raises(UnknownFileKind) as raised:
        ingest_bytes(baseline_url, tmp_path, f"{case_name}.csv", content)
    text = str(raised.value)
    assert text.startswith(f"{case_name}.csv: ") and message in text
    assert len(text) < 1000 and "\n" not in text
    assert snapshot(baseline_url) == before_state


def test_raw_assets_log_a_file_of_no_known_kind_and_load_the_rest(baseline_url, tmp_path):
    """Through Dagster: the run succeeds, the good file loads, the bad and the vanished ones are errors in the log."""
    from dagster import DagsterInstance, materialize

    from storemon_pipeline.assets.raw import raw_assets, raw_paths_run_config
    from storemon_pipeline.resources import StoremonFiles, WarehouseResource

    bad = tmp_path / "orders.csv"
    bad.write_bytes(b"order_id;amount\n1;2\n")
    good = tmp_path / "more_zones.csv"
    good.write_bytes(ZONES_HEADER + b"z-9,Pacific/Auckland\nz-10,Nowhere/Land\n")
    before_state = snapshot(baseline_url)
    instance = DagsterInstance.ephemeral()
    vanished = tmp_path / "removed_since_listed.csv"  # listed by the sensor, deleted before the run
    paths = [str(bad), str(good), str(vanished)]
    result = materialize(
        raw_assets,
        resources={
            "warehouse": WarehouseResource(database_url=baseline_url),
            "files": StoremonFiles(data_dir=str(tmp_path), reports_dir=str(tmp_path / "reports")),
        },
        run_config=raw_paths_run_config(paths),
        instance=instance,
    )
    assert result.success
    errors = [r.user_message for r in instance.all_logs(result.run_id) if r.level >= 40]
    assert len(errors) == 2
    assert "orders.csv" in errors[0] and "matches no input kind" in errors[0]
    assert "removed_since_listed.csv: cannot be read: No such file or directory" in errors[1]
    warehouse = Warehouse(baseline_url)
    assert list(warehouse.ingested_files()["file_name"])[-1] == "more_zones.csv"
    assert "orders.csv" not in set(warehouse.ingested_files()["file_name"])
    assert ("z-9", "Pacific/Auckland") in kind_rows(warehouse, TIMEZONES)
    assert list(warehouse.read_rejected("more_zones.csv")["line"]) == [3]
    assert_unchanged_except(before_state, snapshot(baseline_url), WRITES[TIMEZONES] | BOOKKEEPING)
