"""Create the schema, bringing a warehouse written by an earlier storemon up to it first.

Each step looks at the tables to see whether it is due, so running it again on an
upgraded (or new) warehouse does nothing. It runs in the caller's transaction: a
failure leaves the warehouse as it was.

Steps, oldest first:

1. storemon 0.1 kept integer keys only for stores with pings (`ping_stores`), and
   normalized_schedules and status_segments carried the store_id text in every row.
   Now every known store has a key in `stores`, and those two tables use it:
   `ping_stores` becomes `stores` (its keys, and so the pings, stay as they are) and
   gains the stores known only from hours or zones; status_segments rows are copied
   over with their store's key; normalized_schedules, which the next run rebuilds
   anyway, is dropped.
2. ping_days (each day's pings packed, for window reads) is new: it is filled from
   pings once.
3. storemon 0.2 let two runs of one report partition both insert its status_segments
   (PostgreSQL), doubling them. The index on (as_of_us, store_key, start_us) is now
   unique and report_partitions records each partition whose segments were written:
   a partition holding doubled segments is deleted whole (segments and report rows, both
   wrong; the next request rebuilds it), and every other partition with segments is
   recorded as built from the schedules stored now (`unknown`, so store_report of that
   old partition alone asks for its segments to be rebuilt first).
4. ping_days rows were a whole day of the fleet; now a day is a row per store bucket (so that
   a shard reads only its own stores' pings): a ping_days without `bucket` is dropped and
   filled again from pings (at 24 M pings, a minute or two, once). normalized_schedules
   gained the bucket too: without it, it is dropped, and the next run builds it again.
5. stores gained `shard_hash` (CRC-32 of store_id, so a shard selects its stores in SQL) and
   `listed` (in business hours or timezones): both added and filled from the stored rows.
"""

from __future__ import annotations

import numpy as np
import sqlalchemy as sa

from storemon_pipeline.core.segments import STATUS_CODES
from storemon_pipeline.core.shards import BUCKETS, store_hashes
from storemon_pipeline.warehouse import tables
from storemon_pipeline.warehouse.bulk import bulk_upsert, encode_frame, read_frame
from storemon_pipeline.warehouse.ping_days import rebuild_from_pings
from storemon_pipeline.warehouse.store_keys import StoreKeys

_LEGACY_SEGMENTS = "status_segments_by_store_id"
_SEGMENTS_INDEX = "ix_status_segments_as_of_us_store_key_start_us"


def create_or_upgrade_tables(conn: sa.Connection) -> None:
    existing = set(sa.inspect(conn).get_table_names())
    keyed_all_stores = "ping_stores" in existing and "stores" not in existing
    if keyed_all_stores:
        conn.execute(sa.text("ALTER TABLE ping_stores RENAME TO stores"))
    legacy_segments = _has_column(conn, existing, "status_segments", "store_id")
    if legacy_segments:
        conn.execute(sa.text("ALTER TABLE status_segments RENAME TO status_segments_by_store_id"))
        # Index names are per schema, not per table: the new table's index needs the name.
        conn.execute(sa.text("DROP INDEX ix_status_segments_as_of_us_store_id_start_us"))
    if _has_column(conn, existing, "normalized_schedules", "store_id") or (
        "normalized_schedules" in existing and not _has_column(conn, existing, "normalized_schedules", "bucket")
    ):
        conn.execute(sa.text("DROP TABLE normalized_schedules"))
        if "derived_state" in existing:  # so that the next run builds it again
            state = tables.derived_state
            conn.execute(sa.delete(state).where(state.c.name == tables.normalized_schedules.name))
    segments_index_not_unique = (
        "status_segments" in existing and not legacy_segments and not _segments_index_unique(conn)
    )
    if segments_index_not_unique:
        _delete_partitions_with_doubled_segments(conn)
        conn.execute(sa.text("DROP INDEX ix_status_segments_as_of_us_store_key_start_us"))

    stores_unhashed = ("stores" in existing or keyed_all_stores) and not _has_column(
        conn, existing | {"stores"}, "stores", "shard_hash"
    )
    if stores_unhashed:
        # Filled below; SQLite adds a NOT NULL column only with a default.
        conn.execute(sa.text("ALTER TABLE stores ADD COLUMN shard_hash BIGINT NOT NULL DEFAULT -1"))
        conn.execute(sa.text("ALTER TABLE stores ADD COLUMN listed BOOLEAN NOT NULL DEFAULT false"))
    ping_days_unbucketed = "ping_days" in existing and not _has_column(conn, existing, "ping_days", "bucket")
    if ping_days_unbucketed:
        conn.execute(sa.text("DROP TABLE ping_days"))

    tables.metadata.create_all(conn)
    if segments_index_not_unique:
        for index in tables.status_segments.indexes:
            index.create(conn)

    if keyed_all_stores:
        _key_stores_known_only_from_hours_or_zones(conn)
    if stores_unhashed:
        _hash_and_list_stores(conn)
    if ("ping_days" not in existing or ping_days_unbucketed) and "pings" in existing:
        rebuild_from_pings(conn, StoreKeys.read(conn).hash_by_key % BUCKETS)
    if legacy_segments:
        _copy_legacy_segments(conn)
    if "report_partitions" not in existing and "status_segments" in existing:
        _record_partitions_built(conn)


def _has_column(conn: sa.Connection, existing: set[str], table: str, column: str) -> bool:
    return table in existing and column in {c["name"] for c in sa.inspect(conn).get_columns(table)}


def _key_stores_known_only_from_hours_or_zones(conn: sa.Connection) -> None:
    stores = tables.stores
    listed = sa.union(sa.select(tables.business_hours.c.store_id), sa.select(tables.timezones.c.store_id)).subquery()
    unkeyed = sa.select(listed.c.store_id, sa.literal(tables.NO_PING_US, sa.BigInteger)).where(
        ~sa.exists().where(stores.c.store_id == listed.c.store_id)
    )
    conn.execute(sa.insert(stores).from_select(["store_id", "first_ts_us"], unkeyed))


def _hash_and_list_stores(conn: sa.Connection) -> None:
    stores = tables.stores
    known = read_frame(conn, sa.select(stores.c.store_id, stores.c.first_ts_us), {"store_id": "str", "first_ts_us": np.int64},
                       large=True)
    listed_ids = sa.union(sa.select(tables.business_hours.c.store_id), sa.select(tables.timezones.c.store_id))
    listed = read_frame(conn, sa.select(listed_ids.subquery()), {"store_id": "str"}, large=True)["store_id"]
    known["shard_hash"] = store_hashes(known["store_id"])
    known["listed"] = known["store_id"].isin(listed).to_numpy()
    bulk_upsert(conn, encode_frame(stores, known, list(known.columns)), key_columns=["store_id"],
                update_columns=["shard_hash", "listed"])


def _copy_legacy_segments(conn: sa.Connection) -> None:
    legacy = sa.Table(_LEGACY_SEGMENTS, sa.MetaData(), autoload_with=conn)
    stores, segments = tables.stores, tables.status_segments
    status_code = sa.case(
        {status: code for code, status in enumerate(STATUS_CODES)}, value=legacy.c.status
    )
    doubled = (
        sa.select(legacy.c.as_of_us)
        .group_by(legacy.c.as_of_us, legacy.c.store_id, legacy.c.start_us)
        .having(sa.func.count() > 1)
    )
    keyed = (
        sa.select(legacy.c.as_of_us, stores.c.store_key, legacy.c.start_us, legacy.c.end_us, status_code)
        .join(stores, stores.c.store_id == legacy.c.store_id)
        .where(legacy.c.as_of_us.not_in(doubled))  # written twice at once: wrong, rebuilt on request
    )
    conn.execute(
        sa.insert(segments).from_select(["as_of_us", "store_key", "start_us", "end_us", "status"], keyed)
    )
    legacy.drop(conn)


def _segments_index_unique(conn: sa.Connection) -> bool:
    indexes = sa.inspect(conn).get_indexes("status_segments")
    return any(index["name"] == _SEGMENTS_INDEX and index["unique"] for index in indexes)


def _delete_partitions_with_doubled_segments(conn: sa.Connection) -> None:
    segments = tables.status_segments
    doubled = (
        sa.select(segments.c.as_of_us)
        .group_by(segments.c.as_of_us, segments.c.store_key, segments.c.start_us)
        .having(sa.func.count() > 1)
        .distinct()
    )
    as_of = [int(row[0]) for row in conn.execute(doubled)]
    for table in (segments, tables.store_report):
        conn.execute(sa.delete(table).where(table.c.as_of_us.in_(as_of)))


def _record_partitions_built(conn: sa.Connection) -> None:
    segments = tables.status_segments
    built = sa.select(
        segments.c.as_of_us,
        sa.literal("unknown", sa.Text),
        sa.func.count(),
        sa.literal(0, sa.BigInteger),  # when: unknown
    ).group_by(segments.c.as_of_us)
    conn.execute(
        sa.insert(tables.report_partitions).from_select(
            ["as_of_us", "schedules_version", "segments", "segments_written_at_us"], built
        )
    )
