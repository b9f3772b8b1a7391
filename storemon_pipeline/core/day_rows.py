"""The week on the store's wall clock: one row per local date, where each UTC instant is drawn.

A person asks "what happened on Sunday evening?" in the store's own time, so the store page
draws one row per local date. Rows are cut at local midnights converted exactly as the report
converts any wall time (core.business_time.wall_to_utc_s: zoneinfo, fold=0), and along a row the
axis is real time elapsed since the row's first instant. So a spring-forward date is a 23-hour
row and an autumn date a 25-hour row; every instant has exactly one place (the repeated autumn
hour is drawn twice, not on top of itself); lengths on the page are the hours the report counts;
and opening hours that run past midnight (22:00-02:00) go on at the start of the next row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from storemon_pipeline.core.business_time import wall_to_utc_s, zone_transitions
from storemon_pipeline.core.clock import US_PER_S
from storemon_pipeline.core.schedules import SECONDS_PER_DAY

_EPOCH_DATE = date(1970, 1, 1)
# Hour marks are looked for on a one-minute grid: every zone offset since 1970 is whole minutes.
_GRID_S = 60
# Bounds handed to the zone lookups: a row's local midnight lies within a day of its instants.
_MARGIN_S = 2 * SECONDS_PER_DAY


@dataclass(frozen=True)
class HourMark:
    """A whole hour of the wall clock inside a row: `wall_hour` (0-23) read at `offset_us` from the row's start."""

    offset_us: int
    wall_hour: int


@dataclass(frozen=True)
class DayRow:
    """One local date: from its first instant (local midnight, or the end of a gap across it) to the next date's."""

    local_date: date
    start_us: int
    end_us: int
    hour_marks: tuple[HourMark, ...]

    @property
    def length_us(self) -> int:
        return self.end_us - self.start_us


@dataclass(frozen=True)
class RowPiece:
    """The part of interval number `index` that falls on row `row`, as offsets from the row's start."""

    row: int
    start_offset_us: int
    end_offset_us: int
    index: int


def utc_offsets_s(zone_name: str, utc_s: np.ndarray, lo_utc_s: int, hi_utc_s: int) -> np.ndarray:
    """The zone's UTC offset in force at each UTC second (all within [lo_utc_s, hi_utc_s])."""
    initial_offset_s, transitions = zone_transitions(zone_name, lo_utc_s, hi_utc_s)
    changes_s = np.array([t for t, _, _ in transitions], dtype=np.int64)
    offsets_s = np.array([initial_offset_s] + [after for _, _, after in transitions], dtype=np.int64)
    return offsets_s[np.searchsorted(changes_s, np.asarray(utc_s, dtype=np.int64), side="right")]


def local_days(zone_name: str, instants_us: np.ndarray, lo_utc_s: int, hi_utc_s: int) -> np.ndarray:
    """Local date of each instant, as days since 1970-01-01 on the zone's wall clock."""
    utc_s = np.asarray(instants_us, dtype=np.int64) // US_PER_S
    return (utc_s + utc_offsets_s(zone_name, utc_s, lo_utc_s, hi_utc_s)) // SECONDS_PER_DAY


def day_rows(zone_name: str, start_us: int, end_us: int) -> list[DayRow]:
    """The local dates that the instants of [start_us, end_us) fall on, in order, each a whole date."""
    if end_us <= start_us:
        return []
    lo_s, hi_s = start_us // US_PER_S - _MARGIN_S, end_us // US_PER_S + _MARGIN_S
    first_day, last_day = local_days(zone_name, np.array([start_us, end_us - 1]), lo_s, hi_s)
    days = np.arange(first_day, last_day + 2, dtype=np.int64)
    bounds_s = wall_to_utc_s(zone_name, days * SECONDS_PER_DAY, lo_s, hi_s)

    # Whole wall-clock hours, found on a minute grid of real time: a skipped spring hour
    # has no mark, a repeated autumn hour has two.
    grid_s = np.arange(bounds_s[0], bounds_s[-1], _GRID_S, dtype=np.int64)
    wall_s = grid_s + utc_offsets_s(zone_name, grid_s, lo_s, hi_s)
    on_hour = wall_s % 3600 == 0
    mark_s, mark_hour = grid_s[on_hour], (wall_s[on_hour] % SECONDS_PER_DAY) // 3600
    mark_row = np.searchsorted(bounds_s, mark_s, side="right") - 1

    rows = []
    for i, day in enumerate(days[:-1]):
        row_start_s = int(bounds_s[i])
        in_row = mark_row == i
        marks = tuple(
            HourMark((int(s) - row_start_s) * US_PER_S, int(h)) for s, h in zip(mark_s[in_row], mark_hour[in_row])
        )
        rows.append(
            DayRow(_EPOCH_DATE + timedelta(days=int(day)), row_start_s * US_PER_S, int(bounds_s[i + 1]) * US_PER_S, marks)
        )
    return rows


def place_intervals(rows: list[DayRow], starts_us: np.ndarray, ends_us: np.ndarray) -> list[RowPiece]:
    """Each interval [start, end) cut at the rows' bounds; parts outside every row are left out."""
    pieces = []
    for index, (start_us, end_us) in enumerate(zip(np.asarray(starts_us).tolist(), np.asarray(ends_us).tolist())):
        for row_number, row in enumerate(rows):
            piece_start_us, piece_end_us = max(start_us, row.start_us), min(end_us, row.end_us)
            if piece_end_us > piece_start_us:
                pieces.append(
                    RowPiece(row_number, piece_start_us - row.start_us, piece_end_us - row.start_us, index)
                )
    return pieces


def place_instants(rows: list[DayRow], instants_us: np.ndarray) -> list[RowPiece]:
    """Each instant as a zero-length piece on the row holding it; instants outside every row are left out."""
    instants_us = np.asarray(instants_us, dtype=np.int64)
    if not rows:
        return []
    starts_us = np.array([row.start_us for row in rows], dtype=np.int64)
    row_of = np.searchsorted(starts_us, instants_us, side="right") - 1
    pieces = []
    for index, (instant_us, row_number) in enumerate(zip(instants_us.tolist(), row_of.tolist())):
        if row_number >= 0 and instant_us < rows[row_number].end_us:
            offset_us = instant_us - rows[row_number].start_us
            pieces.append(RowPiece(row_number, offset_us, offset_us, index))
    return pieces
