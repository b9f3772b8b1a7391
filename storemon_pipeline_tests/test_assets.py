"""The Dagster assets materialized for real: Definitions, jobs, partitions, metadata, warehouse contents."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from dagster import AssetKey, DagsterInstance, materialize
from PIL import Image

from storemon_pipeline.assets import all_assets, charts, normalized_schedules
from storemon_pipeline.assets.charts import uptime_histogram_png
from storemon_pipeline.core.clock import as_of_from_partition_key
from storemon_pipeline.assets.raw import raw_materialization_metadata
from storemon_pipeline.core.inputs import PINGS, parse_csv_bytes
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
    assert defs.resolve_job_def("ingest_and_report_job") is not None


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

    raw = raw_materialization_metadata(result, PINGS)
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
    again = raw_materialization_metadata(result, PINGS)["files_loaded"].value
    assert again == 1
    rerun = raw_materialization_metadata(earlier, PINGS)
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


def test_normalized_schedules_are_rebuilt_only_when_their_inputs_change(database_url, tmp_path):
    instance = DagsterInstance.ephemeral()
    resources = resources_for(database_url, tmp_path)

    def schedules_materialization(result):
        return result.asset_materializations_for_node("normalized_schedules")[0]

    first = schedules_materialization(run_report_job(instance, SAMPLE_AS_OF, resources))
    second = schedules_materialization(run_report_job(instance, EARLIER_AS_OF, resources))
    assert first.metadata["rebuilt"].value is True and second.metadata["rebuilt"].value is False
    assert second.metadata["rows"].value == first.metadata["rows"].value > 0
    version = first.tags["dagster/data_version"]
    assert second.tags["dagster/data_version"] == version

    # A new hours file (a store that was open 24x7 gets hours) is picked up by the next build.
    warehouse = _warehouse_for(database_url)
    store_id = warehouse.read_normalized_schedules()["store_id"].iloc[0]
    hours = f"store_id,dayOfWeek,start_time_local,end_time_local\n{store_id},2,09:00,10:00\n".encode()
    warehouse.ingest(parse_csv_bytes(hours, "new_hours.csv", 2**62), 2**62)
    third = schedules_materialization(
        materialize([normalized_schedules], resources=resources, instance=instance)
    )
    assert third.metadata["rebuilt"].value is True and third.tags["dagster/data_version"] != version
    rows = warehouse.read_normalized_schedules()
    assert rows.loc[rows["store_id"] == store_id, ["day_of_week", "start_s", "end_s"]].values.tolist() == [
        [2, 9 * 3600, 10 * 3600]
    ]


def test_uptime_histogram_bars_follow_the_counts():
    share_percent = np.array([100.0] * 30 + [2.0] * 10)  # 30 stores in the top bucket, 10 in the first
    image = Image.open(io.BytesIO(uptime_histogram_png(share_percent, "title"))).convert("RGB")
    assert image.size == (charts.WIDTH, charts.HEIGHT)
    bucket_width = (charts.RIGHT - charts.LEFT) / 20

    def bar_height(bucket: int) -> int:
        x = int(charts.LEFT + (bucket + 0.5) * bucket_width)
        return sum(image.getpixel((x, y)) == charts.BAR_COLOR for y in range(charts.TOP, charts.BOTTOM + 1))

    top, first, empty = bar_height(19), bar_height(0), bar_height(10)
    assert empty == 0 and top > 0
    assert first / top == pytest.approx(10 / 30, abs=0.03)


@pytest.mark.parametrize("key", ["2023-03-14 12:00:00", "latest", "../../etc/passwd", "2023-3-14T12:00:00Z", "2023-03-14T1:2:3Z"])
def test_malformed_partition_keys_are_refused(key):
    with pytest.raises(ValueError, match="not a report partition key"):
        as_of_from_partition_key(key)
