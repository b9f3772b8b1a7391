"""Which interval of a store holds an instant, for millions of (store, instant) queries at once."""

from __future__ import annotations

import numpy as np


class IntervalLookup:
    """Point queries on disjoint sorted intervals of many stores at once.

    Store index and time are folded into one int64 key, `store * stride + (t - lo_us)`,
    so one searchsorted answers every query, whatever its store. (core.segments
    packs its keys into a 40-bit offset, 12.7 days; a simulated history runs for months.)
    """

    def __init__(self, store: np.ndarray, start_us: np.ndarray, end_us: np.ndarray, weight: np.ndarray | None,
                 lo_us: int, hi_us: int):
        self.lo_us, self.hi_us = int(lo_us), int(hi_us)
        self.stride = self.hi_us - self.lo_us + 1
        n_stores = int(store.max()) + 2 if len(store) else 1
        if n_stores * self.stride >= np.iinfo(np.int64).max:
            raise ValueError("too many stores for this time range (int64 key overflow)")
        order = np.lexsort((start_us, store))
        self.store = np.asarray(store, dtype=np.int64)[order]
        self.start_us = np.clip(np.asarray(start_us, dtype=np.int64)[order], self.lo_us, self.hi_us)
        self.end_us = np.clip(np.asarray(end_us, dtype=np.int64)[order], self.lo_us, self.hi_us)
        self.keys = self.key(self.store, self.start_us)
        self.weight = np.ones(len(order), bool) if weight is None else np.asarray(weight, dtype=bool)[order]

    def key(self, store: np.ndarray, t_us: np.ndarray) -> np.ndarray:
        """The key of each (store index, instant), the instant clipped to [lo_us, hi_us]."""
        t_us = np.clip(np.asarray(t_us, dtype=np.int64), self.lo_us, self.hi_us)
        return np.asarray(store, dtype=np.int64) * self.stride + (t_us - self.lo_us)

    def boundary_keys(self) -> np.ndarray:
        """The keys of every start and end."""
        return np.concatenate([self.keys, self.key(self.store, self.end_us)])

    def _holder(self, store: np.ndarray, t_us: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per query: the position of the interval that may hold t, and whether it does."""
        if len(self.keys) == 0:
            return np.zeros(len(t_us), dtype=np.int64), np.zeros(len(t_us), dtype=bool)
        t_us = np.clip(np.asarray(t_us, dtype=np.int64), self.lo_us, self.hi_us)
        store = np.asarray(store, dtype=np.int64)
        position = np.searchsorted(self.keys, self.key(store, t_us), side="right") - 1
        safe = np.maximum(position, 0)
        return safe, (position >= 0) & (self.store[safe] == store) & (t_us < self.end_us[safe])

    def contains(self, store: np.ndarray, t_us: np.ndarray) -> np.ndarray:
        """Whether t lies in one of the store's intervals [start, end)."""
        return self._holder(store, t_us)[1]

    def value_at(self, store: np.ndarray, t_us: np.ndarray) -> np.ndarray:
        """The weight of the interval holding t (False outside all intervals)."""
        position, held = self._holder(store, t_us)
        return held & self.weight[position] if len(self.keys) else held
