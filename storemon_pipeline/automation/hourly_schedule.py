"""hourly_report_schedule: the report as of the newest ping, every hour, when there is a newer ping.

A safety net under the inbox sensor: pings loaded by other means (the UI, `storemon ingest`, the API's
data folder) still get their report within the hour, and an idle hour launches nothing.
"""

# No `from __future__ import annotations`: Dagster inspects the schedule function's annotations.

from dagster import DefaultScheduleStatus, ScheduleEvaluationContext, SkipReason, schedule

from storemon_pipeline.automation.run_requests import newest_reported_key, report_run_request, runs_in_flight
from storemon_pipeline.jobs import report_from_warehouse_job
from storemon_pipeline.partitions import latest_report_partition_key, report_partitions
from storemon_pipeline.resources import WarehouseResource
from storemon_pipeline.runs import REPORT_KEY_TAG


@schedule(
    name="hourly_report_schedule",
    job=report_from_warehouse_job,
    cron_schedule="0 * * * *",
    # UTC: a half-hour zone (Asia/Kolkata) would misalign the hourly ticks.
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
    description="Every hour: the report as of the newest ping, only when it is newer than the newest report.",
)
def hourly_report_schedule(context: ScheduleEvaluationContext, warehouse: WarehouseResource):
    key = latest_report_partition_key(warehouse.open())
    if key is None:
        return SkipReason("no pings in the warehouse yet")
    newest = newest_reported_key(context.instance)
    if newest is not None and key <= newest:
        return SkipReason(f"no ping newer than the report as of {newest}")
    if runs_in_flight(context.instance, {REPORT_KEY_TAG: key}):
        return SkipReason(f"a report run for {key} is already queued or running")
    # A schedule cannot return dynamic partition requests: add the key here (idempotent).
    if not context.instance.has_dynamic_partition(report_partitions.name, key):
        context.instance.add_dynamic_partitions(report_partitions.name, [key])
    return report_run_request(key, hourly_report_schedule.name)
