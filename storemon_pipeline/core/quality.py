"""Data-quality findings the asset checks report: plain DataFrames in, plain DataFrames out.

No Dagster, no SQL: each rule is testable on hand-made frames.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from storemon_pipeline.core.schedules import SECONDS_PER_DAY

SECONDS_PER_WEEK = 7 * SECONDS_PER_DAY
# Above this share of a file's rows kept aside, rejected rows are an ERROR, not a WARN.
REJECTED_SHARE_ERROR = 0.05


def rejected_share_by_file(files: pd.DataFrame) -> pd.DataFrame:
    """Per file: rows_loaded, rows_rejected and rejected_share (0 for an empty file).

    `files` has file_name, rows_loaded, rows_rejected (one row per file ingested).
    """
    out = files[["file_name", "rows_loaded", "rows_rejected"]].copy()
    total = out["rows_loaded"] + out["rows_rejected"]
    out["rejected_share"] = np.where(total > 0, out["rows_rejected"] / total.where(total > 0, 1), 0.0)
    return out.reset_index(drop=True)


def stores_without_valid_zone(store_ids: Iterable[str], timezones: pd.DataFrame, known_zones: Iterable[str]) -> list[str]:
    """Stores (sorted) with no timezone row, or only one naming an unknown zone: they get the default zone."""
    known = set(known_zones)
    valid = set(timezones.loc[timezones["timezone"].isin(known), "store_id"])
    return sorted(set(store_ids) - valid)


def zero_length_hours(business_hours: pd.DataFrame) -> pd.DataFrame:
    """Rows whose start equals their end: the report reads them as a full 24 h, usually a typo worth a look."""
    rows = business_hours[business_hours["start_s"] == business_hours["end_s"]]
    return rows[["store_id", "day_of_week", "start_s", "end_s"]].reset_index(drop=True)


def overlapping_hours(schedules: pd.DataFrame) -> pd.DataFrame:
    """Pairs of a store's weekly openings that overlap (on the weekly clock, wrapping Sunday night).

    `schedules` is `normalize_schedules` output (end_s in (start_s, start_s + 1 day]). Returns one row
    per opening that starts before an earlier-starting opening of the same store ends: store_id,
    day_of_week, start_s, end_s, overlap_s. Touching openings (end == next start) do not overlap.
    """
    columns = ["store_id", "day_of_week", "start_s", "end_s", "overlap_s"]
    if schedules.empty:
        return pd.DataFrame({c: pd.Series(dtype=object if c == "store_id" else "int64") for c in columns})
    day = schedules["day_of_week"].to_numpy(dtype=np.int64)
    start = day * SECONDS_PER_DAY + schedules["start_s"].to_numpy(dtype=np.int64)
    end = day * SECONDS_PER_DAY + schedules["end_s"].to_numpy(dtype=np.int64)
    rows = pd.DataFrame(
        {
            "store_id": schedules["store_id"].to_numpy(dtype=object),
            "day_of_week": day,
            "start_s": schedules["start_s"].to_numpy(dtype=np.int64),
            "end_s": schedules["end_s"].to_numpy(dtype=np.int64),
            "week_start": start,
            "week_end": end,
        }
    )
    # An opening running past Sunday midnight also covers the start of the next week: a copy shifted
    # back by a week lets it meet Monday's openings.
    wrapped = rows[rows["week_end"] > SECONDS_PER_WEEK].copy()
    wrapped["week_start"] -= SECONDS_PER_WEEK
    wrapped["week_end"] -= SECONDS_PER_WEEK
    wrapped["is_copy"] = True
    rows["is_copy"] = False
    every = pd.concat([rows, wrapped], ignore_index=True).sort_values(
        ["store_id", "week_start", "week_end"], kind="stable"
    )
    # Copies sort first (negative start), so an opening overlapped by one is found from its own row.
    reach = every.groupby("store_id", sort=False)["week_end"].cummax()
    previous_reach = reach.groupby(every["store_id"], sort=False).shift(1)
    overlap = previous_reach.notna() & (every["week_start"] < previous_reach)
    found = every[overlap & ~every["is_copy"]].copy()
    found["overlap_s"] = (
        np.minimum(previous_reach[overlap & ~every["is_copy"]], found["week_end"]) - found["week_start"]
    ).astype("int64")
    return found[columns].drop_duplicates(["store_id", "day_of_week", "start_s", "end_s"]).reset_index(drop=True)


def stores_over_downtime(report: pd.DataFrame, threshold_hours: float, column: str = "downtime_last_day") -> pd.DataFrame:
    """Stores whose `column` exceeds the threshold, worst first (ties by store_id)."""
    over = report[report[column] > threshold_hours]
    return over.sort_values([column, "store_id"], ascending=[False, True], kind="stable").reset_index(drop=True)


def _records(frame: pd.DataFrame, limit: int) -> list[dict]:
    """The first `limit` rows as JSON-ready dicts (plain Python values, not numpy scalars)."""
    return [
        {name: (value.item() if isinstance(value, np.generic) else value) for name, value in row.items()}
        for row in frame.head(limit).to_dict("records")
    ]


def schedule_findings(
    business_hours: pd.DataFrame,
    timezones: pd.DataFrame,
    schedules: pd.DataFrame,
    known_zones: Iterable[str],
    limit: int,
) -> dict:
    """What the schedule checks report, as plain JSON-ready values (counts, and the first `limit` cases).

    Computed once, when normalized_schedules is built from these inputs; the checks read it back
    instead of re-reading and re-scanning 100 k schedule rows on every report.
    """
    store_ids = pd.unique(schedules["store_id"].to_numpy(dtype=object))
    missing_zone = stores_without_valid_zone(store_ids, timezones, known_zones)
    overlaps = overlapping_hours(schedules)
    zero = zero_length_hours(business_hours)
    affected = set(overlaps["store_id"]) | set(zero["store_id"])
    return {
        "stores": len(store_ids),
        "stores_without_valid_zone": len(missing_zone),
        "stores_without_valid_zone_examples": missing_zone[:limit],
        "overlapping_openings": len(overlaps),
        "overlapping_openings_examples": _records(overlaps, limit),
        "start_equals_end_rows": len(zero),
        "start_equals_end_examples": _records(zero, limit),
        "stores_with_odd_hours": len(affected),
    }


# Findings that are standing facts of real exports (the report has a rule for each: Chicago for a
# missing zone, the union of overlapping openings, 24 h for start = end): a check warns when they
# grow, not on every run while they stand.
STANDING_FINDINGS = ("stores_without_valid_zone", "stores_with_odd_hours")


def findings_growth(previous: dict | None, current: dict) -> dict[str, int]:
    """How many more cases of each standing finding than in the previous build (none on the first)."""
    if previous is None:
        return {name: 0 for name in STANDING_FINDINGS}
    return {name: max(0, int(current[name]) - int(previous.get(name, current[name]))) for name in STANDING_FINDINGS}
