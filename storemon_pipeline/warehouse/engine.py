"""Engines for the two supported dialects, with the session settings the warehouse relies on."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_CACHE_SIZE_KIB = 64 * 1024

# Execution option marking a transaction that will write: on SQLite it starts with
# BEGIN IMMEDIATE so the write lock is taken up front (a deferred transaction that
# reads first and then writes can fail with SQLITE_BUSY without waiting).
WRITE_TRANSACTION_OPTION = "storemon_write_transaction"


class WarehouseUnavailable(RuntimeError):
    """The warehouse database cannot be reached or refused to work (wraps SQLAlchemy's OperationalError)."""


class WarehouseUrlError(ValueError):
    """The warehouse URL is malformed, or names a database or driver storemon does not support.

    Raised before anything connects; callers print its message as it is (one line,
    password masked): the command line as its error, the API as a 503.
    """


SUPPORTED_URL_FORMS = "sqlite:///path/to/file.db or postgresql+psycopg2://user:password@host:5432/database"


def mask_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def validate_database_url(url: str) -> None:
    """Raise WarehouseUrlError unless `url` is a SQLite or a PostgreSQL-with-psycopg2 URL.

    The one place the rule lives: the engine below, the command line and the API all come here.
    """
    try:
        parsed_url = make_url(url)
    except (sa.exc.ArgumentError, ValueError, TypeError):
        # Not echoed: a URL that does not parse cannot be masked, and it may hold a password.
        raise WarehouseUrlError(f"the warehouse URL is malformed (expected {SUPPORTED_URL_FORMS})") from None
    backend = parsed_url.get_backend_name()
    if backend == "sqlite":
        return
    if backend == "postgresql":
        # Bulk load and read go through psycopg2's copy_expert; SQLAlchemy 2.1 maps a bare
        # postgresql:// to psycopg 3 (not installed), so the driver must be named.
        if parsed_url.drivername != "postgresql+psycopg2":
            raise WarehouseUrlError(
                f"warehouse URL {mask_url(url)}: write postgresql+psycopg2:// (storemon's PostgreSQL driver), "
                f"not {parsed_url.drivername}://"
            )
        return
    raise WarehouseUrlError(
        f"unsupported warehouse database {mask_url(url)}: storemon supports SQLite and PostgreSQL "
        f"({SUPPORTED_URL_FORMS})"
    )


def create_warehouse_engine(url: str) -> sa.Engine:
    validate_database_url(url)
    parsed_url = make_url(url)
    if parsed_url.get_backend_name() == "sqlite":
        return _create_sqlite_engine(parsed_url)
    return _create_postgresql_engine(parsed_url)


def _create_sqlite_engine(parsed_url: sa.URL) -> sa.Engine:
    database = parsed_url.database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(parsed_url)

    @sa.event.listens_for(engine, "connect")
    def configure_sqlite_connection(dbapi_connection: sqlite3.Connection, _connection_record) -> None:
        # The driver's own implicit BEGIN is switched off so that the "begin" listener
        # below decides the transaction mode (the SQLAlchemy-documented recipe).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # busy_timeout first: switching to WAL itself needs a lock another process may hold.
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        # Takes effect only in a file that has no table yet (an existing file keeps its mode until
        # a VACUUM): retention then gives freed pages back with PRAGMA incremental_vacuum
        # (warehouse/retention.py) instead of rewriting the whole file.
        cursor.execute("PRAGMA auto_vacuum = INCREMENTAL")
        # WAL: readers never block the single writer, so a report can be read while
        # another process ingests; NORMAL sync is crash-safe in WAL mode (a power loss
        # may lose the last commits, never corrupt the file).
        _switch_to_wal(cursor)
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_SIZE_KIB}")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def begin_sqlite_transaction(conn: sa.Connection) -> None:
        if conn.get_execution_options().get(WRITE_TRANSACTION_OPTION):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")

    return engine


def _switch_to_wal(cursor: sqlite3.Cursor) -> None:
    # Two processes opening a new file at once race to convert it to WAL; SQLite can
    # answer the loser "database is locked" without calling the busy handler, so the
    # wait that busy_timeout would give is done here.
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _create_postgresql_engine(parsed_url: sa.URL) -> sa.Engine:
    # A schema other than public: put `?options=-csearch_path%3Dname` in the URL (the
    # tests do); the COPY and ANALYZE statements of bulk.py then resolve like the rest.
    return sa.create_engine(
        parsed_url,
        client_encoding="utf8",
        # A long-lived Dagster resource outlives server restarts and idle disconnects.
        pool_pre_ping=True,
    )


# -- PostgreSQL databases and schemas, for the production topology and its tests -------------------
# CREATE DATABASE cannot run inside a transaction, and neither statement takes bind parameters
# for a name: the name is quoted by the dialect's identifier preparer, never pasted in raw.


def _execute_ddl(conn: sa.Connection, statement: str) -> None:
    """One DDL statement on the driver's cursor (the connection is in AUTOCOMMIT: no transaction)."""
    with conn.connection.driver_connection.cursor() as cursor:
        cursor.execute(statement)


def _server_url(url: str) -> sa.URL:
    """The same server and user, connected to the `postgres` maintenance database."""
    validate_database_url(url)
    return make_url(url).set(database="postgres", query={})


def create_database_if_missing(url: str) -> bool:
    """Create the PostgreSQL database `url` names when it does not exist; True when it was created."""
    name = make_url(url).database
    engine = sa.create_engine(_server_url(url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            exists = conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}).first()
            if exists:
                return False
            try:
                _execute_ddl(conn, f"CREATE DATABASE {conn.dialect.identifier_preparer.quote(name)}")
            except sa.exc.ProgrammingError as error:
                # Two starts at once: the other one created it first, which is what was wanted.
                if "already exists" not in str(error):
                    raise
                return False
            return True
    except sa.exc.OperationalError as error:
        raise WarehouseUnavailable(f"PostgreSQL {mask_url(url)} unavailable: {str(error.orig).strip()}") from None
    finally:
        engine.dispose()


def drop_database_if_exists(url: str) -> None:
    """Drop the database `url` names, closing its other sessions first (tests' throw-away databases)."""
    name = make_url(url).database
    engine = sa.create_engine(_server_url(url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(
                sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"), {"name": name}
            )
            _execute_ddl(conn, f"DROP DATABASE IF EXISTS {conn.dialect.identifier_preparer.quote(name)}")
    finally:
        engine.dispose()


def create_schema_if_missing(url: str, schema: str) -> None:
    """Create `schema` in the database `url` names (the warehouse's own, beside Dagster's tables)."""
    engine = sa.create_engine(make_url(url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            _execute_ddl(conn, f"CREATE SCHEMA IF NOT EXISTS {conn.dialect.identifier_preparer.quote(schema)}")
    except sa.exc.OperationalError as error:
        raise WarehouseUnavailable(f"PostgreSQL {mask_url(url)} unavailable: {str(error.orig).strip()}") from None
    finally:
        engine.dispose()
