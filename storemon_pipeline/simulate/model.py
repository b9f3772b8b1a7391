"""The simulated fleet as data: the world's knobs, the ping log and what `simulate_fleet` returns."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from storemon_pipeline.core.clock import partition_key
from storemon_pipeline.core.formats import BUSINESS_HOURS, KIND_COLUMNS, PINGS, TIMEZONES
from storemon_pipeline.core.segments import ACTIVE, INACTIVE
from storemon_pipeline.simulate.text import format_timestamps_utc

# The exports' headers are the core's columns of each kind; the hours export spells
# day_of_week "dayOfWeek" (the core reads headers case-insensitively).
PINGS_HEADER = list(KIND_COLUMNS[PINGS])
BUSINESS_HOURS_HEADER = ["dayOfWeek" if column == "day_of_week" else column for column in KIND_COLUMNS[BUSINESS_HOURS]]
TIMEZONES_HEADER = list(KIND_COLUMNS[TIMEZONES])

PING_ROWS_PER_WRITE_CHUNK = 1_000_000


@dataclass(frozen=True)
class FleetKnobs:
    """Every tunable of the simulated world; `simulate_fleet(**knobs)` sets them."""

    p_no_hours: float = 0.10
    p_missing_zone: float = 0.05
    p_invalid_zone: float = 0.01
    p_hhmm_times: float = 0.03
    p_one_closed_day: float = 0.20
    p_two_closed_days: float = 0.05
    p_switch_off_when_closed: float = 0.5
    poll_interval_s: float = 3600.0
    poll_jitter_s: float = 600.0
    p_poll_dropped: float = 0.10
    poller_outages_per_store_day: float = 0.05
    poller_outage_min_hours: float = 2.0
    poller_outage_max_hours: float = 10.0
    mean_hours_between_outages: float = 36.0
    outage_median_minutes: float = 40.0
    outage_sigma: float = 1.0
    p_long_outage_store: float = 0.05
    long_outage_median_hours: float = 8.0
    p_dead_store: float = 0.01
    # Put one poll in the last second before as_of, so the latest report of the
    # generated data (T = greatest ping rounded up to the second) is as of as_of.
    anchor_clock: bool = True
    bad_rows: bool = False
    bad_rows_per_kind: int = 3
    duplicate_pings: int = 5


@dataclass
class PingLog:
    """Valid polls in file order, kept compact; extra rows are inserted before `position`.

    Strings for millions of pings cost far more memory than the numbers, so
    they are only made chunk by chunk (`chunks`) or on request (`pings`).
    """

    store_ids: np.ndarray  # object array of store ids; store_index points into it
    store_index: np.ndarray  # int32
    ts_us: np.ndarray  # int64
    active: np.ndarray  # bool
    extra_rows: pd.DataFrame  # position (int64), store_id, status, timestamp_utc: bad rows and duplicates

    def __len__(self) -> int:
        return len(self.ts_us) + len(self.extra_rows)

    def chunks(self, rows_per_chunk: int = PING_ROWS_PER_WRITE_CHUNK) -> Iterator[dict[str, np.ndarray]]:
        """Columns as bytes arrays (store_id, status, timestamp_utc), in file order."""
        store_id_bytes = self.store_ids.astype(str).astype("S")
        extra_position = self.extra_rows["position"].to_numpy(dtype=np.int64)
        extra = {column: self.extra_rows[column].astype(str).str.encode("utf-8").to_numpy().astype("S")
                 for column in PINGS_HEADER} if len(self.extra_rows) else None
        n_valid = len(self.ts_us)
        for first in range(0, max(n_valid, 1), rows_per_chunk):
            last = min(first + rows_per_chunk, n_valid)
            columns = {
                "store_id": store_id_bytes[self.store_index[first:last]],
                "status": np.where(self.active[first:last], ACTIVE.encode(), INACTIVE.encode()),
                "timestamp_utc": format_timestamps_utc(self.ts_us[first:last]),
            }
            if extra is not None:
                # Rows placed after the last valid ping belong to the last chunk.
                upper = last if last < n_valid else np.iinfo(np.int64).max
                take = (extra_position >= first) & (extra_position < upper)
                if take.any():
                    at = np.minimum(extra_position[take], last) - first
                    columns = {
                        name: np.insert(values.astype(_wider_bytes(values, extra[name])), at, extra[name][take])
                        for name, values in columns.items()
                    }
            yield columns


def _wider_bytes(a: np.ndarray, b: np.ndarray) -> str:
    return f"S{max(a.dtype.itemsize, b.dtype.itemsize, 1)}"


@dataclass
class SimulatedFleet:
    """A simulated fleet: the three input tables as the exports write them, and the truth.

    Tables hold strings as they appear in the CSV files. `truth` has the
    report's columns and units, as of `as_of_us`, for every store the report
    lists (seen in a valid row of some input), sorted by store_id.
    """

    as_of_us: int
    knobs: FleetKnobs
    ping_log: PingLog
    business_hours: pd.DataFrame  # store_id, dayOfWeek, start_time_local, end_time_local (strings)
    timezones: pd.DataFrame  # store_id, timezone_str (strings)
    truth: pd.DataFrame  # the report's columns (core.report.REPORT_COLUMNS)
    business_time: pd.DataFrame  # core.report.business_time_by_window: unrounded, same units as truth
    true_status: pd.DataFrame  # store_id, start_us, end_us, active: the true process, disjoint per store
    schedules: pd.DataFrame  # core.normalize_schedules output the truth was computed from
    stores: pd.DataFrame  # one row per simulated store: how it was made
    bad_rows: pd.DataFrame  # file, line, kind, raw: rows a correct parser must reject

    @cached_property
    def pings(self) -> pd.DataFrame:
        """store_id, status, timestamp_utc as strings (all rows of store_status.csv, in order)."""
        parts = [pd.DataFrame({name: values.astype(str) for name, values in chunk.items()})
                 for chunk in self.ping_log.chunks()]
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=PINGS_HEADER)

    @property
    def as_of(self) -> str:
        return partition_key(self.as_of_us)
