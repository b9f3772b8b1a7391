"""Dialect-specific bulk writes and reads of DataFrames.

Writes, PostgreSQL: a frame of fixed-width columns goes by binary COPY straight
into its table (an upsert tries that first, under a savepoint, and merges only
if a key is stored already). Otherwise binary COPY into TEMP staging tables of
the caller's transaction, then INSERT ... SELECT into the target table (an
upsert is an UPDATE ... FROM of the changed rows plus an INSERT of the missing ones). Text
columns travel as int codes plus one small dictionary table per text column: a
binary payload of fixed-width rows is built by numpy in one step, while per-row
string formatting would cost seconds per million rows; values like store ids and
statuses repeat, so dictionaries stay small.

Writes, SQLite: multi-row INSERT statements run with executemany on the raw DBAPI
cursor of the same transaction, bypassing SQLAlchemy's per-row parameter handling.

Reads return DataFrames with fixed dtypes. Large PostgreSQL reads use
COPY (SELECT ...) TO STDOUT: binary when every column is a fixed-width number
(numpy reads it in place), CSV otherwise (pandas' C parser); both beat building
one Python tuple per row.
"""

from __future__ import annotations

import io
import itertools
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

SQLITE_BATCH_ROWS = 100_000
SQLITE_ROWS_PER_INSERT = 1_000

# PostgreSQL binary COPY framing (COPY reference, "Binary Format"): signature,
# int32 flags, int32 header-extension length; rows; int16 -1.
_PG_COPY_BINARY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
_PG_COPY_BINARY_HEADER = _PG_COPY_BINARY_SIGNATURE + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
_PG_COPY_BINARY_TRAILER = (-1).to_bytes(2, "big", signed=True)

# COPY TEXT format escapes. NUL cannot be stored in a PostgreSQL TEXT value at all,
# so it is dropped there (SQLite keeps it: the value round-trips unchanged).
_PG_COPY_TEXT_ESCAPES = str.maketrans({"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\x00": ""})


@dataclass(frozen=True)
class TextCodes:
    """A text column as codes into `values` (code -1 is NULL)."""

    codes: np.ndarray  # int64
    values: np.ndarray  # object array of distinct str, sorted like Python sorts str


EncodedColumn = TextCodes | np.ndarray


@dataclass(frozen=True)
class EncodedFrame:
    """Rows destined for `table`, one array per column, typed to the column's SQL type."""

    table: sa.Table
    columns: dict[str, EncodedColumn]
    n_rows: int

    def with_constant(self, name: str, value: int) -> EncodedFrame:
        constant = encode_fixed_column(self.table.c[name], pd.Series(np.full(self.n_rows, value, dtype=np.int64)))
        return EncodedFrame(self.table, {**self.columns, name: constant}, self.n_rows)


def numpy_dtype_for(column_type: sa.types.TypeEngine) -> np.dtype:
    # Subclasses before their bases: BigInteger and SmallInteger are Integers.
    if isinstance(column_type, sa.Boolean):
        return np.dtype(np.bool_)
    if isinstance(column_type, sa.BigInteger):
        return np.dtype(np.int64)
    if isinstance(column_type, sa.SmallInteger):
        return np.dtype(np.int16)
    if isinstance(column_type, sa.Integer):
        return np.dtype(np.int32)
    if isinstance(column_type, sa.Float):
        return np.dtype(np.float64)
    raise TypeError(f"no fixed-width encoding for {column_type!r}")


def encode_text_column(series: pd.Series) -> TextCodes:
    # Codes in Python's str order, which is also the order of both dialects (byte-order
    # collation), so sorting codes sorts the strings.
    if isinstance(series.dtype, pd.CategoricalDtype):
        # Already factorized (a parsed pings file): only the categories in use, ranked.
        codes = series.cat.codes.to_numpy().astype(np.int64)
        categories = series.cat.categories.to_numpy(dtype=object)
        used = np.flatnonzero(np.bincount(codes[codes >= 0], minlength=len(categories)))
        used = used[np.argsort(categories[used])]
        rank = np.full(len(categories) + 1, -1, dtype=np.int64)  # the last: code -1 (NULL) stays -1
        rank[used] = np.arange(len(used))
        return TextCodes(rank[codes], np.array([str(value) for value in categories[used]], dtype=object))
    # Via an object ndarray: about 30 % faster than factorizing pandas' str array itself.
    codes, distinct = pd.factorize(series.to_numpy(dtype=object), sort=True)
    values = np.array([value if isinstance(value, str) else str(value) for value in distinct], dtype=object)
    return TextCodes(codes.astype(np.int64, copy=False), values)


def encode_fixed_column(column: sa.Column, series: pd.Series) -> np.ndarray:
    """`series` as the numpy dtype of the column's SQL type; ValueError if a value does not fit."""
    target_dtype = numpy_dtype_for(column.type)
    where = f"{column.table.name}.{column.name}"
    if series.isna().any():
        raise ValueError(f"{where}: missing values are not allowed")
    if target_dtype.kind == "b":
        if series.dtype.kind == "b" or str(series.dtype) == "boolean":
            return series.to_numpy(dtype=bool)
        values = series.to_numpy()
        if values.dtype.kind in "iu" and np.isin(values, (0, 1)).all():
            return values.astype(bool)
        raise ValueError(f"{where}: expected booleans, got dtype {series.dtype}")
    if target_dtype.kind == "f":
        return series.to_numpy(dtype=np.float64)
    values = series.to_numpy()
    if values.dtype.kind == "f":
        if not np.array_equal(values, np.trunc(values)):
            raise ValueError(f"{where}: expected whole numbers")
    elif values.dtype.kind not in "iub":
        raise ValueError(f"{where}: expected integers, got dtype {series.dtype}")
    as_int64 = values.astype(np.int64)
    bounds = np.iinfo(target_dtype)
    if len(as_int64) and (as_int64.min() < bounds.min or as_int64.max() > bounds.max):
        raise ValueError(f"{where}: value outside the {target_dtype} range of the column")
    return as_int64.astype(target_dtype)


def encode_frame(table: sa.Table, frame: pd.DataFrame, column_names: Sequence[str]) -> EncodedFrame:
    """Check and convert `frame[column_names]` to the SQL types of `table` (ValueError if they don't fit)."""
    missing = [name for name in column_names if name not in frame.columns]
    if missing:
        raise ValueError(f"{table.name}: DataFrame lacks columns {missing}")
    columns: dict[str, EncodedColumn] = {}
    for name in column_names:
        column = table.c[name]
        if isinstance(column.type, sa.String):
            columns[name] = encode_text_column(frame[name])
        else:
            columns[name] = encode_fixed_column(column, frame[name])
    return EncodedFrame(table, columns, len(frame))


# Turns SQLite's dialect INSERT into an upsert.
OnConflict = Callable[[Any], Any]


@contextmanager
def raw_cursor(conn: sa.Connection, purpose: str) -> Iterator[Any]:
    """A DBAPI cursor in `conn`'s transaction, for COPY and executemany without SQLAlchemy's per-row work.

    Driver errors come out as SQLAlchemy's (IntegrityError, OperationalError, ...),
    as they would from conn.execute; `purpose` stands in for the statement in the
    message (the real one can be megabytes long).
    """
    dbapi = conn.dialect.loaded_dbapi
    dbapi_connection = conn.connection.dbapi_connection
    cursor = dbapi_connection.cursor()
    try:
        yield cursor
    except dbapi.Error as error:
        disconnected = conn.dialect.is_disconnect(error, dbapi_connection, cursor)
        if disconnected:
            conn.invalidate(error)
        raise sa.exc.DBAPIError.instance(
            purpose, None, error, dbapi.Error, connection_invalidated=disconnected, dialect=conn.dialect
        ) from error
    finally:
        cursor.close()


def _replace_on_conflict(key_columns: Sequence[str], update_columns: Sequence[str]) -> OnConflict:
    def upsert(insert_stmt):
        excluded = insert_stmt.excluded
        table = insert_stmt.table
        return insert_stmt.on_conflict_do_update(
            index_elements=list(key_columns),
            set_={name: excluded[name] for name in update_columns},
            # Unchanged rows are not rewritten (no page writes).
            where=sa.or_(*(table.c[name].is_distinct_from(excluded[name]) for name in update_columns)),
        )

    return upsert


def bulk_insert(conn: sa.Connection, frame: EncodedFrame) -> None:
    """Insert every row of `frame` in the connection's transaction."""
    if frame.n_rows == 0:
        return
    dialect_name = conn.dialect.name
    if dialect_name == "postgresql":
        copyable = _copyable_into_table(frame)
        if copyable is not None:
            _copy_into_table(conn, copyable)
            return
        with _staged_postgresql(conn, frame) as incoming:
            conn.execute(sa.insert(frame.table).from_select(list(frame.columns), incoming))
    elif dialect_name == "sqlite":
        _executemany_insert_sqlite(conn, frame, None)
    else:
        raise NotImplementedError(f"bulk insert for dialect {dialect_name}")


def bulk_upsert(
    conn: sa.Connection,
    frame: EncodedFrame,
    *,
    key_columns: Sequence[str],
    update_columns: Sequence[str],
    range_column: str | None = None,
) -> None:
    """Insert the rows of `frame`; where a row with the same key exists, the incoming values win.

    `frame` must hold each key once (PostgreSQL refuses to touch a row twice).
    `range_column`, a key column, lets PostgreSQL look only at stored rows whose
    value lies within the incoming rows' range (an hourly file of recent pings
    then touches the newest index pages only).
    """
    if frame.n_rows == 0:
        return
    dialect_name = conn.dialect.name
    if dialect_name == "sqlite":
        # SQLite's native upsert costs about what a plain insert does.
        _executemany_insert_sqlite(conn, frame, _replace_on_conflict(key_columns, update_columns))
    elif dialect_name == "postgresql":
        _upsert_postgresql(conn, frame, key_columns, update_columns, range_column)
    else:
        raise NotImplementedError(f"bulk upsert for dialect {dialect_name}")


def lock_table_for_writing(conn: sa.Connection, table: sa.Table) -> None:
    """Until the transaction ends, no other transaction writes `table`; readers pass.

    SQLite needs nothing: its write transactions (BEGIN IMMEDIATE) are already one at a time.
    """
    if conn.dialect.name == "postgresql":
        with raw_cursor(conn, f"lock table {table.name}") as cursor:
            cursor.execute(f"LOCK TABLE {_pg_quoted(conn, table.name)} IN SHARE ROW EXCLUSIVE MODE")


def lock_until_commit(conn: sa.Connection, namespace: int, key: int) -> None:
    """Until the transaction ends, no other transaction takes the lock of (namespace, key).

    PostgreSQL: a transaction-scoped advisory lock on two int4 keys (key folded into 32 bits:
    a collision only makes two unrelated writers wait for each other). SQLite needs nothing:
    its write transactions (BEGIN IMMEDIATE) are already one at a time.
    """
    if conn.dialect.name == "postgresql":
        folded = (int(key) ^ (int(key) >> 32)) & 0xFFFFFFFF
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(int(namespace), folded - (1 << 31))))


# Memory for the hash joins of one upsert: millions of incoming keys against the
# stored ones spill to disk in many batches with the 4 MB default.
_PG_UPSERT_WORK_MEM = "256MB"


def _upsert_postgresql(
    conn: sa.Connection,
    frame: EncodedFrame,
    key_columns: Sequence[str],
    update_columns: Sequence[str],
    range_column: str | None,
) -> None:
    # INSERT ... ON CONFLICT inserts every row speculatively (extra WAL records and
    # no bulk path): measured 4 times slower than a plain INSERT for 3 M pings. So:
    # update the rows that exist and differ, then plainly insert the missing ones.
    # That is only correct with one writer of the table at a time.
    target = frame.table
    lock_table_for_writing(conn, target)
    if _copied_if_all_keys_new(conn, frame):
        return
    conn.execute(sa.select(sa.func.set_config("work_mem", _PG_UPSERT_WORK_MEM, True)))  # SET LOCAL
    stored_in_range = sa.true()
    if range_column is not None:
        incoming_range = frame.columns[range_column]
        stored_in_range = target.c[range_column].between(int(incoming_range.min()), int(incoming_range.max()))
    with _staged_postgresql(conn, frame) as incoming_select:
        incoming = incoming_select.subquery("incoming")
        same_key = sa.and_(stored_in_range, *(target.c[name] == incoming.c[name] for name in key_columns))
        if update_columns:
            conn.execute(
                sa.update(target)
                .where(same_key)
                .where(sa.or_(*(target.c[name].is_distinct_from(incoming.c[name]) for name in update_columns)))
                .values({name: incoming.c[name] for name in update_columns})
            )
        missing = sa.select(*(incoming.c[name] for name in frame.columns)).where(~sa.exists().where(same_key))
        conn.execute(sa.insert(target).from_select(list(frame.columns), missing))


_PG_UNIQUE_VIOLATION = "23505"


def _copyable_into_table(frame: EncodedFrame) -> EncodedFrame | None:
    """`frame` with its columns in table order, if binary COPY can take it straight into the table.

    That needs every column of the table, each fixed-width (text travels as codes plus a
    dictionary, which only the staged path joins back).
    """
    names = [column.name for column in frame.table.columns]
    if set(frame.columns) != set(names) or any(isinstance(c, TextCodes) for c in frame.columns.values()):
        return None
    return EncodedFrame(frame.table, {name: frame.columns[name] for name in names}, frame.n_rows)


def _copy_into_table(conn: sa.Connection, frame: EncodedFrame) -> None:
    copy_sql = f"COPY {_pg_quoted(conn, frame.table.name)} FROM STDIN WITH (FORMAT binary)"
    with raw_cursor(conn, f"copy into {frame.table.name}") as cursor:
        cursor.copy_expert(copy_sql, io.BytesIO(_pg_binary_copy_payload(frame)))


def _copied_if_all_keys_new(conn: sa.Connection, frame: EncodedFrame) -> bool:
    """COPY the rows straight into the table, unless one of their keys is stored already (then: nothing, False).

    Most loads only add keys (the next hour of pings, a first load), and a plain COPY into
    the table measured 2.2 s against 4.7 s for INSERT ... SELECT from a staged copy (2.4 M
    pings). A stored key makes the COPY fail; the savepoint then undoes it and the caller
    merges instead.
    """
    copyable = _copyable_into_table(frame)
    if copyable is None:
        return False
    try:
        with conn.begin_nested():
            _copy_into_table(conn, copyable)
    except sa.exc.IntegrityError as error:
        if getattr(error.orig, "pgcode", None) != _PG_UNIQUE_VIOLATION:
            raise
        return False
    return True


# -- SQLite writes ------------------------------------------------------------------


@dataclass(frozen=True)
class _SqliteInsert:
    """An INSERT (or upsert) compiled for one row, and its columns in `?` order."""

    one_row_sql: str
    names: list[str]

    @property
    def placeholders(self) -> str:
        return "(" + ", ".join(["?"] * len(self.names)) + ")"

    def sql(self, n_rows: int) -> str:
        """The statement for n_rows rows: its one group of `?` repeated."""
        group = self.placeholders
        return self.one_row_sql.replace(group, ", ".join([group] * n_rows), 1)


def _sqlite_insert(conn: sa.Connection, table: sa.Table, names: list[str], on_conflict: OnConflict | None) -> _SqliteInsert:
    """SQLAlchemy compiles the statement for one row; multi-row statements repeat its VALUES group.

    Compiling an n-row statement itself (a bound parameter per value) took 0.1-0.2 s per
    table written, more than SQLite took to insert the rows.
    """
    statement = sqlite.insert(table).values({name: sa.bindparam(name) for name in names})
    if on_conflict is not None:
        statement = on_conflict(statement)
    compiled = statement.compile(dialect=conn.dialect)
    insert = _SqliteInsert(compiled.string, list(compiled.positiontup or ()))
    if sorted(insert.names) != sorted(names) or compiled.string.count("?") != len(names) \
            or compiled.string.count(insert.placeholders) != 1:
        raise AssertionError(f"unexpected SQLite INSERT for {table.name}: {compiled.string}")
    return insert


def _executemany_insert_sqlite(conn: sa.Connection, frame: EncodedFrame, on_conflict: OnConflict | None) -> None:
    insert = _sqlite_insert(conn, frame.table, list(frame.columns), on_conflict)
    names = insert.names
    dbapi_connection = conn.connection.dbapi_connection
    # Multi-row VALUES: per-statement overhead, not binding, dominates executemany of
    # one-row INSERTs (1000-row statements load about 2.5 times faster).
    max_variables = dbapi_connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    rows_per_statement = max(1, min(SQLITE_ROWS_PER_INSERT, max_variables // len(names)))

    per_column_values: list[np.ndarray] = []
    for name in names:
        column = frame.columns[name]
        if isinstance(column, TextCodes):
            # Appending None makes code -1 (NULL) index it, so NULLs reach SQLite as NULL.
            per_column_values.append(np.append(column.values, None)[column.codes])
        else:
            per_column_values.append(column)

    statements: dict[int, str] = {}
    with raw_cursor(conn, f"multi-row insert into {frame.table.name}") as cursor:
        for batch_start in range(0, frame.n_rows, SQLITE_BATCH_ROWS):
            batch = slice(batch_start, batch_start + SQLITE_BATCH_ROWS)
            n_batch_rows = len(per_column_values[0][batch])
            batch_values = np.empty((n_batch_rows, len(names)), dtype=object)
            for column, values in enumerate(per_column_values):
                # tolist(): sqlite3 binds Python ints/bools/floats, not numpy scalars.
                batch_values[:, column] = values[batch].tolist()
            n_full = n_batch_rows // rows_per_statement * rows_per_statement
            for start, stop, n_statement_rows in (
                (0, n_full, rows_per_statement),
                (n_full, n_batch_rows, n_batch_rows - n_full),
            ):
                if stop <= start:
                    continue
                if n_statement_rows not in statements:
                    statements[n_statement_rows] = insert.sql(n_statement_rows)
                per_statement = batch_values[start:stop].reshape(-1, n_statement_rows * len(names))
                cursor.executemany(statements[n_statement_rows], per_statement.tolist())


# -- PostgreSQL writes --------------------------------------------------------------

_STAGING_SEQUENCE = itertools.count()


def _pg_quoted(conn: sa.Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)


@contextmanager
def _staged_postgresql(conn: sa.Connection, frame: EncodedFrame) -> Iterator[sa.Select]:
    """COPY `frame` into TEMP tables of this transaction; yields a SELECT of its rows as the target's columns."""
    staging_id = next(_STAGING_SEQUENCE)
    staging_metadata = sa.MetaData()
    staging_columns = []
    dictionaries: dict[str, sa.Table] = {}
    for name, column in frame.columns.items():
        if isinstance(column, TextCodes):
            staging_columns.append(sa.Column(name, sa.Integer))
            dictionaries[name] = sa.Table(
                f"storemon_staging_{staging_id}_{name}_values",
                staging_metadata,
                sa.Column("code", sa.Integer, primary_key=True),
                sa.Column("value", sa.Text, nullable=False),
                prefixes=["TEMPORARY"],
                postgresql_on_commit="DROP",
            )
        else:
            staging_columns.append(sa.Column(name, frame.table.c[name].type))
    staging = sa.Table(
        f"storemon_staging_{staging_id}_{frame.table.name}",
        staging_metadata,
        *staging_columns,
        prefixes=["TEMPORARY"],
        postgresql_on_commit="DROP",
    )
    staging_metadata.create_all(conn)

    with raw_cursor(conn, f"copy into {staging.name}") as cursor:
        cursor.copy_expert(
            f"COPY {_pg_quoted(conn, staging.name)} FROM STDIN WITH (FORMAT binary)",
            io.BytesIO(_pg_binary_copy_payload(frame)),
        )
        for name, dictionary in dictionaries.items():
            cursor.copy_expert(
                f"COPY {_pg_quoted(conn, dictionary.name)} (code, value) FROM STDIN WITH (FORMAT text)",
                io.BytesIO(_pg_text_copy_payload(frame.columns[name].values)),
            )
        # Temp tables have no statistics (autovacuum never sees them); without them
        # the planner guesses row counts and may nested-loop the joins.
        for table in (staging, *dictionaries.values()):
            cursor.execute(f"ANALYZE {_pg_quoted(conn, table.name)}")

    source = staging
    selected = []
    for name in frame.columns:
        if name in dictionaries:
            dictionary = dictionaries[name]
            # Outer join: code -1 (NULL) finds no value, stays NULL and meets the NOT NULL constraint.
            source = source.outerjoin(dictionary, dictionary.c.code == staging.c[name])
            selected.append(dictionary.c.value.label(name))
        else:
            selected.append(staging.c[name])
    yield sa.select(*selected).select_from(source)
    # Dropped now, not at commit: one transaction may stage several frames.
    staging_metadata.drop_all(conn)


def _pg_binary_copy_payload(frame: EncodedFrame) -> bytes:
    """COPY BINARY rows of fixed width: text columns travel as int4 codes; no field is NULL."""
    fields: list[tuple[np.dtype, np.ndarray]] = []
    for column in frame.columns.values():
        if isinstance(column, TextCodes):
            fields.append((np.dtype(">i4"), column.codes))
        elif column.dtype == np.bool_:
            fields.append((np.dtype("u1"), column))
        else:
            fields.append((column.dtype.newbyteorder(">"), column))
    records = np.empty(frame.n_rows, dtype=_pg_binary_record_dtype([dtype for dtype, _ in fields]))
    records["field_count"] = len(fields)
    for index, (dtype, values) in enumerate(fields):
        records[f"length_{index}"] = dtype.itemsize
        records[f"value_{index}"] = values
    return _PG_COPY_BINARY_HEADER + records.tobytes() + _PG_COPY_BINARY_TRAILER


def _pg_binary_record_dtype(field_dtypes: Sequence[np.dtype]) -> np.dtype:
    layout: list[tuple[str, Any]] = [("field_count", ">i2")]
    for index, dtype in enumerate(field_dtypes):
        layout += [(f"length_{index}", ">i4"), (f"value_{index}", dtype)]
    return np.dtype(layout)


def _pg_text_copy_payload(values: Iterable[str]) -> bytes:
    lines = [f"{code}\t{value.translate(_PG_COPY_TEXT_ESCAPES)}\n" for code, value in enumerate(values)]
    # A lone surrogate (undecodable input smuggled through) is not valid UTF-8; replace it.
    return "".join(lines).encode("utf-8", errors="replace")


# -- reads --------------------------------------------------------------------------

Dtypes = Mapping[str, "str | np.dtype | type"]


def empty_frame(dtypes: Dtypes) -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series([], dtype=dtype) for name, dtype in dtypes.items()})


def _is_text_dtype(dtype) -> bool:
    return isinstance(dtype, str) and dtype == "str"


def read_frame(conn: sa.Connection, query: sa.Select, dtypes: Dtypes, *, large: bool = False) -> pd.DataFrame:
    """Run `query` (selecting, in order, the columns named by `dtypes`) into a typed DataFrame.

    large=True on PostgreSQL reads through COPY, which takes no bound parameters: the
    query's parameters are rendered as literals, so they must all be ints.
    """
    if conn.dialect.name == "postgresql" and large:
        if any(_is_text_dtype(dtype) for dtype in dtypes.values()):
            return _read_frame_postgresql_csv_copy(conn, query, dtypes)
        return _read_frame_postgresql_binary_copy(conn, query, dtypes)
    if conn.dialect.name == "sqlite":
        return _read_frame_sqlite(conn, query, dtypes)
    return _frame_from_rows(conn.execute(query).all(), dtypes)


def _frame_from_rows(rows: Sequence[Sequence[Any]], dtypes: Dtypes) -> pd.DataFrame:
    if not rows:
        return empty_frame(dtypes)
    columns = zip(*rows)
    data = {}
    for (name, dtype), values in zip(dtypes.items(), columns):
        data[name] = pd.array(values, dtype="str") if _is_text_dtype(dtype) else np.array(values, dtype=dtype)
    return pd.DataFrame(data, columns=list(dtypes))


def _read_frame_sqlite(conn: sa.Connection, query: sa.Select, dtypes: Dtypes) -> pd.DataFrame:
    # Raw cursor, chunked: SQLAlchemy's per-row result processing doubles the cost of
    # big reads, and converting every chunk at once keeps millions of row tuples from
    # piling up (the garbage collector rescans all live tuples again and again).
    # render_postcompile: an IN (...) list becomes its own parameters here, as execute() would do.
    compiled = query.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    parameters = tuple(compiled.params[key] for key in compiled.positiontup or ())
    # Integer/boolean rows become one 2-D int64 array per chunk.
    all_integer = all(not _is_text_dtype(dtype) and np.dtype(dtype).kind in "iub" for dtype in dtypes.values())
    chunks: list[Any] = []
    with raw_cursor(conn, compiled.string) as cursor:
        cursor.execute(compiled.string, parameters)
        while rows := cursor.fetchmany(SQLITE_BATCH_ROWS):
            if all_integer:
                # fromiter over the flattened tuples: about 3 times faster than np.array(rows).
                flat = np.fromiter(itertools.chain.from_iterable(rows), dtype=np.int64, count=len(rows) * len(dtypes))
                chunks.append(flat.reshape(len(rows), len(dtypes)))
            else:
                chunks.append(_frame_from_rows(rows, dtypes))
    if not chunks:
        return empty_frame(dtypes)
    if not all_integer:
        return pd.concat(chunks, ignore_index=True) if len(chunks) > 1 else chunks[0]
    table = np.concatenate(chunks)
    return pd.DataFrame({name: table[:, index].astype(dtype) for index, (name, dtype) in enumerate(dtypes.items())})


def _literal_copy_sql(conn: sa.Connection, query: sa.Select, copy_options: str) -> str:
    compiled = query.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    for key, value in compiled.params.items():
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
            raise TypeError(f"COPY read: parameter {key}={value!r} is not an int")
    literal_sql = str(query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    # psycopg2's paramstyle makes the compiler write the modulo operator as %%; COPY's SQL goes
    # to the server as is (no parameters are interpolated), so it must read %.
    literal_sql = literal_sql.replace("%%", "%")
    return f"COPY ({literal_sql}) TO STDOUT WITH ({copy_options})"


def _read_frame_postgresql_binary_copy(conn: sa.Connection, query: sa.Select, dtypes: Dtypes) -> pd.DataFrame:
    """Every selected column is a NOT NULL fixed-width number: each row has the same byte layout."""
    sql_dtypes = [numpy_dtype_for(column.type) for column in query.selected_columns]
    wire_dtypes = [np.dtype("u1") if dtype == np.bool_ else dtype.newbyteorder(">") for dtype in sql_dtypes]
    buffer = io.BytesIO()
    copy_sql = _literal_copy_sql(conn, query, "FORMAT binary")
    with raw_cursor(conn, copy_sql) as cursor:
        cursor.copy_expert(copy_sql, buffer)
    payload = buffer.getbuffer()
    header_extension_length = int.from_bytes(payload[15:19], "big")
    body = payload[19 + header_extension_length : len(payload) - len(_PG_COPY_BINARY_TRAILER)]
    records = np.frombuffer(body, dtype=_pg_binary_record_dtype(wire_dtypes))
    for index, dtype in enumerate(wire_dtypes):
        if len(records) and not (records[f"length_{index}"] == dtype.itemsize).all():
            raise ValueError(f"COPY read: column {index} is NULL or not {dtype} in some row")
    return pd.DataFrame(
        {name: records[f"value_{index}"].astype(dtype) for index, (name, dtype) in enumerate(dtypes.items())}
    )


def _read_frame_postgresql_csv_copy(conn: sa.Connection, query: sa.Select, dtypes: Dtypes) -> pd.DataFrame:
    buffer = io.BytesIO()
    copy_sql = _literal_copy_sql(conn, query, "FORMAT csv")
    with raw_cursor(conn, copy_sql) as cursor:
        cursor.copy_expert(copy_sql, buffer)
    if buffer.tell() == 0:
        return empty_frame(dtypes)
    buffer.seek(0)
    bool_names = [name for name, dtype in dtypes.items() if not _is_text_dtype(dtype) and np.dtype(dtype) == np.bool_]
    frame = pd.read_csv(
        buffer,
        header=None,
        names=list(dtypes),
        dtype={name: dtype for name, dtype in dtypes.items() if name not in bool_names},
        # Columns read here are NOT NULL: '' and 'NA' are values, never missing.
        na_filter=False,
        true_values=["t"],
        false_values=["f"],
        encoding="utf-8",
    )
    for name in bool_names:
        frame[name] = frame[name].astype(bool)
    return frame
