"""Warehouse schema: SQLAlchemy Core tables shared by SQLite and PostgreSQL.

Times are int64 microseconds since the Unix epoch (UTC), columns ending in `_us`;
local times of day are seconds since local midnight, columns ending in `_s`.
"""

from __future__ import annotations

import sqlalchemy as sa

from storemon_pipeline.core.report import REPORT_COLUMNS

# Byte-order collation on PostgreSQL so ORDER BY store_id agrees with Python's str
# ordering and with SQLite's default BINARY collation (a locale collation would sort
# 'a-2' and 'a2' differently on the two dialects, and is slower).
StoreIdText = sa.Text().with_variant(sa.Text(collation="C"), "postgresql")

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ingested_files = sa.Table(
    "ingested_files",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("file_name", sa.Text, nullable=False),
    # The idempotency key: a file whose bytes were loaded once is never loaded again,
    # whatever its name, and a concurrent second load fails on this constraint.
    sa.Column("sha256", sa.Text, nullable=False, unique=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("rows_loaded", sa.BigInteger, nullable=False),
    sa.Column("rows_rejected", sa.BigInteger, nullable=False),
    sa.Column("ingested_at_us", sa.BigInteger, nullable=False),
)

# Every store seen in a valid row of any input, with the integer key the big tables
# (pings, normalized_schedules, status_segments) use for it. Those tables hold millions
# of rows: a 4-byte key instead of a ~36-character store_id in every row and index
# entry halves what is written (and PostgreSQL's WAL), and lets reads return plain
# integers that need no string object per row in Python. Keys are never reused or
# changed, so a key stored with an old report partition stays valid.
stores = sa.Table(
    "stores",
    metadata,
    sa.Column("store_key", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("store_id", StoreIdText, nullable=False, unique=True),
    # Earliest ping of the store (NO_PING_US if it has none yet): report_store_ids
    # answers from here instead of scanning millions of pings for their stores.
    sa.Column("first_ts_us", sa.BigInteger, nullable=False),
    # CRC-32 of store_id (core/shards.py), so that a shard selects its stores in SQL.
    sa.Column("shard_hash", sa.BigInteger, nullable=False),
    # Listed in business hours or timezones (once listed, always: a later file replaces a
    # store's rows, never drops the store), the other way into a report.
    sa.Column("listed", sa.Boolean, nullable=False),
)
NO_PING_US = 2**63 - 1

pings = sa.Table(
    "pings",
    metadata,
    # Primary key led by ts_us: uniqueness is that of (store, ts_us), and the key's
    # index is the one evidence-window reads need, so no second index is maintained
    # on every upsert. Pings arrive roughly in time order, so new keys land at the
    # right end of the index instead of all over it.
    sa.Column("ts_us", sa.BigInteger, primary_key=True),
    # References stores.store_key. No FOREIGN KEY: PostgreSQL would check it with a
    # trigger per inserted row; the warehouse writes both tables in one transaction.
    sa.Column("store_key", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("active", sa.Boolean, nullable=False),
    # SQLite stores the rows in the primary-key B-tree itself: a window read is one
    # range scan, and the table is not stored twice (rowid table + key index).
    sqlite_with_rowid=False,
)

# Each UTC day's pings packed into a row per store bucket, written with pings in the same
# transaction: what a report's window read takes (warehouse/ping_days.py says why and how).
ping_days = sa.Table(
    "ping_days",
    metadata,
    sa.Column("day_us", sa.BigInteger, primary_key=True, autoincrement=False),  # the day's first microsecond
    sa.Column("bucket", sa.SmallInteger, primary_key=True, autoincrement=False),  # core/shards.py
    sa.Column("n_pings", sa.Integer, nullable=False),
    sa.Column("pings", sa.LargeBinary, nullable=False),
)
# PostgreSQL would try to compress each row (up to MB of sorted numbers) on every write:
# 0.3 s a day measured, against 0.08 s stored as is.
sa.event.listen(
    ping_days,
    "after_create",
    sa.DDL("ALTER TABLE ping_days ALTER COLUMN pings SET STORAGE EXTERNAL").execute_if(dialect="postgresql"),
)

business_hours = sa.Table(
    "business_hours",
    metadata,
    sa.Column("store_id", StoreIdText, nullable=False, index=True),
    sa.Column("day_of_week", sa.SmallInteger, nullable=False),
    sa.Column("start_s", sa.Integer, nullable=False),
    sa.Column("end_s", sa.Integer, nullable=False),
    sa.Column("file_id", sa.Integer, sa.ForeignKey(ingested_files.c.id), nullable=False),
    sa.Column("line", sa.BigInteger, nullable=False),
    sa.CheckConstraint("day_of_week BETWEEN 0 AND 6", name="day_of_week_0_to_6"),
    sa.CheckConstraint("start_s BETWEEN 0 AND 86399 AND end_s BETWEEN 0 AND 86399", name="times_of_day"),
)

timezones = sa.Table(
    "timezones",
    metadata,
    sa.Column("store_id", StoreIdText, primary_key=True),
    sa.Column("timezone", sa.Text, nullable=False),
    sa.Column("file_id", sa.Integer, sa.ForeignKey(ingested_files.c.id), nullable=False),
    sa.Column("line", sa.BigInteger, nullable=False),
)

rejected_rows = sa.Table(
    "rejected_rows",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("file_id", sa.Integer, sa.ForeignKey(ingested_files.c.id), nullable=False, index=True),
    sa.Column("file", sa.Text, nullable=False, index=True),
    sa.Column("line", sa.BigInteger, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("raw", sa.Text, nullable=False),
)

normalized_schedules = sa.Table(
    "normalized_schedules",
    metadata,
    sa.Column("store_key", sa.Integer, nullable=False, index=True),  # stores.store_key
    # The store's bucket (core/shards.py): a shard reads its own stores' rows by it.
    sa.Column("bucket", sa.SmallInteger, nullable=False, index=True),
    sa.Column("timezone", sa.Text, nullable=False),
    sa.Column("day_of_week", sa.SmallInteger, nullable=False),
    sa.Column("start_s", sa.Integer, nullable=False),
    sa.Column("end_s", sa.Integer, nullable=False),
)

# One row per derived table that is rebuilt only when its inputs change: the version of the
# inputs it was built from, and what its build found (JSON), so an unchanged rebuild is skipped.
derived_state = sa.Table(
    "derived_state",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("version", sa.Text, nullable=False),
    sa.Column("summary_json", sa.Text, nullable=False),
)

# status: the code of core.segments.STATUS_CODES (0 inactive, 1 active, 2 unknown = no
# evidence); a store's id is stores.store_id of its store_key.
status_segments = sa.Table(
    "status_segments",
    metadata,
    sa.Column("as_of_us", sa.BigInteger, nullable=False),
    sa.Column("store_key", sa.Integer, nullable=False),  # stores.store_key
    sa.Column("start_us", sa.BigInteger, nullable=False),
    sa.Column("end_us", sa.BigInteger, nullable=False),
    sa.Column("status", sa.SmallInteger, nullable=False),
    sa.CheckConstraint("status IN (0, 1, 2)", name="status_code"),
    # Unique: a store's segments of one partition never overlap, so two rows with one start are
    # a partition written twice (two runs at once), which must fail rather than double the report.
    sa.Index(None, "as_of_us", "store_key", "start_us", unique=True),
)

# One row per report partition whose status_segments were written: store_report refuses a
# partition without one (its segments were never built), and the schedules build the segments
# came from, so a report is never summed against business hours its segments did not use.
report_partitions = sa.Table(
    "report_partitions",
    metadata,
    sa.Column("as_of_us", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("schedules_version", sa.Text, nullable=False),
    sa.Column("segments", sa.BigInteger, nullable=False),
    sa.Column("segments_written_at_us", sa.BigInteger, nullable=False),
)

# One row per shard written of a report partition's status_segments build (shard_index of
# shard_count, core/shards.py): each shard step replaces its own stores' segments and says so
# here; the build's last step records the partition in report_partitions only once every shard
# of the build is here, from one schedules build. A build starts by deleting these rows and the
# partition's report_partitions row, so store_report refuses a partition with a shard missing.
segment_shards = sa.Table(
    "segment_shards",
    metadata,
    sa.Column("as_of_us", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("shard_count", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("shard_index", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("schedules_version", sa.Text, nullable=False),
    # What the shard's step found (stores, segments, evidence pings, hours), summed by the last step.
    sa.Column("summary_json", sa.Text, nullable=False),
    sa.Column("written_at_us", sa.BigInteger, nullable=False),
)

# The build of each report partition's status_segments begun last (its run's root run id): a shard
# step or last step of any other build finds it here and fails instead of mixing two builds' shards.
segment_builds = sa.Table(
    "segment_builds",
    metadata,
    sa.Column("as_of_us", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("build_id", sa.Text, nullable=False),
    sa.Column("shard_count", sa.Integer, nullable=False),
    sa.Column("begun_at_us", sa.BigInteger, nullable=False),
)

REPORT_VALUE_COLUMNS = tuple(REPORT_COLUMNS[1:])

store_report = sa.Table(
    "store_report",
    metadata,
    sa.Column("as_of_us", sa.BigInteger, primary_key=True),
    sa.Column("store_id", StoreIdText, primary_key=True),
    # Hour figures in minutes, day and week figures in hours (docs/report-semantics.md#units-and-rounding).
    *(sa.Column(name, sa.Double, nullable=False) for name in REPORT_VALUE_COLUMNS),
)
