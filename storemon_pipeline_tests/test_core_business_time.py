"""docs/report-semantics.md#business-time: local weekly rows to UTC intervals, zoneinfo fold=0."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storemon_pipeline.core.business_time import business_intervals_utc, merge_intervals, wall_to_utc_s
from storemon_pipeline.core.schedules import normalize_schedules

H = 3600
US = 1_000_000
UTC = timezone.utc


def utc_us(*args) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp()) * US


def schedules(rows, zones=(), stores=None):
    hours = pd.DataFrame(rows, columns=["store_id", "day_of_week", "start_s", "end_s"])
    tz = pd.DataFrame(list(zones), columns=["store_id", "timezone"])
    if stores is None:
        stores = sorted({r[0] for r in rows} | {z[0] for z in zones})
    return normalize_schedules(hours, tz, stores)


def intervals(frame, store="s1"):
    part = frame[frame["store_id"] == store]
    return list(zip(part["start_us"].tolist(), part["end_us"].tolist()))


def total_hours(frame, store="s1") -> float:
    return sum(e - s for s, e in intervals(frame, store)) / (H * US)


# 2023-01-23 is a Monday (weekday 0); 2023-03-12 and 2023-11-05 are Sundays (6).


def test_chicago_monday_in_winter():
    frame = business_intervals_utc(schedules([("s1", 0, 9 * H, 17 * H)], [("s1", "America/Chicago")]),
                                   utc_us(2023, 1, 23), utc_us(2023, 1, 24, 12))
    # CST is UTC-6: 09:00 -> 15:00 UTC, 17:00 -> 23:00 UTC.
    assert intervals(frame) == [(utc_us(2023, 1, 23, 15), utc_us(2023, 1, 23, 23))]


def test_weekday_without_row_is_closed_for_a_whole_week():
    frame = business_intervals_utc(schedules([("s1", 0, 9 * H, 17 * H)]), utc_us(2023, 1, 23), utc_us(2023, 1, 30))
    # Only Monday Jan 23 lies in the week (the next Monday starts at 15:00 UTC Jan 30): 8 h.
    assert total_hours(frame) == 8.0


def test_overnight_row_runs_into_next_day():
    frame = business_intervals_utc(schedules([("s1", 4, 22 * H, 2 * H)], [("s1", "Etc/UTC")]),
                                   utc_us(2023, 1, 27), utc_us(2023, 1, 29))
    # Friday Jan 27 22:00 -> Saturday 02:00: 4 h.
    assert intervals(frame) == [(utc_us(2023, 1, 27, 22), utc_us(2023, 1, 28, 2))]


@pytest.mark.parametrize("end_s", [23 * H + 59 * 60, 23 * H + 59 * 60 + 59])
def test_end_of_day_ends_at_midnight(end_s):
    frame = business_intervals_utc(schedules([("s1", 0, 20 * H, end_s)], [("s1", "Etc/UTC")]),
                                   utc_us(2023, 1, 23), utc_us(2023, 1, 25))
    # Monday 20:00 -> Tuesday 00:00 = 4 h.
    assert intervals(frame) == [(utc_us(2023, 1, 23, 20), utc_us(2023, 1, 24))]


def test_start_equal_end_lasts_24_hours():
    frame = business_intervals_utc(schedules([("s1", 0, 9 * H, 9 * H)], [("s1", "Etc/UTC")]),
                                   utc_us(2023, 1, 23), utc_us(2023, 1, 26))
    assert intervals(frame) == [(utc_us(2023, 1, 23, 9), utc_us(2023, 1, 24, 9))]


def test_overlapping_and_touching_rows_count_once():
    rows = [("s1", 0, 9 * H, 13 * H), ("s1", 0, 12 * H, 17 * H), ("s1", 0, 16 * H, 16 * H + 1800),
            ("s1", 1, 9 * H, 12 * H), ("s1", 1, 12 * H, 15 * H)]
    frame = business_intervals_utc(schedules(rows, [("s1", "Etc/UTC")]), utc_us(2023, 1, 23), utc_us(2023, 1, 25))
    # Monday: 09-13 u 12-17 u 16-16:30 = 09-17 (8 h); Tuesday: 09-12 u 12-15 = 09-15 (6 h).
    assert intervals(frame) == [
        (utc_us(2023, 1, 23, 9), utc_us(2023, 1, 23, 17)),
        (utc_us(2023, 1, 24, 9), utc_us(2023, 1, 24, 15)),
    ]
    assert total_hours(frame) == 14.0


def test_overnight_row_overlapping_next_days_row():
    rows = [("s1", 0, 20 * H, 3 * H), ("s1", 1, 1 * H, 5 * H)]
    frame = business_intervals_utc(schedules(rows, [("s1", "Etc/UTC")]), utc_us(2023, 1, 23), utc_us(2023, 1, 25))
    # Mon 20:00 -> Tue 03:00 u Tue 01:00 -> 05:00 = Mon 20:00 -> Tue 05:00, 9 h.
    assert intervals(frame) == [(utc_us(2023, 1, 23, 20), utc_us(2023, 1, 24, 5))]


def test_24x7_week_is_168_hours_across_dst():
    as_of = utc_us(2023, 3, 15)
    frame = business_intervals_utc(schedules([], [("s1", "America/New_York")]), as_of - 7 * 24 * H * US, as_of)
    # The week holds the spring-forward of Sunday Mar 12; absolute time is still 168 h.
    assert intervals(frame) == [(as_of - 168 * H * US, as_of)]


def test_missing_zone_and_unknown_zone_are_chicago():
    rows = [(s, 0, 9 * H, 17 * H) for s in ("s1", "s2", "s3")]
    frame = business_intervals_utc(schedules(rows, [("s2", "Not/AZone"), ("s3", "Asia/Kolkata")]),
                                   utc_us(2023, 1, 23), utc_us(2023, 1, 24))
    assert intervals(frame, "s1") == intervals(frame, "s2") == [(utc_us(2023, 1, 23, 15), utc_us(2023, 1, 23, 23))]


def test_half_hour_zone():
    frame = business_intervals_utc(schedules([("s1", 0, 9 * H, 17 * H)], [("s1", "Asia/Kolkata")]),
                                   utc_us(2023, 1, 22), utc_us(2023, 1, 24))
    # IST is UTC+05:30: 09:00 -> 03:30 UTC, 17:00 -> 11:30 UTC.
    assert intervals(frame) == [(utc_us(2023, 1, 23, 3, 30), utc_us(2023, 1, 23, 11, 30))]


NY = [("s1", "America/New_York")]


def test_spring_forward_day_is_23_hours():
    frame = business_intervals_utc(schedules([("s1", 6, 0, 86_399)], NY), utc_us(2023, 3, 11), utc_us(2023, 3, 15))
    # 00:00 EST (-5) = 05:00 UTC; 24:00 = Mar 13 00:00 EDT (-4) = 04:00 UTC: 23 h.
    assert intervals(frame) == [(utc_us(2023, 3, 12, 5), utc_us(2023, 3, 13, 4))]


def test_fall_back_day_is_25_hours():
    frame = business_intervals_utc(schedules([("s1", 6, 0, 86_399)], NY), utc_us(2023, 11, 4), utc_us(2023, 11, 8))
    # 00:00 EDT (-4) = 04:00 UTC; 24:00 = Nov 6 00:00 EST (-5) = 05:00 UTC: 25 h.
    assert intervals(frame) == [(utc_us(2023, 11, 5, 4), utc_us(2023, 11, 6, 5))]
    assert total_hours(frame) == 25.0


def test_opening_inside_the_spring_gap_reads_pre_gap_offset():
    frame = business_intervals_utc(schedules([("s1", 6, 2 * H + 1800, 5 * H)], NY),
                                   utc_us(2023, 3, 11), utc_us(2023, 3, 14))
    # 02:30 does not exist; with EST (-5) it is 07:30 UTC = 03:30 EDT. 05:00 EDT = 09:00 UTC: 1.5 h.
    assert intervals(frame) == [(utc_us(2023, 3, 12, 7, 30), utc_us(2023, 3, 12, 9))]


def test_ambiguous_opening_takes_first_occurrence():
    frame = business_intervals_utc(schedules([("s1", 6, 1 * H + 1800, 3 * H)], NY),
                                   utc_us(2023, 11, 4), utc_us(2023, 11, 7))
    # 01:30 happens twice; the first is EDT (-4) = 05:30 UTC. 03:00 EST (-5) = 08:00 UTC: 2.5 h.
    assert intervals(frame) == [(utc_us(2023, 11, 5, 5, 30), utc_us(2023, 11, 5, 8))]


def test_ambiguous_closing_takes_first_occurrence():
    frame = business_intervals_utc(schedules([("s1", 6, 0, 1 * H + 1800)], NY),
                                   utc_us(2023, 11, 4), utc_us(2023, 11, 7))
    # 00:00 EDT = 04:00 UTC; 01:30 first occurrence EDT = 05:30 UTC: 1.5 h (not 2.5).
    assert intervals(frame) == [(utc_us(2023, 11, 5, 4), utc_us(2023, 11, 5, 5, 30))]


@pytest.mark.parametrize("start_s", [2 * H, 2 * H + 1800])
def test_row_that_maps_to_an_empty_utc_interval_adds_nothing(start_s):
    rows = [("s1", 6, start_s, 3 * H)]
    frame = business_intervals_utc(schedules(rows, NY), utc_us(2023, 3, 11), utc_us(2023, 3, 14))
    # 02:00 -> 07:00 UTC, 02:30 -> 07:30 UTC, but 03:00 EDT = 07:00 UTC: end not after start.
    assert intervals(frame) == []


def test_overnight_row_across_spring_forward():
    frame = business_intervals_utc(schedules([("s1", 5, 22 * H, 6 * H)], NY), utc_us(2023, 3, 11), utc_us(2023, 3, 14))
    # Sat Mar 11 22:00 EST = Mar 12 03:00 UTC; Sun 06:00 EDT = 10:00 UTC: 7 h, not 8.
    assert intervals(frame) == [(utc_us(2023, 3, 12, 3), utc_us(2023, 3, 12, 10))]


def test_lord_howe_half_hour_dst():
    zones = [("s1", "Australia/Lord_Howe")]
    start = business_intervals_utc(schedules([("s1", 6, 0, 0)], zones), utc_us(2023, 9, 30), utc_us(2023, 10, 3))
    # Sun Oct 1 2023: 00:00 at +10:30 = Sep 30 13:30 UTC; Oct 2 00:00 at +11 = Oct 1 13:00 UTC: 23.5 h.
    assert intervals(start) == [(utc_us(2023, 9, 30, 13, 30), utc_us(2023, 10, 1, 13))]
    end = business_intervals_utc(schedules([("s1", 6, 0, 0)], zones), utc_us(2023, 3, 31), utc_us(2023, 4, 4))
    # Sun Apr 2 2023: 00:00 at +11 = Apr 1 13:00 UTC; Apr 3 00:00 at +10:30 = Apr 2 13:30 UTC: 24.5 h.
    assert intervals(end) == [(utc_us(2023, 4, 1, 13), utc_us(2023, 4, 2, 13, 30))]


def test_apia_skipped_day_adds_nothing():
    zones = [("s1", "Pacific/Apia")]
    # Friday 2011-12-30 never happened in Samoa (UTC-10 -> UTC+14 at local midnight).
    frame = business_intervals_utc(schedules([("s1", 4, 0, 0), ("s1", 5, 0, 0)], zones),
                                   utc_us(2011, 12, 28), utc_us(2012, 1, 2))
    # Friday: wall 00:00 Dec 30 read at -10 = Dec 30 10:00 UTC; its end, Dec 31 00:00 at +14, is the same instant.
    # Saturday Dec 31: 00:00 at +14 = Dec 30 10:00 UTC -> Jan 1 00:00 at +14 = Dec 31 10:00 UTC.
    assert intervals(frame) == [(utc_us(2011, 12, 30, 10), utc_us(2011, 12, 31, 10))]


def test_intervals_are_clipped_to_the_range():
    frame = business_intervals_utc(schedules([("s1", 0, 9 * H, 17 * H)], [("s1", "Etc/UTC")]),
                                   utc_us(2023, 1, 23, 10), utc_us(2023, 1, 23, 12, 30))
    assert intervals(frame) == [(utc_us(2023, 1, 23, 10), utc_us(2023, 1, 23, 12, 30))]


def test_many_stores_many_zones_match_a_per_row_zoneinfo_reference():
    zones = ["America/New_York", "Europe/London", "Asia/Kolkata", "Australia/Lord_Howe", "America/Santiago"]
    rows = []
    for i, zone in enumerate(zones):
        rows += [(f"s{i}", d, (d * 5 * H + i * 1800) % 86_400, (d * 7 * H + 3 * H) % 86_400) for d in range(7)]
    sched = schedules(rows, [(f"s{i}", z) for i, z in enumerate(zones)])
    lo, hi = utc_us(2023, 3, 20), utc_us(2023, 4, 10)
    frame = business_intervals_utc(sched, lo, hi)
    for i, zone in enumerate(zones):
        assert intervals(frame, f"s{i}") == reference_intervals(sched[sched["store_id"] == f"s{i}"], lo, hi)


def reference_intervals(sched, lo_us, hi_us):
    """One datetime per opening, straight from the rule of docs/report-semantics.md#time-zones-and-daylight-saving; union clipped to [lo, hi]."""
    pieces = []
    for row in sched.itertuples():
        zone = ZoneInfo(row.timezone)
        day = datetime(1970, 1, 1) + timedelta(days=lo_us // (86_400 * US) - 3)
        while day <= datetime(1970, 1, 1) + timedelta(days=hi_us // (86_400 * US) + 1):
            if day.weekday() == row.day_of_week:
                start = (day + timedelta(seconds=int(row.start_s))).replace(tzinfo=zone, fold=0)
                end = (day + timedelta(seconds=int(row.end_s))).replace(tzinfo=zone, fold=0)
                s = max(int(start.timestamp()) * US, lo_us)
                e = min(int(end.timestamp()) * US, hi_us)
                if e > s:
                    pieces.append((s, e))
            day += timedelta(days=1)
    pieces.sort()
    merged = []
    for s, e in pieces:
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return merged


def test_merge_intervals_keeps_stores_apart():
    frame = pd.DataFrame({"store_id": ["b", "a", "a", "b"], "start_us": [5, 1, 3, 0], "end_us": [9, 4, 6, 5]})
    merged = merge_intervals(frame)
    assert merged.to_dict("records") == [
        {"store_id": "a", "start_us": 1, "end_us": 6},
        {"store_id": "b", "start_us": 0, "end_us": 9},
    ]


# --- wall_to_utc_s against zoneinfo ----------------------------------------------

PROPERTY_ZONES = ["America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Beirut", "America/Santiago",
                  "Pacific/Apia"]


@lru_cache(maxsize=None)
def transition_days(zone_name: str) -> tuple[int, ...]:
    """UTC day numbers (since the epoch) after which the zone's offset differs, 2005..2030."""
    zone = ZoneInfo(zone_name)
    first, last = 12_784, 22_280  # 2005-01-01, 2030-12-31
    days = []
    previous = datetime.fromtimestamp(first * 86_400, tz=zone).utcoffset()
    for day in range(first + 1, last):
        offset = datetime.fromtimestamp(day * 86_400, tz=zone).utcoffset()
        if offset != previous:
            days.append(day - 1)
        previous = offset
    return tuple(days)


def zoneinfo_utc_s(zone_name: str, wall_s: int) -> int:
    naive = datetime(1970, 1, 1) + timedelta(seconds=wall_s)
    return int(naive.replace(tzinfo=ZoneInfo(zone_name), fold=0).astimezone(UTC).timestamp())


@st.composite
def walls_near_a_transition(draw):
    zone_name = draw(st.sampled_from(PROPERTY_ZONES))
    days = transition_days(zone_name)
    day = draw(st.sampled_from(days))
    # Within 2 days either side of the transition's UTC day, at second resolution,
    # plus the exact quarter hours where gaps and folds begin and end.
    quarter_hours = st.integers(-96, 96).map(lambda q: q * 900 + 86_400 // 2)
    offsets = draw(st.lists(st.integers(-2 * 86_400, 3 * 86_400) | quarter_hours, min_size=1, max_size=12))
    return zone_name, [day * 86_400 + o for o in offsets]


@settings(max_examples=200, deadline=None)
@given(walls_near_a_transition())
def test_wall_to_utc_matches_zoneinfo_fold0(case):
    zone_name, walls = case
    wall_s = np.array(walls, dtype=np.int64)
    lo, hi = int(wall_s.min()) - 3 * 86_400, int(wall_s.max()) + 3 * 86_400
    got = wall_to_utc_s(zone_name, wall_s, lo, hi).tolist()
    assert got == [zoneinfo_utc_s(zone_name, w) for w in walls]


def test_every_transition_zone_has_transitions():
    # Guards the property test above against testing nothing.
    for zone_name in PROPERTY_ZONES:
        assert len(transition_days(zone_name)) >= 10, zone_name
