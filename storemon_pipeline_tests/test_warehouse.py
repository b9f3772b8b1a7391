"""The warehouse on a real SQLite file and the real PostgreSQL server.

ParsedFile objects are built directly from DataFrames, so nothing here depends
on CSV parsing. `database_url` (conftest) runs each test on both dialects; the
PostgreSQL one gets a fresh schema and is skipped only when
STOREMON_TEST_POSTGRES_URL is unset.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import sqlite3

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from storemon_pipeline.core.inputs import ParsedFile
from storemon_pipeline.warehouse import IngestResult, Warehouse, WarehouseUnavailable
from storemon_pipeline.warehouse import ping_days as ping_days_module
from storemon_pipeline.warehouse import tables
from storemon_pipeline.warehouse import warehouse as warehouse_module
from storemon_pipeline.warehouse.bulk import encode_text_column
from storemon_pipeline.warehouse.tables import REPORT_VALUE_COLUMNS
from storemon_pipeline.warehouse.warehouse import DerivedBuild

HOUR_US = 3_600_000_000
T0_US = 1_674_000_000_000_000  # 2023-01-18
EVERYTHING = (0, 2**62)

HOSTILE_STRINGS = [
    "plain",
    "comma,inside",
    'quote"inside',
    '"fully quoted"',
    "it's",
    "new\nline",
    "cr\r\nlf",
    "lone\rcr",
    "tab\tseparated",
    "back\\slash",
    "\\.",
    "first\n\\.\nthird",
    "\\N",
    "'); DROP TABLE pings; --",
    "NA",
    "null",
    "",
    "  spaced  ",
    "ünïcødé ✓ 🚀",
    "x" * 10_000,
]


# -- building inputs ------------------------------------------------------------


def _rejected_frame(rejected: list[tuple[str, int, str, str]] | None) -> pd.DataFrame:
    rejected = rejected or []
    return pd.DataFrame(
        {
            "file": pd.Series([r[0] for r in rejected], dtype="str"),
            "line": pd.Series([r[1] for r in rejected], dtype="int64"),
            "reason": pd.Series([r[2] for r in rejected], dtype="str"),
            "raw": pd.Series([r[3] for r in rejected], dtype="str"),
        }
    )


def _parsed(kind: str, rows: pd.DataFrame, file_name: str, rejected=None, sha256: str | None = None) -> ParsedFile:
    rejected_frame = rejected if isinstance(rejected, pd.DataFrame) else _rejected_frame(rejected)
    if sha256 is None:
        content = pd.util.hash_pandas_object(rows, index=False).to_numpy().tobytes()
        content += pd.util.hash_pandas_object(rejected_frame, index=False).to_numpy().tobytes()
        sha256 = hashlib.sha256(file_name.encode() + content).hexdigest()
    return ParsedFile(
        file_name=file_name,
        sha256=sha256,
        kind=kind,
        rows=rows,
        rejected=rejected_frame,
        n_rows=len(rows) + len(rejected_frame),
    )


def pings_file(pings: list[tuple[str, int, bool]], file_name="pings.csv", rejected=None, lines=None, sha256=None):
    rows = pd.DataFrame(
        {
            "store_id": pd.Series([p[0] for p in pings], dtype="str"),
            "ts_us": np.array([p[1] for p in pings], dtype=np.int64),
            "active": np.array([p[2] for p in pings], dtype=bool),
            "line": np.array(lines if lines is not None else range(2, len(pings) + 2), dtype=np.int64),
        }
    )
    return _parsed("pings", rows, file_name, rejected, sha256)


def hours_file(hours: list[tuple[str, int, int, int]], file_name="hours.csv", rejected=None):
    rows = pd.DataFrame(
        {
            "store_id": pd.Series([h[0] for h in hours], dtype="str"),
            "day_of_week": np.array([h[1] for h in hours], dtype=np.int8),
            "start_s": np.array([h[2] for h in hours], dtype=np.int32),
            "end_s": np.array([h[3] for h in hours], dtype=np.int32),
            "line": np.arange(2, len(hours) + 2, dtype=np.int64),
        }
    )
    return _parsed("business_hours", rows, file_name, rejected)


def timezones_file(zones: list[tuple[str, str]], file_name="timezones.csv", rejected=None):
    rows = pd.DataFrame(
        {
            "store_id": pd.Series([z[0] for z in zones], dtype="str"),
            "timezone": pd.Series([z[1] for z in zones], dtype="str"),
            "line": np.arange(2, len(zones) + 2, dtype=np.int64),
        }
    )
    return _parsed("timezones", rows, file_name, rejected)


# -- fixtures and checks ----------------------------------------------------------


@pytest.fixture
def warehouse(database_url):
    warehouse = Warehouse(database_url)
    yield warehouse
    warehouse.dispose()


def pings_of(warehouse: Warehouse, start_us=EVERYTHING[0], end_us=EVERYTHING[1]) -> list[tuple[str, int, bool]]:
    frame = warehouse.read_pings(start_us, end_us)
    return list(zip(frame["store_id"].tolist(), frame["ts_us"].tolist(), frame["active"].tolist()))


def assert_dtypes(frame: pd.DataFrame, expected: dict[str, object]) -> None:
    assert list(frame.columns) == list(expected)
    for name, dtype in expected.items():
        if dtype == "str":
            assert pd.api.types.is_string_dtype(frame[name].dtype), (name, frame[name].dtype)
        elif dtype == "category of str":
            assert isinstance(frame[name].dtype, pd.CategoricalDtype), (name, frame[name].dtype)
            assert pd.api.types.is_string_dtype(frame[name].cat.categories.dtype), (name, frame[name].dtype)
        else:
            assert frame[name].dtype == np.dtype(dtype), (name, frame[name].dtype)


def snapshot(warehouse: Warehouse) -> dict[str, object]:
    return {
        "pings": warehouse.read_pings(*EVERYTHING),
        "business_hours": warehouse.read_business_hours(),
        "timezones": warehouse.read_timezones(),
        "rejected": warehouse.read_rejected(),
        "ingested_files": warehouse.ingested_files(),
        "store_ids": warehouse.report_store_ids(EVERYTHING[1]),
        "latest_ping_us": warehouse.latest_ping_us(),
    }


def assert_same_snapshot(before: dict[str, object], after: dict[str, object]) -> None:
    assert before.keys() == after.keys()
    for name, value in before.items():
        if isinstance(value, pd.DataFrame):
            pd.testing.assert_frame_equal(value, after[name], obj=name)
        else:
            assert value == after[name], name


# -- ingest -------------------------------------------------------------------------


def test_pings_round_trip(warehouse):
    parsed = pings_file(
        [("s2", T0_US + 5, True), ("s1", T0_US + 3, False), ("s1", T0_US + 1, True)],
        rejected=[("pings.csv", 5, "unknown status 'maybe'", "s3,maybe,2023-01-18 00:00:00 UTC")],
    )
    result = warehouse.ingest(parsed, ingested_at_us=T0_US + HOUR_US)

    assert result == IngestResult("pings.csv", "pings", parsed.sha256, 3, 1, False)
    frame = warehouse.read_pings(*EVERYTHING)
    assert_dtypes(frame, {"store_id": "category of str", "ts_us": np.int64, "active": np.bool_})
    assert pings_of(warehouse) == [("s1", T0_US + 1, True), ("s1", T0_US + 3, False), ("s2", T0_US + 5, True)]
    assert warehouse.latest_ping_us() == T0_US + 5
    files = warehouse.ingested_files()
    assert_dtypes(
        files,
        {
            "file_name": "str",
            "sha256": "str",
            "kind": "str",
            "rows_loaded": np.int64,
            "rows_rejected": np.int64,
            "ingested_at_us": np.int64,
        },
    )
    assert files.to_dict("records") == [
        {
            "file_name": "pings.csv",
            "sha256": parsed.sha256,
            "kind": "pings",
            "rows_loaded": 3,
            "rows_rejected": 1,
            "ingested_at_us": T0_US + HOUR_US,
        }
    ]


def test_empty_warehouse_reads(warehouse):
    assert warehouse.latest_ping_us() is None
    assert warehouse.report_store_ids(T0_US) == []
    assert_dtypes(warehouse.read_pings(*EVERYTHING), {"store_id": "category of str", "ts_us": np.int64, "active": np.bool_})
    assert_dtypes(
        warehouse.read_business_hours(),
        {"store_id": "str", "day_of_week": np.int8, "start_s": np.int32, "end_s": np.int32},
    )
    assert_dtypes(warehouse.read_timezones(), {"store_id": "str", "timezone": "str"})
    assert_dtypes(warehouse.read_rejected(), {"file": "str", "line": np.int64, "reason": "str", "raw": "str"})
    assert warehouse.ingested_files().empty
    assert warehouse.read_normalized_schedules().empty
    assert warehouse.read_status_segments(T0_US).empty
    assert warehouse.read_report(T0_US).empty


def test_business_hours_and_timezones_round_trip(warehouse):
    warehouse.ingest(hours_file([("s1", 0, 9 * 3600, 17 * 3600), ("s1", 6, 0, 86399)]), T0_US)
    warehouse.ingest(timezones_file([("s1", "Asia/Kolkata")]), T0_US)

    hours = warehouse.read_business_hours()
    assert_dtypes(hours, {"store_id": "str", "day_of_week": np.int8, "start_s": np.int32, "end_s": np.int32})
    assert hours.values.tolist() == [["s1", 0, 32400, 61200], ["s1", 6, 0, 86399]]
    zones = warehouse.read_timezones()
    assert_dtypes(zones, {"store_id": "str", "timezone": "str"})
    assert zones.values.tolist() == [["s1", "Asia/Kolkata"]]


def test_same_file_twice_is_loaded_once(warehouse):
    parsed = pings_file([("s1", T0_US, True)], rejected=[("pings.csv", 3, "bad", "x")])
    first = warehouse.ingest(parsed, T0_US)
    before = snapshot(warehouse)
    # Same bytes (sha256), even under another name and with other rows: nothing changes.
    again = pings_file([("s1", T0_US, False), ("s9", T0_US, True)], file_name="copy.csv", sha256=parsed.sha256)
    second = warehouse.ingest(again, T0_US + HOUR_US)

    assert first.already_ingested is False
    assert second == IngestResult("copy.csv", "pings", parsed.sha256, 0, 0, True)
    assert_same_snapshot(before, snapshot(warehouse))
    assert len(warehouse.ingested_files()) == 1


def test_duplicate_ping_across_files_last_ingested_wins(warehouse):
    warehouse.ingest(pings_file([("s1", T0_US, True), ("s1", T0_US + 1, True)], "a.csv"), T0_US)
    warehouse.ingest(pings_file([("s1", T0_US, False)], "b.csv"), T0_US)
    assert pings_of(warehouse) == [("s1", T0_US, False), ("s1", T0_US + 1, True)]
    warehouse.ingest(pings_file([("s1", T0_US, True)], "c.csv"), T0_US)
    assert pings_of(warehouse) == [("s1", T0_US, True), ("s1", T0_US + 1, True)]


def test_duplicate_ping_within_file_last_row_wins(warehouse):
    parsed = pings_file(
        [("s1", T0_US, True), ("s2", T0_US, True), ("s1", T0_US, False), ("s1", T0_US + 7, False), ("s1", T0_US + 7, True)],
        # Rows need not arrive in line order: the last *line* of a key wins.
        lines=[2, 3, 4, 6, 5],
    )
    result = warehouse.ingest(parsed, T0_US)
    assert result.rows_loaded == 5
    assert pings_of(warehouse) == [("s1", T0_US, False), ("s1", T0_US + 7, False), ("s2", T0_US, True)]


def test_many_pings_match_a_pandas_reference(warehouse):
    rng = np.random.default_rng(7)
    stores = np.array([f"store-{i:04d}" for i in range(300)], dtype=object)
    expected = {}
    for file_index in range(3):
        n = 20_000
        pings = list(
            zip(
                stores[rng.integers(0, len(stores), n)].tolist(),
                (T0_US + rng.integers(0, 2_000, n) * 1_000_000).tolist(),
                (rng.random(n) < 0.7).tolist(),
            )
        )
        warehouse.ingest(pings_file(pings, f"p{file_index}.csv"), T0_US)
        for store_id, ts_us, active in pings:
            expected[(store_id, ts_us)] = active
    assert pings_of(warehouse) == sorted((store, ts, active) for (store, ts), active in expected.items())


def test_business_hours_replaced_for_listed_stores_only(warehouse):
    warehouse.ingest(
        hours_file([("s1", 0, 9 * 3600, 17 * 3600), ("s1", 1, 9 * 3600, 17 * 3600), ("s2", 0, 8 * 3600, 12 * 3600)], "h1.csv"),
        T0_US,
    )
    # s1 is listed again (one row: Wednesday); s2 appears only in a rejected row,
    # which does not list it; s3 is new.
    warehouse.ingest(
        hours_file(
            [("s1", 2, 10 * 3600, 11 * 3600), ("s3", 4, 0, 3600), ("s3", 4, 7200, 10800)],
            "h2.csv",
            rejected=[("h2.csv", 5, "day of week outside 0-6", "s2,9,08:00,12:00")],
        ),
        T0_US,
    )
    assert warehouse.read_business_hours().values.tolist() == [
        ["s1", 2, 36000, 39600],
        ["s2", 0, 28800, 43200],
        ["s3", 4, 0, 3600],
        ["s3", 4, 7200, 10800],
    ]


def test_timezone_last_row_wins(warehouse):
    warehouse.ingest(
        timezones_file([("a", "America/New_York"), ("b", "Europe/Berlin"), ("a", "Asia/Kolkata")], "tz1.csv"), T0_US
    )
    assert warehouse.read_timezones().values.tolist() == [["a", "Asia/Kolkata"], ["b", "Europe/Berlin"]]
    warehouse.ingest(timezones_file([("b", "UTC")], "tz2.csv"), T0_US)
    assert warehouse.read_timezones().values.tolist() == [["a", "Asia/Kolkata"], ["b", "UTC"]]


def test_rejected_rows_are_stored_with_file_line_reason_raw(warehouse):
    warehouse.ingest(
        pings_file(
            [("s1", T0_US, True)],
            "p.csv",
            rejected=[
                ("p.csv", 3, "unparseable timestamp", "s1,active,yesterday"),
                ("p.csv", 9, "empty store_id", ",active,2023-01-18 00:00:00 UTC"),
            ],
        ),
        T0_US,
    )
    warehouse.ingest(timezones_file([], "tz.csv", rejected=[("tz.csv", 2, "unknown zone name 'Mars/Base'", "s1,Mars/Base")]), T0_US)

    rejected = warehouse.read_rejected()
    assert_dtypes(rejected, {"file": "str", "line": np.int64, "reason": "str", "raw": "str"})
    assert rejected.values.tolist() == [
        ["p.csv", 3, "unparseable timestamp", "s1,active,yesterday"],
        ["p.csv", 9, "empty store_id", ",active,2023-01-18 00:00:00 UTC"],
        ["tz.csv", 2, "unknown zone name 'Mars/Base'", "s1,Mars/Base"],
    ]
    assert warehouse.read_rejected("tz.csv")["line"].tolist() == [2]
    assert warehouse.read_rejected("nothing.csv").empty
    assert warehouse.ingested_files()[["file_name", "rows_loaded", "rows_rejected"]].values.tolist() == [
        ["p.csv", 1, 2],
        ["tz.csv", 0, 1],
    ]


def _seed_for_failure(warehouse: Warehouse) -> None:
    warehouse.ingest(pings_file([("s1", T0_US, True), ("s1", T0_US + 1, True)], "seed.csv"), T0_US)
    warehouse.ingest(hours_file([("s1", 0, 9 * 3600, 17 * 3600)], "seed_hours.csv"), T0_US)
    warehouse.ingest(timezones_file([("s1", "Europe/Berlin")], "seed_tz.csv"), T0_US)


FAILING_FILES = {
    # The DB refuses the rejected row (NOT NULL reason) after the pings (a changed
    # status, a new store with an earlier ping) went in.
    "pings then a bad rejected row": lambda: pings_file(
        [("s1", T0_US, False), ("new-store", T0_US - HOUR_US, True)],
        "bad1.csv",
        rejected=pd.DataFrame({"file": ["bad1.csv"], "line": [4], "reason": [None], "raw": ["x"]}),
    ),
    # CHECK constraint, after s1's previous hours were deleted.
    "hours outside a day": lambda: hours_file([("s1", 1, 9 * 3600, 90_000)], "bad2.csv"),
    # NOT NULL timezone, after the upsert of another store went in.
    "timezone missing": lambda: _parsed(
        "timezones",
        pd.DataFrame({"store_id": ["s1", "s2"], "timezone": [None, "UTC"], "line": [2, 3]}),
        "bad3.csv",
    ),
}


@pytest.mark.parametrize("failing_file", list(FAILING_FILES), ids=list(FAILING_FILES))
def test_failing_ingest_leaves_every_table_as_before(warehouse, failing_file):
    _seed_for_failure(warehouse)
    before = snapshot(warehouse)
    with pytest.raises(sa.exc.IntegrityError):
        warehouse.ingest(FAILING_FILES[failing_file](), T0_US)
    assert_same_snapshot(before, snapshot(warehouse))


def test_rows_that_do_not_fit_the_columns_are_refused_before_writing(warehouse):
    _seed_for_failure(warehouse)
    before = snapshot(warehouse)
    no_store = _parsed(
        "pings",
        pd.DataFrame({"store_id": ["s1", None], "ts_us": [T0_US, T0_US], "active": [True, False], "line": [2, 3]}),
        "no_store.csv",
    )
    fractional_ts = _parsed(
        "pings", pd.DataFrame({"store_id": ["s1"], "ts_us": [T0_US + 0.5], "active": [True], "line": [2]}), "frac.csv"
    )
    for parsed in (no_store, fractional_ts):
        with pytest.raises(ValueError):
            warehouse.ingest(parsed, T0_US)
    with pytest.raises(ValueError, match="unknown file kind"):
        warehouse.ingest(_parsed("orders", pd.DataFrame({"line": [2]}), "orders.csv"), T0_US)
    assert_same_snapshot(before, snapshot(warehouse))


def test_concurrent_commit_of_the_same_file_is_reported_as_already_ingested(warehouse, monkeypatch):
    """The race path, made deterministic: both sha256 look-ups miss, the unique key catches it."""
    parsed = pings_file([("s1", T0_US, True)])
    warehouse.ingest(parsed, T0_US)
    before = snapshot(warehouse)
    real_lookup = warehouse_module.Warehouse._file_id_by_sha256
    calls = []

    def lookup_missing_twice(self, sha256, conn=None):
        calls.append(sha256)
        return None if len(calls) <= 2 else real_lookup(self, sha256, conn)

    monkeypatch.setattr(warehouse_module.Warehouse, "_file_id_by_sha256", lookup_missing_twice)
    result = warehouse.ingest(pings_file([("s1", T0_US, False)], sha256=parsed.sha256), T0_US)

    assert result.already_ingested is True
    assert len(calls) == 3
    assert_same_snapshot(before, snapshot(warehouse))


def _ingest_in_another_process(database_url: str, parsed: ParsedFile, start, results) -> None:
    warehouse = Warehouse(database_url)
    start.wait(timeout=60)
    try:
        results.put(("ok", warehouse.ingest(parsed, T0_US).already_ingested))
    except Exception as error:  # reported to the test, which fails with it
        results.put(("error", repr(error)))
    finally:
        warehouse.dispose()


@pytest.mark.parametrize("n_processes", [2, 3])
def test_processes_ingesting_the_same_file_at_once_load_it_once(database_url, n_processes):
    rng = np.random.default_rng(3)
    n = 30_000
    parsed = pings_file(
        list(
            zip(
                [f"store-{i}" for i in rng.integers(0, 500, n)],
                (T0_US + rng.integers(0, 10**9, n)).tolist(),
                (rng.random(n) < 0.5).tolist(),
            )
        ),
        rejected=[("pings.csv", n + 2, "bad", "raw")],
    )
    # spawn: a fresh interpreter per process, as separate Dagster runs would be.
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(n_processes)
    results = context.Queue()
    processes = [
        context.Process(target=_ingest_in_another_process, args=(database_url, parsed, start, results))
        for _ in range(n_processes)
    ]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=180) for _ in processes]
    for process in processes:
        process.join(timeout=60)

    assert sorted(outcomes) == [("ok", False)] + [("ok", True)] * (n_processes - 1)
    warehouse = Warehouse(database_url)
    try:
        assert len(warehouse.ingested_files()) == 1
        assert len(warehouse.read_rejected()) == 1
        frame = parsed.rows.drop_duplicates(["store_id", "ts_us"], keep="last")
        assert len(warehouse.read_pings(*EVERYTHING)) == len(frame)
    finally:
        warehouse.dispose()


# -- reads ----------------------------------------------------------------------------


def test_read_pings_window_bounds_are_inclusive(warehouse):
    warehouse.ingest(pings_file([("s", T0_US + t, True) for t in (10, 20, 30, 40)]), T0_US)
    assert [ts for _, ts, _ in pings_of(warehouse, T0_US + 20, T0_US + 30)] == [T0_US + 20, T0_US + 30]
    assert [ts for _, ts, _ in pings_of(warehouse, T0_US + 10, T0_US + 10)] == [T0_US + 10]
    empty = warehouse.read_pings(T0_US + 21, T0_US + 29)
    assert empty.empty
    assert_dtypes(empty, {"store_id": "category of str", "ts_us": np.int64, "active": np.bool_})


def test_read_pings_window_reads_a_range_of_days(warehouse):
    warehouse.ingest(pings_file([("s", T0_US, True)]), T0_US)
    query = ping_days_module.days_query(T0_US, T0_US + HOUR_US)
    engine = warehouse._engine
    with engine.connect() as conn:
        compiled = query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
        if conn.dialect.name == "sqlite":
            plan = " ".join(row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}"))
            assert "SEARCH ping_days USING" in plan and "(day_us>? AND day_us<?)" in plan
        else:
            # A one-row table is always cheapest to scan whole; forbid that to see the index is usable.
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
            plan = " ".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {compiled}"))
            assert "pk_ping_days" in plan and "day_us >=" in plan


def test_ping_days_hold_exactly_the_pings_table(warehouse):
    """The packed days the window reads and the relational table SQL users query never disagree."""
    rng = np.random.default_rng(5)
    for k in range(6):
        # Overlapping files: repeated instants with other statuses, several days, stores old and new.
        pings = [
            (f"s{rng.integers(0, 9)}", T0_US + int(rng.integers(0, 3 * 24)) * HOUR_US, bool(rng.random() < 0.5))
            for _ in range(150)
        ]
        warehouse.ingest(pings_file(pings, file_name=f"p{k}.csv"), T0_US)
    engine = warehouse._engine
    with engine.connect() as conn:
        relational = conn.execute(
            sa.select(tables.stores.c.store_id, tables.pings.c.ts_us, tables.pings.c.active)
            .join(tables.stores, tables.stores.c.store_key == tables.pings.c.store_key)
            .order_by(tables.stores.c.store_id, tables.pings.c.ts_us)
        ).all()
    assert pings_of(warehouse) == [tuple(row) for row in relational]
    assert len(relational) > 300


def test_report_store_ids(warehouse):
    warehouse.ingest(hours_file([("h-only", 0, 0, 3600)]), T0_US)
    warehouse.ingest(timezones_file([("z-only", "UTC")]), T0_US)
    warehouse.ingest(pings_file([("p-early", T0_US + 100, True), ("p-late", T0_US + 200, False)]), T0_US)

    assert warehouse.report_store_ids(T0_US + 150) == ["h-only", "p-early", "z-only"]
    assert warehouse.report_store_ids(T0_US + 200) == ["h-only", "p-early", "p-late", "z-only"]
    # An older ping of p-late arriving later makes it part of earlier reports too.
    warehouse.ingest(pings_file([("p-late", T0_US + 50, True)], "older.csv"), T0_US)
    assert warehouse.report_store_ids(T0_US + 60) == ["h-only", "p-late", "z-only"]


# -- hostile text ----------------------------------------------------------------------


def test_hostile_strings_round_trip_unchanged(warehouse):
    stores = HOSTILE_STRINGS
    warehouse.ingest(
        pings_file(
            [(store, T0_US + index, index % 2 == 0) for index, store in enumerate(stores)],
            "pings, \"hostile\"; --.csv",
            rejected=[("pings, \"hostile\"; --.csv", 100 + index, text, text) for index, text in enumerate(HOSTILE_STRINGS)],
        ),
        T0_US,
    )
    warehouse.ingest(hours_file([(store, 3, 0, 3600) for store in stores]), T0_US)
    warehouse.ingest(timezones_file([(store, "UTC") for store in stores]), T0_US)

    assert pings_of(warehouse) == sorted((store, T0_US + index, index % 2 == 0) for index, store in enumerate(stores))
    assert warehouse.read_business_hours()["store_id"].tolist() == sorted(stores)
    assert warehouse.read_timezones()["store_id"].tolist() == sorted(stores)
    assert warehouse.report_store_ids(T0_US + len(stores)) == sorted(stores)
    rejected = warehouse.read_rejected('pings, "hostile"; --.csv')
    assert rejected["raw"].tolist() == HOSTILE_STRINGS
    assert rejected["reason"].tolist() == HOSTILE_STRINGS
    assert warehouse.ingested_files()["file_name"].tolist()[0] == 'pings, "hostile"; --.csv'

    segments = pd.DataFrame(
        {
            "store_id": stores,
            "start_us": np.arange(len(stores), dtype=np.int64),
            "end_us": np.arange(len(stores), dtype=np.int64) + 1,
            "status": [("active", "inactive", "unknown")[index % 3] for index in range(len(stores))],
        }
    )
    warehouse.write_status_segments(T0_US, segments, schedules_version="v1")
    expected = segments.sort_values(["store_id", "start_us"]).reset_index(drop=True)
    read_back = warehouse.read_status_segments(T0_US)
    assert read_back.values.tolist() == expected.values.tolist()
    # A status is one of three: anything else is refused before a row is written.
    with pytest.raises(ValueError, match="only inactive, active, unknown"):
        warehouse.write_status_segments(
            T0_US + 1, segments.assign(status=HOSTILE_STRINGS[: len(stores)]), schedules_version="v1"
        )
    assert warehouse.read_status_segments(T0_US + 1).empty


def test_a_50_mb_raw_line_round_trips(warehouse):
    huge = ('a,"b"\n' * 9_000_000)[: 50 * 1024 * 1024]
    warehouse.ingest(pings_file([], "huge.csv", rejected=[("huge.csv", 2, "expected 3 fields, found 9000001", huge)]), T0_US)
    assert warehouse.read_rejected("huge.csv")["raw"].tolist() == [huge]


def test_nul_characters_are_kept_by_sqlite_and_dropped_by_postgresql(warehouse, database_url):
    warehouse.ingest(pings_file([], "nul.csv", rejected=[("nul.csv", 2, "bad", "before\x00after")]), T0_US)
    raw = warehouse.read_rejected("nul.csv")["raw"].tolist()
    # PostgreSQL TEXT cannot hold NUL at all.
    assert raw == (["before\x00after"] if database_url.startswith("sqlite") else ["beforeafter"])


# -- derived tables ---------------------------------------------------------------------


def test_normalized_schedules_are_replaced_whole_with_their_build(warehouse):
    assert warehouse.normalized_schedules_build() is None
    warehouse.ingest(timezones_file([("a", "Asia/Kolkata"), ("b", "UTC")]), T0_US)
    first = pd.DataFrame(
        {"store_id": ["b", "a"], "timezone": ["UTC", "Asia/Kolkata"], "day_of_week": [1, 0], "start_s": [0, 3600], "end_s": [86400, 100_000]}
    )
    warehouse.write_normalized_schedules(first, version="v1", summary={"rows": 2, "findings": {"x": [1]}})
    read = warehouse.read_normalized_schedules()
    assert_dtypes(
        read,
        {"store_id": "category of str", "timezone": "str", "day_of_week": np.int8, "start_s": np.int32, "end_s": np.int32},
    )
    assert read.values.tolist() == [["a", "Asia/Kolkata", 0, 3600, 100000], ["b", "UTC", 1, 0, 86400]]
    assert warehouse.normalized_schedules_build() == DerivedBuild("v1", {"rows": 2, "findings": {"x": [1]}})
    warehouse.write_normalized_schedules(first.iloc[:1], version="v2", summary={"rows": 1})
    assert warehouse.read_normalized_schedules()["store_id"].tolist() == ["b"]
    assert warehouse.normalized_schedules_build() == DerivedBuild("v2", {"rows": 1})


def test_schedule_inputs_version_moves_with_hours_zones_and_new_stores_only(warehouse):
    versions = [warehouse.schedule_inputs_version()]

    def changed() -> bool:
        versions.append(warehouse.schedule_inputs_version())
        return versions[-1] != versions[-2]

    warehouse.ingest(pings_file([("s1", T0_US, True)], file_name="p1.csv"), T0_US)
    assert changed()  # a new store: it needs its 24x7 schedule
    warehouse.ingest(pings_file([("s1", T0_US + HOUR_US, False)], file_name="p2.csv"), T0_US)
    assert not changed()  # more pings of a known store
    warehouse.ingest(hours_file([("s1", 0, 0, 3600)]), T0_US)
    assert changed()
    warehouse.ingest(timezones_file([("s1", "UTC")]), T0_US)
    assert changed()
    warehouse.ingest(timezones_file([("s1", "UTC")]), T0_US)  # the same bytes: nothing loaded
    assert not changed()


def test_status_segments_replace_only_their_partition(warehouse):
    def segments(store_ids, status):
        return pd.DataFrame(
            {
                "store_id": store_ids,
                "start_us": np.arange(len(store_ids), dtype=np.int64) * 10,
                "end_us": np.arange(len(store_ids), dtype=np.int64) * 10 + 5,
                "status": status,
            }
        )

    warehouse.ingest(timezones_file([(store, "UTC") for store in "abcd"]), T0_US)
    warehouse.write_status_segments(T0_US, segments(["a", "b"], "active"), schedules_version="v1")
    warehouse.write_status_segments(T0_US + HOUR_US, segments(["c"], "inactive"), schedules_version="v1")
    warehouse.write_status_segments(T0_US, segments(["d"], "unknown"), schedules_version="v1")

    read = warehouse.read_status_segments(T0_US)
    assert_dtypes(read, {"store_id": "category of str", "start_us": np.int64, "end_us": np.int64, "status": "category of str"})
    assert read.values.tolist() == [["d", 0, 5, "unknown"]]
    assert warehouse.read_status_segments(T0_US + HOUR_US).values.tolist() == [["c", 0, 5, "inactive"]]


def test_report_replaces_only_its_partition(warehouse):
    report = pd.DataFrame(
        {
            "store_id": ["b", "a"],
            "uptime_last_hour": [60.0, 12.34],
            "uptime_last_day": [24.0, 0.0],
            "uptime_last_week": [168.0, 1.5],
            "downtime_last_hour": [0.0, 47.66],
            "downtime_last_day": [0.0, 24.0],
            "downtime_last_week": [0.0, 166.5],
        }
    )
    for as_of_us, rows in ((T0_US, report), (T0_US + HOUR_US, report.iloc[:1]), (T0_US + HOUR_US, report.iloc[1:])):
        with warehouse.report_partition(as_of_us) as partition:
            partition.write_report(rows)

    read = warehouse.read_report(T0_US)
    assert_dtypes(read, {"store_id": "str", **{name: np.float64 for name in REPORT_VALUE_COLUMNS}})
    pd.testing.assert_frame_equal(read, report.sort_values("store_id").reset_index(drop=True), check_dtype=False)
    assert warehouse.read_report(T0_US + HOUR_US)["store_id"].tolist() == ["a"]


# -- connection ---------------------------------------------------------------------------


def test_unreachable_database_raises_warehouse_unavailable_without_the_password():
    warehouse = Warehouse("postgresql+psycopg2://storemon:s3cret-pw@127.0.0.1:1/nowhere")
    assert warehouse.url_masked == "postgresql+psycopg2://storemon:***@127.0.0.1:1/nowhere"
    with pytest.raises(WarehouseUnavailable) as raised:
        warehouse.latest_ping_us()
    message = str(raised.value)
    assert "postgresql+psycopg2://storemon:***@127.0.0.1:1/nowhere" in message
    assert "s3cret-pw" not in message
    assert isinstance(raised.value.__cause__, sa.exc.OperationalError)
    warehouse.dispose()


def test_unsupported_urls_are_refused():
    with pytest.raises(ValueError, match="postgresql\\+psycopg2"):
        Warehouse("postgresql://u:pw@localhost/db")
    with pytest.raises(ValueError, match="unsupported"):
        Warehouse("mysql+pymysql://u:pw@localhost/db")


def test_sqlite_file_uses_wal(tmp_path):
    warehouse = Warehouse(f"sqlite:///{tmp_path / 'nested' / 'warehouse.db'}")
    warehouse.latest_ping_us()
    warehouse.dispose()
    with sqlite3.connect(tmp_path / "nested" / "warehouse.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_second_warehouse_on_the_same_database_reuses_the_tables(database_url):
    first = Warehouse(database_url)
    first.ingest(pings_file([("s1", T0_US, True)]), T0_US)
    first.dispose()
    second = Warehouse(database_url)
    assert pings_of(second) == [("s1", T0_US, True)]
    second.dispose()


def test_text_codes_of_a_categorical_column_are_those_of_its_values():
    """A parsed pings file hands store ids over as a categorical: its codes must be the plain column's."""
    categorical = pd.Series(pd.Categorical(["b", None, "c", "b"], categories=["c", "zz", "b"]))
    from_categories = encode_text_column(categorical)
    from_text = encode_text_column(categorical.astype(object))
    # Only the ids in use, in str order; a missing value stays code -1.
    assert from_categories.values.tolist() == from_text.values.tolist() == ["b", "c"]
    assert from_categories.codes.tolist() == from_text.codes.tolist() == [0, -1, 1, 0]
