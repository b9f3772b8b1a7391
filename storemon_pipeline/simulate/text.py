"""The exports' text for instants and times of day, from lookup tables (no strftime per row)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from storemon_pipeline.core.clock import US_PER_DAY, US_PER_S
from storemon_pipeline.core.schedules import SECONDS_PER_DAY


@lru_cache(maxsize=1)
def _time_of_day_texts() -> tuple[np.ndarray, np.ndarray]:
    """'HH:MM:SS' for every second of a day and '000'..'999' (lookup tables)."""
    seconds = np.arange(SECONDS_PER_DAY)
    hh, mm, ss = seconds // 3600, seconds // 60 % 60, seconds % 60
    texts = np.array([f"{h:02d}:{m:02d}:{s:02d}" for h, m, s in zip(hh, mm, ss)], dtype="S8")
    thousands = np.array([f"{i:03d}" for i in range(1000)], dtype="S3")
    return texts, thousands


_TIMESTAMP_LAYOUT = np.dtype(
    {
        "names": ["date", "space", "time", "dot", "milli", "micro", "utc"],
        "formats": ["S10", "S1", "S8", "S1", "S3", "S3", "S4"],
        "offsets": [0, 10, 11, 19, 20, 23, 26],
        "itemsize": 30,
    }
)


def format_timestamps_utc(ts_us: np.ndarray) -> np.ndarray:
    """`2023-01-22 12:09:39.388884 UTC` for each timestamp, as an S30 array.

    strftime per row would take minutes for a long history; dates are few, so
    each is formatted once and the rest comes from lookup tables.
    """
    ts_us = np.asarray(ts_us, dtype=np.int64)
    days, us_of_day = np.divmod(ts_us, US_PER_DAY)
    if len(ts_us) == 0:
        return np.empty(0, dtype="S30")
    first_day = days.min()
    date_texts = np.datetime_as_string(
        np.arange(first_day, days.max() + 1).astype("datetime64[D]")
    ).astype("S10")
    seconds, micros = np.divmod(us_of_day, US_PER_S)
    milli, micro = np.divmod(micros, 1000)
    time_texts, thousands = _time_of_day_texts()
    out = np.empty(len(ts_us), dtype=_TIMESTAMP_LAYOUT)
    out["date"] = date_texts[days - first_day]
    out["space"] = b" "
    out["time"] = time_texts[seconds]
    out["dot"] = b"."
    out["milli"] = thousands[milli]
    out["micro"] = thousands[micro]
    out["utc"] = b" UTC"
    return out.view("S30")


def format_times_of_day(seconds: np.ndarray, with_seconds: np.ndarray | bool = True) -> np.ndarray:
    """`HH:MM:SS` (or `HH:MM` where with_seconds is False) for local times of day."""
    time_texts, _ = _time_of_day_texts()
    full = time_texts[np.asarray(seconds, dtype=np.int64)].astype(str)
    return np.where(with_seconds, full, np.char.ljust(full, 5).astype("U5")).astype(object)
