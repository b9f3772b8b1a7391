"""report_request_sensor: the second half of the UI's "latest report" button (request_report_job).

request_report_job resolves the key ("latest" needs the warehouse, so it cannot be known at launch)
and tags its run with it; this sensor then launches the partitioned report run for that key. The
run_key is the request run's id, so each press of the button gives exactly one report run.
"""

# No `from __future__ import annotations`: Dagster inspects the sensor function's annotations.

from dagster import (
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunStatusSensorContext,
    SkipReason,
    run_status_sensor,
)

from storemon_pipeline.automation.run_requests import report_run_request
from storemon_pipeline.jobs import report_from_warehouse_job, request_report_job
from storemon_pipeline.runs import REPORT_KEY_TAG, REQUEST_RUN_TAG

# As often as the inbox sensor: the button's report starts within seconds of the request run.
REQUEST_SENSOR_INTERVAL_S = 15


@run_status_sensor(
    name="report_request_sensor",
    run_status=DagsterRunStatus.SUCCESS,
    monitored_jobs=[request_report_job],
    request_job=report_from_warehouse_job,
    minimum_interval_seconds=REQUEST_SENSOR_INTERVAL_S,
    default_status=DefaultSensorStatus.RUNNING,
    description="After a successful request_report_job run: runs the report for the key it resolved.",
)
def report_request_sensor(context: RunStatusSensorContext):
    # The key was added to the run's tags while it ran: read the stored run, not the launch-time copy.
    run = context.instance.get_run_by_id(context.dagster_run.run_id) or context.dagster_run
    key = run.tags.get(REPORT_KEY_TAG)
    if not key:
        return SkipReason(f"run {run.run_id} resolved no report key")
    request = report_run_request(key, request_report_job.name)
    return RunRequest(
        run_key=f"request:{run.run_id}", partition_key=key, tags={**request.tags, REQUEST_RUN_TAG: run.run_id}
    )
