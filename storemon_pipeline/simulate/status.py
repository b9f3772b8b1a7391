"""What the stores do and what the poller sees: the true active/inactive process and the poll log."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from storemon_pipeline.core.clock import US_PER_DAY, US_PER_HOUR, US_PER_S
from storemon_pipeline.simulate.model import FleetKnobs

# Poll slots generated per chunk of stores: bounds memory for long histories
# while keeping every numpy call large. Fixed, so a seed gives the same fleet
# whatever the machine.
POLL_SLOTS_PER_CHUNK = 2_000_000


def true_status_segments(
    rng: np.random.Generator, n_stores: int, start_us: int, end_us: int, knobs: FleetKnobs
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Alternating active/inactive segments covering [start_us, end_us] per store.

    Up times are exponential; outage lengths log-normal (most short, a long
    tail); some stores have long outages, a few are down throughout.
    Returns (segments[store, start_us, end_us, active], long-outage flags, dead flags).
    """
    long_outages = rng.random(n_stores) < knobs.p_long_outage_store
    dead = rng.random(n_stores) < knobs.p_dead_store
    mean_up_s = knobs.mean_hours_between_outages * 3600 * rng.lognormal(0.0, 0.5, n_stores)
    median_down_s = np.where(long_outages, knobs.long_outage_median_hours * 3600, knobs.outage_median_minutes * 60)
    mean_down_s = median_down_s * np.exp(knobs.outage_sigma**2 / 2)
    state = rng.random(n_stores) < mean_up_s / (mean_up_s + mean_down_s)
    reached_us = np.full(n_stores, start_us, dtype=np.int64)

    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    pending = np.arange(n_stores)
    expected_cycles = (end_us - start_us) / US_PER_S / (mean_up_s.mean() + mean_down_s.mean())
    per_round = int(min(max(4, 2 * expected_cycles + 4), 4096))
    while len(pending):
        m = len(pending)
        states = state[pending][:, None] ^ (np.arange(per_round) % 2 == 1)[None, :]
        up_s = rng.exponential(mean_up_s[pending][:, None], (m, per_round))
        down_s = rng.lognormal(np.log(median_down_s[pending])[:, None], knobs.outage_sigma, (m, per_round))
        duration_us = np.maximum((np.where(states, up_s, down_s) * US_PER_S).astype(np.int64), US_PER_S)
        ends = reached_us[pending][:, None] + np.cumsum(duration_us, axis=1)
        starts = ends - duration_us
        keep = starts < end_us
        parts.append((np.broadcast_to(pending[:, None], (m, per_round))[keep], starts[keep], states[keep]))
        reached_us[pending] = ends[:, -1]
        state[pending] = ~states[:, -1]
        pending = pending[reached_us[pending] < end_us]

    store = np.concatenate([p[0] for p in parts])
    start = np.concatenate([p[1] for p in parts])
    active = np.concatenate([p[2] for p in parts])
    dead_rows = dead[store]
    store = np.concatenate([store[~dead_rows], np.flatnonzero(dead)])
    start = np.concatenate([start[~dead_rows], np.full(dead.sum(), start_us, dtype=np.int64)])
    active = np.concatenate([active[~dead_rows], np.zeros(dead.sum(), dtype=bool)])
    order = np.lexsort((start, store))
    store, start, active = store[order], start[order], active[order]
    end = np.empty_like(start)
    end[:-1] = start[1:]
    last_of_store = np.ones(len(store), dtype=bool)
    last_of_store[:-1] = store[1:] != store[:-1]
    end[last_of_store] = end_us
    segments = pd.DataFrame({"store": store.astype(np.int64), "start_us": start, "end_us": end, "active": active})
    return segments, long_outages, dead


def _poller_outages(rng: np.random.Generator, n_stores: int, start_us: int, end_us: int,
                    knobs: FleetKnobs) -> tuple[np.ndarray, np.ndarray]:
    """(starts, ends) as (n_stores, max outages) arrays; unused slots are empty."""
    days = (end_us - start_us) / US_PER_DAY
    count = rng.poisson(knobs.poller_outages_per_store_day * days, n_stores)
    width = max(int(count.max()) if n_stores else 0, 1)
    starts = rng.integers(start_us, max(end_us, start_us + 1), size=(n_stores, width), dtype=np.int64)
    hours = rng.uniform(knobs.poller_outage_min_hours, knobs.poller_outage_max_hours, (n_stores, width))
    ends = starts + (hours * US_PER_HOUR).astype(np.int64)
    unused = np.arange(width)[None, :] >= count[:, None]
    ends[unused] = starts[unused]
    return starts, ends


def polls(rng: np.random.Generator, n_stores: int, start_us: int, end_us: int, knobs: FleetKnobs,
           poll_answer: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(store index, ts_us, active) of every poll that reached the log, in the log's order.

    `poll_answer(store index, ts_us)` is what the tablet says; it is asked
    store by store (sorted queries keep its searchsorted cache-friendly).

    The poller walks the fleet every interval in a fixed order (each store at
    its own phase), so the log is in time order up to the jitter, without a
    sort of millions of rows: the rounds are laid out as a grid (round x store
    in walking order) and read row by row.
    """
    interval_us = int(knobs.poll_interval_s * US_PER_S)
    jitter_us = int(knobs.poll_jitter_s * US_PER_S)
    first_slot_us = start_us - interval_us - jitter_us
    n_slots = int((end_us - first_slot_us + jitter_us) // interval_us) + 2
    phase_us = rng.integers(0, interval_us, n_stores, dtype=np.int64)
    drop_rate = np.clip(rng.beta(2, 18, n_stores) * knobs.p_poll_dropped / 0.1, 0, 1)
    outage_starts, outage_ends = _poller_outages(rng, n_stores, start_us, end_us, knobs)
    store_by_column = np.argsort(phase_us, kind="stable").astype(np.int32)
    column_of_store = np.argsort(store_by_column)

    ts_grid = np.empty((n_slots, n_stores), dtype=np.int64)
    keep_grid = np.empty((n_slots, n_stores), dtype=bool)
    active_grid = np.zeros((n_slots, n_stores), dtype=bool)
    stores_per_chunk = max(1, POLL_SLOTS_PER_CHUNK // n_slots)
    for first in range(0, n_stores, stores_per_chunk):
        stores = np.arange(first, min(first + stores_per_chunk, n_stores))
        m = len(stores)
        nominal = first_slot_us + phase_us[stores][:, None] + np.arange(n_slots, dtype=np.int64)[None, :] * interval_us
        ts = nominal + rng.integers(-jitter_us, jitter_us + 1, size=(m, n_slots), dtype=np.int64)
        keep = (ts >= start_us) & (ts <= end_us) & (rng.random((m, n_slots)) >= drop_rate[stores][:, None])
        for k in range(outage_starts.shape[1]):
            keep &= ~((ts >= outage_starts[stores, k][:, None]) & (ts < outage_ends[stores, k][:, None]))
        active = np.zeros_like(keep)
        rows, _ = np.nonzero(keep)
        active[keep] = poll_answer(stores[rows], ts[keep])
        ts_grid[:, column_of_store[stores]] = ts.T
        keep_grid[:, column_of_store[stores]] = keep.T
        active_grid[:, column_of_store[stores]] = active.T
    if knobs.anchor_clock:
        # Replace the fleet's last kept poll by one in the last second before end_us.
        last_round = np.flatnonzero(keep_grid.any(axis=1))
        if len(last_round):
            row = last_round[-1]
            column = np.flatnonzero(keep_grid[row])[-1]
            keep_grid[row, column] = False
            anchor_us = end_us - rng.integers(0, US_PER_S, dtype=np.int64)
            ts_grid[-1, column] = anchor_us
            keep_grid[-1, column] = True
            active_grid[-1, column] = poll_answer(store_by_column[[column]], np.array([anchor_us]))[0]
    store = np.broadcast_to(store_by_column, ts_grid.shape)[keep_grid]
    return store, ts_grid[keep_grid], active_grid[keep_grid]
