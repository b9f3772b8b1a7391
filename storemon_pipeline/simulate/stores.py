"""Who the stores are: their ids, the zones the export gives them and their weekly hours.

Shaped like the real exports: a few misspelt or missing zones; overnight, split,
end-of-day, full-day, overlapping and ten-minute openings; closed weekdays; HH:MM times.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from storemon_pipeline.core.schedules import END_OF_DAY_SPELLINGS_S, SECONDS_PER_DAY
from storemon_pipeline.simulate.model import FleetKnobs

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


def unique_store_ids(rng: np.random.Generator, n_stores: int) -> np.ndarray:
    """Numeric-looking ids like the export's (mostly 19 digits), unique, sorted as strings."""
    ids = np.empty(0, dtype=np.int64)
    while len(ids) < n_stores:
        drawn = rng.integers(10**17, np.iinfo(np.int64).max, size=n_stores - len(ids), dtype=np.int64)
        ids = np.unique(np.concatenate([ids, drawn]))
    ids = rng.permutation(ids)[:n_stores]
    return np.sort(ids.astype(str)).astype(object)


def assign_zones(rng: np.random.Generator, n_stores: int, knobs: FleetKnobs) -> tuple[np.ndarray, np.ndarray]:
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


def business_hours_rows(rng: np.random.Generator, n_stores: int, knobs: FleetKnobs) -> tuple[pd.DataFrame, np.ndarray]:
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
