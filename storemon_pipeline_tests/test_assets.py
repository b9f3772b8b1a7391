"""The Dagster assets materialized for real: Definitions, jobs, partitions, metadata, warehouse contents."""

from __future__ import annotations

import pandas as pd
import pytest
from dagster import AssetKey, DagsterInstance, materialize

from storemon_pipeline.assets import all_assets
from storemon_pipeline.core.clock import as_of_from_partition_key
from storemon_pipeline.core.report import REPORT_COLUMNS, report_csv
from storemon_pipeline.definitions import defs
from storemon_pipeline.partitions import report_partitions
from storemon_pipeline.resources import StoremonFiles, WarehouseResource, _warehouse_for
from storemon_pipeline_tests.conftest import SAMPLE_DATA_DIR

SAMPLE_AS_OF = "2023-03-14T12:00:00Z"
EARLIER_AS_OF = "2023-03-13T06:30:00Z"


def resources_for(database_url: str, tmp_path) -> dict:
    return {
        "warehouse": WarehouseResource(database_url=database_url),
        "files": StoremonFiles(
            data_dir=str(SAMPLE_DATA_DIR), inbox_dir=str(tmp_path / "inbox"), reports_dir=str(tmp_path / "reports")
        ),
    }


def run_report_job(instance: DagsterInstance, key: str, resources: dict):
    instance.add_dynamic_partitions(report_partitions.name, [key])
    return materialize(all_assets, partition_key=key, resources=resources, instance=instance)


def test_definitions_load_with_the_four_stages():
    keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {"raw_pings", "raw_business_hours", "raw_timezones", "normalized_schedules", "status_segments",
            "store_report"} <= keys
    graph = defs.resolve_asset_graph()
    assert graph.get(AssetKey("store_report")).partitions_def == report_partitions
    assert graph.get(AssetKey("status_segments")).partitions_def == report_partitions
    assert graph.get(AssetKey("normalized_schedules")).partitions_def is None
    assert defs.resolve_job_def("report_job") is not None


def test_report_partitions_materialize_and_match_the_core(database_url, tmp_path):
    instance = DagsterInstance.ephemeral()
    resources = resources_for(database_url, tmp_path)
    result = run_report_job(instance, SAMPLE_AS_OF, resources)
    assert result.success

    report_event = result.asset_materializations_for_node("store_report")[0]
    metadata = report_event.metadata
    path = metadata["report_path"].value
    assert path.endswith(f"report_{SAMPLE_AS_OF}.csv")
    report = pd.read_csv(path, dtype={"store_id": str})
    assert list(report.columns) == REPORT_COLUMNS
    assert metadata["stores"].value == len(report)
    assert 0 <= metadata["fleet_uptime_pct_last_week"].value <= 100
    assert "| store_id |" in metadata["worst_stores"].value

    raw = result.asset_materializations_for_node("raw_pings")[0].metadata
    assert raw["rows_loaded"].value > 10_000
    assert raw["rows_rejected"].value > 0  # the sample carries bad rows on purpose

    # The warehouse table and the file say the same thing.
    warehouse = _warehouse_for(database_url)
    stored = warehouse.read_report(as_of_from_partition_key(SAMPLE_AS_OF))
    assert report_csv(stored) == open(path, encoding="utf-8").read()

    # A second, earlier partition: its own file, other numbers, the first one untouched.
    earlier = run_report_job(instance, EARLIER_AS_OF, resources)
    assert earlier.success
    earlier_path = earlier.asset_materializations_for_node("store_report")[0].metadata["report_path"].value
    assert earlier_path != path
    assert open(earlier_path).read() != open(path).read()
    assert report_csv(warehouse.read_report(as_of_from_partition_key(SAMPLE_AS_OF))) == open(path).read()
    # Re-ingesting the same files changes nothing.
    again = result.asset_materializations_for_node("raw_pings")[0].metadata["files_loaded"].value
    assert again == 1
    rerun = earlier.asset_materializations_for_node("raw_pings")[0].metadata
    assert rerun["files_loaded"].value == 0 and rerun["rows_loaded"].value == 0


def test_segments_fail_clearly_when_schedules_are_stale(sqlite_url, tmp_path):
    from storemon_pipeline.assets import raw_assets, status_segments

    instance = DagsterInstance.ephemeral()
    resources = resources_for(sqlite_url, tmp_path)
    assert materialize(raw_assets, resources=resources, instance=instance).success
    instance.add_dynamic_partitions(report_partitions.name, [SAMPLE_AS_OF])
    result = materialize([status_segments], partition_key=SAMPLE_AS_OF, resources=resources, instance=instance,
                         raise_on_error=False)
    assert not result.success
    failure = [e for e in result.all_events if e.is_step_failure][0]
    assert "materialize normalized_schedules first" in failure.step_failure_data.error.message


@pytest.mark.parametrize("key", ["2023-03-14 12:00:00", "latest", "../../etc/passwd"])
def test_malformed_partition_keys_are_refused(key):
    with pytest.raises(ValueError, match="not a report partition key"):
        as_of_from_partition_key(key)
