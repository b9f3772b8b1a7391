"""The stores table as lookups: store_id <-> store_key, in store_id order, and by shard."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import sqlalchemy as sa

from storemon_pipeline.core.segments import codes_in
from storemon_pipeline.core.shards import BUCKETS, Shard
from storemon_pipeline.warehouse import tables
from storemon_pipeline.warehouse.bulk import read_frame

STORE_DTYPES = {"store_key": np.int32, "store_id": "str", "first_ts_us": np.int64, "shard_hash": np.int64,
                "listed": np.bool_}


def stored_stores(conn: sa.Connection, shard: Shard | None = None) -> pd.DataFrame:
    """The stores table; only the stores of `shard` when one is given (selected in SQL by the stored
    hash, so a shard reads its own stores, not the fleet's)."""
    stores = tables.stores
    query = sa.select(*(stores.c[name] for name in STORE_DTYPES))
    if shard is not None and not shard.is_whole_fleet:
        query = query.where(stores.c.shard_hash % shard.count == shard.index)
    return read_frame(conn, query, STORE_DTYPES, large=True)


@dataclass(frozen=True)
class StoreKeys:
    """The stores table (or one shard's part of it) as lookups: store_id <-> store_key, and each
    key's rank in store_id order.

    Keys are never reused or changed, so a copy read before a transaction stays right
    for every store it holds.
    """

    store_ids: pd.Index  # every store_id read, sorted: the categories of store_id columns
    rank_by_key: np.ndarray  # position in store_ids per store_key (-1: no such key)
    key_by_rank: np.ndarray
    hash_by_key: np.ndarray  # the store's shard hash (core/shards.py) per store_key, -1 for no such key
    first_ts_us_by_rank: np.ndarray
    listed_by_rank: np.ndarray  # in business hours or timezones

    @classmethod
    def read(cls, conn: sa.Connection, shard: Shard | None = None) -> StoreKeys:
        """Every store, or the stores of `shard`."""
        known = stored_stores(conn, shard)
        # Sorted here, not in SQL: Python's str order is the contract, whatever the collation.
        by_id = known.sort_values("store_id", kind="stable")
        key_by_rank = by_id["store_key"].to_numpy()
        size = int(key_by_rank.max(initial=0)) + 1
        rank_by_key = np.full(size, -1, dtype=np.int64)
        rank_by_key[key_by_rank] = np.arange(len(key_by_rank))
        hash_by_key = np.full(size, -1, dtype=np.int64)
        hash_by_key[key_by_rank] = by_id["shard_hash"].to_numpy()
        return cls(pd.Index(by_id["store_id"].to_numpy(dtype=object), dtype="str"), rank_by_key, key_by_rank,
                   hash_by_key, by_id["first_ts_us"].to_numpy(), by_id["listed"].to_numpy())

    def keys_of(self, store_ids: pd.Series) -> np.ndarray:
        """store_key per row; ValueError naming a store_id that no input has shown."""
        ranks = codes_in(self.store_ids, store_ids)
        if (ranks < 0).any():
            unknown = store_ids.iloc[int(np.flatnonzero(ranks < 0)[0])]
            raise ValueError(f"store_id {unknown!r} is not a known store (stores are added by ingesting inputs)")
        return self.key_by_rank[ranks]

    def by_store(self, keyed: pd.DataFrame, then_by: list[str]) -> pd.DataFrame:
        """`keyed` with store_key replaced by a categorical store_id, sorted by store_id then `then_by`."""
        ranks = self.rank_by_key[keyed["store_key"].to_numpy()]
        order = np.lexsort([keyed[name].to_numpy() for name in reversed(then_by)] + [ranks])
        frame = keyed.drop(columns="store_key").iloc[order].reset_index(drop=True)
        frame.insert(0, "store_id", pd.Categorical.from_codes(ranks[order], categories=self.store_ids))
        return frame

    def report_store_ids(self, as_of_us: int) -> list[str]:
        """The stores a report as of as_of_us lists, sorted: those with business hours or a timezone,
        and those with a ping at or before it."""
        return self.store_ids[self.listed_by_rank | (self.first_ts_us_by_rank <= int(as_of_us))].tolist()

    def shard_mask_by_key(self, shard: Shard) -> np.ndarray:
        """Indexed by store_key: True for the keys of the stores in `shard` (among those read).

        Rows keyed by store_key (pings, schedules, segments) are kept with one lookup each.
        """
        return (self.hash_by_key >= 0) & (self.hash_by_key % shard.count == shard.index)

    def buckets_of(self, store_keys: np.ndarray) -> np.ndarray:
        """The bucket (core/shards.py) of each of `store_keys`, which must be among those read."""
        return self.hash_by_key[store_keys] % BUCKETS
