"""docs/report-semantics.md#the-numbers, #the-stores-in-a-report and #the-clock-and-the-as-of."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pytest

from storemon_pipeline.core.clock import (
    as_of_from_partition_key,
    latest_report_as_of_us,
    parse_instant_us,
    partition_key,
)
from storemon_pipeline.core.report import REPORT_COLUMNS, report_csv, store_report
from storemon_pipeline.core.schedules import normalize_schedules
from storemon_pipeline.core.segments import status_segments

H = 3600
US = 1_000_000
HOUR_US = H * US
MIN_US = 60 * US
DAY_US = 24 * HOUR_US
UTC_ZONE = "Etc/UTC"
REPORT_HEADER = (
    "store_id,uptime_last_hour,uptime_last_day,uptime_last_week,"
    "downtime_last_hour,downtime_last_day,downtime_last_week"
)


def utc_us(*args) -> int:
    return int(datetime(*args, tzinfo=timezone.utc).timestamp()) * US


def run_report(hours=(), zones=(), ping_rows=(), as_of_us=0, extra_stores=()):
    """The core pipeline as the assets run it; stores = every store in any input."""
    hours_df = pd.DataFrame(list(hours), columns=["store_id", "day_of_week", "start_s", "end_s"])
    zones_df = pd.DataFrame(list(zones), columns=["store_id", "timezone"])
    pings_df = pd.DataFrame(
        {
            "store_id": pd.Series([r[0] for r in ping_rows], dtype=object),
            "ts_us": pd.Series([r[1] for r in ping_rows], dtype="int64"),
            "active": pd.Series([r[2] == "active" for r in ping_rows], dtype=bool),
        }
    )
    stores = sorted(
        set(hours_df["store_id"]) | set(zones_df["store_id"])
        | set(pings_df.loc[pings_df["ts_us"] <= as_of_us, "store_id"]) | set(extra_stores)
    )
    sched = normalize_schedules(hours_df, zones_df, stores)
    segs = status_segments(sched, pings_df, as_of_us)
    return store_report(segs, stores, as_of_us)


T = utc_us(2023, 1, 25, 18, 13, 23)


def test_windows_units_and_rounding():
    report = run_report(
        zones=[("s1", UTC_ZONE)],
        ping_rows=[("s1", T - 50 * MIN_US, "active"), ("s1", T - 30 * MIN_US, "inactive")],
        as_of_us=T,
    )
    # 24x7; pings at T-50 min (active) and T-30 min (inactive): switch at T-40 min.
    # Hour (minutes): up 20, down 40.
    # Day (hours): up 24 - 40/60 = 23.3333 -> 23.33; down 0.6667 -> 0.67.
    # Week (hours): up 168 - 0.6667 = 167.3333 -> 167.33; down 0.67.
    assert report.to_dict("records") == [
        {
            "store_id": "s1",
            "uptime_last_hour": 20.0, "uptime_last_day": 23.33, "uptime_last_week": 167.33,
            "downtime_last_hour": 40.0, "downtime_last_day": 0.67, "downtime_last_week": 0.67,
        }
    ]


def test_report_columns_and_csv_header_exactly_as_spec():
    report = run_report(zones=[("s1", UTC_ZONE)], as_of_us=T)
    assert list(report.columns) == REPORT_COLUMNS
    assert ",".join(REPORT_COLUMNS) == REPORT_HEADER
    assert report_csv(report).splitlines()[0] == REPORT_HEADER


def test_report_csv_text_is_fixed_two_decimals():
    report = run_report(
        zones=[("s1", UTC_ZONE)],
        ping_rows=[("s1", T - 50 * MIN_US, "active"), ("s1", T - 30 * MIN_US, "inactive")],
        extra_stores=["s0"],
        as_of_us=T,
    )
    # s0 has no zone, hours or pings here: 24x7 Chicago, no evidence, all down.
    assert report_csv(report) == (
        REPORT_HEADER + "\n"
        "s0,0.00,0.00,0.00,60.00,24.00,168.00\n"
        "s1,20.00,23.33,167.33,40.00,0.67,0.67\n"
    )


def test_report_csv_quotes_odd_store_ids_as_pandas_does():
    odd_ids = ["a,b", 'q"x', "line\nbreak", "cr\rhere", " spaced ", "", "plain", "é"]
    report = pd.DataFrame(
        {"store_id": odd_ids, **{name: np.linspace(0, 1e6, len(odd_ids)) + 0.005 for name in REPORT_COLUMNS[1:]}}
    )
    reference = report[REPORT_COLUMNS].to_csv(index=False, float_format="%.2f", lineterminator="\n")
    assert report_csv(report) == reference
    assert '"a,b"' in reference and '"q""x"' in reference


def test_stores_sorted_and_stores_without_pings_appear():
    report = run_report(
        hours=[("b", 2, 9 * H, 17 * H)],  # Wednesdays 09-17 Chicago = 15:00-23:00 UTC
        zones=[("c", "Asia/Kolkata")],
        ping_rows=[("a", T - MIN_US, "active")],
        as_of_us=T,  # Wednesday Jan 25 18:13:23 UTC
    )
    assert report["store_id"].tolist() == ["a", "b", "c"]
    by_store = report.set_index("store_id")
    # a: 24x7, one active ping: all up.
    assert by_store.loc["a"].tolist() == [60.0, 24.0, 168.0, 0.0, 0.0, 0.0]
    # b: open today 15:00 UTC -> T (3 h 13 min 23 s = 3.2231 h) and last Wednesday
    # Jan 18 (8 h, inside the week that starts Jan 18 18:13:23 only from 18:13:23 to
    # 23:00 = 4 h 46 min 37 s = 4.7769 h). No pings: down. Week 3.2231 + 4.7769 = 8.00 h.
    assert by_store.loc["b"].tolist() == [0.0, 0.0, 0.0, 60.0, 3.22, 8.0]
    # c: zone only, 24x7, no pings: down all the time.
    assert by_store.loc["c"].tolist() == [0.0, 0.0, 0.0, 60.0, 24.0, 168.0]


def test_store_closed_in_every_window_reports_zeros():
    report = run_report(hours=[("s1", 0, 9 * H, 10 * H)], zones=[("s1", UTC_ZONE)], as_of_us=utc_us(2023, 1, 20))
    # Mondays 09-10 UTC; the week [Fri Jan 13, Fri Jan 20] holds Monday Jan 16: down 1 h.
    assert report.iloc[0, 1:].tolist() == [0.0, 0.0, 0.0, 0.0, 0.0, 1.0]


def test_empty_inputs_give_an_empty_report_with_the_header():
    report = run_report(as_of_us=T)
    assert report.empty
    assert report_csv(report) == REPORT_HEADER + "\n"


def test_report_only_counts_up_to_as_of():
    # A segment that lasts past T (as a caller might hand over) is cut at T.
    segs = pd.DataFrame(
        {"store_id": ["s1"], "start_us": [T - 2 * HOUR_US], "end_us": [T + 5 * HOUR_US], "status": ["active"]}
    )
    report = store_report(segs, ["s1"], T)
    assert report.iloc[0, 1:].tolist() == [60.0, 2.0, 2.0, 0.0, 0.0, 0.0]


def test_segments_of_stores_outside_the_store_list_are_ignored():
    segs = pd.DataFrame(
        {"store_id": ["x", "s1"], "start_us": [T - HOUR_US] * 2, "end_us": [T] * 2, "status": ["active", "inactive"]}
    )
    report = store_report(segs, ["s1"], T)
    assert report.to_dict("records") == [
        {"store_id": "s1", "uptime_last_hour": 0.0, "uptime_last_day": 0.0, "uptime_last_week": 0.0,
         "downtime_last_hour": 60.0, "downtime_last_day": 1.0, "downtime_last_week": 1.0}
    ]


# --- the clock --------------------------------------------------------------------


def test_latest_report_rounds_up_to_whole_second():
    # 2023-01-22 12:09:39.388884 -> 12:09:40; an exact second stays.
    assert latest_report_as_of_us(1_674_389_379_388_884) == 1_674_389_380_000_000
    assert latest_report_as_of_us(1_674_389_379_000_000) == 1_674_389_379_000_000
    assert latest_report_as_of_us(1_674_389_379_000_001) == 1_674_389_380_000_000


def test_partition_key_round_trip():
    assert partition_key(T) == "2023-01-25T18:13:23Z"
    assert as_of_from_partition_key("2023-01-25T18:13:23Z") == T
    with pytest.raises(ValueError, match="partition key"):
        as_of_from_partition_key("2023-01-25 18:13:23")


def test_parse_instant():
    assert parse_instant_us("2023-01-25T18:13:23Z") == T
    assert parse_instant_us(" 2023-01-25 18:13:23 UTC ") == T
    with pytest.raises(ValueError, match="not an ISO 8601 instant"):
        parse_instant_us("soon")


def test_recomputing_an_old_report_after_new_data_gives_the_same_numbers():
    old = [("s1", T - 3 * HOUR_US, "active"), ("s1", T - 20 * MIN_US, "inactive")]
    new = old + [("s1", T + 10 * MIN_US, "active"), ("s1", T + DAY_US, "inactive")]
    assert run_report(zones=[("s1", UTC_ZONE)], ping_rows=old, as_of_us=T).equals(
        run_report(zones=[("s1", UTC_ZONE)], ping_rows=new, as_of_us=T)
    )
