"""The numbers (docs/report-semantics.md#the-numbers): status segments summed per window."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

import numpy as np
import pandas as pd

from storemon_pipeline.core.clock import US_PER_HOUR, US_PER_S, WINDOW_SPANS_US
from storemon_pipeline.core.segments import ACTIVE, codes_in

REPORT_COLUMNS = [
    "store_id",
    "uptime_last_hour",
    "uptime_last_day",
    "uptime_last_week",
    "downtime_last_hour",
    "downtime_last_day",
    "downtime_last_week",
]
# The hour figures are minutes, the day and week figures hours.
WINDOW_UNIT_US = {"hour": 60 * US_PER_S, "day": US_PER_HOUR, "week": US_PER_HOUR}


def store_report(segments: pd.DataFrame, store_ids: Iterable[str], as_of_us: int) -> pd.DataFrame:
    """One row per store (sorted by store_id): uptime and downtime per window.

    Downtime is every business instant that is not `active` (inactive or
    unknown), so uptime + downtime is the window's business time exactly
    (up to the 2-decimal rounding).
    """
    stores = pd.Index(sorted(set(store_ids)), dtype=object)
    start_us = segments["start_us"].to_numpy(dtype=np.int64)
    end_us = np.minimum(segments["end_us"].to_numpy(dtype=np.int64), as_of_us)
    is_active = (segments["status"] == ACTIVE).to_numpy()
    codes = codes_in(stores, segments["store_id"])
    known = codes >= 0

    report = pd.DataFrame({"store_id": stores.to_numpy()})
    for window, span_us in WINDOW_SPANS_US.items():
        overlap_us = np.clip(end_us - np.maximum(start_us, as_of_us - span_us), 0, None)
        unit_us = WINDOW_UNIT_US[window]
        for column, mask in ((f"uptime_last_{window}", is_active), (f"downtime_last_{window}", ~is_active)):
            total_us = np.bincount(codes[known & mask], weights=overlap_us[known & mask], minlength=len(stores))
            report[column] = np.round(total_us / unit_us, 2)
    return report[REPORT_COLUMNS]


def worst_stores(report: pd.DataFrame, limit: int) -> pd.DataFrame:
    """The `limit` stores with the most downtime last week (ties by store_id): the list a person looks at first."""
    return report.sort_values(["downtime_last_week", "store_id"], ascending=[False, True]).head(limit)


# Each figure is rounded to 2 decimals on its own, so uptime + downtime may miss the rounded
# business time by up to one unit in the last place.
ROUNDING_TOLERANCE = 0.01 + 1e-9


def business_time_by_window(intervals: pd.DataFrame, store_ids: Iterable[str], as_of_us: int) -> pd.DataFrame:
    """Per store (sorted): the business time of each window, in the report's units, unrounded.

    `intervals` are business intervals (core.business_time) covering at least the last week.
    """
    stores = pd.Index(sorted(set(store_ids)), dtype=object)
    codes = codes_in(stores, intervals["store_id"])
    known = codes >= 0
    start_us = intervals["start_us"].to_numpy(dtype=np.int64)[known]
    end_us = np.minimum(intervals["end_us"].to_numpy(dtype=np.int64)[known], as_of_us)
    business = pd.DataFrame({"store_id": stores.to_numpy()})
    for window, span_us in WINDOW_SPANS_US.items():
        overlap_us = np.clip(end_us - np.maximum(start_us, as_of_us - span_us), 0, None)
        total_us = np.bincount(codes[known], weights=overlap_us, minlength=len(stores))
        business[f"business_last_{window}"] = total_us / WINDOW_UNIT_US[window]
    return business


def business_time_mismatches(report: pd.DataFrame, business: pd.DataFrame) -> pd.DataFrame:
    """Report rows whose uptime + downtime is not the window's business time, or exceeds the window.

    One row per store and window at fault: store_id, window, reported (uptime + downtime),
    business (the business time), limit (the window's length in its unit).
    """
    joined = report.merge(business, on="store_id", how="left", validate="one_to_one")
    faults = []
    for window, span_us in WINDOW_SPANS_US.items():
        reported = joined[f"uptime_last_{window}"] + joined[f"downtime_last_{window}"]
        expected = joined[f"business_last_{window}"]
        limit = span_us / WINDOW_UNIT_US[window]
        bad = ~((reported - expected).abs() <= ROUNDING_TOLERANCE) | (reported > limit + ROUNDING_TOLERANCE)
        faults.append(
            pd.DataFrame(
                {
                    "store_id": joined.loc[bad, "store_id"],
                    "window": window,
                    "reported": reported[bad].round(2),
                    "business": expected[bad].round(2),
                    "limit": limit,
                }
            )
        )
    return pd.concat(faults, ignore_index=True)


def report_csv(report: pd.DataFrame) -> str:
    """The report file's text: fixed two decimals so equal reports are equal bytes.

    The csv module quotes as pandas' to_csv does (minimal, doubled quotes), at a
    fifth of its time on 14 k rows.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(REPORT_COLUMNS)
    values = [[f"{value:.2f}" for value in report[name].tolist()] for name in REPORT_COLUMNS[1:]]
    writer.writerows(zip(report["store_id"].tolist(), *values))
    return buffer.getvalue()
