"""docs/report-semantics.md#status-evidence-and-the-nearest-ping: evidence and the nearest-ping rule."""

from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd

from storemon_pipeline.core.report import store_report
from storemon_pipeline.core.schedules import normalize_schedules
from storemon_pipeline.core.segments import SEGMENT_COLUMNS, status_segments

H = 3600
US = 1_000_000
HOUR_US = H * US
MIN_US = 60 * US
DAY_US = 24 * HOUR_US
UTC_ZONE = "Etc/UTC"


def utc_us(*args) -> int:
    return int(datetime(*args, tzinfo=timezone.utc).timestamp()) * US


def schedules(hours=(), zones=(), stores=()):
    frame = pd.DataFrame(list(hours), columns=["store_id", "day_of_week", "start_s", "end_s"])
    tz = pd.DataFrame(list(zones), columns=["store_id", "timezone"])
    ids = set(stores) | set(frame["store_id"]) | set(tz["store_id"])
    return normalize_schedules(frame, tz, sorted(ids))


def pings(rows):
    """rows: (store_id, ts_us, 'active' | 'inactive')."""
    return pd.DataFrame(
        {
            "store_id": pd.Series([r[0] for r in rows], dtype=object),
            "ts_us": pd.Series([r[1] for r in rows], dtype="int64"),
            "active": pd.Series([r[2] == "active" for r in rows], dtype=bool),
        }
    )


def segments_of(frame, store="s1"):
    part = frame[frame["store_id"] == store]
    return list(zip(part["start_us"].tolist(), part["end_us"].tolist(), part["status"].tolist()))


# Monday 2023-01-16 and Tuesday 2023-01-17; T = Wednesday 2023-01-18 00:00 UTC.
MON, TUE = (2023, 1, 16), (2023, 1, 17)
T_WED = utc_us(2023, 1, 18)
SPLIT_HOURS = [("s1", 0, 20 * H, 23 * H), ("s1", 1, 5 * H, 12 * H)]


def split_store_pings():
    return pings(
        [
            ("s1", utc_us(*MON, 19), "inactive"),  # closed: ignored
            ("s1", utc_us(*MON, 22, 30), "active"),
            ("s1", utc_us(*TUE, 4), "inactive"),  # closed: ignored (else 05:00-05:10 would be inactive)
            ("s1", utc_us(*TUE, 11, 50), "inactive"),
        ]
    )


def test_nearest_evidence_across_closed_hours_with_midpoint_switch():
    segs = status_segments(schedules(SPLIT_HOURS, [("s1", UTC_ZONE)]), split_store_pings(), T_WED)
    assert list(segs.columns) == SEGMENT_COLUMNS
    # Evidence: Mon 22:30 active, Tue 11:50 inactive; 13 h 20 min apart, so the
    # status switches 6 h 40 min after Mon 22:30 = Tue 05:10.
    assert segments_of(segs) == [
        (utc_us(*MON, 20), utc_us(*MON, 23), "active"),
        (utc_us(*TUE, 5), utc_us(*TUE, 5, 10), "active"),
        (utc_us(*TUE, 5, 10), utc_us(*TUE, 12), "inactive"),
    ]


def test_split_store_report_numbers():
    segs = status_segments(schedules(SPLIT_HOURS, [("s1", UTC_ZONE)]), split_store_pings(), T_WED)
    report = store_report(segs, ["s1"], T_WED).iloc[0]
    # Week: up 3 h + 10 min = 3.1667 -> 3.17; down 6 h 50 min = 6.8333 -> 6.83.
    # Day [Tue 00:00, Wed 00:00]: up 10 min = 0.17 h, down 6.83 h. Hour [Tue 23:00, Wed]: closed.
    assert report.to_dict() == {
        "store_id": "s1",
        "uptime_last_hour": 0.0, "uptime_last_day": 0.17, "uptime_last_week": 3.17,
        "downtime_last_hour": 0.0, "downtime_last_day": 6.83, "downtime_last_week": 6.83,
    }


def test_nearest_evidence_across_closed_days():
    hours = [("s1", 0, 9 * H, 17 * H), ("s1", 3, 9 * H, 17 * H)]  # Mondays and Thursdays
    t = utc_us(2023, 1, 20)  # Friday
    data = pings([("s1", utc_us(2023, 1, 16, 16), "active"), ("s1", utc_us(2023, 1, 19, 10), "inactive")])
    segs = status_segments(schedules(hours, [("s1", UTC_ZONE)]), data, t)
    # Mon 16:00 and Thu 10:00 are 66 h apart: switch at Tue 01:00 (closed). The week
    # [Fri Jan 13, Fri Jan 20] holds Mon 16 and Thu 19: Monday active, Thursday inactive.
    assert segments_of(segs) == [
        (utc_us(2023, 1, 16, 9), utc_us(2023, 1, 16, 17), "active"),
        (utc_us(2023, 1, 19, 9), utc_us(2023, 1, 19, 17), "inactive"),
    ]


def test_no_evidence_is_unknown_for_all_business_time():
    hours = [("s1", 0, 9 * H, 17 * H)]
    # The only ping is taken while closed.
    segs = status_segments(schedules(hours, [("s1", UTC_ZONE)]), pings([("s1", utc_us(*MON, 8), "active")]), T_WED)
    assert segments_of(segs) == [(utc_us(*MON, 9), utc_us(*MON, 17), "unknown")]
    report = store_report(segs, ["s1"], T_WED).iloc[0]
    assert (report["uptime_last_week"], report["downtime_last_week"]) == (0.0, 8.0)


def test_pings_after_as_of_are_ignored():
    sched = schedules(zones=[("s1", UTC_ZONE)])
    before = pings([("s1", T_WED - HOUR_US, "active")])
    after = pings([("s1", T_WED - HOUR_US, "active"), ("s1", T_WED + 1, "inactive"),
                   ("s1", T_WED + HOUR_US, "inactive")])
    expected = [(T_WED - 7 * DAY_US, T_WED, "active")]
    assert segments_of(status_segments(sched, before, T_WED)) == expected
    assert segments_of(status_segments(sched, after, T_WED)) == expected


def test_pings_older_than_eight_days_are_ignored():
    sched = schedules(zones=[("s1", UTC_ZONE)])
    too_old = status_segments(sched, pings([("s1", T_WED - 8 * DAY_US - 1, "active")]), T_WED)
    assert segments_of(too_old) == [(T_WED - 7 * DAY_US, T_WED, "unknown")]
    oldest = status_segments(sched, pings([("s1", T_WED - 8 * DAY_US, "active")]), T_WED)
    assert segments_of(oldest) == [(T_WED - 7 * DAY_US, T_WED, "active")]


def test_evidence_before_the_week_still_decides_its_first_hours():
    sched = schedules(zones=[("s1", UTC_ZONE)])
    data = pings([("s1", T_WED - 7 * DAY_US - 12 * HOUR_US, "active"), ("s1", T_WED - HOUR_US, "inactive")])
    segs = status_segments(sched, data, T_WED)
    # Pings at T-180 h and T-1 h: switch at T-90.5 h.
    switch = T_WED - 90 * HOUR_US - 30 * MIN_US
    assert segments_of(segs) == [(T_WED - 168 * HOUR_US, switch, "active"), (switch, T_WED, "inactive")]
    report = store_report(segs, ["s1"], T_WED).iloc[0]
    # Week: up 168 - 90.5 = 77.5 h, down 90.5 h; day and hour all down.
    assert (report["uptime_last_week"], report["downtime_last_week"]) == (77.5, 90.5)
    assert (report["downtime_last_day"], report["downtime_last_hour"]) == (24.0, 60.0)


def test_poll_exactly_at_as_of_counts():
    sched = schedules(zones=[("s1", UTC_ZONE)])
    segs = status_segments(sched, pings([("s1", T_WED, "active")]), T_WED)
    assert segments_of(segs) == [(T_WED - 7 * DAY_US, T_WED, "active")]


def test_poll_at_as_of_counts_inside_an_opening_that_goes_on():
    t = utc_us(*MON, 12)
    sched = schedules([("s1", 0, 9 * H, 17 * H)], [("s1", UTC_ZONE)])
    segs = status_segments(sched, pings([("s1", t, "active")]), t)
    # The week [Mon Jan 9 12:00, T] holds Jan 9 12:00-17:00 and, up to T, Jan 16 09:00-12:00.
    assert segments_of(segs) == [(utc_us(2023, 1, 9, 12), utc_us(2023, 1, 9, 17), "active"),
                                 (utc_us(*MON, 9), t, "active")]


def test_poll_at_closing_instant_is_not_evidence_but_opening_instant_is():
    t = utc_us(*MON, 17)
    sched = schedules([("s1", 0, 9 * H, 17 * H)], [("s1", UTC_ZONE)])
    closing_only = status_segments(sched, pings([("s1", t, "active")]), t)
    assert segments_of(closing_only) == [(utc_us(*MON, 9), t, "unknown")]
    both = status_segments(sched, pings([("s1", utc_us(*MON, 9), "inactive"), ("s1", t, "active")]), t)
    assert segments_of(both) == [(utc_us(*MON, 9), t, "inactive")]


def test_identical_duplicates_count_once():
    sched = schedules(zones=[("s1", UTC_ZONE)])
    once = [("s1", T_WED - 50 * MIN_US, "active"), ("s1", T_WED - 30 * MIN_US, "inactive")]
    twice = once + once + once[:1]
    assert segments_of(status_segments(sched, pings(twice), T_WED)) == segments_of(
        status_segments(sched, pings(once), T_WED)
    )


def test_conflicting_duplicates_last_given_wins():
    sched = schedules(zones=[("s1", UTC_ZONE)])
    t1 = T_WED - 2 * HOUR_US
    for first, last in (("active", "inactive"), ("inactive", "active")):
        data = pings([("s1", t1, first), ("s1", T_WED - DAY_US, "inactive"), ("s1", t1, last)])
        segs = status_segments(sched, data, T_WED)
        # Pings at T-24 h (inactive) and T-2 h (`last`): switch at T-13 h when they differ.
        if last == "inactive":
            assert segments_of(segs) == [(T_WED - 7 * DAY_US, T_WED, "inactive")]
        else:
            assert segments_of(segs) == [
                (T_WED - 7 * DAY_US, T_WED - 13 * HOUR_US, "inactive"),
                (T_WED - 13 * HOUR_US, T_WED, "active"),
            ]


def test_closed_store_pings_do_not_borrow_a_neighbour_stores_hours():
    # "a" is open 24x7, "b" only on Mondays 09-17: b's Tuesday ping falls in a's
    # business time but not in b's, so it is not evidence for b.
    sched = schedules([("b", 0, 9 * H, 17 * H)], [("a", UTC_ZONE), ("b", UTC_ZONE)])
    data = pings([(store, utc_us(*TUE, 10), "active") for store in ("a", "b", "c")])
    segs = status_segments(sched, data, T_WED)
    assert segments_of(segs, "a") == [(T_WED - 7 * DAY_US, T_WED, "active")]
    assert segments_of(segs, "b") == [(utc_us(*MON, 9), utc_us(*MON, 17), "unknown")]
    # A ping of a store unknown to the schedules is no one's evidence.
    assert segments_of(segs, "c") == []


def test_many_stores_keep_their_own_evidence():
    stores = [f"s{i:03d}" for i in range(60)]
    sched = schedules(zones=[(s, UTC_ZONE) for s in stores])
    # Store i: active ping at T-(i+1) h and inactive ping at T-(i+1) h - 2 h -> switch at T-(i+2) h.
    rows = []
    for i, s in enumerate(stores):
        rows += [(s, T_WED - (i + 1) * HOUR_US, "active"), (s, T_WED - (i + 3) * HOUR_US, "inactive")]
    segs = status_segments(sched, pings(rows[::-1]), T_WED)
    for i, s in enumerate(stores):
        switch = T_WED - (i + 2) * HOUR_US
        assert segments_of(segs, s) == [(T_WED - 7 * DAY_US, switch, "inactive"), (switch, T_WED, "active")]


def test_dst_store_segments_in_local_hours():
    # New York, Sundays 00:00-23:59:59; Sunday 2023-11-05 lasts 25 h. T = Mon Nov 6 12:00 UTC.
    t = utc_us(2023, 11, 6, 12)
    sched = schedules([("s1", 6, 0, 86_399)], [("s1", "America/New_York")])
    data = pings([("s1", utc_us(2023, 11, 5, 4), "active"), ("s1", utc_us(2023, 11, 6, 4), "inactive")])
    segs = status_segments(sched, data, t)
    # Open Nov 5 04:00 -> Nov 6 05:00 UTC; Sunday Oct 29 ends (Oct 30 04:00 UTC) before the
    # week starts (Oct 30 12:00). Pings at Nov 5 04:00 and Nov 6 04:00: switch at Nov 5 16:00.
    assert segments_of(segs) == [
        (utc_us(2023, 11, 5, 4), utc_us(2023, 11, 5, 16), "active"),
        (utc_us(2023, 11, 5, 16), utc_us(2023, 11, 6, 5), "inactive"),
    ]
    report = store_report(segs, ["s1"], t).iloc[0]
    # Week [Oct 30 12:00, Nov 6 12:00] holds only Nov 5-6: up 12 h, down 13 h.
    assert (report["uptime_last_week"], report["downtime_last_week"]) == (12.0, 13.0)
