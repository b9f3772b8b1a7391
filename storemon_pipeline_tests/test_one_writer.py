"""One writer per report partition, and no report from absent or inconsistent inputs.

Each test reproduces a way a report came out wrong with every check green: two runs of one
partition at once doubling its segments (PostgreSQL), store_report materialized for a partition
whose segments were never built, a report whose windows do not add up to their business time.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from dagster import AssetKey, DagsterInstance, materialize

from storemon_pipeline.assets import all_assets, normalized_schedules, store_report
from storemon_pipeline.assets.report import BUSINESS_TIME_CHECK
from storemon_pipeline.core.clock import as_of_from_partition_key
from storemon_pipeline.core.report import report_csv
from storemon_pipeline.partitions import report_partitions
from storemon_pipeline.resources import StoremonFiles, WarehouseResource, _warehouse_for
from storemon_pipeline.warehouse import Warehouse, tables
from storemon_pipeline_tests.conftest import SAMPLE_DATA_DIR
from storemon_pipeline_tests.test_warehouse import HOUR_US, T0_US, timezones_file

AS_OF = "2023-03-14T12:00:00Z"
NEW_AS_OF = "2023-03-14T11:00:00Z"


def resources_for(database_url: str, tmp_path) -> dict:
    return {
        "warehouse": WarehouseResource(database_url=database_url),
        "files": StoremonFiles(
            data_dir=str(SAMPLE_DATA_DIR), inbox_dir=str(tmp_path / "inbox"), reports_dir=str(tmp_path / "reports")
        ),
    }


def materialize_partition(assets, key: str, resources: dict, instance: DagsterInstance):
    if not instance.has_dynamic_partition(report_partitions.name, key):
        instance.add_dynamic_partitions(report_partitions.name, [key])
    return materialize(assets, partition_key=key, resources=resources, instance=instance, raise_on_error=False)


def failure_message(result) -> str:
    failure = [e for e in result.all_events if e.is_step_failure][0].step_failure_data
    return failure.user_failure_data.description if failure.user_failure_data else failure.error.message


# -- the warehouse: one writer per partition, in the database -----------------------------


def test_two_writers_of_one_partition_at_once_leave_one_set_of_segments(database_url):
    warehouse = Warehouse(database_url)
    stores = [f"s{i:04d}" for i in range(2_000)]
    warehouse.ingest(timezones_file([(store, "UTC") for store in stores]), T0_US)
    per_store = 40
    segments = pd.DataFrame(
        {
            "store_id": np.repeat(stores, per_store),
            "start_us": np.tile(np.arange(per_store, dtype=np.int64) * 10, len(stores)),
            "end_us": np.tile(np.arange(per_store, dtype=np.int64) * 10 + 5, len(stores)),
            "status": "active",
        }
    )
    for round_ in range(3):
        start = threading.Barrier(2)
        errors: list[BaseException] = []

        def write() -> None:
            try:
                start.wait()
                warehouse.write_status_segments(T0_US, segments, schedules_version=f"v{round_}")
            except BaseException as error:  # reported below, with the round
                errors.append(error)

        writers = [threading.Thread(target=write) for _ in range(2)]
        for writer in writers:
            writer.start()
        for writer in writers:
            writer.join(120)
        assert not errors, f"round {round_}: {errors!r}"
        assert len(warehouse.read_status_segments(T0_US)) == len(segments), f"round {round_}"
    warehouse.dispose()


def test_a_second_segment_with_the_same_start_is_refused_by_the_database(database_url):
    warehouse = Warehouse(database_url)
    warehouse.ingest(timezones_file([("a", "UTC")]), T0_US)
    one = pd.DataFrame({"store_id": ["a"], "start_us": [T0_US], "end_us": [T0_US + HOUR_US], "status": ["active"]})
    warehouse.write_status_segments(T0_US + HOUR_US, one, schedules_version="v1")
    engine = sa.create_engine(database_url)
    row = {"as_of_us": T0_US + HOUR_US, "store_key": 1, "start_us": T0_US, "end_us": T0_US + 1, "status": 0}
    with pytest.raises(sa.exc.IntegrityError):
        with engine.begin() as conn:
            conn.execute(sa.insert(tables.status_segments), [row])
    engine.dispose()
    warehouse.dispose()


def test_a_warehouse_with_doubled_segments_upgrades_by_dropping_that_partition(database_url):
    warehouse = Warehouse(database_url)
    warehouse.ingest(timezones_file([("a", "UTC"), ("b", "UTC")]), T0_US)
    one = pd.DataFrame(
        {"store_id": ["a", "b"], "start_us": [T0_US] * 2, "end_us": [T0_US + HOUR_US] * 2, "status": ["active"] * 2}
    )
    doubled_us, kept_us = T0_US + HOUR_US, T0_US + 2 * HOUR_US
    warehouse.write_status_segments(doubled_us, one, schedules_version="v1")
    warehouse.write_status_segments(kept_us, one, schedules_version="v1")
    warehouse.dispose()

    # Back to the 0.2 schema: a non-unique index, no report_partitions; then the 0.2 race.
    engine = sa.create_engine(database_url)
    segments = tables.status_segments
    with engine.begin() as conn:
        conn.execute(sa.text("DROP INDEX ix_status_segments_as_of_us_store_key_start_us"))
        conn.execute(sa.text("CREATE INDEX ix_status_segments_as_of_us_store_key_start_us "
                             "ON status_segments (as_of_us, store_key, start_us)"))
        conn.execute(sa.text("DROP TABLE report_partitions"))
        twice = sa.select(segments).where(segments.c.as_of_us == doubled_us)
        conn.execute(sa.insert(segments).from_select(list(segments.c.keys()), twice))

    upgraded = Warehouse(database_url)
    assert upgraded.read_status_segments(doubled_us).empty
    assert len(upgraded.read_status_segments(kept_us)) == 2
    with engine.begin() as conn:
        built = conn.execute(sa.select(tables.report_partitions.c.as_of_us)).scalars().all()
        indexes = sa.inspect(conn).get_indexes("status_segments")
    assert built == [kept_us]
    assert [index["unique"] for index in indexes] == [True]
    # The kept partition was built from schedules no one can name: its report alone is refused.
    from storemon_pipeline.warehouse import SchedulesChanged

    with pytest.raises(SchedulesChanged), upgraded.report_partition(kept_us) as partition:
        partition.normalized_schedules()
    engine.dispose()
    upgraded.dispose()


# -- Dagster: no report from absent inputs, and a blocking check -------------------------


def test_store_report_alone_for_a_new_partition_fails_naming_status_segments(database_url, tmp_path):
    instance = DagsterInstance.ephemeral()
    resources = resources_for(database_url, tmp_path)
    assert materialize_partition(all_assets, AS_OF, resources, instance).success

    # "Add a partition" in the UI, then Materialize on store_report alone.
    result = materialize_partition([store_report], NEW_AS_OF, resources, instance)
    assert not result.success
    assert failure_message(result).startswith(f"status_segments[{NEW_AS_OF}] was never built")
    assert not (tmp_path / "reports" / f"report_{NEW_AS_OF}.csv").exists()
    assert _warehouse_for(database_url).read_report(as_of_from_partition_key(NEW_AS_OF)).empty
    assert instance.get_latest_materialization_event(AssetKey("store_report")).asset_materialization.partition == AS_OF
    assert not [e for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]


def test_store_report_alone_after_the_schedules_changed_is_refused(database_url, tmp_path):
    instance = DagsterInstance.ephemeral()
    resources = resources_for(database_url, tmp_path)
    assert materialize_partition(all_assets, AS_OF, resources, instance).success
    before = (tmp_path / "reports" / f"report_{AS_OF}.csv").read_bytes()

    # New hours arrive and the schedules are rebuilt; the partition's segments are not.
    warehouse = _warehouse_for(database_url)
    store_id = warehouse.report_store_ids(as_of_from_partition_key(AS_OF))[0]
    hours = f"store_id,dayOfWeek,start_time_local,end_time_local\n{store_id},0,09:00,10:00\n".encode()
    from storemon_pipeline.core.inputs import parse_csv_bytes

    warehouse.ingest(parse_csv_bytes(hours, "late_hours.csv", T0_US), T0_US)
    assert materialize([normalized_schedules], resources=resources, instance=instance).success

    result = materialize_partition([store_report], AS_OF, resources, instance)
    assert not result.success
    assert "built from schedules that have changed since" in failure_message(result)
    assert (tmp_path / "reports" / f"report_{AS_OF}.csv").read_bytes() == before


def test_a_report_that_does_not_add_up_is_refused_and_the_previous_one_stays(database_url, tmp_path):
    instance = DagsterInstance.ephemeral()
    resources = resources_for(database_url, tmp_path)
    assert materialize_partition(all_assets, AS_OF, resources, instance).success
    path = tmp_path / "reports" / f"report_{AS_OF}.csv"
    before = path.read_bytes()
    warehouse = _warehouse_for(database_url)
    as_of_us = as_of_from_partition_key(AS_OF)
    assert report_csv(warehouse.read_report(as_of_us)).encode() == before

    # Segments written twice over, one microsecond apart (what two unguarded runs did).
    segments = tables.status_segments
    engine = sa.create_engine(database_url)
    with engine.begin() as conn:
        shifted = sa.select(
            segments.c.as_of_us, segments.c.store_key, segments.c.start_us + 1, segments.c.end_us, segments.c.status
        ).where(segments.c.as_of_us == as_of_us)
        conn.execute(sa.insert(segments).from_select(list(segments.c.keys()), shifted))
    engine.dispose()

    result = materialize_partition([store_report], AS_OF, resources, instance)
    assert not result.success
    message = failure_message(result)
    assert message.startswith(f"report {AS_OF} refused: uptime + downtime is not the business time") and "\n" not in message
    evaluation = [e for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"][0]
    check = evaluation.event_specific_data
    assert check.check_name == BUSINESS_TIME_CHECK and not check.passed
    assert path.read_bytes() == before
    assert report_csv(warehouse.read_report(as_of_us)).encode() == before


# -- the command line: two reports of one as-of at once -----------------------------------


def storemon(*args: str, env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "storemon_pipeline.cli", *args],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def test_concurrent_cli_reports_of_one_as_of_give_the_bytes_of_one_run(pg_url, tmp_path):
    env = {**os.environ, "STOREMON_HOME": str(tmp_path)}
    common = ["--data-dir", str(SAMPLE_DATA_DIR), "--database-url", pg_url]
    first = storemon("report", *common, "--as-of", AS_OF, "--out", str(tmp_path / "single.csv"), env=env)
    assert first.wait(300) == 0, first.stderr.read()
    single = (tmp_path / "single.csv").read_bytes()
    as_of_us = as_of_from_partition_key(AS_OF)
    warehouse = Warehouse(pg_url)
    n_segments = len(warehouse.read_status_segments(as_of_us))

    for round_ in range(2):
        outs = [tmp_path / f"round{round_}_{i}.csv" for i in range(2)]
        runs = [storemon("report", *common, "--as-of", AS_OF, "--out", str(out), env=env) for out in outs]
        for run in runs:
            assert run.wait(300) == 0, run.stderr.read()
        assert [out.read_bytes() for out in outs] == [single, single]
        assert len(warehouse.read_status_segments(as_of_us)) == n_segments
        assert report_csv(warehouse.read_report(as_of_us)).encode() == single
    warehouse.dispose()
