"""Dialect-specific bulk writes and reads of DataFrames.

PostgreSQL: rows go in with binary COPY into a TEMP staging table, then one
INSERT ... SELECT (optionally ON CONFLICT DO UPDATE) moves them into the target
table. Text columns are sent as int codes into the staging table plus one small
dictionary table per text column, because building a binary or CSV payload of
millions of Python strings costs far more than COPYing their codes; store ids and
statuses repeat millions of times but have few distinct values.

SQLite: one executemany of the compiled INSERT on the raw DBAPI cursor of the
same transaction, in batches, bypassing SQLAlchemy's per-row parameter handling.

Reads return DataFrames with fixed dtypes; large PostgreSQL reads use
COPY (SELECT ...) TO STDOUT as CSV, which pandas parses much faster than
psycopg2 builds tuples.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

SQLITE_EXECUTEMANY_BATCH_ROWS = 100_000

# PostgreSQL binary COPY framing (documented in the COPY reference, "Binary Format").
_PG_COPY_BINARY_HEADER = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
_PG_COPY_BINARY_TRAILER = (-1).to_bytes(2, "big", signed=True)

# COPY TEXT format escapes; NUL cannot be stored in a PostgreSQL TEXT value at all,
# so it is dropped (SQLite keeps it: there the value round-trips unchanged).
_PG_COPY_TEXT_ESCAPES = str.maketrans({"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\x00": ""})


@dataclass(frozen=True)
class TextCodes:
    """A text column as codes into `values` (code -1 is NULL)."""

    codes: np.ndarray  # int64
    values: np.ndarray  # object array of distinct str


EncodedColumn = TextCodes | np.ndarray


@dataclass(frozen=True)
class EncodedFrame:
    """Rows destined for `table`, one array per column, typed to the column's SQL type."""

    table: sa.Table
    columns: dict[str, EncodedColumn]
    n_rows: int

    def take(self, row_indexer: np.ndarray) -> EncodedFrame:
        taken: dict[str, EncodedColumn] = {}
        for name, column in self.columns.items():
            if isinstance(column, TextCodes):
                taken[name] = TextCodes(column.codes[row_indexer], column.values)
            else:
                taken[name] = column[row_indexer]
        n_rows = int(np.count_nonzero(row_indexer)) if row_indexer.dtype == bool else len(row_indexer)
        return EncodedFrame(self.table, taken, n_rows)

    def with_constant(self, name: str, value: int) -> EncodedFrame:
        constant = _encode_fixed(self.table.c[name], pd.Series(np.full(self.n_rows, value, dtype=np.int64)))
        return EncodedFrame(self.table, {**self.columns, name: constant}, self.n_rows)


def _is_text(column: sa.Column) -> bool:
    return isinstance(column.type, sa.String)


def _numpy_dtype_for(column: sa.Column) -> np.dtype:
    column_type = column.type
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
    raise TypeError(f"no bulk encoding for {column.table.name}.{column.name} of type {column_type!r}")


def _encode_text(series: pd.Series) -> TextCodes:
    # sort=True: codes order like Python str order, which is the primary-key order of
    # both dialects (byte-order collation), so sorting codes sorts the strings.
    codes, distinct = pd.factorize(series, sort=True)
    values = np.array([value if isinstance(value, str) else str(value) for value in distinct], dtype=object)
    return TextCodes(codes.astype(np.int64, copy=False), values)


def _encode_fixed(column: sa.Column, series: pd.Series) -> np.ndarray:
    target_dtype = _numpy_dtype_for(column)
    where = f"{column.table.name}.{column.name}"
    if series.isna().any():
        raise ValueError(f"{where}: missing values are not allowed")
    if target_dtype.kind == "b":
        if series.dtype.kind == "b" or str(series.dtype) == "boolean":
            return series.to_numpy(dtype=bool)
        as_int = series.to_numpy()
        if as_int.dtype.kind in "iu" and np.isin(as_int, (0, 1)).all():
            return as_int.astype(bool)
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
        series = frame[name]
        columns[name] = _encode_text(series) if _is_text(column) else _encode_fixed(column, series)
    return EncodedFrame(table, columns, len(frame))


def _conflict_upsert(insert_stmt, conflict_columns: Sequence[str], update_columns: Sequence[str]):
    """ON CONFLICT DO UPDATE that skips rows whose values are unchanged (no dead tuples, no WAL)."""
    excluded = insert_stmt.excluded
    changed = sa.or_(*(insert_stmt.table.c[name].is_distinct_from(excluded[name]) for name in update_columns))
    return insert_stmt.on_conflict_do_update(
        index_elements=list(conflict_columns),
        set_={name: excluded[name] for name in update_columns},
        where=changed,
    )


def bulk_insert(
    conn: sa.Connection,
    frame: EncodedFrame,
    *,
    conflict_columns: Sequence[str] = (),
    update_columns: Sequence[str] = (),
) -> None:
    """Insert every row of `frame`; with conflict_columns, upsert (later rows replace stored ones)."""
    if frame.n_rows == 0:
        return
    dialect_name = conn.dialect.name
    if dialect_name == "postgresql":
        _copy_insert_postgresql(conn, frame, conflict_columns, update_columns)
    elif dialect_name == "sqlite":
        _executemany_insert_sqlite(conn, frame, conflict_columns, update_columns)
    else:
        raise NotImplementedError(f"bulk insert for dialect {dialect_name}")


def _executemany_insert_sqlite(
    conn: sa.Connection, frame: EncodedFrame, conflict_columns: Sequence[str], update_columns: Sequence[str]
) -> None:
    names = list(frame.columns)
    statement = sqlite.insert(frame.table)
    if conflict_columns:
        statement = _conflict_upsert(statement, conflict_columns, update_columns)
    compiled = statement.compile(dialect=conn.dialect, column_keys=names)
    parameter_order = [names.index(key) for key in compiled.positiontup]

    per_column_values: list[np.ndarray] = []
    for name in names:
        column = frame.columns[name]
        if isinstance(column, TextCodes):
            # Appending None makes code -1 (NULL) index it, so NULLs reach SQLite as NULL.
            per_column_values.append(np.append(column.values, None)[column.codes])
        else:
            per_column_values.append(column)
    ordered = [per_column_values[index] for index in parameter_order]

    cursor = conn.connection.dbapi_connection.cursor()
    try:
        for batch_start in range(0, frame.n_rows, SQLITE_EXECUTEMANY_BATCH_ROWS):
            batch = slice(batch_start, batch_start + SQLITE_EXECUTEMANY_BATCH_ROWS)
            # tolist(): sqlite3 binds Python ints/bools/floats, not numpy scalars.
            cursor.executemany(compiled.string, zip(*(values[batch].tolist() for values in ordered)))
    finally:
        cursor.close()


_STAGING_SEQUENCE = itertools.count()


def _pg_quoted(conn: sa.Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)


def _copy_insert_postgresql(
    conn: sa.Connection, frame: EncodedFrame, conflict_columns: Sequence[str], update_columns: Sequence[str]
) -> None:
    dbapi_connection = conn.connection.dbapi_connection
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

    with dbapi_connection.cursor() as cursor:
        cursor.copy_expert(
            f"COPY {_pg_quoted(conn, staging.name)} FROM STDIN WITH (FORMAT binary)",
            io.BytesIO(_pg_binary_copy_payload(frame)),
        )
        for name, dictionary in dictionaries.items():
            cursor.copy_expert(
                f"COPY {_pg_quoted(conn, dictionary.name)} (code, value) FROM STDIN WITH (FORMAT text)",
                io.BytesIO(_pg_text_copy_payload(frame.columns[name].values)),
            )
        # Temp tables have no statistics; without them the planner may nested-loop the joins.
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
    statement = postgresql.insert(frame.table).from_select(list(frame.columns), sa.select(*selected).select_from(source))
    if conflict_columns:
        statement = _conflict_upsert(statement, conflict_columns, update_columns)
    conn.execute(statement)
    staging_metadata.drop_all(conn)


def _pg_binary_copy_payload(frame: EncodedFrame) -> bytes:
    """COPY BINARY rows of fixed width: text columns travel as int4 codes, nothing is NULL here."""
    fields: list[tuple[str, np.dtype, np.ndarray]] = []
    for name, column in frame.columns.items():
        if isinstance(column, TextCodes):
            fields.append((name, np.dtype(">i4"), column.codes))
        elif column.dtype == np.bool_:
            fields.append((name, np.dtype("u1"), column))
        else:
            fields.append((name, column.dtype.newbyteorder(">"), column))
    record_dtype = np.dtype(
        [("field_count", ">i2")]
        + [item for index, (_, dtype, _) in enumerate(fields) for item in ((f"length_{index}", ">i4"), (f"value_{index}", dtype))]
    )
    records = np.empty(frame.n_rows, dtype=record_dtype)
    records["field_count"] = len(fields)
    for index, (_, dtype, values) in enumerate(fields):
        records[f"length_{index}"] = dtype.itemsize
        records[f"value_{index}"] = values
    return _PG_COPY_BINARY_HEADER + records.tobytes() + _PG_COPY_BINARY_TRAILER


def _pg_text_copy_payload(values: Iterable[str]) -> bytes:
    lines = [f"{code}\t{value.translate(_PG_COPY_TEXT_ESCAPES)}\n" for code, value in enumerate(values)]
    # A lone surrogate (undecodable input smuggled through) is not valid UTF-8; replace it.
    return "".join(lines).encode("utf-8", errors="replace")


def read_frame(
    conn: sa.Connection,
    query: sa.Select,
    dtypes: Mapping[str, str | np.dtype],
    *,
    use_copy_on_postgresql: bool = False,
) -> pd.DataFrame:
    """Run `query` (its selected column names = dtypes' keys, in order) and return a typed DataFrame.

    use_copy_on_postgresql requires every bound parameter of `query` to be an int:
    COPY takes no parameters, so they are rendered as literals.
    """
    names = list(dtypes)
    if conn.dialect.name == "postgresql" and use_copy_on_postgresql:
        return _read_frame_postgresql_copy(conn, query, names, dtypes)
    if conn.dialect.name == "sqlite":
        # Raw cursor: SQLAlchemy's per-row result processing doubles the cost of big reads.
        compiled = query.compile(dialect=conn.dialect)
        parameters = tuple(compiled.params[key] for key in compiled.positiontup)
        cursor = conn.connection.dbapi_connection.cursor()
        try:
            rows = cursor.execute(compiled.string, parameters).fetchall()
        finally:
            cursor.close()
    else:
        rows = conn.execute(query).all()
    return _typed_frame_from_rows(rows, names, dtypes)


def _typed_frame_from_rows(rows: list, names: list[str], dtypes: Mapping[str, str | np.dtype]) -> pd.DataFrame:
    if not rows:
        return empty_frame(dtypes)
    columns = list(zip(*rows))
    data = {}
    for name, values in zip(names, columns):
        dtype = dtypes[name]
        if dtype == "str":
            data[name] = pd.array(values, dtype="str")
        else:
            data[name] = np.array(values, dtype=dtype)
    return pd.DataFrame(data, columns=names)


def empty_frame(dtypes: Mapping[str, str | np.dtype]) -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series([], dtype=dtype) for name, dtype in dtypes.items()})


def _read_frame_postgresql_copy(
    conn: sa.Connection, query: sa.Select, names: list[str], dtypes: Mapping[str, str | np.dtype]
) -> pd.DataFrame:
    compiled = query.compile(dialect=conn.dialect)
    for key, value in compiled.params.items():
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
            raise TypeError(f"COPY read: parameter {key}={value!r} is not an int")
    literal_sql = str(query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    buffer = io.BytesIO()
    with conn.connection.dbapi_connection.cursor() as cursor:
        cursor.copy_expert(f"COPY ({literal_sql}) TO STDOUT WITH (FORMAT csv)", buffer)
    if buffer.tell() == 0:
        return empty_frame(dtypes)
    buffer.seek(0)
    bool_names = [name for name in names if np.dtype(dtypes[name]) == np.bool_] if dtypes else []
    frame = pd.read_csv(
        buffer,
        header=None,
        names=names,
        dtype={name: dtype for name, dtype in dtypes.items() if name not in bool_names},
        # Text columns here are NOT NULL: '' and 'NA' are values, never missing.
        na_filter=False,
        true_values=["t"],
        false_values=["f"],
        encoding="utf-8",
    )
    for name in bool_names:
        frame[name] = frame[name].astype(bool)
    return frame
