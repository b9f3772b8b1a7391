"""One store's report week as a person looks at it: status segments, pings, business time, the report row.

"Why was store X down?" must be answered by the data the report used, never by a second
computation that could disagree with the CSV. So the timeline takes the partition's stored
status segments and report row as they are, and the week's business intervals are the union
of those segments. Only the evidence mark of each ping is computed here (the warehouse does
not store it), with the core's own rule (core.segments). Where the stored data may have moved
since the run, the timeline says so in `notes` instead of silently showing something else.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from storemon_pipeline.core.business_time import merge_intervals
from storemon_pipeline.core.clock import EVIDENCE_SPAN_US, WINDOW_SPANS_US, iso_utc, partition_key
from storemon_pipeline.core.day_rows import DayRow, RowPiece, day_rows, place_instants, place_intervals
from storemon_pipeline.core.report import REPORT_COLUMNS, ROUNDING_TOLERANCE, WINDOW_UNIT_US
from storemon_pipeline.core.schedules import DEFAULT_ZONE
from storemon_pipeline.core.segments import ACTIVE, INACTIVE, UNKNOWN, evidence_pings, evidence_span_intervals

# The order a person reads them in (legend, totals).
TIMELINE_STATUSES = (ACTIVE, INACTIVE, UNKNOWN)

NOTE_HOURS_CHANGED = (
    "The store's business hours have changed since this report was computed: the shaded hours and "
    "segments are the report's, the evidence marks on the pings follow today's hours. Re-run the "
    "report for this as-of to see both from one set of hours."
)
NOTE_SEGMENTS_REBUILT = (
    "The stored segments no longer add up to this report row (status_segments was rebuilt after "
    "store_report): re-run the report for this as-of."
)


@dataclass(frozen=True)
class StoreTimeline:
    """What the store page shows; instants are UTC microseconds.

    segments: start_us, end_us, status (a core.segments status name), sorted by start.
    pings: ts_us, status, evidence (bool), sorted by time: the store's pings in [T - 8 d, T].
    business_intervals: start_us, end_us, the week's business time (the segments' union).
    report: the store's report row, keyed by core.report.REPORT_COLUMNS.
    """

    store_id: str
    as_of_us: int
    timezone: str
    segments: pd.DataFrame
    pings: pd.DataFrame
    business_intervals: pd.DataFrame
    report: dict[str, object]
    notes: tuple[str, ...] = ()

    @property
    def week_start_us(self) -> int:
        return self.as_of_us - WINDOW_SPANS_US["week"]

    def week_us_by_status(self) -> dict[str, int]:
        """Business time of the week per status, in microseconds (every status present, 0 if none)."""
        lengths = (self.segments["end_us"] - self.segments["start_us"]).groupby(self.segments["status"]).sum()
        return {status: int(lengths.get(status, 0)) for status in TIMELINE_STATUSES}

    def week_hours(self) -> tuple[float, float]:
        """(uptime, downtime) of the week from the segments, rounded as the report rounds them."""
        by_status = self.week_us_by_status()
        active_us = by_status[ACTIVE]
        down_us = sum(by_status.values()) - active_us
        unit_us = WINDOW_UNIT_US["week"]
        return float(np.round(active_us / unit_us, 2)), float(np.round(down_us / unit_us, 2))


def store_timeline(
    store_id: str,
    as_of_us: int,
    schedules: pd.DataFrame,
    segments: pd.DataFrame,
    pings: pd.DataFrame,
    report_row: dict[str, object],
) -> StoreTimeline:
    """The timeline of one store as of T from what the report run stored.

    schedules: the store's normalized_schedules rows (timezone, day_of_week, start_s, end_s);
    segments: its status_segments of partition T (start_us, end_us, status);
    pings: its pings (ts_us, active), any span (those in [T - 8 d, T] are kept);
    report_row: its store_report row of partition T.
    """
    schedules = schedules.assign(store_id=store_id)
    zone = str(schedules["timezone"].iloc[0]) if len(schedules) else DEFAULT_ZONE

    segments = pd.DataFrame(
        {
            "start_us": segments["start_us"].to_numpy(dtype=np.int64),
            "end_us": segments["end_us"].to_numpy(dtype=np.int64),
            "status": segments["status"].astype(str).to_numpy(dtype=object),
        }
    ).sort_values("start_us", kind="stable", ignore_index=True)
    business = merge_intervals(segments.assign(store_id=store_id))[["start_us", "end_us"]]

    evidence_start_us = as_of_us - EVIDENCE_SPAN_US
    in_span = pings[(pings["ts_us"] >= evidence_start_us) & (pings["ts_us"] <= as_of_us)]
    in_span = pd.DataFrame(
        {"store_id": store_id, "ts_us": in_span["ts_us"].to_numpy(dtype=np.int64),
         "active": in_span["active"].to_numpy(dtype=bool)}
    ).sort_values("ts_us", kind="stable", ignore_index=True)
    open_intervals = evidence_span_intervals(schedules, as_of_us)
    evidence = evidence_pings(in_span, open_intervals, pd.Index([store_id], dtype=object), evidence_start_us)
    timeline_pings = pd.DataFrame(
        {
            "ts_us": in_span["ts_us"],
            "status": np.where(in_span["active"].to_numpy(), ACTIVE, INACTIVE).astype(object),
            "evidence": in_span.index.isin(evidence.index),
        }
    )

    report = {name: report_row[name] for name in REPORT_COLUMNS}
    timeline = StoreTimeline(store_id, int(as_of_us), zone, segments, timeline_pings, business, report)
    notes = []
    # Today's hours in the week: the evidence span's, clipped (clipping a union is the union of the clips).
    hours_start_us = open_intervals["start_us"].to_numpy().clip(min=timeline.week_start_us)
    hours_end_us = open_intervals["end_us"].to_numpy().clip(max=as_of_us)
    in_week = hours_end_us > hours_start_us
    if not (
        hours_start_us[in_week].tolist() == business["start_us"].tolist()
        and hours_end_us[in_week].tolist() == business["end_us"].tolist()
    ):
        notes.append(NOTE_HOURS_CHANGED)
    uptime, downtime = timeline.week_hours()
    if abs(uptime - float(report["uptime_last_week"])) > ROUNDING_TOLERANCE or abs(
        downtime - float(report["downtime_last_week"])
    ) > ROUNDING_TOLERANCE:
        notes.append(NOTE_SEGMENTS_REBUILT)
    return StoreTimeline(store_id, int(as_of_us), zone, segments, timeline_pings, business, report, tuple(notes))


def timeline_json(timeline: StoreTimeline) -> dict:
    """The JSON answer of GET /stores/{id}/timeline: instants as ISO 8601 UTC with Z."""
    return {
        "store_id": timeline.store_id,
        "as_of": partition_key(timeline.as_of_us),
        "timezone": timeline.timezone,
        "segments": [
            {"start": iso_utc(start), "end": iso_utc(end), "status": status}
            for start, end, status in timeline.segments[["start_us", "end_us", "status"]].itertuples(index=False)
        ],
        "pings": [
            {"timestamp": iso_utc(ts), "status": status, "evidence": bool(evidence)}
            for ts, status, evidence in timeline.pings[["ts_us", "status", "evidence"]].itertuples(index=False)
        ],
        "business_intervals": [
            {"start": iso_utc(start), "end": iso_utc(end)}
            for start, end in timeline.business_intervals[["start_us", "end_us"]].itertuples(index=False)
        ],
        "report": {
            name: (str(value) if name == "store_id" else float(value)) for name, value in timeline.report.items()
        },
        "notes": list(timeline.notes),
    }


@dataclass(frozen=True)
class TimelineLayout:
    """The timeline on day rows of the store's local dates (core.day_rows): what the page draws.

    week: the part of each row inside the report's week [T - 7 d, T] (one piece per row at most);
    business, segments, pings: RowPieces whose `index` is the row of the timeline's frame they come from.
    """

    rows: list[DayRow]
    week: list[RowPiece]
    business: list[RowPiece]
    segments: list[RowPiece]
    pings: list[RowPiece]


def timeline_layout(timeline: StoreTimeline) -> TimelineLayout:
    """One row per local date the report's week touches: eight, or seven when the week runs from a local
    midnight to a local midnight. Rows are whole dates; `week` marks the part of each inside the week."""
    rows = day_rows(timeline.timezone, timeline.week_start_us, timeline.as_of_us)
    return TimelineLayout(
        rows=rows,
        week=place_intervals(rows, np.array([timeline.week_start_us]), np.array([timeline.as_of_us])),
        business=place_intervals(
            rows, timeline.business_intervals["start_us"].to_numpy(), timeline.business_intervals["end_us"].to_numpy()
        ),
        segments=place_intervals(rows, timeline.segments["start_us"].to_numpy(), timeline.segments["end_us"].to_numpy()),
        pings=place_instants(rows, timeline.pings["ts_us"].to_numpy()),
    )
