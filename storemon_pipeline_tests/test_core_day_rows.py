"""Day rows (core.day_rows) against hand-computed expectations: DST dates, overnight hours, odd zones.

Every expected instant below was worked out by hand from the zone's rules (New York: EST = UTC-5,
EDT = UTC-4, clocks forward 2023-03-12 02:00 EST, back 2023-11-05 02:00 EDT), not by the code.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from storemon_pipeline.core.clock import US_PER_DAY, US_PER_HOUR, as_of_from_partition_key as us
from storemon_pipeline.core.day_rows import RowPiece, day_rows, place_instants, place_intervals
from storemon_pipeline.core.schedules import SECONDS_PER_DAY
from storemon_pipeline.core.timeline import store_timeline, timeline_layout

H = US_PER_HOUR
NEW_YORK = "America/New_York"
SPRING_AS_OF = us("2023-03-14T12:00:00Z")  # Tue 14 Mar 08:00 EDT
WEEK = 7 * US_PER_DAY


def _row(rows, day: date):
    return next(row for row in rows if row.local_date == day)


def test_spring_week_in_new_york_has_eight_dates_and_a_23_hour_sunday():
    rows = day_rows(NEW_YORK, SPRING_AS_OF - WEEK, SPRING_AS_OF)
    # The week is Tue 7 Mar 07:00 EST to Tue 14 Mar 08:00 EDT: eight local dates.
    assert [row.local_date for row in rows] == [date(2023, 3, d) for d in range(7, 15)]
    assert rows[0].start_us == us("2023-03-07T05:00:00Z")  # midnight EST
    sunday = _row(rows, date(2023, 3, 12))
    assert sunday.start_us == us("2023-03-12T05:00:00Z")  # 00:00 EST
    assert sunday.end_us == us("2023-03-13T04:00:00Z")  # 00:00 EDT
    assert sunday.length_us == 23 * H
    # 02:00 never happens on the spring Sunday; 03:00 EDT comes two hours after midnight.
    assert [m.wall_hour for m in sunday.hour_marks] == [0, 1, *range(3, 24)]
    three = next(m for m in sunday.hour_marks if m.wall_hour == 3)
    assert three.offset_us == 2 * H
    assert all(row.length_us == 24 * H for row in rows if row is not sunday)
    assert rows[-1].start_us == us("2023-03-14T04:00:00Z")  # midnight EDT


def test_autumn_sunday_is_25_hours_with_the_repeated_hour_drawn_twice():
    as_of = us("2023-11-07T12:00:00Z")
    rows = day_rows(NEW_YORK, as_of - WEEK, as_of)
    sunday = _row(rows, date(2023, 11, 5))
    assert (sunday.start_us, sunday.end_us) == (us("2023-11-05T04:00:00Z"), us("2023-11-06T05:00:00Z"))
    assert [m.wall_hour for m in sunday.hour_marks][:4] == [0, 1, 1, 2]
    assert [m.offset_us for m in sunday.hour_marks][:4] == [0, 1 * H, 2 * H, 3 * H]
    # 01:30 EST (the second 01:30) is 06:30 UTC: two and a half hours into the row, not one and a half.
    (piece,) = place_instants(rows, np.array([us("2023-11-05T06:30:00Z")]))
    assert piece == RowPiece(rows.index(sunday), int(2.5 * H), int(2.5 * H), 0)


def test_overnight_hours_continue_at_the_start_of_the_next_local_date():
    rows = day_rows(NEW_YORK, SPRING_AS_OF - WEEK, SPRING_AS_OF)
    saturday, sunday, monday = (rows.index(_row(rows, date(2023, 3, d))) for d in (11, 12, 13))
    # Saturday 22:00-02:00: Sat 22:00 EST (03:00 UTC) to Sunday 02:00, which does not exist and is
    # read as 02:00 EST = 03:00 EDT (07:00 UTC): two hours on Saturday, two on Sunday.
    # Sunday 22:00-02:00: Sun 22:00 EDT (02:00 UTC Monday) to Mon 02:00 EDT (06:00 UTC).
    starts = np.array([us("2023-03-12T03:00:00Z"), us("2023-03-13T02:00:00Z")])
    ends = np.array([us("2023-03-12T07:00:00Z"), us("2023-03-13T06:00:00Z")])
    assert place_intervals(rows, starts, ends) == [
        RowPiece(saturday, 22 * H, 24 * H, 0),
        RowPiece(sunday, 0, 2 * H, 0),
        # Sunday is 23 hours long: 22:00 EDT is 21 hours after its midnight.
        RowPiece(sunday, 21 * H, 23 * H, 1),
        RowPiece(monday, 0, 2 * H, 1),
    ]


def test_a_22_to_02_schedule_row_lands_on_the_right_dates_through_the_whole_timeline():
    """From a weekly row to the drawing: the store's own Saturday 22:00-02:00 on the DST weekend."""
    schedules = pd.DataFrame(
        {"timezone": [NEW_YORK], "day_of_week": [5], "start_s": [22 * 3600], "end_s": [2 * 3600 + SECONDS_PER_DAY]}
    )
    segments = pd.DataFrame(
        {"start_us": [us("2023-03-12T03:00:00Z")], "end_us": [us("2023-03-12T07:00:00Z")], "status": ["active"]}
    )
    pings = pd.DataFrame({"ts_us": [us("2023-03-12T04:00:00Z")], "active": [True]})
    report = {"store_id": "s", "uptime_last_hour": 0.0, "uptime_last_day": 0.0, "uptime_last_week": 4.0,
              "downtime_last_hour": 0.0, "downtime_last_day": 0.0, "downtime_last_week": 0.0}
    timeline = store_timeline("s", SPRING_AS_OF, schedules, segments, pings, report)
    assert timeline.notes == ()
    layout = timeline_layout(timeline)
    dates = [row.local_date for row in layout.rows]
    assert [(dates[p.row], p.start_offset_us, p.end_offset_us) for p in layout.segments] == [
        (date(2023, 3, 11), 22 * H, 24 * H),
        (date(2023, 3, 12), 0, 2 * H),
    ]
    # The ping at 04:00 UTC is Sat 23:00 EST.
    assert [(dates[p.row], p.start_offset_us) for p in layout.pings] == [(date(2023, 3, 11), 23 * H)]
    # The report week covers the first date from 07:00 EST and the last up to 08:00 EDT.
    assert (layout.week[0].row, layout.week[0].start_offset_us) == (0, 7 * H)
    assert (layout.week[-1].row, layout.week[-1].end_offset_us) == (len(layout.rows) - 1, 8 * H)


def test_a_week_from_local_midnight_to_local_midnight_is_seven_rows():
    as_of = us("2023-01-25T05:00:00Z")  # Wed 25 Jan 00:00 EST; no clock change in the week
    rows = day_rows(NEW_YORK, as_of - WEEK, as_of)
    assert [row.local_date for row in rows] == [date(2023, 1, d) for d in range(18, 25)]


def test_a_clock_change_at_midnight_starts_the_date_at_01_00():
    # Beirut moved to summer time at 00:00 on Sunday 26 March 2023: the date begins at 01:00 (UTC+3).
    rows = day_rows("Asia/Beirut", us("2023-03-25T12:00:00Z"), us("2023-03-27T12:00:00Z"))
    sunday = _row(rows, date(2023, 3, 26))
    assert sunday.start_us == us("2023-03-25T22:00:00Z")  # 00:00 EET, the instant the clock reads 01:00
    assert sunday.length_us == 23 * H
    assert sunday.hour_marks[0].wall_hour == 1 and sunday.hour_marks[0].offset_us == 0


def test_half_hour_zones_cut_rows_at_their_own_midnight():
    rows = day_rows("Asia/Kolkata", us("2023-01-24T12:00:00Z"), us("2023-01-25T12:00:00Z"))
    assert [row.start_us for row in rows] == [us("2023-01-23T18:30:00Z"), us("2023-01-24T18:30:00Z")]
    assert [m.wall_hour for m in rows[0].hour_marks] == list(range(24))
