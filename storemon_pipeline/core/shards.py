"""Store shards: a fixed split of the fleet by a stable hash of store_id.

A shard is a way of calling the core on a subset of stores; the core's rules never look at
it. Each store's segments depend on that store's schedules and pings alone, so the report is
the same bytes whatever the number of shards.

The hash is CRC-32 of the UTF-8 id: the same in every process, machine and Python version
(Python's `hash()` of a str is salted per process, so two workers would disagree on where a
store belongs).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

# More shards than this is a typo, not a plan: each is a Dagster step and reads the window once.
MAX_SHARDS = 1024


@dataclass(frozen=True)
class Shard:
    """Shard `index` of `count` (0 <= index < count)."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if not 1 <= self.count <= MAX_SHARDS:
            raise ValueError(f"shards: {self.count} is not between 1 and {MAX_SHARDS}")
        if not 0 <= self.index < self.count:
            raise ValueError(f"shard {self.index} does not exist among {self.count}")

    @property
    def is_whole_fleet(self) -> bool:
        return self.count == 1

    def __str__(self) -> str:
        return f"shard {self.index}/{self.count}"  # index from 0, as in the step's mapping key


def all_shards(count: int) -> list[Shard]:
    return [Shard(index, count) for index in range(count)]


def shard_indexes(store_ids: Iterable[str], count: int) -> np.ndarray:
    """The shard index (0 .. count-1) of each store id."""
    hashes = np.fromiter((zlib.crc32(store_id.encode("utf-8")) for store_id in store_ids), dtype=np.int64)
    return hashes % count


def in_shard(store_ids: Iterable[str], shard: Shard) -> np.ndarray:
    """A boolean mask: which of `store_ids` belong to `shard` (all of them with one shard)."""
    store_ids = list(store_ids)
    if shard.is_whole_fleet:
        return np.ones(len(store_ids), dtype=bool)
    return shard_indexes(store_ids, shard.count) == shard.index
