"""Synthetic stores whose true status is known: test data, benchmarks, the sample.

The world simulated (docs/report-semantics.md#why-the-nearest-in-business-ping): every store
has a continuous-time active/inactive process; a poller asks it about hourly
(jitter, dropped polls, poller outages); half the stores switch their tablet
off while closed, so their closed-hours polls say inactive. The truth is what
a perfect observer would report: business time (docs/report-semantics.md#business-time, computed with the
project's own `core.schedules` / `core.business_time`) split by the TRUE
status, not by what the polls saw, and summed by the report's own `core.report`.

Everything is vectorised over stores and polls; the only loops are over
schedule profiles, zones, poll chunks of many stores and output chunks.

    python -m storemon_pipeline.simulate --stores 300 --days 8 \
        --as-of 2023-03-14T12:00:00Z --seed 0 --out /tmp/fleet [--bad-rows]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from storemon_pipeline.core.business_time import business_intervals_utc
from storemon_pipeline.core.clock import (
    US_PER_DAY,
    US_PER_HOUR,
    US_PER_S,
    WINDOW_SPANS_US,
    parse_instant_us,
    partition_key,
    whole_second_at_or_after_us,
)
from storemon_pipeline.core.inputs import BUSINESS_HOURS, KIND_COLUMNS, PINGS, TIMEZONES
from storemon_pipeline.core.report import business_time_by_window, store_report
from storemon_pipeline.core.schedules import DEFAULT_ZONE, END_OF_DAY_SPELLINGS_S, SECONDS_PER_DAY, normalize_schedules
from storemon_pipeline.core.segments import ACTIVE, INACTIVE

US_PER_WEEK = WINDOW_SPANS_US["week"]

# The exports' headers are the core's columns of each kind; the hours export spells
# day_of_week "dayOfWeek" (the core reads headers case-insensitively).
PINGS_HEADER = list(KIND_COLUMNS[PINGS])
BUSINESS_HOURS_HEADER = ["dayOfWeek" if column == "day_of_week" else column for column in KIND_COLUMNS[BUSINESS_HOURS]]
TIMEZONES_HEADER = list(KIND_COLUMNS[TIMEZONES])


# Shares resemble the real export (mostly US zones, a few abroad, one half-hour zone).
ZONE_SHARES = {
    "America/New_York": 0.30,
    "America/Chicago": 0.21,
    "America/Los_Angeles": 0.20,
    "America/Denver": 0.08,
    "America/Phoenix": 0.08,
    "America/Boise": 0.03,
    "Asia/Beirut": 0.03,
    "Europe/London": 0.04,
    "Asia/Kolkata": 0.03,
}
# Typos of the store's real zone; none is an IANA name. The simulated world
# treats such a store as a Chicago store, which is also the report's default.
INVALID_ZONE_NAMES = ("America/Chicagoo", "America/Chigaco", "US/Centrall", "Central Standard Time")

SCHEDULE_PROFILE_SHARES = {
    "regular": 0.44,
    "overnight": 0.10,
    "split": 0.12,
    "end_of_day": 0.14,
    "full_day_rows": 0.06,
    "overlapping": 0.07,
    "short": 0.07,
}
PROFILES_WITH_CLOSED_DAYS = ("regular", "overnight", "split", "end_of_day", "overlapping")
END_OF_DAY_59_S, END_OF_DAY_59_59_S = END_OF_DAY_SPELLINGS_S

# Poll slots generated per chunk of stores: bounds memory for long histories
# while keeping every numpy call large. Fixed, so a seed gives the same fleet
# whatever the machine.
POLL_SLOTS_PER_CHUNK = 2_000_000
PING_ROWS_PER_WRITE_CHUNK = 1_000_000


@dataclass(frozen=True)
class FleetKnobs:
    """Every tunable of the simulated world; `simulate_fleet(**knobs)` sets them."""

    p_no_hours: float = 0.10
    p_missing_zone: float = 0.05
    p_invalid_zone: float = 0.01
    p_hhmm_times: float = 0.03
    p_one_closed_day: float = 0.20
    p_two_closed_days: float = 0.05
    p_switch_off_when_closed: float = 0.5
    poll_interval_s: float = 3600.0
    poll_jitter_s: float = 600.0
    p_poll_dropped: float = 0.10
    poller_outages_per_store_day: float = 0.05
    poller_outage_min_hours: float = 2.0
    poller_outage_max_hours: float = 10.0
    mean_hours_between_outages: float = 36.0
    outage_median_minutes: float = 40.0
    outage_sigma: float = 1.0
    p_long_outage_store: float = 0.05
    long_outage_median_hours: float = 8.0
    p_dead_store: float = 0.01
    # Put one poll in the last second before as_of, so the latest report of the
    # generated data (T = greatest ping rounded up to the second) is as of as_of.
    anchor_clock: bool = True
    bad_rows: bool = False
    bad_rows_per_kind: int = 3
    duplicate_pings: int = 5


@dataclass
class PingLog:
    """Valid polls in file order, kept compact; extra rows are inserted before `position`.

    Strings for millions of pings cost far more memory than the numbers, so
    they are only made chunk by chunk (`chunks`) or on request (`pings`).
    """

    store_ids: np.ndarray  # object array of store ids; store_index points into it
    store_index: np.ndarray  # int32
    ts_us: np.ndarray  # int64
    active: np.ndarray  # bool
    extra_rows: pd.DataFrame  # position (int64), store_id, status, timestamp_utc: bad rows and duplicates

    def __len__(self) -> int:
        return len(self.ts_us) + len(self.extra_rows)

    def chunks(self, rows_per_chunk: int = PING_ROWS_PER_WRITE_CHUNK) -> Iterator[dict[str, np.ndarray]]:
        """Columns as bytes arrays (store_id, status, timestamp_utc), in file order."""
        store_id_bytes = self.store_ids.astype(str).astype("S")
        extra_position = self.extra_rows["position"].to_numpy(dtype=np.int64)
        extra = {column: self.extra_rows[column].astype(str).str.encode("utf-8").to_numpy().astype("S")
                 for column in PINGS_HEADER} if len(self.extra_rows) else None
        n_valid = len(self.ts_us)
        for first in range(0, max(n_valid, 1), rows_per_chunk):
            last = min(first + rows_per_chunk, n_valid)
            columns = {
                "store_id": store_id_bytes[self.store_index[first:last]],
                "status": np.where(self.active[first:last], ACTIVE.encode(), INACTIVE.encode()),
                "timestamp_utc": format_timestamps_utc(self.ts_us[first:last]),
            }
            if extra is not None:
                # Rows placed after the last valid ping belong to the last chunk.
                upper = last if last < n_valid else np.iinfo(np.int64).max
                take = (extra_position >= first) & (extra_position < upper)
                if take.any():
                    at = np.minimum(extra_position[take], last) - first
                    columns = {
                        name: np.insert(values.astype(_wider_bytes(values, extra[name])), at, extra[name][take])
                        for name, values in columns.items()
                    }
            yield columns


def _wider_bytes(a: np.ndarray, b: np.ndarray) -> str:
    return f"S{max(a.dtype.itemsize, b.dtype.itemsize, 1)}"


@dataclass
class SimulatedFleet:
    """A simulated fleet: the three input tables as the exports write them, and the truth.

    Tables hold strings as they appear in the CSV files. `truth` has the
    report's columns and units, as of `as_of_us`, for every store the report
    lists (seen in a valid row of some input), sorted by store_id.
    """

    as_of_us: int
    knobs: FleetKnobs
    ping_log: PingLog
    business_hours: pd.DataFrame  # store_id, dayOfWeek, start_time_local, end_time_local (strings)
    timezones: pd.DataFrame  # store_id, timezone_str (strings)
    truth: pd.DataFrame  # the report's columns (core.report.REPORT_COLUMNS)
    business_time: pd.DataFrame  # core.report.business_time_by_window: unrounded, same units as truth
    true_status: pd.DataFrame  # store_id, start_us, end_us, active: the true process, disjoint per store
    schedules: pd.DataFrame  # core.normalize_schedules output the truth was computed from
    stores: pd.DataFrame  # one row per simulated store: how it was made
    bad_rows: pd.DataFrame  # file, line, kind, raw: rows a correct parser must reject

    @cached_property
    def pings(self) -> pd.DataFrame:
        """store_id, status, timestamp_utc as strings (all rows of store_status.csv, in order)."""
        parts = [pd.DataFrame({name: values.astype(str) for name, values in chunk.items()})
                 for chunk in self.ping_log.chunks()]
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=PINGS_HEADER)

    @property
    def as_of(self) -> str:
        return partition_key(self.as_of_us)


# ---------------------------------------------------------------- formatting


@lru_cache(maxsize=1)
def _time_of_day_texts() -> tuple[np.ndarray, np.ndarray]:
    """'HH:MM:SS' for every second of a day and '000'..'999' (lookup tables)."""
    seconds = np.arange(SECONDS_PER_DAY)
    hh, mm, ss = seconds // 3600, seconds // 60 % 60, seconds % 60
    texts = np.array([f"{h:02d}:{m:02d}:{s:02d}" for h, m, s in zip(hh, mm, ss)], dtype="S8")
    thousands = np.array([f"{i:03d}" for i in range(1000)], dtype="S3")
    return texts, thousands


_TIMESTAMP_LAYOUT = np.dtype(
    {
        "names": ["date", "space", "time", "dot", "milli", "micro", "utc"],
        "formats": ["S10", "S1", "S8", "S1", "S3", "S3", "S4"],
        "offsets": [0, 10, 11, 19, 20, 23, 26],
        "itemsize": 30,
    }
)


def format_timestamps_utc(ts_us: np.ndarray) -> np.ndarray:
    """`2023-01-22 12:09:39.388884 UTC` for each timestamp, as an S30 array.

    strftime per row would take minutes for a long history; dates are few, so
    each is formatted once and the rest comes from lookup tables.
    """
    ts_us = np.asarray(ts_us, dtype=np.int64)
    days, us_of_day = np.divmod(ts_us, US_PER_DAY)
    if len(ts_us) == 0:
        return np.empty(0, dtype="S30")
    first_day = days.min()
    date_texts = np.datetime_as_string(
        np.arange(first_day, days.max() + 1).astype("datetime64[D]")
    ).astype("S10")
    seconds, micros = np.divmod(us_of_day, US_PER_S)
    milli, micro = np.divmod(micros, 1000)
    time_texts, thousands = _time_of_day_texts()
    out = np.empty(len(ts_us), dtype=_TIMESTAMP_LAYOUT)
    out["date"] = date_texts[days - first_day]
    out["space"] = b" "
    out["time"] = time_texts[seconds]
    out["dot"] = b"."
    out["milli"] = thousands[milli]
    out["micro"] = thousands[micro]
    out["utc"] = b" UTC"
    return out.view("S30")


def format_times_of_day(seconds: np.ndarray, with_seconds: np.ndarray | bool = True) -> np.ndarray:
    """`HH:MM:SS` (or `HH:MM` where with_seconds is False) for local times of day."""
    time_texts, _ = _time_of_day_texts()
    full = time_texts[np.asarray(seconds, dtype=np.int64)].astype(str)
    return np.where(with_seconds, full, np.char.ljust(full, 5).astype("U5")).astype(object)


# ---------------------------------------------------------------- parameters


def _as_of_us(as_of: datetime | str | pd.Timestamp | int) -> int:
    """Instant in microseconds, read and rounded up to the whole second like the report clock's."""
    if isinstance(as_of, str):
        as_of_us = parse_instant_us(as_of)
    elif isinstance(as_of, (int, np.integer)):
        as_of_us = int(as_of)
    else:
        stamp = pd.Timestamp(as_of)
        stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
        as_of_us = int(stamp.value // 1000)
    return whole_second_at_or_after_us(as_of_us)


def _unique_store_ids(rng: np.random.Generator, n_stores: int) -> np.ndarray:
    """Numeric-looking ids like the export's (mostly 19 digits), unique, sorted as strings."""
    ids = np.empty(0, dtype=np.int64)
    while len(ids) < n_stores:
        drawn = rng.integers(10**17, np.iinfo(np.int64).max, size=n_stores - len(ids), dtype=np.int64)
        ids = np.unique(np.concatenate([ids, drawn]))
    ids = rng.permutation(ids)[:n_stores]
    return np.sort(ids.astype(str)).astype(object)


# ---------------------------------------------------------------- zones and hours


def _assign_zones(rng: np.random.Generator, n_stores: int, knobs: FleetKnobs) -> tuple[np.ndarray, np.ndarray]:
    """(zone written in timezones.csv or None, zone state 'valid'|'missing'|'invalid') per store."""
    names = np.array(list(ZONE_SHARES), dtype=object)
    shares = np.array(list(ZONE_SHARES.values()))
    zone = names[rng.choice(len(names), size=n_stores, p=shares / shares.sum())]
    draw = rng.random(n_stores)
    state = np.where(draw < knobs.p_missing_zone, "missing",
                     np.where(draw < knobs.p_missing_zone + knobs.p_invalid_zone, "invalid", "valid")).astype(object)
    written = zone.copy()
    written[state == "missing"] = None
    invalid = state == "invalid"
    typos = np.array(INVALID_ZONE_NAMES, dtype=object)
    written[invalid] = typos[rng.integers(0, len(typos), invalid.sum())]
    return written, state


def _half_hours(rng: np.random.Generator, first_hour: float, last_hour: float, n: int) -> np.ndarray:
    """Times of day in seconds on the half hour, uniform in [first_hour, last_hour]."""
    return rng.integers(int(first_hour * 2), int(last_hour * 2) + 1, size=n).astype(np.int64) * 1800


def _profile_rows(rng: np.random.Generator, profile: str, stores: np.ndarray) -> tuple[np.ndarray, ...]:
    """(store index, weekday, start_s, end_s) rows of one schedule profile; raw parsed values."""
    n = len(stores)
    week = np.arange(7)

    def every_day(start_s: np.ndarray, end_s: np.ndarray) -> tuple[np.ndarray, ...]:
        return np.repeat(stores, 7), np.tile(week, n), np.repeat(start_s, 7), np.repeat(end_s, 7)

    if profile == "regular":
        store, day, start, end = every_day(_half_hours(rng, 6, 11, n), _half_hours(rng, 17, 22, n))
        # Some stores stay open an hour later Friday to Sunday.
        later = np.repeat(rng.random(n) < 0.3, 7) & (day >= 4)
        return store, day, start, end + 3600 * later
    if profile == "overnight":
        # Ends after midnight; 00:30..03:00 also meets the spring-forward gap.
        return every_day(_half_hours(rng, 16, 20, n), _half_hours(rng, 0.5, 3, n))
    if profile == "split":
        lunch = every_day(_half_hours(rng, 10.5, 11.5, n), _half_hours(rng, 14, 15, n))
        dinner = every_day(_half_hours(rng, 17, 18, n), _half_hours(rng, 21, 22.5, n))
        return tuple(np.concatenate(pair) for pair in zip(lunch, dinner))
    if profile == "end_of_day":
        opens_at_midnight = rng.random(n) < 0.4
        start = np.where(opens_at_midnight, 0, _half_hours(rng, 6, 12, n))
        # The real export writes "until midnight" both ways, about as often; a few stores mix them.
        spelling = np.where(rng.random(n) < 0.5, END_OF_DAY_59_59_S, END_OF_DAY_59_S)
        store, day, start, end = every_day(start, spelling)
        mixed = np.repeat(rng.random(n) < 0.1, 7) & (rng.random(len(day)) < 0.5)
        end = np.where(mixed, END_OF_DAY_59_59_S + END_OF_DAY_59_S - end, end)
        return store, day, start, end
    if profile == "full_day_rows":
        start = np.array([0, 4 * 3600, 6 * 3600])[rng.integers(0, 3, n)]
        return every_day(start, start)
    if profile == "overlapping":
        morning = every_day(np.full(n, 9 * 3600), np.full(n, 17 * 3600))
        evening = every_day(np.full(n, 15 * 3600), np.full(n, 23 * 3600))
        friday_saturday = np.isin(np.tile(week, n), (4, 5))
        late = [part[friday_saturday] for part in every_day(np.full(n, 20 * 3600), np.full(n, 3 * 3600))]
        return tuple(np.concatenate(parts) for parts in zip(morning, evening, late))
    if profile == "short":
        # The real export has ten-minute rows (00:00-00:10) and such.
        tiny = rng.random(n) < 0.5
        return every_day(np.where(tiny, 0, 11 * 3600), np.where(tiny, 600, 11 * 3600 + 1800))
    raise ValueError(f"unknown schedule profile {profile!r}")


def _business_hours_rows(rng: np.random.Generator, n_stores: int, knobs: FleetKnobs) -> tuple[pd.DataFrame, np.ndarray]:
    """Raw hours rows (store index, weekday, start_s, end_s, with_seconds) and each store's profile."""
    names = list(SCHEDULE_PROFILE_SHARES)
    shares = np.array(list(SCHEDULE_PROFILE_SHARES.values()))
    profile = np.array(names, dtype=object)[rng.choice(len(names), size=n_stores, p=shares / shares.sum())]
    profile[rng.random(n_stores) < knobs.p_no_hours] = "none"

    parts = [_profile_rows(rng, name, np.flatnonzero(profile == name)) for name in names]
    store, day, start_s, end_s = (np.concatenate(column).astype(np.int64) for column in zip(*parts))

    # Closed weekdays: one or two days without a row.
    closed = np.zeros((n_stores, 7), dtype=bool)
    may_close = np.isin(profile, PROFILES_WITH_CLOSED_DAYS)
    draw = rng.random(n_stores)
    n_closed = np.where(may_close & (draw < knobs.p_two_closed_days), 2,
                        np.where(may_close & (draw < knobs.p_two_closed_days + knobs.p_one_closed_day), 1, 0))
    order = np.argsort(rng.random((n_stores, 7)), axis=1)
    closed[np.arange(n_stores)[:, None], order] = np.arange(7)[None, :] < n_closed[:, None]
    keep = ~closed[store, day]

    # Some exports write HH:MM; 23:59:59 is then written 23:59.
    hhmm_store = rng.random(n_stores) < knobs.p_hhmm_times
    with_seconds = ~hhmm_store[store]
    end_s = np.where(~with_seconds & (end_s == END_OF_DAY_59_59_S), END_OF_DAY_59_S, end_s)

    rows = pd.DataFrame({"store": store, "day_of_week": day, "start_s": start_s % SECONDS_PER_DAY,
                         "end_s": end_s % SECONDS_PER_DAY, "with_seconds": with_seconds})[keep]
    # Exports list stores in no particular order.
    rows = rows.iloc[rng.permutation(len(rows))].sort_values("store", kind="stable").reset_index(drop=True)
    return rows, profile


# ---------------------------------------------------------------- the true status


def _true_status_segments(
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

    def _position(self, store: np.ndarray, t_us: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        t_us = np.clip(np.asarray(t_us, dtype=np.int64), self.lo_us, self.hi_us)
        store = np.asarray(store, dtype=np.int64)
        position = np.searchsorted(self.keys, self.key(store, t_us), side="right") - 1
        safe = np.maximum(position, 0)
        same_store = (position >= 0) & (self.store[safe] == store) if len(self.keys) else np.zeros(len(store), bool)
        return safe, same_store, t_us

    def contains(self, store: np.ndarray, t_us: np.ndarray) -> np.ndarray:
        """Whether t lies in one of the store's intervals [start, end)."""
        if len(self.keys) == 0:
            return np.zeros(len(t_us), dtype=bool)
        position, same_store, t_us = self._position(store, t_us)
        return same_store & (t_us < self.end_us[position])

    def value_at(self, store: np.ndarray, t_us: np.ndarray) -> np.ndarray:
        """The weight of the interval holding t (False outside all intervals)."""
        if len(self.keys) == 0:
            return np.zeros(len(t_us), dtype=bool)
        position, same_store, t_us = self._position(store, t_us)
        return same_store & (t_us < self.end_us[position]) & self.weight[position]


# ---------------------------------------------------------------- truth


def truth_as_of(schedules: pd.DataFrame, true_status: pd.DataFrame, as_of_us: int,
                store_ids: Sequence[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(truth, business_time) per store as of `as_of_us`: what a perfect observer would report.

    `true_status`: store_id, start_us, end_us, active (disjoint per store);
    time a store's segments do not cover counts as not active. `schedules`:
    `core.schedules.normalize_schedules` output. The last week's business time,
    split by the true status, goes through the report's own sums
    (`core.report.store_report`), so truth is rounded like the report;
    business_time (`core.report.business_time_by_window`) is exact, in the same units.
    """
    if store_ids is None:
        store_ids = schedules["store_id"].unique()
    store_ids = np.sort(np.asarray(list(store_ids), dtype=object).astype(str)).astype(object)
    week_start_us = as_of_us - US_PER_WEEK
    business = business_intervals_utc(schedules, week_start_us, as_of_us)
    observed = _business_time_by_true_status(business, true_status, pd.Index(store_ids), week_start_us, as_of_us)
    return store_report(observed, store_ids, as_of_us), business_time_by_window(business, store_ids, as_of_us)


def _business_time_by_true_status(business: pd.DataFrame, true_status: pd.DataFrame, stores: pd.Index,
                                  lo_us: int, hi_us: int) -> pd.DataFrame:
    """Business time within [lo_us, hi_us] as segments (core.segments.SEGMENT_COLUMNS) of the true status.

    Cut at every boundary of a business interval or a status segment, each
    piece is wholly inside or outside business time and of one true status.
    """
    def lookup(frame: pd.DataFrame, weight: np.ndarray | None) -> IntervalLookup:
        store = stores.get_indexer(frame["store_id"])
        known = store >= 0
        return IntervalLookup(store[known], frame["start_us"].to_numpy(np.int64)[known],
                              frame["end_us"].to_numpy(np.int64)[known],
                              None if weight is None else weight[known], lo_us, hi_us)

    is_open = lookup(business, None)
    is_active = lookup(true_status, true_status["active"].to_numpy(bool))
    cuts = np.unique(np.concatenate([is_open.boundary_keys(), is_active.boundary_keys()]))
    store, start_us = np.divmod(cuts[:-1], is_open.stride)
    end_store, end_us = np.divmod(cuts[1:], is_open.stride)
    start_us, end_us = start_us + lo_us, end_us + lo_us
    piece = (store == end_store) & is_open.contains(store, start_us)
    store, start_us, end_us = store[piece], start_us[piece], end_us[piece]
    return pd.DataFrame({
        "store_id": stores.to_numpy()[store],
        "start_us": start_us,
        "end_us": end_us,
        "status": np.where(is_active.value_at(store, start_us), ACTIVE, INACTIVE).astype(object),
    })


# ---------------------------------------------------------------- polls


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


def _polls(rng: np.random.Generator, n_stores: int, start_us: int, end_us: int, knobs: FleetKnobs,
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


# ---------------------------------------------------------------- bad rows


def _bad_rows(rng: np.random.Generator, store_ids: np.ndarray, has_hours: np.ndarray, zone_state: np.ndarray,
              as_of_us: int, per_kind: int) -> dict[str, list[tuple[str, list[str]]]]:
    """Rows a correct parser rejects, per file: (kind, fields in header order).

    They name real stores where that is harmless under docs/report-semantics.md#rows-kept-aside (a rejected row
    is not used): unknown zones go to stores without a zone row, so the store
    is a Chicago store whichever way the row is read.
    """
    def some(candidates: np.ndarray) -> np.ndarray:
        if len(candidates) == 0:
            return np.array([""] * per_kind, dtype=object)
        return candidates[rng.integers(0, len(candidates), per_kind)]

    def cycle(options: list[str]) -> list[str]:
        return [options[i % len(options)] for i in range(per_kind)]

    recent_us = as_of_us - rng.integers(US_PER_HOUR, US_PER_DAY, per_kind, dtype=np.int64)
    recent = format_timestamps_utc(recent_us).astype(str)
    pings = (
        [("unknown status", [s, status, t])
         for s, status, t in zip(some(store_ids), cycle(["unknown", "online", "act1ve"]), recent)]
        + [("unparseable timestamp", [s, ACTIVE, t]) for s, t in
           zip(some(store_ids), cycle(["not a timestamp", "2023-02-30 10:00:00 UTC", "2023-03-13 25:61:00 UTC"]))]
        + [("empty store_id", ["", ACTIVE, t]) for t in recent]
        + [("out of range", [s, ACTIVE, t]) for s, t in
           zip(some(store_ids), cycle(["1999-12-31 23:59:59.000000 UTC", "2099-01-01 00:00:00.000000 UTC"]))]
    )
    with_hours = some(store_ids[has_hours])
    hours = (
        [("day outside 0-6", [s, "7", "09:00:00", "17:00:00"]) for s in with_hours]
        + [("unparseable time", [s, str(d), "25:00:00", "26:00:00"]) for s, d in
           zip(some(store_ids[has_hours]), rng.integers(0, 7, per_kind))]
        + [("empty store_id", ["", "1", "09:00:00", "17:00:00"]) for _ in range(per_kind)]
    )
    zones = (
        [("unknown zone", [s, z]) for s, z in zip(some(store_ids[zone_state == "missing"]),
                                                   cycle(["Mars/Olympus_Mons", "America/Chicagoo", "UTC+5"]))]
        + [("empty store_id", ["", "America/New_York"]) for _ in range(per_kind)]
    )
    return {"store_status.csv": pings, "menu_hours.csv": hours, "timezones.csv": zones}


def _insert_rows(rng: np.random.Generator, table: pd.DataFrame, rows: list[list[str]]
                 ) -> tuple[pd.DataFrame, np.ndarray]:
    """Table with `rows` at random places (its own order kept), and the 0-based rows they landed at."""
    extra = pd.DataFrame(rows, columns=table.columns, dtype=object)
    before = np.sort(rng.integers(0, len(table) + 1, len(extra)))
    # Sorting by (place, original row first) keeps the table's order and puts each extra row before row `before`.
    place = np.concatenate([np.arange(len(table)), before])
    tie = np.concatenate([np.ones(len(table)), np.zeros(len(extra))])
    order = np.lexsort((tie, place))
    combined = pd.concat([table, extra], ignore_index=True).iloc[order].reset_index(drop=True)
    landed = np.argsort(order)[len(table):]
    return combined, landed


# ---------------------------------------------------------------- the fleet


def simulate_fleet(n_stores: int, days: float, as_of: datetime | str | int, seed: int = 0,
                   **knobs: object) -> SimulatedFleet:
    """A fleet of `n_stores` with `days` of pings up to `as_of`, and its truth as of `as_of`.

    `as_of` is an ISO string, a datetime (naive = UTC) or int microseconds;
    it is rounded up to the whole second. Knobs: the fields of FleetKnobs.
    Each part of the world draws from its own random stream, so e.g.
    bad_rows=True changes no valid row.
    """
    settings = FleetKnobs(**knobs)  # type: ignore[arg-type]
    as_of_us = _as_of_us(as_of)
    if n_stores < 1 or days <= 0:
        raise ValueError("n_stores must be >= 1 and days > 0")
    ids_rng, zones_rng, hours_rng, status_rng, polls_rng, bad_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(6)
    )
    pings_start_us = as_of_us - int(days * US_PER_DAY)
    world_start_us = min(pings_start_us, as_of_us - US_PER_WEEK)

    store_ids = _unique_store_ids(ids_rng, n_stores)
    written_zone, zone_state = _assign_zones(zones_rng, n_stores, settings)
    hours_rows, profile = _business_hours_rows(hours_rng, n_stores, settings)

    # The project's own reading of the hours, fed with the numbers the strings
    # were made from: the truth stays independent of the CSV parser.
    hours_parsed = pd.DataFrame({
        "store_id": store_ids[hours_rows["store"].to_numpy()],
        "day_of_week": hours_rows["day_of_week"].to_numpy(np.int8),
        "start_s": hours_rows["start_s"].to_numpy(np.int32),
        "end_s": hours_rows["end_s"].to_numpy(np.int32),
    })
    valid_zone = zone_state == "valid"
    zones_parsed = pd.DataFrame({"store_id": store_ids[valid_zone], "timezone": written_zone[valid_zone]})
    schedules = normalize_schedules(hours_parsed, zones_parsed, store_ids)
    # One hour past as_of so a poll at as_of still knows whether the store is open.
    business = business_intervals_utc(schedules, world_start_us, as_of_us + US_PER_HOUR)
    index_of = pd.Index(store_ids)
    business_lookup = IntervalLookup(index_of.get_indexer(business["store_id"]), business["start_us"].to_numpy(),
                                     business["end_us"].to_numpy(), None, world_start_us, as_of_us + US_PER_HOUR)

    segments, long_outages, dead = _true_status_segments(status_rng, n_stores, world_start_us, as_of_us, settings)
    status_lookup = IntervalLookup(segments["store"].to_numpy(), segments["start_us"].to_numpy(),
                                   segments["end_us"].to_numpy(), segments["active"].to_numpy(),
                                   world_start_us, as_of_us)

    switches_off = polls_rng.random(n_stores) < settings.p_switch_off_when_closed

    def poll_answer(store: np.ndarray, ts_us: np.ndarray) -> np.ndarray:
        truly_active = status_lookup.value_at(store, ts_us)
        switched_off = switches_off[store] & ~business_lookup.contains(store, ts_us)
        return truly_active & ~switched_off

    poll_store, poll_ts, active = _polls(polls_rng, n_stores, pings_start_us, as_of_us, settings, poll_answer)

    with_seconds = hours_rows["with_seconds"].to_numpy()
    business_hours = pd.DataFrame({
        "store_id": store_ids[hours_rows["store"].to_numpy()],
        "dayOfWeek": hours_rows["day_of_week"].astype(str).to_numpy(dtype=object),
        "start_time_local": format_times_of_day(hours_rows["start_s"].to_numpy(), with_seconds),
        "end_time_local": format_times_of_day(hours_rows["end_s"].to_numpy(), with_seconds),
    })
    has_zone_row = zone_state != "missing"
    zone_rows = np.flatnonzero(has_zone_row)[zones_rng.permutation(int(has_zone_row.sum()))]
    timezones = pd.DataFrame({"store_id": store_ids[zone_rows], "timezone_str": written_zone[zone_rows]})

    bad_records: list[tuple[str, str, int, str]] = []
    extra_pings = pd.DataFrame({"position": pd.Series(dtype=np.int64), "store_id": pd.Series(dtype=object),
                                "status": pd.Series(dtype=object), "timestamp_utc": pd.Series(dtype=object)})
    if settings.bad_rows:
        has_hours = np.bincount(hours_rows["store"].to_numpy(), minlength=n_stores) > 0
        bad = _bad_rows(bad_rng, store_ids, has_hours, zone_state, as_of_us, settings.bad_rows_per_kind)
        business_hours, landed = _insert_rows(bad_rng, business_hours, [f for _, f in bad["menu_hours.csv"]])
        bad_records += [("menu_hours.csv", kind, int(at) + 2, ",".join(f))
                        for (kind, f), at in zip(bad["menu_hours.csv"], landed)]
        timezones, landed = _insert_rows(bad_rng, timezones, [f for _, f in bad["timezones.csv"]])
        bad_records += [("timezones.csv", kind, int(at) + 2, ",".join(f))
                        for (kind, f), at in zip(bad["timezones.csv"], landed)]
        bad_ping_rows = pd.DataFrame([f for _, f in bad["store_status.csv"]], columns=PINGS_HEADER, dtype=object)
        bad_ping_rows["position"] = bad_rng.integers(0, len(poll_ts) + 1, len(bad_ping_rows))
        bad_ping_rows["kind"] = [kind for kind, _ in bad["store_status.csv"]]
        # Exact duplicates of real polls, right after the original: count once.
        copied = bad_rng.choice(len(poll_ts), size=min(settings.duplicate_pings, len(poll_ts)), replace=False)
        duplicates = pd.DataFrame({
            "store_id": store_ids[poll_store[copied]],
            "status": np.where(active[copied], ACTIVE, INACTIVE).astype(object),
            "timestamp_utc": format_timestamps_utc(poll_ts[copied]).astype(str).astype(object),
            "position": copied + 1,
            "kind": "duplicate",
        })
        extra_pings = pd.concat([bad_ping_rows, duplicates], ignore_index=True)
        extra_pings = extra_pings.sort_values("position", kind="stable").reset_index(drop=True)
        # np.insert puts an extra row before valid row `position`; earlier extras shift it down.
        file_row = extra_pings["position"].to_numpy() + np.arange(len(extra_pings))
        bad_records += [("store_status.csv", kind, int(row) + 2, f"{s},{st},{t}") for kind, row, s, st, t in zip(
            extra_pings["kind"], file_row, extra_pings["store_id"], extra_pings["status"], extra_pings["timestamp_utc"])
            if kind != "duplicate"]
        extra_pings = extra_pings.drop(columns="kind")
    # The world's own misspelt zones are rejected rows too (injected ones name other stores).
    misspelt = np.flatnonzero(timezones["store_id"].isin(store_ids[zone_state == "invalid"]).to_numpy())
    bad_records += [("timezones.csv", "unknown zone", int(i) + 2,
                     f"{timezones['store_id'].iat[i]},{timezones['timezone_str'].iat[i]}") for i in misspelt]
    bad_rows = pd.DataFrame(bad_records, columns=["file", "kind", "line", "raw"])[["file", "line", "kind", "raw"]]
    bad_rows = bad_rows.sort_values(["file", "line"], kind="stable").reset_index(drop=True)

    # The report lists every store seen in a valid row of some input.
    seen = np.zeros(n_stores, dtype=bool)
    seen[poll_store] = True
    seen[hours_rows["store"].to_numpy()] = True
    seen[valid_zone] = True
    true_status = pd.DataFrame({
        "store_id": store_ids[segments["store"].to_numpy()],
        "start_us": segments["start_us"].to_numpy(),
        "end_us": segments["end_us"].to_numpy(),
        "active": segments["active"].to_numpy(),
    })
    truth, business_time = truth_as_of(schedules, true_status, as_of_us, store_ids[seen])

    stores = pd.DataFrame({
        "store_id": store_ids,
        "timezone_str": written_zone,
        "zone_state": zone_state,
        "timezone": np.where(valid_zone, written_zone, DEFAULT_ZONE).astype(object),
        "hours_profile": profile,
        "switches_off_when_closed": switches_off,
        "long_outages": long_outages,
        "dead": dead,
        "in_report": seen,
    })
    ping_log = PingLog(store_ids=store_ids, store_index=poll_store, ts_us=poll_ts, active=active, extra_rows=extra_pings)
    return SimulatedFleet(
        as_of_us=as_of_us, knobs=settings, ping_log=ping_log, business_hours=business_hours, timezones=timezones,
        truth=truth, business_time=business_time, true_status=true_status, schedules=schedules, stores=stores,
        bad_rows=bad_rows,
    )


# ---------------------------------------------------------------- files


def _write_atomically(path: Path, write) -> None:
    # An inbox sensor must never pick up half a file: write beside it, then rename.
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "wb") as handle:
        write(handle)
    os.replace(temporary, path)


def _write_pings(log: PingLog, handle) -> None:
    handle.write((",".join(PINGS_HEADER) + "\n").encode())
    for columns in log.chunks():
        width = {name: values.dtype.itemsize for name, values in columns.items()}
        layout = np.dtype({
            "names": ["store_id", "c1", "status", "c2", "timestamp_utc", "nl"],
            "formats": [f"S{width['store_id']}", "S1", f"S{width['status']}", "S1", f"S{width['timestamp_utc']}", "S1"],
        })
        lines = np.zeros(len(columns["store_id"]), dtype=layout)
        for name, values in columns.items():
            lines[name] = values
        lines["c1"] = lines["c2"] = b","
        lines["nl"] = b"\n"
        # Fields are NUL-padded to a common width; dropping the NULs leaves the CSV text.
        handle.write(lines.tobytes().translate(None, b"\0"))


def _write_frame(frame: pd.DataFrame, handle) -> None:
    handle.write(frame.to_csv(index=False, lineterminator="\n").encode())


def write_fleet(fleet: SimulatedFleet, out_dir: str | os.PathLike, truth_path: str | os.PathLike | None = None
                ) -> dict[str, Path]:
    """Write store_status.csv, menu_hours.csv, timezones.csv and the truth; returns kind -> path.

    The truth goes to out_dir/truth.csv unless `truth_path` says otherwise
    (its header is no input kind, so an ingest would reject it as unknown).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "pings": out / "store_status.csv",
        "business_hours": out / "menu_hours.csv",
        "timezones": out / "timezones.csv",
        "truth": Path(truth_path) if truth_path is not None else out / "truth.csv",
    }
    paths["truth"].parent.mkdir(parents=True, exist_ok=True)
    _write_atomically(paths["pings"], lambda handle: _write_pings(fleet.ping_log, handle))
    _write_atomically(paths["business_hours"],
                      lambda handle: _write_frame(fleet.business_hours[BUSINESS_HOURS_HEADER], handle))
    _write_atomically(paths["timezones"], lambda handle: _write_frame(fleet.timezones[TIMEZONES_HEADER], handle))
    _write_atomically(paths["truth"], lambda handle: _write_frame(fleet.truth, handle))
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="storemon simulate",
                                     description="Write a synthetic fleet's three input CSVs and its truth.")
    parser.add_argument("--stores", type=int, default=300, help="number of stores (default 300)")
    parser.add_argument("--days", type=float, default=8.0, help="days of pings before --as-of (default 8)")
    parser.add_argument("--as-of", default="2023-03-14T12:00:00Z", help="report instant, ISO 8601 (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="directory for the CSV files")
    parser.add_argument("--truth", default=None, help="where to write the truth (default OUT/truth.csv)")
    parser.add_argument("--bad-rows", action="store_true", help="add rows a parser must reject, and duplicate pings")
    parser.add_argument("--knob", action="append", default=[], metavar="NAME=VALUE",
                        help="set a FleetKnobs field, e.g. --knob p_poll_dropped=0.15 (repeatable)")
    args = parser.parse_args(argv)
    knobs = {"bad_rows": args.bad_rows}
    for item in args.knob:
        name, _, value = item.partition("=")
        if name not in FleetKnobs.__dataclass_fields__:
            parser.error(f"unknown knob {name!r}; knobs: {', '.join(FleetKnobs.__dataclass_fields__)}")
        default = getattr(FleetKnobs(), name)
        knobs[name] = value.lower() in ("1", "true", "yes") if isinstance(default, bool) else type(default)(value)

    started = time.perf_counter()
    fleet = simulate_fleet(args.stores, args.days, args.as_of, seed=args.seed, **knobs)
    simulated = time.perf_counter()
    paths = write_fleet(fleet, args.out, truth_path=args.truth)
    summary = {
        "as_of": fleet.as_of,
        "stores": args.stores,
        "stores_in_report": int(len(fleet.truth)),
        "ping_rows": len(fleet.ping_log),
        "business_hours_rows": int(len(fleet.business_hours)),
        "timezone_rows": int(len(fleet.timezones)),
        "bad_rows": int(len(fleet.bad_rows)),
        "simulate_seconds": round(simulated - started, 2),
        "write_seconds": round(time.perf_counter() - simulated, 2),
        "files": {kind: str(path) for kind, path in paths.items()},
    }
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
