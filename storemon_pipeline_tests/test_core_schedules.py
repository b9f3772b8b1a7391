"""docs/report-semantics.md#business-time, the weekly-rule half: `normalize_schedules`."""

from __future__ import annotations

import pandas as pd
import pytest

from storemon_pipeline.core.schedules import DEFAULT_ZONE, SCHEDULE_COLUMNS, normalize_schedules

H = 3600
DAY = 86_400


def hours_frame(rows):
    return pd.DataFrame(rows, columns=["store_id", "day_of_week", "start_s", "end_s"])


def zones_frame(rows=()):
    return pd.DataFrame(list(rows), columns=["store_id", "timezone"])


def normalized(rows, zones=(), stores=None):
    if stores is None:
        stores = sorted({r[0] for r in rows} | {z[0] for z in zones})
    return normalize_schedules(hours_frame(rows), zones_frame(zones), stores)


def rows_of(frame, store="s1"):
    part = frame[frame["store_id"] == store]
    return list(zip(part["day_of_week"], part["start_s"], part["end_s"]))


def test_columns_and_plain_row():
    frame = normalized([("s1", 0, 9 * H, 17 * H)])
    assert list(frame.columns) == SCHEDULE_COLUMNS
    assert rows_of(frame) == [(0, 32_400, 61_200)]  # 9 h, 17 h


def test_overnight_row_ends_next_day():
    # 22:00 -> 02:00: end < start, so the end is 02:00 of D+1 = 86400 + 7200 = 93600.
    assert rows_of(normalized([("s1", 4, 22 * H, 2 * H)])) == [(4, 79_200, 93_600)]


@pytest.mark.parametrize("end_s", [23 * H + 59 * 60, 23 * H + 59 * 60 + 59])
def test_end_of_day_spellings_mean_midnight(end_s):
    # 23:59 / 23:59:00 (86340) and 23:59:59 (86399) both mean 24:00 = 86400.
    assert rows_of(normalized([("s1", 2, 10 * H, end_s)])) == [(2, 36_000, 86_400)]


def test_full_day_rows_in_both_export_forms():
    # 00:00 -> 23:59:59 is the whole day, not one second short of it.
    frame = normalized([("s1", 0, 0, 86_399), ("s2", 0, 0, 86_340)])
    assert rows_of(frame, "s1") == rows_of(frame, "s2") == [(0, 0, 86_400)]


def test_start_equal_to_end_is_24_hours():
    # 09:00 -> 09:00 ends at 09:00 of D+1: 32400 + 86400 = 118800.
    assert rows_of(normalized([("s1", 3, 9 * H, 9 * H)])) == [(3, 32_400, 118_800)]


def test_midnight_to_midnight_is_24_hours():
    assert rows_of(normalized([("s1", 3, 0, 0)])) == [(3, 0, 86_400)]


def test_store_without_rows_is_open_24x7():
    frame = normalized([("s1", 0, 9 * H, 17 * H)], stores=["s1", "s2"])
    assert rows_of(frame, "s2") == [(d, 0, DAY) for d in range(7)]
    assert rows_of(frame, "s1") == [(0, 32_400, 61_200)]


def test_weekday_without_a_row_gets_no_row():
    frame = normalized([("s1", 1, 9 * H, 17 * H), ("s1", 5, 9 * H, 17 * H)])
    assert sorted(set(frame["day_of_week"])) == [1, 5]


def test_duplicate_rows_collapse():
    frame = normalized([("s1", 1, 9 * H, 17 * H), ("s1", 1, 9 * H, 17 * H), ("s1", 1, 8 * H, 9 * H)])
    assert rows_of(frame) == [(1, 28_800, 32_400), (1, 32_400, 61_200)]


def test_zone_missing_or_unknown_is_chicago():
    frame = normalized(
        [("s1", 0, 0, H), ("s2", 0, 0, H), ("s3", 0, 0, H)],
        zones=[("s2", "Asia/Kolkata"), ("s3", "America/Chicagoo")],
    )
    assert DEFAULT_ZONE == "America/Chicago"
    assert dict(zip(frame["store_id"], frame["timezone"])) == {
        "s1": "America/Chicago",
        "s2": "Asia/Kolkata",
        "s3": "America/Chicago",
    }


def test_last_zone_row_of_a_store_wins_and_unknown_names_are_skipped():
    frame = normalized(
        [("s1", 0, 0, H)],
        zones=[("s1", "Asia/Kolkata"), ("s1", "Europe/London"), ("s1", "Not/AZone")],
    )
    assert set(frame["timezone"]) == {"Europe/London"}


def test_store_with_only_a_zone_is_24x7_in_that_zone():
    frame = normalized([], zones=[("z1", "Europe/London")])
    assert rows_of(frame, "z1") == [(d, 0, DAY) for d in range(7)]
    assert set(frame["timezone"]) == {"Europe/London"}


def test_sorted_by_store_day_start():
    frame = normalized([("b", 3, 5 * H, 6 * H), ("a", 6, 1 * H, 2 * H), ("a", 0, 7 * H, 8 * H), ("a", 0, 1 * H, 2 * H)])
    assert list(zip(frame["store_id"], frame["day_of_week"], frame["start_s"])) == [
        ("a", 0, 3600), ("a", 0, 25_200), ("a", 6, 3600), ("b", 3, 18_000)
    ]
