"""A warehouse written by an earlier storemon opens under the current schema with every row kept.

The 0.1 schema of the tables that changed is written out below as it was, filled with
rows, then opened with today's Warehouse, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from storemon_pipeline.core.shards import all_shards, bucket_indexes, in_shard
from storemon_pipeline.warehouse import Warehouse, tables

from storemon_pipeline_tests.test_warehouse import HOUR_US, T0_US, hours_file, pings_file

LEGACY = sa.MetaData(naming_convention=tables.metadata.naming_convention)
for unchanged in (
    tables.ingested_files,
    tables.pings,
    tables.business_hours,
    tables.timezones,
    tables.rejected_rows,
    tables.store_report,
):
    unchanged.to_metadata(LEGACY)
sa.Table(
    "ping_stores",
    LEGACY,
    sa.Column("store_key", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("store_id", tables.StoreIdText, nullable=False, unique=True),
    sa.Column("first_ts_us", sa.BigInteger, nullable=False),
)
sa.Table(
    "normalized_schedules",
    LEGACY,
    sa.Column("store_id", tables.StoreIdText, nullable=False, index=True),
    sa.Column("timezone", sa.Text, nullable=False),
    sa.Column("day_of_week", sa.SmallInteger, nullable=False),
    sa.Column("start_s", sa.Integer, nullable=False),
    sa.Column("end_s", sa.Integer, nullable=False),
)
sa.Table(
    "status_segments",
    LEGACY,
    sa.Column("as_of_us", sa.BigInteger, nullable=False),
    sa.Column("store_id", tables.StoreIdText, nullable=False),
    sa.Column("start_us", sa.BigInteger, nullable=False),
    sa.Column("end_us", sa.BigInteger, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Index(None, "as_of_us", "store_id", "start_us"),
)

AS_OF_US = T0_US + 10 * HOUR_US
LEGACY_SEGMENTS = [
    (AS_OF_US, "h-only", T0_US, T0_US + HOUR_US, "unknown"),
    (AS_OF_US, "p1", T0_US, T0_US + 2 * HOUR_US, "active"),
    (AS_OF_US, "p1", T0_US + 2 * HOUR_US, T0_US + 3 * HOUR_US, "inactive"),
    (AS_OF_US - HOUR_US, "z-only", T0_US, T0_US + HOUR_US, "unknown"),
]


def write_legacy_warehouse(url: str) -> None:
    engine = sa.create_engine(url)
    t = LEGACY.tables
    with engine.begin() as conn:
        LEGACY.create_all(conn)
        conn.execute(sa.insert(t["ingested_files"]), [
            {"id": k, "file_name": f"f{k}.csv", "sha256": f"sha{k}", "kind": kind, "rows_loaded": 2,
             "rows_rejected": 0, "ingested_at_us": T0_US}
            for k, kind in ((1, "pings"), (2, "business_hours"), (3, "timezones"))
        ])
        conn.execute(sa.insert(t["ping_stores"]), [
            {"store_key": 1, "store_id": "p1", "first_ts_us": T0_US},
            {"store_key": 2, "store_id": "p2", "first_ts_us": T0_US + HOUR_US},
        ])
        conn.execute(sa.insert(t["pings"]), [
            {"ts_us": T0_US, "store_key": 1, "active": True},
            {"ts_us": T0_US + HOUR_US, "store_key": 2, "active": False},
        ])
        conn.execute(sa.insert(t["business_hours"]), [
            {"store_id": store, "day_of_week": 0, "start_s": 0, "end_s": 3600, "file_id": 2, "line": line}
            for line, store in ((2, "p1"), (3, "h-only"))
        ])
        conn.execute(sa.insert(t["timezones"]), [{"store_id": "z-only", "timezone": "UTC", "file_id": 3, "line": 2}])
        conn.execute(sa.insert(t["normalized_schedules"]), [
            {"store_id": "p1", "timezone": "UTC", "day_of_week": 0, "start_s": 0, "end_s": 3600}
        ])
        conn.execute(sa.insert(t["status_segments"]), [
            dict(zip(("as_of_us", "store_id", "start_us", "end_us", "status"), row)) for row in LEGACY_SEGMENTS
        ])
        conn.execute(sa.insert(t["store_report"]), [
            {"as_of_us": AS_OF_US, "store_id": "p1", **{name: 1.0 for name in tables.REPORT_VALUE_COLUMNS}}
        ])
    engine.dispose()
    if url.startswith("postgresql"):
        # 0.1 let the sequence hand out the keys; the rows above were given theirs by hand.
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.execute(sa.text("SELECT setval(pg_get_serial_sequence('ping_stores', 'store_key'), 2)"))
            conn.execute(sa.text("SELECT setval(pg_get_serial_sequence('ingested_files', 'id'), 3)"))
        engine.dispose()


def table_names(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def segments_as_rows(frame: pd.DataFrame, as_of_us: int) -> list[tuple]:
    return [(as_of_us, *row) for row in frame[["store_id", "start_us", "end_us", "status"]].itertuples(index=False)]


def test_a_0_1_warehouse_opens_with_every_row_kept(database_url):
    write_legacy_warehouse(database_url)
    warehouse = Warehouse(database_url)

    assert [(r.store_id, r.ts_us, r.active) for r in warehouse.read_pings(0, 2**62).itertuples()] == [
        ("p1", T0_US, True),
        ("p2", T0_US + HOUR_US, False),
    ]
    # The stores known only from hours or zones got keys; the ping-less ones never count as pinged.
    assert warehouse.report_store_ids(T0_US) == ["h-only", "p1", "z-only"]
    assert warehouse.report_store_ids(T0_US + HOUR_US) == ["h-only", "p1", "p2", "z-only"]
    assert segments_as_rows(warehouse.read_status_segments(AS_OF_US), AS_OF_US) == LEGACY_SEGMENTS[:3]
    assert segments_as_rows(warehouse.read_status_segments(AS_OF_US - HOUR_US), AS_OF_US - HOUR_US) == [
        LEGACY_SEGMENTS[3]
    ]
    assert warehouse.read_report(AS_OF_US)["store_id"].tolist() == ["p1"]
    # Schedules are derived and rebuilt by the next run: there is no build to reuse.
    assert warehouse.normalized_schedules_build() is None and warehouse.read_normalized_schedules().empty
    names = table_names(database_url)
    assert "stores" in names and not names & {"ping_stores", "status_segments_by_store_id"}

    # New stores take keys after the old ones, and the old keys still find their pings.
    warehouse.ingest(pings_file([("p3", T0_US + 2 * HOUR_US, True), ("p1", T0_US + 3 * HOUR_US, False)]), T0_US)
    pings = warehouse.read_pings(0, 2**62)
    assert pings[["store_id", "active"]].values.tolist() == [["p1", True], ["p1", False], ["p2", False], ["p3", True]]
    warehouse.dispose()

    # Opening it again changes nothing: each step sees it is done.
    again = Warehouse(database_url)
    pd.testing.assert_frame_equal(again.read_pings(0, 2**62), pings)
    assert segments_as_rows(again.read_status_segments(AS_OF_US), AS_OF_US) == LEGACY_SEGMENTS[:3]
    again.dispose()


def test_a_new_warehouse_needs_no_upgrade(database_url):
    warehouse = Warehouse(database_url)
    assert warehouse.latest_ping_us() is None
    assert table_names(database_url) == set(tables.metadata.tables)
    warehouse.dispose()


def test_a_warehouse_from_before_store_shards_gets_hashes_and_buckets(database_url):
    """ping_days written before store buckets (one row a day) is filled again, a row per bucket;
    stores without shard_hash and listed get them from their ids and the hours and zones."""
    warehouse = Warehouse(database_url)
    pings = [(f"s{k}", T0_US + (k * 7 % 60) * HOUR_US, k % 3 != 0) for k in range(40)]
    warehouse.ingest(pings_file(pings), T0_US)
    warehouse.ingest(hours_file([("h-only", 0, 0, 3600), ("s1", 0, 0, 3600)]), T0_US)
    expected = warehouse.read_pings(0, 2**62)
    expected_ids = {as_of: warehouse.report_store_ids(as_of) for as_of in (0, T0_US + 30 * HOUR_US, 2**62)}
    assert expected_ids[0] == ["h-only", "s1"]
    warehouse.dispose()
    engine = sa.create_engine(database_url)
    with engine.begin() as conn:
        for column in ("shard_hash", "listed"):
            conn.execute(sa.text(f"ALTER TABLE stores DROP COLUMN {column}"))
        day_rows = conn.execute(sa.select(tables.ping_days.c.day_us).distinct()).all()
        conn.execute(sa.text("DROP TABLE ping_days"))
        whole_days = sa.Table(
            "ping_days", sa.MetaData(),
            sa.Column("day_us", sa.BigInteger, primary_key=True, autoincrement=False),
            sa.Column("n_pings", sa.Integer, nullable=False),
            sa.Column("pings", sa.LargeBinary, nullable=False),
        )
        whole_days.create(conn)
        # Rows the new reader cannot take: had the upgrade kept them, every read below would fail.
        conn.execute(sa.insert(whole_days), [{"day_us": row.day_us, "n_pings": 1, "pings": b"old"} for row in day_rows])
    engine.dispose()

    upgraded = Warehouse(database_url)
    pd.testing.assert_frame_equal(upgraded.read_pings(0, 2**62), expected)
    assert {as_of: upgraded.report_store_ids(as_of) for as_of in expected_ids} == expected_ids
    for shard in all_shards(4):
        of_shard = upgraded.read_pings(0, 2**62, shard)
        assert of_shard["store_id"].astype(str).tolist() == [
            s for s in expected["store_id"].astype(str) if in_shard([s], shard)[0]
        ]
    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        buckets = conn.execute(sa.select(tables.ping_days.c.bucket).distinct()).scalars().all()
    engine.dispose()
    assert sorted(buckets) == sorted(set(bucket_indexes([s for s, _, _ in pings]).tolist()))
    upgraded.dispose()
