"""retention_schedule: once a day, old report partitions are pruned (retention_job).

Daily, not hourly: a day's 24 new partitions are pruned in one run, and the SQLite file is
given its free pages back once a day rather than every hour.
"""

# No `from __future__ import annotations`: Dagster inspects the schedule function's annotations.

from dagster import DefaultScheduleStatus, RunRequest, ScheduleEvaluationContext, SkipReason, schedule

from storemon_pipeline.automation.run_requests import runs_in_flight
from storemon_pipeline.jobs import retention_job
from storemon_pipeline.runs import TRIGGER_TAG

RETENTION_TAG = {TRIGGER_TAG: "retention_schedule"}


@schedule(
    name="retention_schedule",
    job=retention_job,
    # 03:30 UTC: away from the top of the hour, when the hourly report runs.
    cron_schedule="30 3 * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
    description="Daily: prune report partitions older than STOREMON_KEEP_SEGMENTS / STOREMON_KEEP_REPORTS.",
)
def retention_schedule(context: ScheduleEvaluationContext):
    if runs_in_flight(context.instance, RETENTION_TAG):
        return SkipReason("the previous retention run has not finished")
    return RunRequest(tags=RETENTION_TAG)
