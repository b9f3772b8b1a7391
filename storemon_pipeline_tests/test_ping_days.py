"""ping_days' packing and merging, on arrays; that the days match the pings table is in test_warehouse."""

from __future__ import annotations

import numpy as np
import pytest

from storemon_pipeline.warehouse.ping_days import KeyedPings, merged

DAY_US = 86_400_000_000


def keyed(*pings: tuple[int, int, bool]) -> KeyedPings:
    return KeyedPings(
        np.array([p[0] for p in pings], dtype=np.int64),
        np.array([p[1] for p in pings], dtype=np.int32),
        np.array([p[2] for p in pings], dtype=bool),
    )


def as_tuples(pings: KeyedPings) -> list[tuple[int, int, bool]]:
    return list(zip(pings.ts_us.tolist(), pings.store_key.tolist(), pings.active.tolist()))


def test_pack_and_unpack_round_trip_every_value():
    pings = keyed((DAY_US, 2**31 - 1, True), (DAY_US + 5, 0, False), (2**62, 7, True))
    data = pings.pack()
    assert len(data) == 3 * (8 + 4 + 1)
    assert as_tuples(KeyedPings.unpack(data, 3)) == as_tuples(pings)
    assert as_tuples(KeyedPings.unpack(memoryview(data), 3)) == as_tuples(pings)  # PostgreSQL hands bytea so
    with pytest.raises(ValueError, match="do not hold 4 pings"):
        KeyedPings.unpack(data, 4)


# A day apart (the one packed sort key) and years apart, or a key past 2**25 (the general sort).
@pytest.mark.parametrize("scale, key_base", [(1, 0), (DAY_US, 0), (2**40, 0), (1, 2**30)])
def test_merged_keeps_one_ping_per_instant_and_store_the_incoming_one_winning(scale, key_base):
    k = key_base
    stored = keyed((10 * scale, k + 1, True), (10 * scale, k + 2, True), (20 * scale, k + 1, False))
    incoming = keyed((20 * scale, k + 1, True), (5 * scale, k + 3, False), (10 * scale, k + 2, True))
    assert as_tuples(merged(stored, incoming)) == [
        (5 * scale, k + 3, False),
        (10 * scale, k + 1, True),
        (10 * scale, k + 2, True),
        (20 * scale, k + 1, True),  # the incoming status replaced the stored one
    ]


def test_merged_with_nothing_stored_sorts_by_instant_then_store():
    rng = np.random.default_rng(2)
    pairs = sorted({(int(t), int(k)) for t, k in zip(rng.integers(0, 50, 300), rng.integers(0, 9, 300))})
    shuffled = [pairs[i] for i in rng.permutation(len(pairs))]
    result = merged(KeyedPings.empty(), keyed(*((t, k, t % 2 == 0) for t, k in shuffled)))
    assert list(zip(result.ts_us.tolist(), result.store_key.tolist())) == pairs
    assert result.active.tolist() == [t % 2 == 0 for t, _ in pairs]
