"""The stores table as lookups: store_id <-> store_key, in store_id order, and by shard."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import sqlalchemy as sa

from storemon_pipeline.core.segments import codes_in
from storemon_pipeline.core.shards import Shard, in_shard
from storemon_pipeline.warehouse import tables
from storemon_pipeline.warehouse.bulk import read_frame

STORE_DTYPES = {"store_key": np.int32, "store_id": "str", "first_ts_us": np.int64}


def stored_stores(conn: sa.Connection) -> pd.DataFrame:
    stores = tables.stores
    return read_frame(conn, sa.select(*(stores.c[name] for name in STORE_DTYPES)), STORE_DTYPES, large=True)


@dataclass(frozen=True)
class StoreKeys:
    """The stores table as lookups: store_id <-> store_key, and each key's rank in store_id order.

    Keys are never reused or changed, so a copy read before a transaction stays right
    for every store it holds.
    """

    store_ids: pd.Index  # every known store_id, sorted: the categories of store_id columns
    rank_by_key: np.ndarray  # position in store_ids per store_key (-1: no such key)
    key_by_rank: np.ndarray

    @classmethod
    def read(cls, conn: sa.Connection) -> StoreKeys:
        known = stored_stores(conn)
        # Sorted here, not in SQL: Python's str order is the contract, whatever the collation.
        by_id = known.sort_values("store_id", kind="stable")
        key_by_rank = by_id["store_key"].to_numpy()
        rank_by_key = np.full(int(key_by_rank.max(initial=0)) + 1, -1, dtype=np.int64)
        rank_by_key[key_by_rank] = np.arange(len(key_by_rank))
        return cls(pd.Index(by_id["store_id"].to_numpy(dtype=object), dtype="str"), rank_by_key, key_by_rank)

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

    def shard_mask_by_key(self, shard: Shard) -> np.ndarray:
        """Indexed by store_key: True for the keys of the stores in `shard`.

        Rows keyed by store_key (pings, schedules, segments) are kept with one lookup each.
        """
        mask = np.zeros(len(self.rank_by_key), dtype=bool)
        mask[self.key_by_rank[in_shard(self.store_ids, shard)]] = True
        return mask
