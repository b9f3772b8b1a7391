"""Retention: `storemon prune`, retention_job and retention_schedule, on both dialects.

Partitions of the sample fleet, as-of T = 2023-03-14T12:00:00Z (the newest report):
T and T-1h keep everything, T-49h (older than 48h) loses its segments only, T-10d (older than
7d) loses everything: segments, report rows, CSV and chart, partition key and runs.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa
from dagster import DagsterInstance, RunRequest, RunsFilter, build_schedule_context, materialize

from storemon_pipeline import cli
from storemon_pipeline.assets import all_assets, normalized_schedules, status_segments, store_report
from storemon_pipeline.automation import retention_schedule
from storemon_pipeline.core.clock import US_PER_DAY, US_PER_HOUR, as_of_from_partition_key, partition_key
from storemon_pipeline.core.retention import (
    DEFAULT_KEEP_REPORTS,
    DEFAULT_KEEP_SEGMENTS,
    KEEP_REPORTS_ENV,
    KEEP_SEGMENTS_ENV,
    RetentionPolicy,
    parse_duration_us,
    plan_retention,
)
from storemon_pipeline.definitions import build_definitions
from storemon_pipeline.partitions import report_partitions
from storemon_pipeline.resources import StoremonFiles, WarehouseResource
from storemon_pipeline.retention import prune
from storemon_pipeline.runs import PARTITION_TAG
from storemon_pipeline.warehouse import Warehouse, tables
from storemon_pipeline_tests.conftest import SAMPLE_DATA_DIR

T = "2023-03-14T12:00:00Z"
T_US = as_of_from_partition_key(T)
KEPT = [partition_key(T_US), partition_key(T_US - US_PER_HOUR)]
SEGMENTS_PRUNED = partition_key(T_US - 49 * US_PER_HOUR)
REPORT_PRUNED = partition_key(T_US - 10 * US_PER_DAY)
REPORT_ASSETS = [normalized_schedules, status_segments, store_report]
POLICY = RetentionPolicy.parse("48h", "7d")
SAMPLE_STORES = 202  # stores of data/ in the report (pings, hours or a zone)


# -- the pure core: durations and the plan ---------------------------------------------------


def test_durations():
    assert parse_duration_us("48h") == 48 * 3_600_000_000
    assert parse_duration_us("90d") == 90 * 86_400_000_000
    assert parse_duration_us("30m") == 1_800_000_000
    assert parse_duration_us(" 2W ") == 14 * 86_400_000_000
    assert parse_duration_us("0h") == 0
    for bad in ("48", "h", "1.5h", "-1d", "48 hours", "", "3y"):
        with pytest.raises(ValueError) as raised:
            parse_duration_us(bad)
        assert "\n" not in str(raised.value) and "e.g. 48h or 90d" in str(raised.value)


def test_policy_from_the_environment_names_a_bad_value():
    assert RetentionPolicy.from_env({}) == RetentionPolicy.parse(DEFAULT_KEEP_SEGMENTS, DEFAULT_KEEP_REPORTS)
    assert RetentionPolicy.from_env({KEEP_SEGMENTS_ENV: "1d", KEEP_REPORTS_ENV: "2w"}) == RetentionPolicy.parse("24h", "14d")
    # An option given wins over the variable, and is what the error names.
    assert RetentionPolicy.from_env({KEEP_SEGMENTS_ENV: "oops"}, keep_segments="3h").keep_segments_us == 3 * US_PER_HOUR
    with pytest.raises(ValueError, match=f"^{KEEP_REPORTS_ENV}: not a duration: 'ninety'"):
        RetentionPolicy.from_env({KEEP_REPORTS_ENV: "ninety"})
    with pytest.raises(ValueError, match="^--keep-segments: not a duration"):
        RetentionPolicy.from_env({}, keep_segments="2 days")


def test_the_plan_by_hand():
    hour, day = US_PER_HOUR, US_PER_DAY
    newest = 1_000 * day
    policy = RetentionPolicy.parse("48h", "90d")
    # cutoffs: segments before newest - 48h, reports before newest - 90d; "before" is strict.
    reports = [newest, newest - 48 * hour, newest - 49 * hour, newest - 90 * day, newest - 90 * day - 1]
    segments = [newest, newest - 48 * hour, newest - 49 * hour, newest - 89 * day,
                newest - 91 * day]  # the last: segments whose report row is gone
    plan = plan_retention(policy, newest, reports, segments)
    assert plan.cutoffs.segments_before_us == newest - 48 * hour
    assert plan.cutoffs.reports_before_us == newest - 90 * day
    assert plan.reports_dropped_us == (newest - 91 * day, newest - 90 * day - 1)
    assert plan.segments_dropped_us == (newest - 89 * day, newest - 49 * hour)
    # keep-segments longer than keep-reports: a report that goes takes its segments along.
    plan = plan_retention(RetentionPolicy.parse("10d", "1d"), newest, [newest - 2 * day], [newest - 2 * day])
    assert plan.reports_dropped_us == (newest - 2 * day,) and plan.segments_dropped_us == ()


# -- a warehouse with four partitions ------------------------------------------------------------


def resources_for(database_url: str, tmp_path: Path) -> dict:
    return {
        "warehouse": WarehouseResource(database_url=database_url),
        "files": StoremonFiles(
            data_dir=str(SAMPLE_DATA_DIR), inbox_dir=str(tmp_path / "inbox"), reports_dir=str(tmp_path / "reports")
        ),
    }


def temp_instance(tmp_path: Path) -> DagsterInstance:
    """A real instance on disk (SQLite storage, one event file per run), as under DAGSTER_HOME."""
    home = tmp_path / "dagster_home"
    home.mkdir(exist_ok=True)
    return DagsterInstance.local_temp(str(home))


def materialize_report(key: str, resources: dict, instance: DagsterInstance, assets=REPORT_ASSETS):
    if not instance.has_dynamic_partition(report_partitions.name, key):
        instance.add_dynamic_partitions(report_partitions.name, [key])
    result = materialize(assets, partition_key=key, resources=resources, instance=instance, raise_on_error=False)
    return result


def four_partitions(database_url: str, tmp_path: Path, instance: DagsterInstance) -> dict:
    resources = resources_for(database_url, tmp_path)
    assert materialize_report(KEPT[0], resources, instance, all_assets).success
    for key in (KEPT[1], SEGMENTS_PRUNED, REPORT_PRUNED):
        assert materialize_report(key, resources, instance).success
    return resources


def rows_of(database_url: str, table: sa.Table, key: str) -> int:
    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        count = conn.execute(
            sa.select(sa.func.count()).select_from(table).where(table.c.as_of_us == as_of_from_partition_key(key))
        ).scalar_one()
    engine.dispose()
    return int(count)


def report_bytes(resources: dict, key: str) -> bytes:
    return resources["files"].report_path(key).read_bytes()


def test_prune_keeps_what_is_recent_and_rebuilds_what_is_asked_again(database_url, tmp_path):
    instance = temp_instance(tmp_path)
    resources = four_partitions(database_url, tmp_path, instance)
    before = {key: report_bytes(resources, key) for key in (*KEPT, SEGMENTS_PRUNED, REPORT_PRUNED)}
    segments_before = {key: rows_of(database_url, tables.status_segments, key) for key in before}
    report_rows_before = rows_of(database_url, tables.store_report, REPORT_PRUNED)
    assert min(segments_before.values()) > 0 and report_rows_before == SAMPLE_STORES
    runs_of_pruned = instance.get_run_ids(RunsFilter(tags={PARTITION_TAG: REPORT_PRUNED}))
    assert len(runs_of_pruned) == 1

    outcome = prune(resources["warehouse"].open(), resources["files"], POLICY, instance)

    assert outcome.cutoffs.newest_report_us == T_US
    assert (outcome.segment_partitions, outcome.report_partitions) == (1, 1)
    assert outcome.segment_rows == segments_before[SEGMENTS_PRUNED] + segments_before[REPORT_PRUNED]
    assert outcome.report_rows == report_rows_before
    assert outcome.files == 2  # the CSV and the chart of REPORT_PRUNED
    assert outcome.partition_keys == 1 and outcome.pruned_keys == [REPORT_PRUNED]
    assert outcome.runs == 1
    assert "\n" not in outcome.summary() and f"1 reports ({SAMPLE_STORES} rows, 2 files" in outcome.summary()

    for key in KEPT:
        assert rows_of(database_url, tables.status_segments, key) == segments_before[key]
        assert rows_of(database_url, tables.report_partitions, key) == 1
        assert rows_of(database_url, tables.segment_shards, key) >= 1
        assert report_bytes(resources, key) == before[key]
    # Segments gone, and the record that they were built: a later report of it rebuilds them.
    assert rows_of(database_url, tables.status_segments, SEGMENTS_PRUNED) == 0
    assert rows_of(database_url, tables.report_partitions, SEGMENTS_PRUNED) == 0
    assert rows_of(database_url, tables.segment_shards, SEGMENTS_PRUNED) == 0
    assert rows_of(database_url, tables.store_report, SEGMENTS_PRUNED) == SAMPLE_STORES
    assert report_bytes(resources, SEGMENTS_PRUNED) == before[SEGMENTS_PRUNED]
    # Everything of the old report gone, in Dagster too.
    for table in (tables.status_segments, tables.report_partitions, tables.segment_shards, tables.store_report):
        assert rows_of(database_url, table, REPORT_PRUNED) == 0
    assert resources["files"].report_files().keys() == {*KEPT, SEGMENTS_PRUNED}
    assert REPORT_PRUNED not in instance.get_dynamic_partitions(report_partitions.name)
    assert sorted(instance.get_dynamic_partitions(report_partitions.name)) == sorted([*KEPT, SEGMENTS_PRUNED])
    assert instance.get_run_by_id(runs_of_pruned[0]) is None
    assert not (tmp_path / "dagster_home" / "history" / "runs" / f"{runs_of_pruned[0]}.db").exists()

    # A second prune finds nothing more.
    again = prune(resources["warehouse"].open(), resources["files"], POLICY, instance)
    assert (again.segment_partitions, again.report_partitions, again.files, again.partition_keys) == (0, 0, 0, 0)

    # store_report alone refuses the partition whose segments went (it never reads an empty set) ...
    refused = materialize_report(SEGMENTS_PRUNED, resources, instance, [store_report])
    assert not refused.success
    # ... and asked for again (as the API and the schedule do: segments and report together), both come
    # back byte for byte.
    for key in (SEGMENTS_PRUNED, REPORT_PRUNED):
        assert materialize_report(key, resources, instance).success
        assert report_bytes(resources, key) == before[key], key
        assert rows_of(database_url, tables.status_segments, key) == segments_before[key]
    resources["warehouse"].open().dispose()


def test_nothing_to_prune_in_an_empty_warehouse(database_url, tmp_path):
    outcome = prune(Warehouse(database_url), StoremonFiles(reports_dir=str(tmp_path / "r")), POLICY)
    assert outcome.cutoffs is None and outcome.summary() == "nothing to prune: no report in the warehouse yet"


# -- SQLite gives the space back ---------------------------------------------------------------


def test_the_sqlite_file_shrinks(tmp_path):
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    resources = four_partitions(url, tmp_path, DagsterInstance.ephemeral())
    warehouse = resources["warehouse"].open()
    warehouse.give_space_back()  # the WAL emptied, so the sizes compare files, not the log
    before = warehouse.storage_bytes()
    outcome = prune(warehouse, resources["files"], RetentionPolicy.parse("0h", "7d"), None)
    # Segments of three partitions out of four went: the file is smaller on disk, not only inside.
    assert outcome.segment_partitions == 2 and outcome.report_partitions == 1
    after = (tmp_path / "warehouse.db").stat().st_size
    assert outcome.warehouse_bytes_after == warehouse.storage_bytes() < before
    assert after < before and not (tmp_path / "warehouse.db-wal").stat().st_size
    with sqlite3.connect(tmp_path / "warehouse.db") as conn:
        assert conn.execute("PRAGMA auto_vacuum").fetchone() == (2,)  # INCREMENTAL, set when the file was new
        assert conn.execute("PRAGMA freelist_count").fetchone() == (0,)
    warehouse.dispose()


def test_a_file_from_before_retention_is_converted_by_its_first_prune(tmp_path):
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:  # a table first: auto_vacuum can no longer be set on this file
        conn.execute("CREATE TABLE made_by_an_older_storemon (x INTEGER)")
    url = f"sqlite:///{path}"
    resources = four_partitions(url, tmp_path, DagsterInstance.ephemeral())
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA auto_vacuum").fetchone() == (0,)
    warehouse = resources["warehouse"].open()
    before = warehouse.storage_bytes()
    prune(warehouse, resources["files"], POLICY, None)
    assert warehouse.storage_bytes() < before
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA auto_vacuum").fetchone() == (2,)
    warehouse.dispose()


# -- Dagster: the schedule, the job, the command -------------------------------------------------


def test_the_schedule_runs_the_job_with_the_environment_s_policy(database_url, tmp_path, monkeypatch):
    instance = temp_instance(tmp_path)
    resources = four_partitions(database_url, tmp_path, instance)
    defs = build_definitions(resources)
    assert defs.get_schedule_def("retention_schedule").execution_timezone == "UTC"

    request = retention_schedule(build_schedule_context(instance=instance))
    assert isinstance(request, RunRequest)
    monkeypatch.setenv(KEEP_SEGMENTS_ENV, "48h")
    monkeypatch.setenv(KEEP_REPORTS_ENV, "7d")
    result = defs.resolve_job_def(retention_schedule.job_name).execute_in_process(
        instance=instance, tags=request.tags
    )
    assert result.success
    metadata = result.get_step_success_events()[0]  # the op's output carries the counts
    assert metadata is not None
    counts = {
        key: value.value
        for event in result.all_node_events
        if event.event_type_value == "STEP_OUTPUT"
        for key, value in event.event_specific_data.metadata.items()
    }
    assert counts["segment_partitions_pruned"] == 1 and counts["reports_pruned"] == 1
    assert counts["report_files_deleted"] == 2 and counts["partition_keys_deleted"] == 1
    assert REPORT_PRUNED not in instance.get_dynamic_partitions(report_partitions.name)

    monkeypatch.setenv(KEEP_REPORTS_ENV, "a while")
    failed = defs.resolve_job_def("retention_job").execute_in_process(instance=instance, raise_on_error=False)
    assert not failed.success
    failure = [e for e in failed.all_events if e.is_step_failure][0].step_failure_data
    assert failure.user_failure_data.description.startswith(f"{KEEP_REPORTS_ENV}: not a duration: 'a while'")


def test_storemon_prune(tmp_path, monkeypatch, capsys):
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    (tmp_path / "dagster_home").mkdir()
    monkeypatch.setenv("STOREMON_REPORTS_DIR", str(tmp_path / "reports"))
    with DagsterInstance.get() as instance:
        four_partitions(url, tmp_path, instance)
    capsys.readouterr()  # the runs' own log

    assert cli.main(["prune", "--keep-segments", "2w", "--keep-reports", "nine", "--database-url", url]) == 1
    assert capsys.readouterr().err == (
        "storemon: error: --keep-reports: not a duration: 'nine' (expected a whole number and a unit m, h, d or w, "
        "e.g. 48h or 90d)\n"
    )
    assert cli.main(["prune", "--keep-segments", "48h", "--keep-reports", "7d", "--database-url", url]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith(f"pruned back from the report as of {T}: segments of 1 partitions")
    assert f"1 reports ({SAMPLE_STORES} rows, 2 files" in out and "1 partition keys, 1 runs" in out
    with DagsterInstance.get() as instance:
        assert REPORT_PRUNED not in instance.get_dynamic_partitions(report_partitions.name)
