"""Properties of the whole core (docs/report-semantics.md#the-numbers, #the-clock-and-the-as-of) on random small fleets.

The reference below re-reads docs/report-semantics.md with plain datetimes and zoneinfo, one
opening and one ping at a time, so it shares no code with the vectorised core.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storemon_pipeline.core.report import REPORT_COLUMNS, store_report
from storemon_pipeline.core.schedules import normalize_schedules
from storemon_pipeline.core.segments import status_segments

US = 1_000_000
H_US = 3600 * US
DAY_US = 24 * H_US
WINDOWS = {"hour": (H_US, 60 * US), "day": (DAY_US, H_US), "week": (7 * DAY_US, H_US)}  # span, unit
# Rounding each figure to 2 decimals moves it by at most 0.005; float noise on top.
ONE_FIGURE = 0.005 + 1e-6
TWO_FIGURES = 0.01 + 1e-6

ZONES = [None, "Not/AZone", "Etc/UTC", "America/New_York", "Europe/London", "Asia/Kolkata",
         "Australia/Lord_Howe", "America/Santiago", "Asia/Beirut", "Pacific/Apia"]
# As-of instants near DST changes (US spring/autumn 2023, Lord Howe, Santiago) and a quiet one.
BASE_AS_OF = [datetime(2023, 3, 13, tzinfo=timezone.utc), datetime(2023, 11, 6, tzinfo=timezone.utc),
              datetime(2023, 4, 3, tzinfo=timezone.utc), datetime(2023, 10, 2, tzinfo=timezone.utc),
              datetime(2023, 9, 4, tzinfo=timezone.utc), datetime(2023, 1, 25, tzinfo=timezone.utc)]
# Times of day the exports use, the end-of-day spellings, and odd seconds.
TIMES = st.sampled_from([0, 1800, 2 * 3600, 2 * 3600 + 1800, 9 * 3600, 17 * 3600, 22 * 3600,
                         86_340, 86_399]) | st.integers(0, 86_399)


@st.composite
def fleets(draw):
    as_of = BASE_AS_OF[draw(st.integers(0, len(BASE_AS_OF) - 1))]
    as_of_us = int(as_of.timestamp()) * US + draw(st.integers(-3 * 86_400, 3 * 86_400)) * US
    n_stores = draw(st.integers(1, 4))
    hours, zones, pings = [], [], []
    for i in range(n_stores):
        store = f"s{i}"
        zone = draw(st.sampled_from(ZONES))
        if zone is not None:
            zones.append((store, zone))
        if draw(st.booleans()):
            for _ in range(draw(st.integers(1, 5))):
                hours.append((store, draw(st.integers(0, 6)), draw(TIMES), draw(TIMES)))
        for _ in range(draw(st.integers(0, 10))):
            # Mostly inside the 8-day evidence span, some before it and some after T.
            offset_s = draw(st.integers(-9 * 86_400, 2 * 86_400))
            pings.append((store, as_of_us + offset_s * US + draw(st.sampled_from([0, 0, 1, 999_999])),
                          draw(st.booleans())))
    return hours, zones, pings, as_of_us


def frames(hours, zones, pings):
    return (
        pd.DataFrame(hours, columns=["store_id", "day_of_week", "start_s", "end_s"]),
        pd.DataFrame(zones, columns=["store_id", "timezone"]),
        pd.DataFrame(
            {
                "store_id": pd.Series([p[0] for p in pings], dtype=object),
                "ts_us": pd.Series([p[1] for p in pings], dtype="int64"),
                "active": pd.Series([p[2] for p in pings], dtype=bool),
            }
        ),
    )


def core_report(hours, zones, pings, as_of_us, stores):
    hours_df, zones_df, pings_df = frames(hours, zones, pings)
    sched = normalize_schedules(hours_df, zones_df, stores)
    return store_report(status_segments(sched, pings_df, as_of_us), stores, as_of_us)


def store_set(hours, zones, pings, as_of_us):
    return sorted({h[0] for h in hours} | {z[0] for z in zones} | {p[0] for p in pings if p[1] <= as_of_us})


# --- the reference ----------------------------------------------------------------


def reference_business_time(hours, zones, store, lo_us, hi_us):
    """Union of the store's openings as sorted disjoint [start, end) in UTC us, clipped to [lo, hi]."""
    known = {z for z in ZONES if z and z != "Not/AZone"}
    zone_name = "America/Chicago"
    for s, z in zones:
        if s == store and z in known:
            zone_name = z
    zone = ZoneInfo(zone_name)
    rows = [(d, a, b) for s, d, a, b in hours if s == store] or [(d, 0, 0) for d in range(7)]
    pieces = []
    first = datetime(1970, 1, 1) + timedelta(days=lo_us // DAY_US - 3)
    for k in range((hi_us - lo_us) // DAY_US + 6):
        local_date = first + timedelta(days=k)
        for day, start_s, end_s in rows:
            if local_date.weekday() != day:
                continue
            if end_s in (86_340, 86_399):
                end_s = 86_400
            elif end_s <= start_s:
                end_s += 86_400
            start = (local_date + timedelta(seconds=start_s)).replace(tzinfo=zone, fold=0)
            end = (local_date + timedelta(seconds=end_s)).replace(tzinfo=zone, fold=0)
            a = max(int(start.timestamp()) * US, lo_us)
            b = min(int(end.timestamp()) * US, hi_us)
            if b > a:
                pieces.append([a, b])
    pieces.sort()
    merged = []
    for a, b in pieces:
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return merged


def reference_report(hours, zones, pings, as_of_us, stores):
    rows = []
    for store in stores:
        # Wide enough that no opening holding T or T - 8 d is cut short.
        open_ = reference_business_time(hours, zones, store, as_of_us - 9 * DAY_US, as_of_us + 2 * DAY_US)
        latest = {}
        for s, ts, active in pings:  # the last of equal instants wins
            if s == store and as_of_us - 8 * DAY_US <= ts <= as_of_us and any(a <= ts < b for a, b in open_):
                latest[ts] = active
        evidence = sorted(latest.items())
        row = {"store_id": store}
        for window, (span_us, unit_us) in WINDOWS.items():
            up_us = down_us = 0.0
            for a, b in open_:
                a, b = max(a, as_of_us - span_us), min(b, as_of_us)
                if b <= a:
                    continue
                up = active_measure(evidence, a, b)
                up_us += up
                down_us += (b - a) - up
            row[f"uptime_last_{window}"] = up_us / unit_us
            row[f"downtime_last_{window}"] = down_us / unit_us
        rows.append(row)
    return pd.DataFrame(rows, columns=REPORT_COLUMNS)


def active_measure(evidence, a, b):
    """Time in [a, b) whose nearest evidence ping is active."""
    total = 0.0
    for k, (ts, active) in enumerate(evidence):
        if not active:
            continue
        left = float("-inf") if k == 0 else (evidence[k - 1][0] + ts) / 2
        right = float("inf") if k == len(evidence) - 1 else (ts + evidence[k + 1][0]) / 2
        total += max(0.0, min(b, right) - max(a, left))
    return total


def business_hours_of_window(hours, zones, store, as_of_us, window):
    span_us, unit_us = WINDOWS[window]
    return sum(b - a for a, b in reference_business_time(hours, zones, store, as_of_us - span_us, as_of_us)) / unit_us


# --- properties -------------------------------------------------------------------

FLEET_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FLEET_SETTINGS
@given(fleets())
def test_uptime_plus_downtime_is_business_time(fleet):
    hours, zones, pings, as_of_us = fleet
    stores = store_set(hours, zones, pings, as_of_us)
    report = core_report(hours, zones, pings, as_of_us, stores).set_index("store_id")
    assert report.index.tolist() == stores
    for store in stores:
        for window in WINDOWS:
            expected = business_hours_of_window(hours, zones, store, as_of_us, window)
            up, down = report.loc[store, f"uptime_last_{window}"], report.loc[store, f"downtime_last_{window}"]
            assert up >= 0 and down >= 0
            assert abs(up + down - expected) <= TWO_FIGURES, (store, window, up, down, expected)


@FLEET_SETTINGS
@given(fleets(), st.lists(st.tuples(st.integers(0, 5), st.integers(1, 3 * 86_400 * US), st.booleans()), max_size=8))
def test_later_pings_do_not_change_a_report(fleet, later):
    hours, zones, pings, as_of_us = fleet
    stores = store_set(hours, zones, pings, as_of_us)
    more = pings + [(f"s{i}", as_of_us + delta_us, active) for i, delta_us, active in later]
    before = core_report(hours, zones, pings, as_of_us, stores)
    after = core_report(hours, zones, more, as_of_us, stores)
    pd.testing.assert_frame_equal(before, after)


@FLEET_SETTINGS
@given(fleets())
def test_report_matches_the_one_ping_at_a_time_reference(fleet):
    hours, zones, pings, as_of_us = fleet
    stores = store_set(hours, zones, pings, as_of_us)
    got = core_report(hours, zones, pings, as_of_us, stores).set_index("store_id")
    want = reference_report(hours, zones, pings, as_of_us, stores).set_index("store_id")
    for column in REPORT_COLUMNS[1:]:
        for store in stores:
            # The core rounds the exact figure; the reference keeps it exact.
            assert abs(got.loc[store, column] - want.loc[store, column]) <= ONE_FIGURE, (
                store, column, got.loc[store, column], want.loc[store, column])
