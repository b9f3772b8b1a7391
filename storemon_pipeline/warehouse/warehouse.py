"""The Warehouse: every read and write the pipeline does against its database."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.schema import CreateSchema

from storemon_pipeline.warehouse import tables
from storemon_pipeline.warehouse.bulk import EncodedFrame, bulk_insert, encode_frame, read_frame
from storemon_pipeline.warehouse.engine import (
    WRITE_TRANSACTION_OPTION,
    WarehouseUnavailable,
    create_warehouse_engine,
    mask_url,
)

if TYPE_CHECKING:
    from storemon_pipeline.core.inputs import ParsedFile

# pg_advisory_xact_lock key serialising schema creation between processes that start
# at once (CREATE TABLE after a has_table check is not atomic).
_SCHEMA_CREATION_LOCK_KEY = 0x73746F72656D6F6E  # "storemon"

# Store ids per DELETE ... IN (...): below SQLite's bound-parameter limit, and short
# enough statements for PostgreSQL.
_STORE_IDS_PER_DELETE = 500

PING_DTYPES = {"store_id": "str", "ts_us": np.int64, "active": np.bool_}
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
NORMALIZED_SCHEDULE_DTYPES = {
    "store_id": "str",
    "timezone": "str",
    "day_of_week": np.int8,
    "start_s": np.int32,
    "end_s": np.int32,
}
STATUS_SEGMENT_DTYPES = {"store_id": "str", "start_us": np.int64, "end_us": np.int64, "status": "str"}
REPORT_DTYPES = {"store_id": "str", **{name: np.float64 for name in tables.REPORT_VALUE_COLUMNS}}


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


class Warehouse:
    """SQLite (default, a file URL) or PostgreSQL (postgresql+psycopg2://) behind one API.

    `schema` (PostgreSQL only) puts every table in that schema, created if missing;
    tests use it to isolate themselves on a shared server.
    """

    def __init__(self, url: str, *, schema: str | None = None) -> None:
        self._url = url
        self._schema = schema
        self._engine = create_warehouse_engine(url, schema=schema)
        self._write_engine = self._engine.execution_options(**{WRITE_TRANSACTION_OPTION: True})
        self._schema_ready = False
        self._schema_lock = threading.Lock()

    @property
    def url_masked(self) -> str:
        return mask_url(self._url)

    @property
    def dialect_name(self) -> str:
        return self._engine.dialect.name

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
        # The driver's message only (SQLAlchemy's str() appends the statement and its
        # parameters, which can be megabytes of row data).
        reason = str(error.orig).strip() or type(error.orig).__name__
        password = make_url(self._url).password
        if password:
            reason = reason.replace(str(password), "***")
        return f"warehouse {self.url_masked} unavailable: {reason}"

    def _ensure_schema(self) -> None:
        if self._schema_ready:
            return
        with self._schema_lock:
            if self._schema_ready:
                return
            with self._transaction(write=True) as conn:
                if conn.dialect.name == "postgresql":
                    conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_SCHEMA_CREATION_LOCK_KEY)))
                    if self._schema is not None:
                        conn.execute(CreateSchema(self._schema, if_not_exists=True))
                tables.metadata.create_all(conn)
            self._schema_ready = True

    # -- ingest -------------------------------------------------------------------

    def ingest(self, parsed: ParsedFile, ingested_at_us: int) -> IngestResult:
        """Load one parsed file in one transaction; a file (by sha256) already loaded changes nothing."""
        self._ensure_schema()
        if parsed.kind not in ("pings", "business_hours", "timezones"):
            raise ValueError(f"{parsed.file_name}: unknown file kind {parsed.kind!r}")
        already_ingested = IngestResult(parsed.file_name, parsed.kind, parsed.sha256, 0, 0, True)
        if self._file_id_by_sha256(parsed.sha256) is not None:
            return already_ingested

        # Encoding (validation, dedup, sorting) happens before the transaction so the
        # SQLite write lock is held only while rows move.
        valid_rows = _encode_valid_rows(parsed)
        rejected_rows = encode_frame(tables.rejected_rows, parsed.rejected, ["file", "line", "reason", "raw"])
        try:
            with self._transaction(write=True) as conn:
                # Checked again inside the transaction: on SQLite (BEGIN IMMEDIATE) this
                # settles any race; on PostgreSQL the unique sha256 below does.
                if self._file_id_by_sha256(parsed.sha256, conn) is not None:
                    return already_ingested
                file_id = conn.execute(
                    sa.insert(tables.ingested_files).values(
                        file_name=parsed.file_name,
                        sha256=parsed.sha256,
                        kind=parsed.kind,
                        rows_loaded=len(parsed.rows),
                        rows_rejected=len(parsed.rejected),
                        ingested_at_us=int(ingested_at_us),
                    )
                ).inserted_primary_key[0]
                _load_valid_rows(conn, parsed.kind, valid_rows, file_id)
                bulk_insert(conn, rejected_rows.with_constant("file_id", file_id))
        except sa.exc.IntegrityError:
            # A concurrent process committed the same sha256 first; our transaction is
            # rolled back. Any other integrity error (bad row data) is re-raised.
            if self._file_id_by_sha256(parsed.sha256) is not None:
                return already_ingested
            raise
        return IngestResult(
            parsed.file_name, parsed.kind, parsed.sha256, len(parsed.rows), len(parsed.rejected), False
        )

    def _file_id_by_sha256(self, sha256: str, conn: sa.Connection | None = None) -> int | None:
        query = sa.select(tables.ingested_files.c.id).where(tables.ingested_files.c.sha256 == sha256)
        if conn is not None:
            return conn.execute(query).scalar_one_or_none()
        with self._transaction() as read_conn:
            return read_conn.execute(query).scalar_one_or_none()

    # -- reads of the inputs --------------------------------------------------------

    def latest_ping_us(self) -> int | None:
        self._ensure_schema()
        with self._transaction() as conn:
            latest = conn.execute(sa.select(sa.func.max(tables.pings.c.ts_us))).scalar_one()
        return None if latest is None else int(latest)

    def read_pings(self, start_us: int, end_us: int) -> pd.DataFrame:
        """Pings with start_us <= ts_us <= end_us, sorted by store_id, ts_us."""
        self._ensure_schema()
        pings = tables.pings
        query = (
            sa.select(pings.c.store_id, pings.c.ts_us, pings.c.active)
            .where(pings.c.ts_us.between(int(start_us), int(end_us)))
            .order_by(pings.c.store_id, pings.c.ts_us)
        )
        with self._transaction() as conn:
            return read_frame(conn, query, PING_DTYPES, use_copy_on_postgresql=True)

    def read_business_hours(self) -> pd.DataFrame:
        self._ensure_schema()
        hours = tables.business_hours
        query = sa.select(hours.c.store_id, hours.c.day_of_week, hours.c.start_s, hours.c.end_s).order_by(
            hours.c.store_id, hours.c.day_of_week, hours.c.start_s, hours.c.end_s
        )
        with self._transaction() as conn:
            return read_frame(conn, query, BUSINESS_HOURS_DTYPES)

    def read_timezones(self) -> pd.DataFrame:
        self._ensure_schema()
        query = sa.select(tables.timezones.c.store_id, tables.timezones.c.timezone).order_by(
            tables.timezones.c.store_id
        )
        with self._transaction() as conn:
            return read_frame(conn, query, TIMEZONE_DTYPES)

    def report_store_ids(self, as_of_us: int) -> list[str]:
        """Stores with business hours, a timezone, or a ping at or before as_of_us; sorted."""
        self._ensure_schema()
        query = sa.union(
            sa.select(tables.business_hours.c.store_id),
            sa.select(tables.timezones.c.store_id),
            sa.select(tables.pings.c.store_id).where(tables.pings.c.ts_us <= int(as_of_us)),
        )
        with self._transaction() as conn:
            store_ids = conn.execute(query).scalars().all()
        # Sorted here, not in SQL: Python's str order is the contract, whatever the collation.
        return sorted(store_ids)

    def read_rejected(self, file_name: str | None = None) -> pd.DataFrame:
        self._ensure_schema()
        rejected = tables.rejected_rows
        query = sa.select(rejected.c.file, rejected.c.line, rejected.c.reason, rejected.c.raw).order_by(
            rejected.c.file_id, rejected.c.line, rejected.c.id
        )
        if file_name is not None:
            query = query.where(rejected.c.file == file_name)
        with self._transaction() as conn:
            return read_frame(conn, query, REJECTED_ROW_DTYPES)

    def ingested_files(self) -> pd.DataFrame:
        self._ensure_schema()
        files = tables.ingested_files
        query = sa.select(*(files.c[name] for name in INGESTED_FILE_DTYPES)).order_by(files.c.id)
        with self._transaction() as conn:
            return read_frame(conn, query, INGESTED_FILE_DTYPES)

    # -- derived tables (replace semantics) ---------------------------------------

    def write_normalized_schedules(self, schedules: pd.DataFrame) -> None:
        self._ensure_schema()
        encoded = encode_frame(tables.normalized_schedules, schedules, list(NORMALIZED_SCHEDULE_DTYPES))
        with self._transaction(write=True) as conn:
            conn.execute(sa.delete(tables.normalized_schedules))
            bulk_insert(conn, encoded)

    def read_normalized_schedules(self) -> pd.DataFrame:
        self._ensure_schema()
        schedules = tables.normalized_schedules
        query = sa.select(*(schedules.c[name] for name in NORMALIZED_SCHEDULE_DTYPES)).order_by(
            schedules.c.store_id, schedules.c.day_of_week, schedules.c.start_s, schedules.c.end_s
        )
        with self._transaction() as conn:
            return read_frame(conn, query, NORMALIZED_SCHEDULE_DTYPES)

    def write_status_segments(self, as_of_us: int, segments: pd.DataFrame) -> None:
        self._ensure_schema()
        encoded = encode_frame(tables.status_segments, segments, list(STATUS_SEGMENT_DTYPES))
        with self._transaction(write=True) as conn:
            conn.execute(sa.delete(tables.status_segments).where(tables.status_segments.c.as_of_us == int(as_of_us)))
            bulk_insert(conn, encoded.with_constant("as_of_us", int(as_of_us)))

    def read_status_segments(self, as_of_us: int) -> pd.DataFrame:
        self._ensure_schema()
        segments = tables.status_segments
        query = (
            sa.select(*(segments.c[name] for name in STATUS_SEGMENT_DTYPES))
            .where(segments.c.as_of_us == int(as_of_us))
            .order_by(segments.c.store_id, segments.c.start_us, segments.c.end_us)
        )
        with self._transaction() as conn:
            return read_frame(conn, query, STATUS_SEGMENT_DTYPES, use_copy_on_postgresql=True)

    def write_report(self, as_of_us: int, report: pd.DataFrame) -> None:
        self._ensure_schema()
        encoded = encode_frame(tables.store_report, report, list(REPORT_DTYPES))
        with self._transaction(write=True) as conn:
            conn.execute(sa.delete(tables.store_report).where(tables.store_report.c.as_of_us == int(as_of_us)))
            bulk_insert(conn, encoded.with_constant("as_of_us", int(as_of_us)))

    def read_report(self, as_of_us: int) -> pd.DataFrame:
        self._ensure_schema()
        report = tables.store_report
        query = (
            sa.select(*(report.c[name] for name in REPORT_DTYPES))
            .where(report.c.as_of_us == int(as_of_us))
            .order_by(report.c.store_id)
        )
        with self._transaction() as conn:
            return read_frame(conn, query, REPORT_DTYPES)


# -- per-kind loading -------------------------------------------------------------


def _rows_in_file_order(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows by physical line, so "the last row wins" means the last line of the file."""
    if "line" in rows.columns and not rows["line"].is_monotonic_increasing:
        return rows.sort_values("line", kind="stable")
    return rows


def _encode_valid_rows(parsed: ParsedFile) -> EncodedFrame:
    rows = _rows_in_file_order(parsed.rows)
    if parsed.kind == "pings":
        return _last_ping_per_key_sorted(encode_frame(tables.pings, rows, ["store_id", "ts_us", "active"]))
    if parsed.kind == "business_hours":
        return encode_frame(tables.business_hours, rows, ["store_id", "day_of_week", "start_s", "end_s", "line"])
    last_row_per_store = rows.drop_duplicates("store_id", keep="last")
    return encode_frame(tables.timezones, last_row_per_store, ["store_id", "timezone", "line"])


def _last_ping_per_key_sorted(pings: EncodedFrame) -> EncodedFrame:
    """One row per (store_id, ts_us), the last in file order, sorted by primary key.

    Sorted input makes SQLite's clustered-index inserts sequential; the dedup is also
    required by PostgreSQL, whose ON CONFLICT refuses to touch one row twice.
    """
    store_codes = pings.columns["store_id"].codes  # ordered like the strings
    ts_us = pings.columns["ts_us"]
    # Two stable sorts = sort by (store, ts) keeping file order among equal keys.
    order = np.argsort(ts_us, kind="stable")
    order = order[np.argsort(store_codes[order], kind="stable")]
    sorted_codes = store_codes[order]
    sorted_ts_us = ts_us[order]
    is_last_of_key = np.ones(len(order), dtype=bool)
    is_last_of_key[:-1] = (sorted_codes[1:] != sorted_codes[:-1]) | (sorted_ts_us[1:] != sorted_ts_us[:-1])
    return pings.take(order[is_last_of_key])


def _load_valid_rows(conn: sa.Connection, kind: str, rows: EncodedFrame, file_id: int) -> None:
    if kind == "pings":
        # Upsert: the file ingested last decides a duplicated (store, instant).
        bulk_insert(conn, rows, conflict_columns=["store_id", "ts_us"], update_columns=["active"])
    elif kind == "business_hours":
        store_codes = np.unique(rows.columns["store_id"].codes)
        _delete_business_hours_of(conn, rows.columns["store_id"].values[store_codes[store_codes >= 0]])
        bulk_insert(conn, rows.with_constant("file_id", file_id))
    else:
        bulk_insert(
            conn,
            rows.with_constant("file_id", file_id),
            conflict_columns=["store_id"],
            update_columns=["timezone", "file_id", "line"],
        )


def _delete_business_hours_of(conn: sa.Connection, store_ids: np.ndarray) -> None:
    # A later hours file replaces everything known for the stores it lists, so a
    # store's dropped weekday disappears too.
    listed = store_ids.tolist()
    for start in range(0, len(listed), _STORE_IDS_PER_DELETE):
        chunk = listed[start : start + _STORE_IDS_PER_DELETE]
        conn.execute(sa.delete(tables.business_hours).where(tables.business_hours.c.store_id.in_(chunk)))
