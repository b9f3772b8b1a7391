"""The Warehouse: every read and write the pipeline does against its database."""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from storemon_pipeline.core.inputs import BUSINESS_HOURS, PINGS, TIMEZONES
from storemon_pipeline.core.segments import STATUS_DTYPE, codes_in
from storemon_pipeline.core.shards import Shard
from storemon_pipeline.warehouse import tables
from storemon_pipeline.warehouse.bulk import EncodedFrame, bulk_insert, encode_frame, lock_until_commit, read_frame
from storemon_pipeline.warehouse import retention
from storemon_pipeline.warehouse.loading import load_part, prepared_part
from storemon_pipeline.warehouse.ping_days import KeyedPings, read_window
from storemon_pipeline.warehouse.segment_shards import (
    begin_build,
    check_build,
    record_build,
    replace_shard_segments,
)
from storemon_pipeline.warehouse.store_keys import StoreKeys
from storemon_pipeline.warehouse.store_reads import StorePartitionRows, read_store_partition, report_as_ofs
from storemon_pipeline.warehouse.upgrade import create_or_upgrade_tables
from storemon_pipeline.warehouse.engine import (
    WRITE_TRANSACTION_OPTION,
    WarehouseUnavailable,
    create_warehouse_engine,
    mask_url,
)

if TYPE_CHECKING:
    from storemon_pipeline.core.inputs import ParsedFile

# pg_advisory_xact_lock key serialising table creation between processes that start
# at once (CREATE TABLE after a has_table check is not atomic).
_TABLE_CREATION_LOCK_KEY = 0x73746F72656D6F6E  # "storemon"

# Advisory lock namespace of report partitions (PostgreSQL): one writer per partition.
_REPORT_PARTITION_LOCK_NAMESPACE = 0x73746F72  # "stor"

BUSINESS_HOURS_DTYPES = {"store_id": "str", "day_of_week": np.int8, "start_s": np.int32, "end_s": np.int32}
TIMEZONE_DTYPES = {"store_id": "str", "timezone": "str"}
REJECTED_ROW_DTYPES = {"file": "str", "line": np.int64, "reason": "str", "raw": "str"}
INGESTED_FILE_DTYPES = {
    "file_name": "str",
    "sha256": "str",
    "kind": "str",
    "rows_loaded": np.int64,
    "rows_rejected": np.int64,
    "ingested_at_us": np.int64,
}
NORMALIZED_SCHEDULE_COLUMNS = ["store_id", "timezone", "day_of_week", "start_s", "end_s"]
STATUS_SEGMENT_COLUMNS = ["store_id", "start_us", "end_us", "status"]
REPORT_DTYPES = {"store_id": "str", **{name: np.float64 for name in tables.REPORT_VALUE_COLUMNS}}

_KEYED_SCHEDULE_DTYPES = {
    "store_key": np.int32,
    "timezone": "str",
    "day_of_week": np.int8,
    "start_s": np.int32,
    "end_s": np.int32,
}
_KEYED_SEGMENT_DTYPES = {"store_key": np.int32, "start_us": np.int64, "end_us": np.int64, "status": np.int16}


class PartitionNotBuilt(RuntimeError):
    """A report partition whose status_segments were never written (or were pruned)."""


class PartitionIncomplete(PartitionNotBuilt):
    """A report partition whose status_segments build began but lacks shards (a shard step failed
    or is still running)."""


class SchedulesChanged(RuntimeError):
    """normalized_schedules was rebuilt after a partition's status_segments were written."""


@dataclass(frozen=True)
class IngestResult:
    file_name: str
    kind: str
    sha256: str
    # Valid rows of the file that were loaded (duplicates within the file included, so
    # rows_loaded + rows_rejected == ParsedFile.n_rows); both 0 when already_ingested.
    rows_loaded: int
    rows_rejected: int
    already_ingested: bool


@dataclass(frozen=True)
class ShardInputs:
    """A shard's stores in a report as of some instant (sorted), their schedules and window pings."""

    store_ids: list[str]
    schedules: pd.DataFrame
    pings: pd.DataFrame


@dataclass(frozen=True)
class DerivedBuild:
    """The last build of a derived table: the version of the inputs it came from, and what it found."""

    version: str
    summary: dict


class Warehouse:
    """SQLite (default, a file URL) or PostgreSQL (postgresql+psycopg2://) behind one API.

    Tables are created on first use. Every method runs in one transaction.
    """

    def __init__(self, url: str) -> None:
        self._url = url
        self._engine = create_warehouse_engine(url)
        self._write_engine = self._engine.execution_options(**{WRITE_TRANSACTION_OPTION: True})
        self._tables_ready = False
        self._tables_lock = threading.Lock()

    @property
    def url_masked(self) -> str:
        return mask_url(self._url)

    def dispose(self) -> None:
        self._engine.dispose()

    # -- plumbing -----------------------------------------------------------------

    @contextmanager
    def _transaction(self, *, write: bool = False) -> Iterator[sa.Connection]:
        try:
            with (self._write_engine if write else self._engine).begin() as conn:
                yield conn
        except sa.exc.OperationalError as error:
            raise WarehouseUnavailable(self._unavailable_message(error)) from error

    def _unavailable_message(self, error: sa.exc.OperationalError) -> str:
        # The driver's message only: SQLAlchemy's str() appends the statement and its
        # parameters, which can be megabytes of row data.
        reason = str(error.orig).strip() or type(error.orig).__name__
        password = make_url(self._url).password
        if password:
            reason = reason.replace(str(password), "***")
        return f"warehouse {self.url_masked} unavailable: {reason}"

    def _ensure_tables(self) -> None:
        if self._tables_ready:
            return
        with self._tables_lock:
            if self._tables_ready:
                return
            with self._transaction(write=True) as conn:
                if conn.dialect.name == "postgresql":
                    conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_TABLE_CREATION_LOCK_KEY)))
                create_or_upgrade_tables(conn)
            self._tables_ready = True

    # -- ingest -------------------------------------------------------------------

    def ingest(self, parsed: ParsedFile, ingested_at_us: int) -> IngestResult:
        """Load one parsed file in one transaction; a file (by sha256) already loaded changes nothing."""
        return self.ingest_parts(parsed.file_name, parsed.sha256, parsed.kind, [parsed], ingested_at_us)

    def ingest_parts(
        self, file_name: str, sha256: str, kind: str, parts: Iterable[ParsedFile], ingested_at_us: int
    ) -> IngestResult:
        """Load a file given as consecutive parts (core.inputs.parse_csv_parts) in one transaction.

        Only a pings file may come in several parts: a later part's ping for the same store and
        instant wins, as a later line does. `parts` is not consumed when the file (by sha256) is
        already loaded. Any error, from a part or from the database, leaves the warehouse as it was.
        """
        self._ensure_tables()
        if kind not in (PINGS, BUSINESS_HOURS, TIMEZONES):
            raise ValueError(f"{file_name}: unknown file kind {kind!r}")
        already_ingested = IngestResult(file_name, kind, sha256, 0, 0, True)
        if self._file_id_by_sha256(sha256) is not None:
            return already_ingested

        parts = iter(parts)
        # The first (for most files the only) part is checked, deduplicated and sorted before
        # the transaction, so that the SQLite write lock is held only while rows move.
        part = next(parts, None)
        prepared = None if part is None else prepared_part(part, file_name, kind)
        part = None
        rows_loaded = rows_rejected = 0
        try:
            with self._transaction(write=True) as conn:
                # Asked again inside the transaction: on SQLite (BEGIN IMMEDIATE) this
                # settles any race; on PostgreSQL the unique sha256 below does.
                if self._file_id_by_sha256(sha256, conn) is not None:
                    return already_ingested
                files = tables.ingested_files
                file_id = conn.execute(
                    sa.insert(files).values(
                        file_name=file_name,
                        sha256=sha256,
                        kind=kind,
                        rows_loaded=0,
                        rows_rejected=0,
                        ingested_at_us=int(ingested_at_us),
                    )
                ).inserted_primary_key[0]
                while prepared is not None:
                    valid_rows, rejected_rows, n_valid = prepared
                    load_part(conn, kind, file_id, valid_rows, rejected_rows)
                    rows_loaded += n_valid
                    rows_rejected += rejected_rows.n_rows
                    # Let this part's rows go before the next part is read: memory holds one part.
                    prepared = valid_rows = rejected_rows = None
                    part = next(parts, None)
                    if part is not None and kind != PINGS:
                        raise ValueError(f"{file_name}: only a pings file can be loaded in parts")
                    prepared = None if part is None else prepared_part(part, file_name, kind)
                    part = None
                conn.execute(
                    sa.update(files)
                    .where(files.c.id == file_id)
                    .values(rows_loaded=rows_loaded, rows_rejected=rows_rejected)
                )
        except sa.exc.IntegrityError:
            # A concurrent process committed the same sha256 first and our transaction
            # was rolled back. Any other integrity error (bad row data) is re-raised.
            if self._file_id_by_sha256(sha256) is not None:
                return already_ingested
            raise
        return IngestResult(file_name, kind, sha256, rows_loaded, rows_rejected, False)

    def _file_id_by_sha256(self, sha256: str, conn: sa.Connection | None = None) -> int | None:
        query = sa.select(tables.ingested_files.c.id).where(tables.ingested_files.c.sha256 == sha256)
        if conn is not None:
            return conn.execute(query).scalar_one_or_none()
        with self._transaction() as read_conn:
            return read_conn.execute(query).scalar_one_or_none()

    # -- reads of the inputs --------------------------------------------------------

    def latest_ping_us(self, at_or_before_us: int | None = None) -> int | None:
        """The newest ping's instant (of those at or before at_or_before_us, when given)."""
        self._ensure_tables()
        query = sa.select(sa.func.max(tables.pings.c.ts_us))
        if at_or_before_us is not None:
            query = query.where(tables.pings.c.ts_us <= int(at_or_before_us))
        with self._transaction() as conn:
            latest = conn.execute(query).scalar_one()
        return None if latest is None else int(latest)

    def read_pings(self, start_us: int, end_us: int, shard: Shard | None = None) -> pd.DataFrame:
        """Pings with start_us <= ts_us <= end_us, sorted by store_id, ts_us; only the stores of
        `shard` when one is given.

        store_id is categorical (categories: every known store, sorted): millions of rows
        then carry a small integer each instead of a string object.
        """
        self._ensure_tables()
        with self._transaction() as conn:
            if shard is None or shard.is_whole_fleet:
                # Pings before stores: stores only grow, so (even where each statement sees what
                # has committed by then, as in PostgreSQL) every key read is found.
                window = read_window(conn, start_us, end_us)
                return _pings_by_store(window, StoreKeys.read(conn))
            return _read_shard_pings(conn, start_us, end_us, shard, StoreKeys.read(conn, shard))

    def read_shard_inputs(self, as_of_us: int, pings_start_us: int, shard: Shard) -> ShardInputs:
        """What a shard step computes from, read with one look at the shard's stores: the stores
        of report_store_ids(as_of_us, shard), and read_normalized_schedules(shard) and
        read_pings(pings_start_us, as_of_us, shard)."""
        self._ensure_tables()
        with self._transaction() as conn:
            keys = StoreKeys.read(conn, None if shard.is_whole_fleet else shard)
            return ShardInputs(
                keys.report_store_ids(as_of_us),
                _read_normalized_schedules(conn, shard, keys),
                _read_shard_pings(conn, pings_start_us, as_of_us, shard, keys),
            )

    def read_business_hours(self) -> pd.DataFrame:
        self._ensure_tables()
        hours = tables.business_hours
        query = sa.select(*(hours.c[name] for name in BUSINESS_HOURS_DTYPES)).order_by(
            hours.c.store_id, hours.c.day_of_week, hours.c.start_s, hours.c.end_s
        )
        with self._transaction() as conn:
            return read_frame(conn, query, BUSINESS_HOURS_DTYPES, large=True)

    def read_timezones(self) -> pd.DataFrame:
        self._ensure_tables()
        zones = tables.timezones
        query = sa.select(zones.c.store_id, zones.c.timezone).order_by(zones.c.store_id)
        with self._transaction() as conn:
            return read_frame(conn, query, TIMEZONE_DTYPES, large=True)

    def report_store_ids(self, as_of_us: int, shard: Shard | None = None) -> list[str]:
        """Stores with business hours, a timezone, or a ping at or before as_of_us; sorted; only
        those of `shard` when one is given."""
        self._ensure_tables()
        with self._transaction() as conn:
            return StoreKeys.read(conn, shard).report_store_ids(as_of_us)

    def read_rejected(self, file_name: str | None = None) -> pd.DataFrame:
        self._ensure_tables()
        rejected = tables.rejected_rows
        query = sa.select(*(rejected.c[name] for name in REJECTED_ROW_DTYPES)).order_by(
            rejected.c.file_id, rejected.c.line, rejected.c.id
        )
        if file_name is not None:
            query = query.where(rejected.c.file == file_name)
        with self._transaction() as conn:
            return read_frame(conn, query, REJECTED_ROW_DTYPES)

    def count_rejected_rows(self, reason_prefix: str) -> int:
        """Rows kept aside, in every file, whose reason starts with `reason_prefix`."""
        self._ensure_tables()
        rejected = tables.rejected_rows
        query = sa.select(sa.func.count()).where(rejected.c.reason.startswith(reason_prefix, autoescape=True))
        with self._transaction() as conn:
            return int(conn.execute(query).scalar_one())

    def rows_rejected_total(self) -> int:
        self._ensure_tables()
        with self._transaction() as conn:
            total = conn.execute(sa.select(sa.func.sum(tables.ingested_files.c.rows_rejected))).scalar_one()
        return int(total or 0)

    def ingested_files(self) -> pd.DataFrame:
        self._ensure_tables()
        files = tables.ingested_files
        query = sa.select(*(files.c[name] for name in INGESTED_FILE_DTYPES)).order_by(files.c.id)
        with self._transaction() as conn:
            return read_frame(conn, query, INGESTED_FILE_DTYPES)

    # -- derived tables (replace semantics) ---------------------------------------

    def schedule_inputs_version(self) -> str:
        """A value that changes whenever normalized_schedules' inputs may have: an hours or zones
        file loaded, or a new store. Both only ever grow, so equal means unchanged."""
        self._ensure_tables()
        files = tables.ingested_files
        with self._transaction() as conn:
            last_file_id = conn.execute(
                sa.select(sa.func.max(files.c.id)).where(files.c.kind.in_((BUSINESS_HOURS, TIMEZONES)))
            ).scalar_one()
            n_stores = conn.execute(sa.select(sa.func.count()).select_from(tables.stores)).scalar_one()
        return f"hours-zones-file-{last_file_id or 0}/stores-{n_stores}"

    def normalized_schedules_build(self) -> DerivedBuild | None:
        self._ensure_tables()
        state = tables.derived_state
        with self._transaction() as conn:
            row = conn.execute(
                sa.select(state.c.version, state.c.summary_json).where(state.c.name == tables.normalized_schedules.name)
            ).one_or_none()
        return None if row is None else DerivedBuild(row.version, json.loads(row.summary_json))

    def write_normalized_schedules(self, schedules: pd.DataFrame, *, version: str, summary: dict) -> None:
        """Replace the whole table, and record the inputs version it was built from, in one transaction.

        Every store_id must be a known store (seen in an input): ValueError otherwise.
        """
        self._ensure_tables()
        keys = self._store_keys()
        store_keys = keys.keys_of(schedules["store_id"])
        keyed = pd.DataFrame(
            {"store_key": store_keys, "bucket": keys.buckets_of(store_keys)}
            | {name: schedules[name].to_numpy() for name in NORMALIZED_SCHEDULE_COLUMNS[1:]}
        )
        encoded = encode_frame(tables.normalized_schedules, keyed, [*_KEYED_SCHEDULE_DTYPES, "bucket"])
        state = tables.derived_state
        name = tables.normalized_schedules.name
        with self._transaction(write=True) as conn:
            conn.execute(sa.delete(tables.normalized_schedules))
            bulk_insert(conn, encoded)
            conn.execute(sa.delete(state).where(state.c.name == name))
            conn.execute(sa.insert(state).values(name=name, version=version, summary_json=json.dumps(summary)))

    def read_normalized_schedules(self, shard: Shard | None = None) -> pd.DataFrame:
        """Sorted by store_id, day_of_week, start_s, end_s; store_id categorical; only the stores
        of `shard` when one is given."""
        self._ensure_tables()
        with self._transaction() as conn:
            return _read_normalized_schedules(conn, shard)

    def write_status_segments(
        self, as_of_us: int, segments: pd.DataFrame, *, schedules_version: str, summary: dict | None = None
    ) -> None:
        """Replace the segments of report partition as_of_us (store ids must be known stores), and
        record the partition as built: a build of one shard, in one transaction.

        One writer per partition: the partition's lock is taken before the old rows are deleted,
        so two runs at once write one after the other instead of both inserting (the unique
        index on status_segments would refuse the second set anyway). `schedules_version` is the
        normalized_schedules build the segments came from, recorded for store_report; `summary`
        (which must count "segments") is the shard's, as write_shard_segments records it.
        """
        self._ensure_tables()
        encoded = _encoded_segments(segments, self._store_keys())
        summary = {"segments": encoded.n_rows} if summary is None else summary
        whole = Shard(0, 1)
        with self._transaction(write=True) as conn:
            _lock_report_partition(conn, as_of_us)
            # A build of its own, begun and finished here: any build in shards begun before is void.
            begin_build(conn, as_of_us, f"whole-{uuid.uuid4().hex}", whole.count)
            replace_shard_segments(conn, as_of_us, whole, np.empty(0, np.int64), encoded,
                                   schedules_version=schedules_version, summary=summary)
            record_build(conn, as_of_us, whole.count)

    # A build in shards (warehouse/segment_shards.py says how they coexist): begin, each shard, record.

    def begin_status_segments(self, as_of_us: int, build_id: str, shard_count: int) -> None:
        """Partition as_of_us's segments are being rebuilt by `build_id`: store_report refuses the
        partition until record_status_segments finds every shard of that build written."""
        self._ensure_tables()
        with self._transaction(write=True) as conn:
            _lock_report_partition(conn, as_of_us)
            begin_build(conn, as_of_us, build_id, shard_count)

    def write_shard_segments(
        self, as_of_us: int, shard: Shard, segments: pd.DataFrame, *, build_id: str, schedules_version: str,
        summary: dict,
    ) -> None:
        """Replace the segments of `shard`'s stores in partition as_of_us (`segments` holds only
        theirs), and record the shard as written with its summary (which must count "segments");
        BuildSuperseded, writing nothing, if `build_id` is no longer the partition's build."""
        self._ensure_tables()
        with self._transaction(write=True) as conn:
            keys = StoreKeys.read(conn, shard)
            encoded = _encoded_segments(segments, keys)
            _lock_report_partition(conn, as_of_us)
            check_build(conn, as_of_us, build_id)
            shard_keys = keys.key_by_rank
            replace_shard_segments(conn, as_of_us, shard, shard_keys, encoded,
                                   schedules_version=schedules_version, summary=summary)

    def record_status_segments(self, as_of_us: int, shard_count: int, build_id: str | None) -> list[dict]:
        """Record partition as_of_us as built once its `shard_count` shards are all written from one
        schedules build (ShardsMissing otherwise) by `build_id` (BuildSuperseded otherwise; None for
        one shard, whose write began and recorded a build of its own); the shards' summaries."""
        self._ensure_tables()
        with self._transaction(write=True) as conn:
            _lock_report_partition(conn, as_of_us)
            if build_id is not None:
                check_build(conn, as_of_us, build_id)
            return record_build(conn, as_of_us, shard_count)


    def read_status_segments(self, as_of_us: int) -> pd.DataFrame:
        """Sorted by store_id, start_us; store_id and status categorical."""
        self._ensure_tables()
        with self._transaction() as conn:
            return _read_status_segments(conn, as_of_us)

    @contextmanager
    def report_partition(self, as_of_us: int) -> Iterator[ReportPartition]:
        """One write transaction holding report partition as_of_us's lock: read its segments,
        write its report, and (before leaving the block) anything that must agree with them,
        such as the report file. An exception leaves the warehouse as it was."""
        self._ensure_tables()
        with self._transaction(write=True) as conn:
            _lock_report_partition(conn, as_of_us)
            yield ReportPartition(conn, int(as_of_us))

    def _store_keys(self) -> StoreKeys:
        with self._transaction() as conn:
            return StoreKeys.read(conn)

    def read_report(self, as_of_us: int) -> pd.DataFrame:
        self._ensure_tables()
        report = tables.store_report
        query = (
            sa.select(*(report.c[name] for name in REPORT_DTYPES))
            .where(report.c.as_of_us == int(as_of_us))
            .order_by(report.c.store_id)
        )
        with self._transaction() as conn:
            return read_frame(conn, query, REPORT_DTYPES)

    def report_as_ofs(self) -> list[int]:
        """The as-of of every report in store_report, newest first."""
        self._ensure_tables()
        with self._transaction() as conn:
            return report_as_ofs(conn)

    # -- retention (warehouse/retention.py) ------------------------------------------

    def newest_report_us(self) -> int | None:
        """The as-of of the newest report in store_report; None before the first."""
        self._ensure_tables()
        with self._transaction() as conn:
            return retention.newest_report_us(conn)

    def partitions_before(self, before_us: int) -> tuple[list[int], list[int]]:
        """Partitions older than before_us: (those with store_report rows, those with segments)."""
        self._ensure_tables()
        with self._transaction() as conn:
            return (
                retention.report_partitions_before(conn, before_us),
                retention.segment_partitions_before(conn, before_us),
            )

    def storage_bytes(self) -> int:
        """What the warehouse takes on disk: the SQLite file and its WAL, or PostgreSQL's tables."""
        self._ensure_tables()
        if self._engine.dialect.name == "sqlite":
            return retention.sqlite_file_bytes(self._engine.url.database or "")
        with self._transaction() as conn:
            return retention.postgresql_tables_bytes(conn)

    def give_space_back(self) -> None:
        """SQLite: shrink the file by the pages deletes freed. PostgreSQL: nothing (autovacuum reuses them)."""
        self._ensure_tables()
        if self._engine.dialect.name == "sqlite":
            try:
                retention.give_sqlite_space_back(self._engine)
            except sqlite3.OperationalError as error:  # a raw DBAPI connection: the driver's own error
                raise WarehouseUnavailable(f"warehouse {self.url_masked} unavailable: {error}") from error

    def read_store_partition(self, as_of_us: int, store_id: str, pings_start_us: int) -> StorePartitionRows:
        """One store's rows of report partition as_of_us and its pings in [pings_start_us, as_of_us],
        in one read transaction (warehouse/store_reads.py)."""
        self._ensure_tables()
        with self._transaction() as conn:
            return read_store_partition(conn, store_id, int(as_of_us), int(pings_start_us))


class ReportPartition:
    """The reads and writes of one report partition inside `Warehouse.report_partition`."""

    def __init__(self, conn: sa.Connection, as_of_us: int) -> None:
        self._conn = conn
        self.as_of_us = as_of_us

    def schedules_version(self) -> str:
        """The normalized_schedules build its segments came from; PartitionNotBuilt without segments."""
        partitions = tables.report_partitions
        version = self._conn.execute(
            sa.select(partitions.c.schedules_version).where(partitions.c.as_of_us == self.as_of_us)
        ).scalar_one_or_none()
        if version is None:
            shards = tables.segment_shards
            started = self._conn.execute(
                sa.select(shards.c.shard_count, sa.func.count()).where(shards.c.as_of_us == self.as_of_us)
                .group_by(shards.c.shard_count)
            ).first()
            if started is not None:
                raise PartitionIncomplete(f"{started[1]} of its {started[0]} shards were written and the build "
                                          "was not recorded as complete")
            raise PartitionNotBuilt(f"status_segments of report partition {self.as_of_us} were never built")
        return version

    def status_segments(self) -> pd.DataFrame:
        return _read_status_segments(self._conn, self.as_of_us)

    def normalized_schedules(self) -> pd.DataFrame:
        """The schedules its segments were built from; SchedulesChanged if they were rebuilt since."""
        version = self.schedules_version()
        state = tables.derived_state
        current = self._conn.execute(
            sa.select(state.c.version).where(state.c.name == tables.normalized_schedules.name)
        ).scalar_one_or_none()
        if current != version:
            raise SchedulesChanged(f"normalized_schedules changed from {version} to {current}")
        return _read_normalized_schedules(self._conn)

    def drop_segments(self) -> int:
        """Delete its status_segments (and the record that they were built); returns the rows deleted."""
        return retention.delete_segments(self._conn, self.as_of_us)

    def drop_report(self) -> int:
        """Delete its store_report rows; returns the rows deleted."""
        return retention.delete_report_rows(self._conn, self.as_of_us)

    def write_report(self, report: pd.DataFrame) -> None:
        """Replace the partition's report rows."""
        encoded = encode_frame(tables.store_report, report, list(REPORT_DTYPES))
        conn = self._conn
        conn.execute(sa.delete(tables.store_report).where(tables.store_report.c.as_of_us == self.as_of_us))
        bulk_insert(conn, encoded.with_constant("as_of_us", self.as_of_us))


def _encoded_segments(segments: pd.DataFrame, keys: StoreKeys) -> EncodedFrame:
    """ValueError for a status not in STATUS_DTYPE or a store not among `keys`."""
    status_codes = codes_in(pd.Index(STATUS_DTYPE.categories), segments["status"])
    if (status_codes < 0).any():
        raise ValueError(f"status_segments.status: only {', '.join(STATUS_DTYPE.categories)}")
    keyed = pd.DataFrame(
        {
            "store_key": keys.keys_of(segments["store_id"]),
            "start_us": segments["start_us"].to_numpy(),
            "end_us": segments["end_us"].to_numpy(),
            "status": status_codes,
        }
    )
    return encode_frame(tables.status_segments, keyed, list(_KEYED_SEGMENT_DTYPES))


def _lock_report_partition(conn: sa.Connection, as_of_us: int) -> None:
    lock_until_commit(conn, _REPORT_PARTITION_LOCK_NAMESPACE, int(as_of_us) // 1_000_000)


def _read_status_segments(conn: sa.Connection, as_of_us: int) -> pd.DataFrame:
    segments = tables.status_segments
    query = sa.select(*(segments.c[name] for name in _KEYED_SEGMENT_DTYPES)).where(
        segments.c.as_of_us == int(as_of_us)
    )
    keyed = read_frame(conn, query, _KEYED_SEGMENT_DTYPES, large=True)
    frame = StoreKeys.read(conn).by_store(keyed, ["start_us", "end_us"])
    frame["status"] = pd.Categorical.from_codes(frame["status"].to_numpy(), dtype=STATUS_DTYPE)
    return frame[STATUS_SEGMENT_COLUMNS]


def _read_shard_pings(conn: sa.Connection, start_us: int, end_us: int, shard: Shard, keys: StoreKeys) -> pd.DataFrame:
    """`keys` read before the pings (at least the shard's stores): a ping of a store added since is
    no store of the shard's (its store set was read before), and is dropped."""
    return _pings_by_store(read_window(conn, start_us, end_us, keys.shard_mask_by_key(shard), shard.buckets()), keys)


def _read_normalized_schedules(
    conn: sa.Connection, shard: Shard | None = None, keys: StoreKeys | None = None
) -> pd.DataFrame:
    """`keys`, when given, read before (at least the shard's stores)."""
    schedules = tables.normalized_schedules
    query = sa.select(*(schedules.c[name] for name in _KEYED_SCHEDULE_DTYPES))
    if shard is None or shard.is_whole_fleet:
        keyed = read_frame(conn, query, _KEYED_SCHEDULE_DTYPES, large=True)
        keys = keys or StoreKeys.read(conn)  # after the rows: stores only grow, so every key read is found
    else:
        keys = keys or StoreKeys.read(conn, shard)
        buckets = shard.buckets()
        if buckets is not None:
            query = query.where(schedules.c.bucket.in_(buckets))
        keyed = read_frame(conn, query, _KEYED_SCHEDULE_DTYPES, large=True)
        mask = keys.shard_mask_by_key(shard)
        row_keys = keyed["store_key"].to_numpy()
        # A key past the mask is a store added since the keys were read: not one of the shard's.
        known = row_keys < len(mask)
        keep = known & mask[np.where(known, row_keys, 0)] if len(mask) else np.zeros(len(keyed), dtype=bool)
        keyed = keyed[keep]
    return keys.by_store(keyed, ["day_of_week", "start_s", "end_s"])[NORMALIZED_SCHEDULE_COLUMNS]


def _pings_by_store(window: KeyedPings, keys: StoreKeys) -> pd.DataFrame:
    """Window pings (sorted by ts_us) as [store_id (categorical), ts_us, active] sorted by (store_id, ts_us)."""
    store_rank = keys.rank_by_key[window.store_key] if len(window) else np.empty(0, dtype=np.int64)
    # A stable sort by store alone keeps each store's pings in time order, and 16-bit
    # ranks get numpy's radix sort.
    rank_dtype = np.int16 if len(keys.store_ids) <= np.iinfo(np.int16).max else np.int32
    order = np.argsort(store_rank.astype(rank_dtype), kind="stable")
    return pd.DataFrame(
        {
            "store_id": pd.Categorical.from_codes(store_rank[order], categories=keys.store_ids),
            "ts_us": window.ts_us[order],
            "active": window.active[order],
        }
    )
