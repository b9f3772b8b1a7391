"""Asset checks: the pure rules in core.quality, then the checks as Dagster evaluates them in real runs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from dagster import AssetCheckSeverity, RunRequest

from storemon_pipeline.assets.raw import raw_paths_run_config
from storemon_pipeline.core.quality import (
    findings_growth,
    overlapping_hours,
    rejected_share_by_file,
    stores_over_downtime,
    stores_without_valid_zone,
    zero_length_hours,
)
from storemon_pipeline_tests.test_automation import Stack, hourly_pings, pings_csv

H = 3600


def schedule_rows(*rows):
    return pd.DataFrame(rows, columns=["store_id", "day_of_week", "start_s", "end_s"])


# -- core.quality --------------------------------------------------------------------------------


def test_overlapping_hours_finds_overlaps_within_a_day_and_across_sunday_night():
    schedules = schedule_rows(
        ("a", 0, 9 * H, 12 * H),
        ("a", 0, 11 * H, 14 * H),  # overlaps the one before by 1 h
        ("a", 1, 9 * H, 12 * H),
        ("b", 6, 22 * H, 26 * H),  # Sunday 22:00 to Monday 02:00
        ("b", 0, 1 * H, 5 * H),  # Monday 01:00: inside the Sunday row's tail
        ("c", 0, 9 * H, 12 * H),
        ("c", 0, 12 * H, 15 * H),  # touching is not overlapping
    )
    found = overlapping_hours(schedules)
    assert found[["store_id", "day_of_week", "start_s", "overlap_s"]].values.tolist() == [
        ["a", 0, 11 * H, H],
        ["b", 0, 1 * H, H],
    ]


def test_overlapping_hours_of_nothing_is_empty():
    assert overlapping_hours(schedule_rows()).empty


def test_zero_length_rows_are_those_with_start_equal_to_end():
    hours = schedule_rows(("a", 0, 9 * H, 9 * H), ("a", 1, 9 * H, 17 * H))
    assert zero_length_hours(hours)["day_of_week"].tolist() == [0]


def test_stores_without_valid_zone_counts_missing_and_unknown_names():
    zones = pd.DataFrame({"store_id": ["a", "b"], "timezone": ["Europe/Paris", "Mars/Olympus"]})
    assert stores_without_valid_zone(["a", "b", "c"], zones, {"Europe/Paris"}) == ["b", "c"]


def test_findings_growth_counts_only_more_cases_than_the_previous_build():
    current = {"stores_without_valid_zone": 5, "stores_with_odd_hours": 2}
    assert findings_growth(None, current) == {"stores_without_valid_zone": 0, "stores_with_odd_hours": 0}
    previous = {"stores_without_valid_zone": 3, "stores_with_odd_hours": 4}
    assert findings_growth(previous, current) == {"stores_without_valid_zone": 2, "stores_with_odd_hours": 0}


def test_rejected_share_by_file_handles_empty_files():
    files = pd.DataFrame({"file_name": ["x", "y"], "rows_loaded": [95, 0], "rows_rejected": [5, 0]})
    assert rejected_share_by_file(files)["rejected_share"].tolist() == [0.05, 0.0]


def test_stores_over_downtime_worst_first():
    report = pd.DataFrame({"store_id": ["a", "b", "c", "d"], "downtime_last_day": [1.0, 5.0, 3.0, 5.0]})
    assert stores_over_downtime(report, 2.0)["store_id"].tolist() == ["b", "d", "c"]


# -- the checks in real runs ---------------------------------------------------------------------


@pytest.fixture
def stack(tmp_path, sqlite_url):
    from dagster import DagsterInstance

    return Stack(tmp_path, sqlite_url, DagsterInstance.ephemeral())


def evaluations(run) -> dict[tuple[str, str], object]:
    return {(e.asset_key.path[-1], e.asset_check_key.name): e for e in run.get_asset_check_evaluations()}


def ingest(stack: Stack, **files: str):
    paths = []
    for name, text in files.items():
        path = stack.data_dir / f"{name}.csv"
        path.write_text(text)
        paths.append(str(path))
    run = stack.execute(RunRequest(run_config=raw_paths_run_config(paths)), "ingest_job")
    assert run.success
    return run


def report(stack: Stack, key: str):
    stack.instance.add_dynamic_partitions("report_ts", [key])
    run = stack.execute(RunRequest(partition_key=key), "report_from_warehouse_job")
    assert run.success
    return run


def test_report_checks_flag_stale_data_and_stores_down_too_long(stack, monkeypatch):
    monkeypatch.setenv("STOREMON_DOWNTIME_ALERT_HOURS", "3")
    pings = (
        hourly_pings("up", "2023-01-25", range(0, 24))
        + hourly_pings("down", "2023-01-25", range(0, 24), status="inactive")
        + hourly_pings("half", "2023-01-25", range(0, 12))
        + hourly_pings("half", "2023-01-25", range(12, 24), status="inactive")
    )
    ingest(stack, pings=pings_csv(*pings))

    fresh = evaluations(report(stack, "2023-01-25T23:05:00Z"))
    assert fresh[("store_report", "data_fresh")].passed
    alert = fresh[("store_report", "downtime_last_day")]
    assert not alert.passed and alert.severity == AssetCheckSeverity.WARN
    assert alert.metadata["stores_over_threshold"].value == 2
    worst = alert.metadata["worst_stores"].value
    assert worst.index("| down |") < worst.index("| half |") and "| up |" not in worst

    stale = evaluations(report(stack, "2023-01-26T03:00:00Z"))  # newest ping 3 h 55 min before
    check = stale[("store_report", "data_fresh")]
    assert not check.passed and check.severity == AssetCheckSeverity.ERROR
    assert check.metadata["age_hours"].value == pytest.approx(3.92, abs=0.01)


def test_schedule_checks_keep_standing_facts_in_metadata_and_warn_when_they_grow(stack):
    hours = "store_id,dayOfWeek,start_time_local,end_time_local\n" + (
        "a,0,09:00,12:00\na,0,11:00,14:00\n"  # overlap
        "b,1,10:00,10:00\n"  # start = end: read as 24 h
        "c,2,09:00,17:00\n"
    )
    zones = "store_id,timezone_str\na,Europe/Paris\nb,Not/AZone\n"
    run = ingest(stack, pings=pings_csv(*hourly_pings("c", "2023-01-25", range(0, 5))), hours=hours, zones=zones)
    zone_rejected = evaluations(run)[("raw_timezones", "rejected_rows")]
    assert not zone_rejected.passed and zone_rejected.severity == AssetCheckSeverity.ERROR  # 1 of 2 rows
    assert "unknown zone name" in zone_rejected.metadata["reasons"].value

    # The first build is the baseline: what stands is counted, nothing is flagged.
    checks = evaluations(report(stack, "2023-01-25T04:05:00Z"))
    zones_check = checks[("normalized_schedules", "zones_valid")]
    assert zones_check.passed
    assert zones_check.metadata["stores_without_valid_zone"].value == 2  # b (unknown name) and c (none)
    assert zones_check.metadata["rows_rejected_for_unknown_zone"].value == 1
    assert zones_check.metadata["new_since_previous_build"].value == 0
    sane = checks[("normalized_schedules", "business_hours_sane")]
    assert sane.passed
    assert sane.metadata["overlapping_openings"].value == 1
    assert sane.metadata["start_equals_end_rows"].value == 1
    assert sane.metadata["stores_affected"].value == 2

    # A new store with overlapping hours and no zone: both warn, counting the one new store.
    ingest(stack, hours2="store_id,dayOfWeek,start_time_local,end_time_local\nd,3,08:00,12:00\nd,3,10:00,13:00\n")
    checks = evaluations(report(stack, "2023-01-25T04:06:00Z"))
    for name, total in (("zones_valid", 3), ("business_hours_sane", 3)):
        check = checks[("normalized_schedules", name)]
        assert not check.passed and check.severity == AssetCheckSeverity.WARN, name
        assert check.metadata["new_since_previous_build"].value == 1, name
    assert checks[("normalized_schedules", "zones_valid")].metadata["stores_without_valid_zone"].value == 3
    assert checks[("normalized_schedules", "business_hours_sane")].metadata["stores_affected"].value == 3


def test_clean_data_passes_every_check(stack):
    hours = "store_id,dayOfWeek,start_time_local,end_time_local\n" + "".join(
        f"s1,{d},00:00,23:59\n" for d in range(7)
    )
    zones = "store_id,timezone_str\ns1,UTC\n"
    run = ingest(stack, pings=pings_csv(*hourly_pings("s1", "2023-01-25", range(0, 24))), hours=hours, zones=zones)
    report_run = report(stack, "2023-01-25T23:05:00Z")
    checks = {**evaluations(run), **evaluations(report_run)}
    assert len(checks) == 9  # business_time_adds_up among them
    assert all(c.passed for c in checks.values()), {k: c.description for k, c in checks.items() if not c.passed}

    # The report's materialization carries the numbers a person reads and a chart the UI shows.
    metadata = report_run.asset_materializations_for_node("store_report")[0].metadata
    assert metadata["rows"].value == 1 and metadata["rejected_rows_total"].value == 0
    chart = metadata["uptime_week_histogram"].value
    assert chart.startswith("![weekly uptime histogram](data:image/png;base64,iVBOR") and len(chart) < 60_000
    assert Path(metadata["uptime_week_histogram_path"].value).read_bytes()[:4] == b"\x89PNG"
    # Each store links to its page on the report API (STOREMON_API_URL, default the local one).
    assert "| [s1](http://127.0.0.1:8000/stores/s1?as_of=2023-01-25T23:05:00Z) |" in metadata["worst_stores"].value
