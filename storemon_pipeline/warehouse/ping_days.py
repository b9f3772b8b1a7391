"""ping_days: each UTC day's pings packed into a row per store bucket, so the evidence window reads without a Python object per ping.

The relational `pings` table stays what ingest upserts into and what SQL users query (one
row per store and instant, with the status ingested last). But a report reads about 2.4 M
of its rows, and a database driver hands rows to Python one tuple at a time: 1.1-1.5 s on
SQLite, 0.5 s on PostgreSQL, the largest part of a report. The same pings as a few hundred
rows of packed arrays read in about 0.05 s.

ping_days is written only by `merge_pings`, which the one function that writes `pings` calls
in the same transaction, so the two never disagree.

A day is split by store bucket (core/shards.py, BUCKETS rows a day): a shard whose number
divides BUCKETS reads only its own buckets' rows, so sixteen shards read the window once between
them instead of sixteen times, and one store's page reads 1/BUCKETS of it.

A row's `pings` value: n little-endian int64 ts_us, then n int32 store_key, then n uint8
active, sorted by (ts_us, store_key), one entry per (ts_us, store_key).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sqlalchemy as sa

from storemon_pipeline.core.shards import BUCKETS
from storemon_pipeline.warehouse import tables
from storemon_pipeline.warehouse.bulk import read_frame

US_PER_DAY = 86_400_000_000
_TS, _KEY, _ACTIVE = np.dtype("<i8"), np.dtype("<i4"), np.dtype("u1")
_BYTES_PER_PING = _TS.itemsize + _KEY.itemsize + _ACTIVE.itemsize
# merged()'s packed sort key: offset_us << 26 | store_key << 1 | is_incoming, 63 bits.
_SORT_OFFSET_BITS, _SORT_KEY_BITS = 37, 25


@dataclass(frozen=True)
class KeyedPings:
    """Pings as three aligned arrays, store_key for the store."""

    ts_us: np.ndarray
    store_key: np.ndarray
    active: np.ndarray

    @classmethod
    def empty(cls) -> KeyedPings:
        return cls(np.empty(0, np.int64), np.empty(0, np.int32), np.empty(0, bool))

    @classmethod
    def concatenate(cls, parts: list[KeyedPings]) -> KeyedPings:
        if not parts:
            return cls.empty()
        return cls(*(np.concatenate([getattr(p, name) for p in parts]) for name in ("ts_us", "store_key", "active")))

    def __len__(self) -> int:
        return len(self.ts_us)

    def take(self, index: np.ndarray) -> KeyedPings:
        return KeyedPings(self.ts_us[index], self.store_key[index], self.active[index])

    def pack(self) -> bytes:
        return (
            self.ts_us.astype(_TS).tobytes() + self.store_key.astype(_KEY).tobytes() + self.active.astype(_ACTIVE).tobytes()
        )

    @classmethod
    def unpack(cls, data: bytes | memoryview, n: int) -> KeyedPings:
        if len(data) != n * _BYTES_PER_PING:
            raise ValueError(f"ping_days: {len(data)} bytes do not hold {n} pings")
        return cls(
            np.frombuffer(data, _TS, n, 0).astype(np.int64),
            np.frombuffer(data, _KEY, n, n * _TS.itemsize).astype(np.int32),
            np.frombuffer(data, _ACTIVE, n, n * (_TS.itemsize + _KEY.itemsize)).astype(bool),
        )


def merged(stored: KeyedPings, incoming: KeyedPings) -> KeyedPings:
    """One entry per (ts_us, store_key), sorted; where both hold one, incoming's wins (as the upsert of pings)."""
    both = KeyedPings.concatenate([stored, incoming])
    if len(both) == 0:
        return both
    is_incoming = np.concatenate([np.zeros(len(stored), np.int64), np.ones(len(incoming), np.int64)])
    # Sorted by ts, then store, then stored-before-incoming: the last of a run of equal keys wins.
    offset_us = both.ts_us - both.ts_us.min()
    if int(offset_us.max()).bit_length() <= _SORT_OFFSET_BITS and int(both.store_key.max()).bit_length() <= _SORT_KEY_BITS:
        # One int64 sort key (a day of microseconds and 33 M stores fit): 3 times faster than lexsort.
        order = np.argsort((offset_us << (_SORT_KEY_BITS + 1)) | (both.store_key.astype(np.int64) << 1) | is_incoming)
    else:
        order = np.lexsort((is_incoming, both.store_key, both.ts_us))
    both = both.take(order)
    last = np.ones(len(both), dtype=bool)
    last[:-1] = (both.ts_us[1:] != both.ts_us[:-1]) | (both.store_key[1:] != both.store_key[:-1])
    return both.take(last)


def merge_pings(conn: sa.Connection, incoming: KeyedPings, bucket_of_ping: np.ndarray) -> None:
    """Fold pings just upserted into `pings` into their (day, bucket) rows (the caller holds the pings
    write lock); `bucket_of_ping`, each ping's store's bucket (core/shards.py)."""
    days = tables.ping_days
    day_of_ping = incoming.ts_us // US_PER_DAY
    row_of_ping = day_of_ping * BUCKETS + bucket_of_ping
    order = np.argsort(row_of_ping, kind="stable")
    rows, starts = np.unique(row_of_ping[order], return_index=True)
    for row_id, part in zip(rows.tolist(), np.split(order, starts[1:])):
        day_us, bucket = (row_id // BUCKETS) * US_PER_DAY, row_id % BUCKETS
        this_row = (days.c.day_us == day_us, days.c.bucket == bucket)
        row = conn.execute(sa.select(days.c.n_pings, days.c.pings).where(*this_row)).one_or_none()
        stored = KeyedPings.empty() if row is None else KeyedPings.unpack(row.pings, row.n_pings)
        row_pings = merged(stored, incoming.take(part))
        if row is not None:
            conn.execute(sa.delete(days).where(*this_row))
        conn.execute(sa.insert(days).values(day_us=day_us, bucket=bucket, n_pings=len(row_pings), pings=row_pings.pack()))


def days_query(start_us: int, end_us: int, buckets: list[int] | None = None) -> sa.Select:
    """The rows of the days that hold [start_us, end_us] (of `buckets` only, when given): a range of
    the key's day_us, ordered so that each store's pings come in time order (a store is in one bucket)."""
    days = tables.ping_days
    first_day_us = int(start_us) // US_PER_DAY * US_PER_DAY
    query = sa.select(days.c.n_pings, days.c.pings).where(days.c.day_us.between(first_day_us, int(end_us)))
    if buckets is not None:
        query = query.where(days.c.bucket.in_(buckets))
    return query.order_by(days.c.day_us, days.c.bucket)


def read_window(
    conn: sa.Connection, start_us: int, end_us: int, keep_key: np.ndarray | None = None, buckets: list[int] | None = None
) -> KeyedPings:
    """Pings with start_us <= ts_us <= end_us, each store's in time order (stores interleaved).

    `buckets` reads only those buckets' rows (a shard's, or one store's); `keep_key`, indexed by
    store_key, keeps only the pings of the keys it marks True (a key past its end is dropped),
    filtered a row at a time, so that memory holds one row and the kept pings, not the window.
    """
    parts = []
    for row in conn.execute(days_query(start_us, end_us, buckets)):
        row_pings = KeyedPings.unpack(row.pings, row.n_pings)
        keep = (row_pings.ts_us >= start_us) & (row_pings.ts_us <= end_us)
        if keep_key is not None and len(keep_key) == 0:
            keep[:] = False
        elif keep_key is not None:
            known = row_pings.store_key < len(keep_key)
            keep &= known & keep_key[np.where(known, row_pings.store_key, 0)]
        parts.append(row_pings.take(keep))
    return KeyedPings.concatenate(parts)


def rebuild_from_pings(conn: sa.Connection, bucket_by_key: np.ndarray) -> None:
    """Fill an empty ping_days from the pings table, a day at a time (an upgrade of a warehouse
    without it, or with its rows not yet in buckets); `bucket_by_key`, indexed by store_key."""
    pings = tables.pings
    first_us, last_us = conn.execute(sa.select(sa.func.min(pings.c.ts_us), sa.func.max(pings.c.ts_us))).one()
    if first_us is None:
        return
    dtypes = {"ts_us": np.int64, "store_key": np.int32, "active": np.bool_}
    for day in range(int(first_us) // US_PER_DAY, int(last_us) // US_PER_DAY + 1):
        day_us = day * US_PER_DAY
        query = sa.select(pings.c.ts_us, pings.c.store_key, pings.c.active).where(
            pings.c.ts_us.between(day_us, day_us + US_PER_DAY - 1)
        )
        frame = read_frame(conn, query, dtypes, large=True)
        if len(frame):
            day_pings = KeyedPings(*(frame[name].to_numpy() for name in dtypes))
            merge_pings(conn, day_pings, bucket_by_key[day_pings.store_key])
