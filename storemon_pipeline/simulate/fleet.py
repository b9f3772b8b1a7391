"""simulate_fleet: one seeded fleet, its inputs as the exports write them and its truth."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from storemon_pipeline.core.business_time import business_intervals_utc
from storemon_pipeline.core.clock import (
    US_PER_DAY,
    US_PER_HOUR,
    WINDOW_SPANS_US,
    parse_instant_us,
    whole_second_at_or_after_us,
)
from storemon_pipeline.core.schedules import DEFAULT_ZONE, normalize_schedules
from storemon_pipeline.simulate.bad_rows import add_bad_rows, bad_rows_table, no_extra_pings
from storemon_pipeline.simulate.intervals import IntervalLookup
from storemon_pipeline.simulate.model import FleetKnobs, PingLog, SimulatedFleet
from storemon_pipeline.simulate.status import polls, true_status_segments
from storemon_pipeline.simulate.stores import assign_zones, business_hours_rows, unique_store_ids
from storemon_pipeline.simulate.text import format_times_of_day
from storemon_pipeline.simulate.truth import truth_as_of


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
    world_start_us = min(pings_start_us, as_of_us - WINDOW_SPANS_US["week"])

    store_ids = unique_store_ids(ids_rng, n_stores)
    written_zone, zone_state = assign_zones(zones_rng, n_stores, settings)
    hours_rows, profile = business_hours_rows(hours_rng, n_stores, settings)

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

    segments, long_outages, dead = true_status_segments(status_rng, n_stores, world_start_us, as_of_us, settings)
    status_lookup = IntervalLookup(segments["store"].to_numpy(), segments["start_us"].to_numpy(),
                                   segments["end_us"].to_numpy(), segments["active"].to_numpy(),
                                   world_start_us, as_of_us)

    switches_off = polls_rng.random(n_stores) < settings.p_switch_off_when_closed

    def poll_answer(store: np.ndarray, ts_us: np.ndarray) -> np.ndarray:
        truly_active = status_lookup.value_at(store, ts_us)
        switched_off = switches_off[store] & ~business_lookup.contains(store, ts_us)
        return truly_active & ~switched_off

    poll_store, poll_ts, active = polls(polls_rng, n_stores, pings_start_us, as_of_us, settings, poll_answer)

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

    extra_pings, bad_records = no_extra_pings(), []
    if settings.bad_rows:
        business_hours, timezones, extra_pings, bad_records = add_bad_rows(
            bad_rng, settings, as_of_us, store_ids, zone_state, business_hours, timezones, (poll_store, poll_ts, active))
    bad_rows = bad_rows_table(bad_records, timezones, store_ids[zone_state == "invalid"])

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
