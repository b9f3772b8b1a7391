"""The real stack: `dagster dev` (webserver + daemon) on a free loopback port, a CSV dropped into the inbox.

Uses the session's shared stack (storemon_pipeline_tests/stack.py: its own DAGSTER_HOME, SQLite warehouse,
data, inbox and reports folders in a temporary directory, every process in its own group and stopped at the
end). That stack starts with the schedule and sensors stopped so other tests see only their own runs; this
test starts the two sensors through GraphQL, as a user would with the UI's toggle, and stops them again.

What it proves, all through Dagster's GraphQL API:
1. a pings file dropped into the inbox (written as *.tmp, then renamed) is ingested by one `ingest_job` run
   and followed by one `report_from_warehouse_job` run; the store_report partition for the new newest ping
   exists and is materialized, with its checks evaluated;
2. the `request_report_job` job, launched with nothing but an as-of (the UI's Launchpad), ends in the report
   partition for that as-of.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from storemon_pipeline.core.clock import US_PER_S, latest_report_as_of_us, partition_key
from storemon_pipeline.warehouse import Warehouse
from storemon_pipeline_tests.stack import DagsterStack, shared_stack, wait_until

WAIT_S = 240
LOCATION = "storemon"
REPOSITORY = "__repository__"

SENSOR_QUERY = """
query Sensor($selector: SensorSelector!) {
  sensorOrError(sensorSelector: $selector) {
    __typename
    ... on Sensor { id sensorState { status } }
    ... on PythonError { message }
  }
}"""
START_SENSOR = """
mutation Start($selector: SensorSelector!) {
  startSensor(sensorSelector: $selector) {
    __typename
    ... on Sensor { sensorState { status } }
    ... on PythonError { message }
  }
}"""
SENSOR_TICKS = """
query Ticks($selector: SensorSelector!) {
  sensorOrError(sensorSelector: $selector) {
    ... on Sensor { sensorState { ticks(limit: 1) { timestamp } } }
  }
}"""
STOP_SENSOR = """
mutation Stop($id: String!) {
  stopSensor(id: $id) { __typename ... on PythonError { message } }
}"""
REPORT_PARTITION = """
query Report($key: String!) {
  assetNodeOrError(assetKey: {path: ["store_report"]}) {
    ... on AssetNode {
      partitionKeys
      assetMaterializations(partitions: [$key], limit: 1) {
        partition runId
        metadataEntries { label __typename ... on FloatMetadataEntry { floatValue } ... on IntMetadataEntry { intValue } }
      }
      assetChecksOrError {
        ... on AssetChecks {
          checks { name executionForLatestMaterialization { status evaluation { severity } } }
        }
      }
    }
  }
}"""
SENSOR_RUNS = """
query Runs($trigger: String!) {
  runsOrError(filter: {tags: [{key: "storemon/trigger", value: $trigger}]}) {
    ... on Runs { results { runId jobName status tags { key value } } }
  }
}"""
LAUNCH_REQUEST = """
mutation Launch($config: RunConfigData) {
  launchRun(executionParams: {
    selector: {repositoryLocationName: "storemon", repositoryName: "__repository__", jobName: "request_report_job"},
    runConfigData: $config
  }) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}"""

RUN_STATUS = """
query Run($runId: ID!) { runOrError(runId: $runId) { ... on Run { status } } }"""


class GraphQL:
    def __init__(self, url: str):
        self.client = httpx.Client(base_url=url, timeout=30)

    def __call__(self, query: str, **variables) -> dict:
        response = self.client.post("/graphql", json={"query": query, "variables": variables})
        response.raise_for_status()
        body = response.json()
        assert "errors" not in body, body["errors"]
        return body["data"]

    def sensor_selector(self, name: str) -> dict:
        return {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY, "sensorName": name}

    def start_sensor(self, name: str) -> None:
        started = self(START_SENSOR, selector=self.sensor_selector(name))["startSensor"]
        assert started["__typename"] == "Sensor", started

    def latest_tick_s(self, name: str) -> float:
        ticks = self(SENSOR_TICKS, selector=self.sensor_selector(name))["sensorOrError"]["sensorState"]["ticks"]
        return ticks[0]["timestamp"] if ticks else 0.0

    def stop_sensor(self, name: str) -> None:
        sensor = self(SENSOR_QUERY, selector=self.sensor_selector(name))["sensorOrError"]
        if sensor.get("sensorState", {}).get("status") == "RUNNING":
            self(STOP_SENSOR, id=sensor["id"])

    def report_node(self, key: str) -> dict:
        return self(REPORT_PARTITION, key=key)["assetNodeOrError"]

    def runs(self, trigger: str) -> list[dict]:
        return self(SENSOR_RUNS, trigger=trigger)["runsOrError"]["results"]


def wait_for(what: str, probe, stack: DagsterStack, timeout_s: float = WAIT_S, poll_s: float = 2.0):
    return wait_until(what, probe, timeout_s, lambda: f"--- dagster dev log ---\n{stack.log_tail()}", poll_s)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with shared_stack(tmp_path_factory) as running:
        yield running


def materialized(gql: GraphQL, key: str):
    """The store_report node once the partition is materialized and its checks have finished."""
    node = gql.report_node(key)
    if not node["assetMaterializations"]:
        return None
    checks = node["assetChecksOrError"]["checks"]
    done = all((c["executionForLatestMaterialization"] or {}).get("status") not in {None, "IN_PROGRESS"} for c in checks)
    return node if done else None


def test_a_dropped_csv_becomes_a_report_partition(stack):
    gql = GraphQL(stack.dagster_url)
    sample_latest_us = Warehouse(stack.database_url).latest_ping_us()
    assert sample_latest_us is not None
    # Newer than anything loaded, with a fraction: the key is the ping rounded up to the second.
    new_ping_us = (sample_latest_us // US_PER_S + 17 * 60) * US_PER_S + 250_000
    expected_key = partition_key(latest_report_as_of_us(new_ping_us))
    stamp = partition_key(new_ping_us).replace("T", " ").replace("Z", ".250000 UTC")
    store_ids = Warehouse(stack.database_url).report_store_ids(sample_latest_us)[:3]
    rows = "".join(f"{store},active,{stamp}\n" for store in store_ids)

    inbox = stack.root / "inbox"
    partial = inbox / "drop_e2e.csv.tmp"  # the README's convention: write, then rename
    partial.write_text("store_id,status,timestamp_utc\n" + rows)
    partial.rename(inbox / "drop_e2e.csv")
    gql.start_sensor("inbox_sensor")
    try:
        node = wait_for(f"store_report[{expected_key}] materialized", lambda: materialized(gql, expected_key), stack)
    finally:
        gql.stop_sensor("inbox_sensor")

    assert expected_key in node["partitionKeys"]
    runs = gql.runs("inbox_sensor")
    ingests = [r for r in runs if r["jobName"] == "ingest_job"]
    reports = [r for r in runs if r["jobName"] == "report_from_warehouse_job"]
    assert [r["status"] for r in ingests] == ["SUCCESS"]
    assert "drop_e2e.csv" in {t["value"] for t in ingests[0]["tags"] if t["key"] == "storemon/files"}
    report_keys = [next(t["value"] for t in r["tags"] if t["key"] == "dagster/partition") for r in reports]
    assert expected_key in report_keys
    assert node["assetMaterializations"][0]["runId"] in {r["runId"] for r in reports}
    labels = {e["label"] for e in node["assetMaterializations"][0]["metadataEntries"]}
    assert {"stores", "report_path", "worst_stores", "fleet_uptime_pct_last_week"} <= labels

    checks = {c["name"]: c["executionForLatestMaterialization"] for c in node["assetChecksOrError"]["checks"]}
    assert set(checks) == {"business_time_adds_up", "data_fresh", "downtime_last_day"}
    assert checks["business_time_adds_up"]["status"] == "SUCCEEDED"  # blocking: the report was published
    assert checks["data_fresh"]["status"] == "SUCCEEDED"
    assert checks["downtime_last_day"]["status"] in {"SUCCEEDED", "FAILED"}  # a business signal, not a fault
    assert (Path(stack.reports_dir) / f"report_{expected_key}.csv").exists()


def test_request_report_from_the_launchpad_materializes_the_chosen_as_of(stack):
    gql = GraphQL(stack.dagster_url)
    latest_us = Warehouse(stack.database_url).latest_ping_us()
    as_of = partition_key(latest_us - 3 * 3600 * US_PER_S)  # a past instant: a backfill
    started_s = time.time()
    gql.start_sensor("report_request_sensor")
    try:
        # A run-status sensor watches from the newest run event at its first tick on: a
        # request_report_job run that succeeded before that tick would never be seen.
        wait_for("report_request_sensor's first tick", lambda: gql.latest_tick_s("report_request_sensor") > started_s,
                 stack)
        # A bad as-of is refused at launch, in one line, before any run exists (Dagster answers the
        # launch with HTTP 500 and a PythonError whose message is that line).
        response = gql.client.post("/graphql", json={"query": LAUNCH_REQUEST,
                                                     "variables": {"config": {"as_of": "2023-01-25 12"}}})
        refused = response.json()["data"]["launchRun"]
        assert refused["__typename"] == "PythonError", refused
        assert refused["message"].strip().endswith(
            "as_of: not an ISO 8601 instant: '2023-01-25 12' (expected e.g. 2023-01-25T18:13:23Z)"
        ), refused
        launched = gql(LAUNCH_REQUEST, config={"as_of": as_of})["launchRun"]
        assert launched["__typename"] == "LaunchRunSuccess", launched
        request_run_id = launched["run"]["runId"]

        def report_done():
            status = gql(RUN_STATUS, runId=request_run_id)["runOrError"]["status"]
            assert status not in {"FAILURE", "CANCELED"}, f"request_report_job run {request_run_id}: {status}"
            return materialized(gql, as_of)

        wait_for(f"store_report[{as_of}] materialized", report_done, stack)
    finally:
        gql.stop_sensor("report_request_sensor")
    assert any(r["jobName"] == "report_from_warehouse_job" for r in gql.runs("request_report_job"))


LAUNCH_REPORT = """
mutation Launch($key: String!) {
  launchRun(executionParams: {
    selector: {repositoryLocationName: "storemon", repositoryName: "__repository__", jobName: "report_from_warehouse_job"},
    executionMetadata: {tags: [{key: "dagster/partition", value: $key}, {key: "storemon/test", value: "two-at-once"}]}
  }) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
  }
}"""
ADD_PARTITION = """
mutation Add($key: String!) {
  addDynamicPartition(
    repositorySelector: {repositoryLocationName: "storemon", repositoryName: "__repository__"},
    partitionsDefName: "report_ts", partitionKey: $key
  ) { __typename }
}"""
RUN_TIMES = """
query Run($runId: ID!) { runOrError(runId: $runId) { ... on Run { status startTime endTime } } }"""


def test_two_runs_of_one_report_partition_launched_at_once_run_one_after_the_other(stack):
    """The run queue's limit (storemon_pipeline/instance.py): one run per dagster/partition value."""
    gql = GraphQL(stack.dagster_url)
    latest_us = Warehouse(stack.database_url).latest_ping_us()
    key = partition_key(latest_us - 5 * 3600 * US_PER_S)
    assert gql(ADD_PARTITION, key=key)["addDynamicPartition"]["__typename"] == "AddDynamicPartitionSuccess"
    launched = [gql(LAUNCH_REPORT, key=key)["launchRun"] for _ in range(2)]
    assert all(result["__typename"] == "LaunchRunSuccess" for result in launched), launched
    run_ids = [result["run"]["runId"] for result in launched]

    def finished():
        runs = [gql(RUN_TIMES, runId=run_id)["runOrError"] for run_id in run_ids]
        return runs if all(run["status"] in {"SUCCESS", "FAILURE", "CANCELED"} for run in runs) else None

    first, second = sorted(wait_for("both report runs finished", finished, stack), key=lambda run: run["startTime"])
    print(f"\ntwo runs of {key}: {first} then {second}")
    assert first["status"] == second["status"] == "SUCCESS"
    assert second["startTime"] >= first["endTime"], (first, second)
    report = Path(stack.reports_dir) / f"report_{key}.csv"
    assert report.exists()
