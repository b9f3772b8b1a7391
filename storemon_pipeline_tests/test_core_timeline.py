"""core.timeline on hand-made stores: evidence marks by the report's rule, notes, the JSON form."""

from __future__ import annotations

import pandas as pd

from storemon_pipeline.core.clock import US_PER_HOUR, as_of_from_partition_key as us
from storemon_pipeline.core.report import REPORT_COLUMNS, store_report
from storemon_pipeline.core.schedules import normalize_schedules
from storemon_pipeline.core.segments import ACTIVE, INACTIVE, status_segments
from storemon_pipeline.core.timeline import (
    NOTE_HOURS_CHANGED,
    NOTE_SEGMENTS_REBUILT,
    store_timeline,
    timeline_json,
)

AS_OF = us("2023-01-18T00:00:00Z")  # midnight starting Wednesday


def _store_s4():
    """docs/report-semantics.md's store s4: Etc/UTC, 09:00-17:00 every day."""
    hours = pd.DataFrame({"store_id": "s4", "day_of_week": range(7), "start_s": 9 * 3600, "end_s": 17 * 3600})
    zones = pd.DataFrame({"store_id": ["s4"], "timezone": ["Etc/UTC"]})
    schedules = normalize_schedules(hours, zones, ["s4"])
    stamps = ["2023-01-16T10:00:00Z", "2023-01-16T16:00:00Z", "2023-01-17T08:40:00Z", "2023-01-17T10:00:00Z",
              "2023-01-17T15:00:00Z", "2023-01-17T17:00:00Z"]
    pings = pd.DataFrame({"store_id": "s4", "ts_us": [us(t) for t in stamps],
                          "active": [True, False, False, True, False, True]})
    segments = status_segments(schedules, pings, AS_OF)
    report = store_report(segments, ["s4"], AS_OF)
    return schedules, pings, segments, report.iloc[0].to_dict()


def _timeline(schedules, pings, segments, report_row):
    return store_timeline("s4", AS_OF, schedules.drop(columns="store_id"), segments.drop(columns="store_id"),
                          pings.drop(columns="store_id"), report_row)


def test_the_docs_store_s4():
    timeline = _timeline(*_store_s4())
    assert timeline.notes == ()
    assert timeline.timezone == "Etc/UTC"
    # The 08:40 ping (closed) and the 17:00 ping (the end of the opening) are not evidence.
    assert timeline.pings["evidence"].tolist() == [True, True, False, True, True, False]
    assert timeline.pings["status"].tolist() == [ACTIVE, INACTIVE, INACTIVE, ACTIVE, INACTIVE, ACTIVE]
    # docs: s4,0.00,3.50,47.50,0.00,4.50,8.50
    assert timeline.week_hours() == (47.5, 8.5)
    assert timeline.report["uptime_last_week"] == 47.5
    # Seven openings of 8 h, each one business interval.
    assert len(timeline.business_intervals) == 7
    assert ((timeline.business_intervals["end_us"] - timeline.business_intervals["start_us"]) == 8 * US_PER_HOUR).all()


def test_json_instants_are_iso_utc_with_z():
    answer = timeline_json(_timeline(*_store_s4()))
    assert set(answer) == {"store_id", "as_of", "timezone", "segments", "pings", "business_intervals", "report",
                           "notes"}
    assert answer["as_of"] == "2023-01-18T00:00:00Z"
    assert answer["segments"][-2:] == [
        {"start": "2023-01-17T09:00:00Z", "end": "2023-01-17T12:30:00Z", "status": "active"},
        {"start": "2023-01-17T12:30:00Z", "end": "2023-01-17T17:00:00Z", "status": "inactive"},
    ]
    assert answer["pings"][2] == {"timestamp": "2023-01-17T08:40:00Z", "status": "inactive", "evidence": False}
    assert list(answer["report"]) == REPORT_COLUMNS


def test_a_ping_exactly_at_the_as_of_inside_an_opening_is_evidence():
    schedules, _, _, _ = _store_s4()
    as_of = us("2023-01-17T12:00:00Z")
    pings = pd.DataFrame({"store_id": "s4", "ts_us": [as_of], "active": [False]})
    segments = status_segments(schedules, pings, as_of)
    row = store_report(segments, ["s4"], as_of).iloc[0].to_dict()
    timeline = store_timeline("s4", as_of, schedules.drop(columns="store_id"), segments.drop(columns="store_id"),
                              pings.drop(columns="store_id"), row)
    assert timeline.pings["evidence"].tolist() == [True]
    assert timeline.week_hours() == (0.0, row["downtime_last_week"])


def test_changed_hours_and_rebuilt_segments_are_said_not_hidden():
    schedules, pings, segments, row = _store_s4()
    later_hours = schedules.assign(end_s=18 * 3600)
    assert _timeline(later_hours, pings, segments, row).notes == (NOTE_HOURS_CHANGED,)
    stale_row = {**row, "uptime_last_week": 40.0}
    assert _timeline(schedules, pings, segments, stale_row).notes == (NOTE_SEGMENTS_REBUILT,)


def test_microsecond_ends_keep_their_fraction():
    schedules, _, _, _ = _store_s4()
    pings = pd.DataFrame({"store_id": "s4", "ts_us": [us("2023-01-17T10:00:00Z"), us("2023-01-17T10:00:01Z") + 1],
                          "active": [True, False]})
    segments = status_segments(schedules, pings, AS_OF)
    row = store_report(segments, ["s4"], AS_OF).iloc[0].to_dict()
    answer = timeline_json(_timeline(schedules, pings, segments, row))
    assert {"start": "2023-01-17T09:00:00Z", "end": "2023-01-17T10:00:00.500000Z", "status": "active"} in answer["segments"]
