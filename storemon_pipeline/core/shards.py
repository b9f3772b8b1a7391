"""Store shards: a fixed split of the fleet by a stable hash of store_id.

A shard is a way of calling the core on a subset of stores; the core's rules never look at
it. Each store's segments depend on that store's schedules and pings alone, so the report is
the same bytes whatever the number of shards.

The hash is CRC-32 of the UTF-8 id: the same in every process, machine and Python version
(Python's `hash()` of a str is salted per process, so two workers would disagree on where a
store belongs).

Buckets are a finer split, fixed once for all (BUCKETS of them, by the same hash), that storage
can be laid out by, so that a shard reads only its own stores' rows. Shard i of N is the union
of the buckets b with b mod N = i whenever N divides BUCKETS (crc mod N = (crc mod BUCKETS) mod N
then); for any other N every bucket holds stores of every shard.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

# More shards than this is a typo, not a plan: each is a Dagster step and reads the window once.
MAX_SHARDS = 1024
# A power of two: every power-of-two number of shards up to it reads only its own buckets. 64 keeps a
# small fleet's rows per bucket from getting tiny (a day of 1,000 stores: ~16 stores a row).
BUCKETS = 64


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

    def buckets(self) -> list[int] | None:
        """The buckets that hold exactly this shard's stores; None when every bucket holds some of
        them (the shard's count does not divide BUCKETS) and a read must filter store by store."""
        if BUCKETS % self.count:
            return None
        return list(range(self.index, BUCKETS, self.count))

    def __str__(self) -> str:
        return f"shard {self.index}/{self.count}"  # index from 0, as in the step's mapping key


def all_shards(count: int) -> list[Shard]:
    return [Shard(index, count) for index in range(count)]


def store_hashes(store_ids: Iterable[str]) -> np.ndarray:
    return np.fromiter((zlib.crc32(store_id.encode("utf-8")) for store_id in store_ids), dtype=np.int64)


def shard_indexes(store_ids: Iterable[str], count: int) -> np.ndarray:
    """The shard index (0 .. count-1) of each store id."""
    return store_hashes(store_ids) % count


def bucket_indexes(store_ids: Iterable[str]) -> np.ndarray:
    """The bucket (0 .. BUCKETS-1) of each store id."""
    return shard_indexes(store_ids, BUCKETS)


def in_shard(store_ids: Iterable[str], shard: Shard) -> np.ndarray:
    """A boolean mask: which of `store_ids` belong to `shard` (all of them with one shard)."""
    store_ids = list(store_ids)
    if shard.is_whole_fleet:
        return np.ones(len(store_ids), dtype=bool)
    return shard_indexes(store_ids, shard.count) == shard.index
