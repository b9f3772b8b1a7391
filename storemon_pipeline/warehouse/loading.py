"""Loading a parsed file's rows in the caller's transaction: pings upserted (and folded into
ping_days), business hours replaced per store, timezones upserted, every store keyed in `stores`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import sqlalchemy as sa

from storemon_pipeline.core.inputs import BUSINESS_HOURS, PINGS
from storemon_pipeline.core.shards import BUCKETS, store_hashes
from storemon_pipeline.warehouse import tables
from storemon_pipeline.warehouse.bulk import (
    EncodedFrame,
    TextCodes,
    bulk_insert,
    bulk_upsert,
    encode_fixed_column,
    encode_frame,
    encode_text_column,
    lock_table_for_writing,
)
from storemon_pipeline.warehouse.ping_days import KeyedPings, merge_pings
from storemon_pipeline.warehouse.store_keys import stored_stores

if TYPE_CHECKING:
    from storemon_pipeline.core.inputs import ParsedFile

# Store ids per DELETE ... IN (...): below SQLite's bound-parameter limit, and short
# enough statements for PostgreSQL.
_STORE_IDS_PER_DELETE = 500


@dataclass(frozen=True)
class PingBatch:
    """A file's pings, one per (store, ts_us), sorted by (ts_us, store_id)."""

    store_ids: TextCodes
    ts_us: np.ndarray
    active: np.ndarray


def _rows_in_file_order(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows by physical line, so "the last row wins" means the last line of the file."""
    if "line" in rows.columns and not rows["line"].is_monotonic_increasing:
        return rows.sort_values("line", kind="stable")
    return rows


def prepared_part(parsed: ParsedFile, file_name: str, kind: str) -> tuple[PingBatch | EncodedFrame, EncodedFrame, int]:
    """A part's valid rows as they will be written, its rejected rows, and its valid row count."""
    if parsed.kind != kind:
        raise ValueError(f"{file_name}: a part of kind {parsed.kind!r} in a {kind} file")
    rows = _rows_in_file_order(parsed.rows)
    if kind == PINGS:
        valid_rows: PingBatch | EncodedFrame = _last_ping_per_key_sorted(rows)
    elif kind == BUSINESS_HOURS:
        valid_rows = encode_frame(tables.business_hours, rows, ["store_id", "day_of_week", "start_s", "end_s", "line"])
    else:
        last_row_per_store = rows.drop_duplicates("store_id", keep="last")
        valid_rows = encode_frame(tables.timezones, last_row_per_store, ["store_id", "timezone", "line"])
    rejected_rows = encode_frame(tables.rejected_rows, parsed.rejected, ["file", "line", "reason", "raw"])
    return valid_rows, rejected_rows, len(parsed.rows)


def load_part(
    conn: sa.Connection, kind: str, file_id: int, valid_rows: PingBatch | EncodedFrame, rejected_rows: EncodedFrame
) -> None:
    if isinstance(valid_rows, PingBatch):
        _upsert_pings(conn, valid_rows)
    else:
        if kind == BUSINESS_HOURS:
            _replace_business_hours(conn, valid_rows.with_constant("file_id", file_id))
        else:
            bulk_upsert(
                conn,
                valid_rows.with_constant("file_id", file_id),
                key_columns=["store_id"],
                update_columns=["timezone", "file_id", "line"],
            )
        # After the table's own lock, as for pings: every writer takes its table, then stores.
        _register_stores(conn, valid_rows.columns["store_id"].values)
    bulk_insert(conn, rejected_rows.with_constant("file_id", file_id))


def _last_ping_per_key_sorted(rows: pd.DataFrame) -> PingBatch:
    """One ping per (store_id, ts_us), the last in file order, sorted by (ts_us, store_id).

    PostgreSQL's ON CONFLICT refuses to touch one row twice, so duplicates must go;
    sorted rows turn the key inserts into near-appends on both dialects.
    """
    missing = [name for name in ("store_id", "ts_us", "active") if name not in rows.columns]
    if missing:
        raise ValueError(f"pings: DataFrame lacks columns {missing}")
    store_ids = encode_text_column(rows["store_id"])
    if (store_ids.codes < 0).any():
        raise ValueError("pings.store_id: missing values are not allowed")
    ts_us = encode_fixed_column(tables.pings.c.ts_us, rows["ts_us"])
    active = encode_fixed_column(tables.pings.c.active, rows["active"])
    if len(ts_us) == 0:
        return PingBatch(store_ids, ts_us, active)
    id_codes = store_ids.codes  # ordered like the strings
    n_store_codes = len(store_ids.values)
    ts_min_us, ts_max_us = int(ts_us.min()), int(ts_us.max())
    # Stable sorts keep file order among equal keys: the last of a run is the last row.
    if (ts_max_us - ts_min_us + 1) * n_store_codes < 2**63:
        # One sort of a combined int64 key instead of two; it fits for any realistic
        # file (ten days of microseconds times 10^5 stores is about 10^17).
        combined_key = (ts_us - ts_min_us) * n_store_codes + id_codes
        order = np.argsort(combined_key, kind="stable")
        sorted_key = combined_key[order]
        is_last_of_key = np.ones(len(order), dtype=bool)
        is_last_of_key[:-1] = sorted_key[1:] != sorted_key[:-1]
    else:
        order = np.argsort(id_codes, kind="stable")
        order = order[np.argsort(ts_us[order], kind="stable")]
        sorted_codes, sorted_ts_us = id_codes[order], ts_us[order]
        is_last_of_key = np.ones(len(order), dtype=bool)
        is_last_of_key[:-1] = (sorted_codes[1:] != sorted_codes[:-1]) | (sorted_ts_us[1:] != sorted_ts_us[:-1])
    kept = order[is_last_of_key]
    return PingBatch(TextCodes(id_codes[kept], store_ids.values), ts_us[kept], active[kept])


def _upsert_pings(conn: sa.Connection, batch: PingBatch) -> None:
    # Taken before stores is written: concurrent pings ingests queue here instead
    # of each waiting on a store the other has just added (a deadlock).
    lock_table_for_writing(conn, tables.pings)
    first_ts_us = np.full(len(batch.store_ids.values), tables.NO_PING_US, dtype=np.int64)
    np.minimum.at(first_ts_us, batch.store_ids.codes, batch.ts_us)
    store_keys, shard_hashes = _register_stores(conn, batch.store_ids.values, first_ts_us)
    store_keys, shard_hashes = store_keys[batch.store_ids.codes], shard_hashes[batch.store_ids.codes]
    keyed_pings = EncodedFrame(
        tables.pings, {"ts_us": batch.ts_us, "store_key": store_keys, "active": batch.active}, len(batch.ts_us)
    )
    # The file ingested last decides a duplicated (store, instant).
    bulk_upsert(
        conn, keyed_pings, key_columns=["ts_us", "store_key"], update_columns=["active"], range_column="ts_us"
    )
    merge_pings(conn, KeyedPings(batch.ts_us, store_keys, batch.active), shard_hashes % BUCKETS)


def _register_stores(
    conn: sa.Connection, store_ids: np.ndarray, first_ts_us: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """store_key and shard_hash of each of `store_ids` (distinct), keying the new ones.

    first_ts_us, per store, the earliest ping a pings file brings (NO_PING_US for none): a
    stored first ping moves earlier where the file goes back further. Without it, the stores
    come from business hours or timezones, and are marked listed.
    """
    stores = tables.stores
    # One writer of stores at a time: an hours and a pings ingest adding the same new
    # stores in another order would otherwise deadlock on its unique index.
    lock_table_for_writing(conn, stores)
    listing = first_ts_us is None
    if listing:
        first_ts_us = np.full(len(store_ids), tables.NO_PING_US, dtype=np.int64)
    known = stored_stores(conn)
    row_of = pd.Index(known["store_id"]).get_indexer(store_ids)
    is_known = row_of >= 0
    stored = known.iloc[np.maximum(row_of, 0)] if len(known) else None
    # New stores, known ones whose first ping moves earlier, and known ones listed for the first
    # time; the rest are not written (on PostgreSQL only rows actually inserted take a key from
    # the sequence).
    if stored is None:
        needs_write = ~is_known
    elif listing:
        needs_write = ~is_known | ~stored["listed"].to_numpy()
    else:
        needs_write = ~is_known | (first_ts_us < stored["first_ts_us"].to_numpy())
    if needs_write.any():
        written_ids = store_ids[needs_write]
        changed = pd.DataFrame({
            "store_id": written_ids,
            "first_ts_us": first_ts_us[needs_write],
            "shard_hash": store_hashes(written_ids),
            "listed": np.full(len(written_ids), listing),
        })
        bulk_upsert(
            conn,
            encode_frame(stores, changed, list(changed.columns)),
            key_columns=["store_id"],
            # A pings file never unlists a store, nor does a listing move its first ping.
            update_columns=["listed"] if listing else ["first_ts_us"],
        )
        if not is_known.all():
            known = stored_stores(conn)
            row_of = pd.Index(known["store_id"]).get_indexer(store_ids)
    return known["store_key"].to_numpy()[row_of], known["shard_hash"].to_numpy()[row_of]


def _replace_business_hours(conn: sa.Connection, hours: EncodedFrame) -> None:
    # A later hours file replaces everything known for the stores it lists (with at
    # least one valid row), so a weekday the new file drops disappears too.
    # One writer at a time: two files listing the same store must not both delete
    # the old rows and both insert, leaving the store the union of the two files.
    lock_table_for_writing(conn, tables.business_hours)
    store_ids = hours.columns["store_id"]
    listed_codes = np.unique(store_ids.codes)
    listed = store_ids.values[listed_codes[listed_codes >= 0]].tolist()
    business_hours = tables.business_hours
    for start in range(0, len(listed), _STORE_IDS_PER_DELETE):
        chunk = listed[start : start + _STORE_IDS_PER_DELETE]
        conn.execute(sa.delete(business_hours).where(business_hours.c.store_id.in_(chunk)))
    bulk_insert(conn, hours)
