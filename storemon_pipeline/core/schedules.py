"""Weekly business hours as docs/report-semantics.md#business-time reads them: zone defaults and end-of-row rules."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from storemon_pipeline.core.values import known_zone_names

DEFAULT_ZONE = "America/Chicago"
SECONDS_PER_DAY = 86_400
# Exports write "until the end of the day" as 23:59 or 23:59:59; both mean 24:00.
END_OF_DAY_SPELLINGS_S = (23 * 3600 + 59 * 60, 23 * 3600 + 59 * 60 + 59)

SCHEDULE_COLUMNS = ["store_id", "timezone", "day_of_week", "start_s", "end_s"]


def normalize_schedules(
    business_hours: pd.DataFrame, timezones: pd.DataFrame, store_ids: Iterable[str]
) -> pd.DataFrame:
    """One row per opening: end_s in (start_s, start_s + 86400], zone always set.

    `business_hours` holds raw local times of day (start_s, end_s in 0..86399);
    stores in `store_ids` without a row are open 24x7 (seven full-day rows).
    """
    hours = business_hours[["store_id", "day_of_week", "start_s", "end_s"]].copy()
    start_s = hours["start_s"].to_numpy(dtype=np.int64)
    end_s = hours["end_s"].to_numpy(dtype=np.int64)
    # The end-of-day spelling is read first: (d, 09:00, 23:59:59) is open until
    # midnight, not for 24 hours.
    end_s = np.where(np.isin(end_s, END_OF_DAY_SPELLINGS_S), SECONDS_PER_DAY, end_s)
    # end < start runs past midnight; end == start lasts a full day.
    end_s = np.where(end_s <= start_s, end_s + SECONDS_PER_DAY, end_s)
    hours["start_s"] = start_s
    hours["end_s"] = end_s

    all_stores = pd.Index(pd.unique(pd.Series(list(store_ids), dtype=object)), dtype=object)
    always_open = all_stores.difference(pd.Index(hours["store_id"].unique(), dtype=object))
    if len(always_open):
        full_days = pd.DataFrame(
            {
                "store_id": np.repeat(always_open.to_numpy(dtype=object), 7),
                "day_of_week": np.tile(np.arange(7), len(always_open)),
                "start_s": 0,
                "end_s": SECONDS_PER_DAY,
            }
        )
        hours = pd.concat([hours, full_days], ignore_index=True)

    # The parser keeps unknown zone names aside, but a table read back from
    # elsewhere may still hold one: it counts as no zone, never as a crash.
    usable = timezones[timezones["timezone"].isin(known_zone_names())]
    zone_of_store = usable.drop_duplicates("store_id", keep="last").set_index("store_id")["timezone"]
    # object first: with no zone at all the lookup is all-NaN float, which refuses a str fill.
    zone = hours["store_id"].map(zone_of_store).astype(object)
    hours["timezone"] = zone.where(zone.notna(), DEFAULT_ZONE)
    hours = hours.astype({"store_id": object, "day_of_week": "int64", "start_s": "int64", "end_s": "int64"})
    return (
        hours[SCHEDULE_COLUMNS]
        .drop_duplicates()
        .sort_values(["store_id", "day_of_week", "start_s", "end_s"], kind="stable")
        .reset_index(drop=True)
    )
