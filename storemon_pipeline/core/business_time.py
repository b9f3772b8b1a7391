"""Local weekly schedules to UTC business intervals, exactly as zoneinfo with fold=0.

Converting each wall time through `datetime` would be a Python call per
interval. Instead the UTC offset of each zone is resolved once per range as a
short list of transitions, and every wall time of that zone is converted with
one `searchsorted`.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from storemon_pipeline.core.clock import US_PER_S
from storemon_pipeline.core.schedules import SECONDS_PER_DAY

INTERVAL_COLUMNS = ["store_id", "start_us", "end_us"]
# 1970-01-01 was a Thursday; with Monday = 0 that is weekday 3.
EPOCH_WEEKDAY = 3


def _offset_s(zone: ZoneInfo, utc_s: int) -> int:
    return int(datetime.fromtimestamp(utc_s, tz=zone).utcoffset().total_seconds())


def zone_transitions(zone_name: str, lo_utc_s: int, hi_utc_s: int) -> tuple[int, list[tuple[int, int, int]]]:
    """Offset in force at `lo_utc_s` and the (utc_s, offset_before, offset_after) changes up to `hi_utc_s`."""
    zone = ZoneInfo(zone_name)
    grid = list(range(lo_utc_s, hi_utc_s + 3600, 3600))
    offsets = [_offset_s(zone, t) for t in grid]
    transitions = []
    for i in range(1, len(grid)):
        if offsets[i] == offsets[i - 1]:
            continue
        # The change lies in (grid[i-1], grid[i]]: find its exact second.
        lo, hi = grid[i - 1], grid[i]
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if _offset_s(zone, mid) == offsets[i - 1]:
                lo = mid
            else:
                hi = mid
        transitions.append((hi, offsets[i - 1], offsets[i]))
    return offsets[0], transitions


def wall_to_utc_s(zone_name: str, wall_s: np.ndarray, lo_utc_s: int, hi_utc_s: int) -> np.ndarray:
    """UTC seconds of local wall times (seconds since the local epoch), fold=0.

    zoneinfo places a transition on the wall clock at utc + max(before, after):
    wall times earlier than that use the offset before it. That one rule gives
    the first occurrence of an ambiguous autumn time and reads a spring-gap
    time with the pre-gap offset (02:30 -> 03:30 after the jump).
    """
    initial_offset_s, transitions = zone_transitions(zone_name, lo_utc_s, hi_utc_s)
    if not transitions:
        return wall_s - initial_offset_s
    wall_boundaries = np.array([t + max(before, after) for t, before, after in transitions], dtype=np.int64)
    offsets = np.array([initial_offset_s] + [after for _, _, after in transitions], dtype=np.int64)
    return wall_s - offsets[np.searchsorted(wall_boundaries, wall_s, side="right")]


def merge_intervals(intervals: pd.DataFrame) -> pd.DataFrame:
    """Union per store: disjoint, sorted intervals; touching ones are joined."""
    if intervals.empty:
        return pd.DataFrame({"store_id": pd.Series(dtype=object), "start_us": pd.Series(dtype="int64"),
                             "end_us": pd.Series(dtype="int64")})
    ordered = intervals.sort_values(["store_id", "start_us", "end_us"], kind="stable").reset_index(drop=True)
    store = ordered["store_id"].to_numpy(dtype=object)
    start = ordered["start_us"].to_numpy(dtype=np.int64)
    reach = ordered.groupby("store_id", sort=False)["end_us"].cummax().to_numpy(dtype=np.int64)
    new_store = np.ones(len(ordered), dtype=bool)
    new_store[1:] = store[1:] != store[:-1]
    gap = np.ones(len(ordered), dtype=bool)
    gap[1:] = start[1:] > reach[:-1]
    run = np.cumsum(new_store | gap)
    merged = ordered.groupby(run, sort=False).agg(store_id=("store_id", "first"), start_us=("start_us", "min"),
                                                  end_us=("end_us", "max"))
    return merged.reset_index(drop=True)[INTERVAL_COLUMNS]


def business_intervals_utc(schedules: pd.DataFrame, start_us: int, end_us: int) -> pd.DataFrame:
    """Each store's business time within [start_us, end_us] as disjoint UTC intervals.

    `schedules` is `normalize_schedules` output (end_s in (start_s, start_s + 1 day]).
    """
    start_s, end_s = start_us // US_PER_S, -(-end_us // US_PER_S)
    # A row may open up to a day after its local date and run a day more, and
    # zones sit within -12 h..+14 h of UTC: these local dates cover the range.
    first_day = start_s // SECONDS_PER_DAY - 3
    last_day = end_s // SECONDS_PER_DAY + 1
    days = np.arange(first_day, last_day + 1, dtype=np.int64)
    local_dates = pd.DataFrame({"local_day": days, "day_of_week": (days + EPOCH_WEEKDAY) % 7})

    rows = schedules[["store_id", "timezone", "day_of_week", "start_s", "end_s"]].astype({"day_of_week": "int64"})
    openings = rows.merge(local_dates, on="day_of_week", how="inner")
    wall_start_s = openings["local_day"].to_numpy() * SECONDS_PER_DAY + openings["start_s"].to_numpy(dtype=np.int64)
    wall_end_s = openings["local_day"].to_numpy() * SECONDS_PER_DAY + openings["end_s"].to_numpy(dtype=np.int64)

    utc_start_s = np.empty(len(openings), dtype=np.int64)
    utc_end_s = np.empty(len(openings), dtype=np.int64)
    lo_utc_s, hi_utc_s = first_day * SECONDS_PER_DAY - SECONDS_PER_DAY, (last_day + 3) * SECONDS_PER_DAY
    zone_codes, zone_names = pd.factorize(openings["timezone"])
    for code, zone_name in enumerate(zone_names):
        in_zone = zone_codes == code
        utc_start_s[in_zone] = wall_to_utc_s(zone_name, wall_start_s[in_zone], lo_utc_s, hi_utc_s)
        utc_end_s[in_zone] = wall_to_utc_s(zone_name, wall_end_s[in_zone], lo_utc_s, hi_utc_s)

    clipped_start_us = np.maximum(utc_start_s * US_PER_S, start_us)
    clipped_end_us = np.minimum(utc_end_s * US_PER_S, end_us)
    keep = clipped_end_us > clipped_start_us
    intervals = pd.DataFrame(
        {
            "store_id": openings["store_id"].to_numpy(dtype=object)[keep],
            "start_us": clipped_start_us[keep],
            "end_us": clipped_end_us[keep],
        }
    )
    return merge_intervals(intervals)

