"""Retention's SQL: which report partitions are stored, deleting one partition's rows, giving space back.

Deletes go one partition per transaction, under the partition's lock (Warehouse.report_partition),
so a pruned partition never meets a writer of the same partition half-way, and no transaction
holds more than one partition's rows (about 128 k segments at 14,000 stores): PostgreSQL's
autovacuum then sees small, steady batches of dead rows whose space the next hours' inserts reuse,
and SQLite's write lock is never held for long. Every delete is by `as_of_us`, the leading column
of the unique index of status_segments and of store_report's primary key: a range of one index.

SQLite gives the freed pages back to the file system: new files are created with
auto_vacuum = INCREMENTAL (engine.py), so `PRAGMA incremental_vacuum` truncates the file by the
freed pages without rewriting the rest. A file created before that (auto_vacuum NONE) is converted
once, by a VACUUM after its first prune (then it holds only what retention keeps, so the rewrite is
of the kept rows). PostgreSQL keeps its files: the freed space is reused in place (VACUUM FULL, which
would lock the tables while it rewrites them, is left to the operator).
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from storemon_pipeline.warehouse import tables
from storemon_pipeline.warehouse.segment_shards import forget_build

# PRAGMA auto_vacuum values (SQLite documentation).
SQLITE_AUTO_VACUUM_INCREMENTAL = 2


def newest_report_us(conn: sa.Connection) -> int | None:
    newest = conn.execute(sa.select(sa.func.max(tables.store_report.c.as_of_us))).scalar_one()
    return None if newest is None else int(newest)


def report_partitions_before(conn: sa.Connection, before_us: int) -> list[int]:
    """As-of of every partition with store_report rows older than before_us."""
    report = tables.store_report
    query = sa.select(report.c.as_of_us).where(report.c.as_of_us < int(before_us)).distinct()
    return [int(value) for value in conn.execute(query).scalars()]


def segment_partitions_before(conn: sa.Connection, before_us: int) -> list[int]:
    """As-of of every partition with segments (or a build record) older than before_us."""
    segments, partitions, shards = tables.status_segments, tables.report_partitions, tables.segment_shards
    query = sa.union(
        sa.select(partitions.c.as_of_us).where(partitions.c.as_of_us < int(before_us)),
        sa.select(shards.c.as_of_us).where(shards.c.as_of_us < int(before_us)),
        sa.select(segments.c.as_of_us).where(segments.c.as_of_us < int(before_us)).distinct(),
    )
    return [int(value) for value in conn.execute(query).scalars()]


def delete_segments(conn: sa.Connection, as_of_us: int) -> int:
    """Delete a partition's segments and its build record (report_partitions and the shards'
    segment_shards rows); returns the segment rows deleted.

    Without the record, store_report of the partition refuses (PartitionNotBuilt) and the store page
    answers 409, until status_segments is materialized again: a later request rebuilds, never reads
    an empty set.
    """
    segments = tables.status_segments
    deleted = conn.execute(sa.delete(segments).where(segments.c.as_of_us == int(as_of_us))).rowcount
    forget_build(conn, as_of_us)
    return int(deleted or 0)


def delete_report_rows(conn: sa.Connection, as_of_us: int) -> int:
    report = tables.store_report
    return int(conn.execute(sa.delete(report).where(report.c.as_of_us == int(as_of_us))).rowcount or 0)


def sqlite_file_bytes(database: str) -> int:
    """The database file and its WAL, as the file system counts them."""
    return sum(path.stat().st_size for path in (Path(database), Path(database + "-wal")) if path.exists())


def give_sqlite_space_back(engine: sa.Engine) -> None:
    """Truncate the file by its free pages (converting a pre-retention file once), then empty the WAL.

    Outside any transaction: VACUUM cannot run inside one, and the WAL checkpoint needs none open.
    """
    dbapi_connection = engine.raw_connection()
    try:
        cursor = dbapi_connection.cursor()
        (auto_vacuum,) = cursor.execute("PRAGMA auto_vacuum").fetchone()
        if auto_vacuum == SQLITE_AUTO_VACUUM_INCREMENTAL:
            # executescript steps the pragma to its end; execute() would free one page per step taken.
            cursor.executescript("PRAGMA incremental_vacuum")
        else:
            cursor.execute("PRAGMA auto_vacuum = INCREMENTAL")
            cursor.execute("VACUUM")
        # The freed pages went through the WAL; without this the -wal file keeps their size.
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        cursor.close()
    finally:
        dbapi_connection.close()


def postgresql_tables_bytes(conn: sa.Connection) -> int:
    """Bytes of storemon's tables with their indexes and TOAST (the schema of the search_path)."""
    total = 0
    for table in tables.metadata.sorted_tables:
        size = conn.execute(sa.select(sa.func.pg_total_relation_size(sa.func.to_regclass(table.name)))).scalar_one()
        total += int(size or 0)
    return total
