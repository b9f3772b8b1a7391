"""inbox_sensor: CSVs dropped into the inbox are ingested once each, then their report is requested.

The sensor works in two phases, and never parses or loads a file itself:

1. **Ingest.** A new CSV that is complete (same size and mtime on two ticks in a row; `*.tmp` /
   `*.partial` names are not CSVs until renamed) is hashed; a (name, size, sha256) not in the cursor
   yet is requested as an `ingest_job` run whose raw assets get exactly these paths. The warehouse
   refuses a sha256 it already holds, so even a lost cursor cannot load a file twice.
2. **Report.** On a later tick, once no run the sensor started is still queued or running, the
   newest ping *in the warehouse* gives the report key (rounded up to the second:
   docs/report-semantics.md#the-clock-and-the-as-of). If that key has not been requested yet, the
   sensor adds the dynamic partition and requests `report_from_warehouse_job` for it
   (run_key `report:<key>`).

Computing the key from the warehouse rather than from the dropped file is what makes it exact: the
same parser that rejects rows (future timestamps, bad statuses, dedup) has already run, so a stray
future row never moves the clock, and the key needs no second CSV reader in the sensor.

Every decision is `inbox.plan_inbox_tick`'s, a pure function: this module only gathers its facts from
the inbox, the instance and the warehouse, and turns the plan into Dagster's answer.
"""

# No `from __future__ import annotations`: Dagster inspects the sensor function's annotations.

from pathlib import Path

from dagster import DefaultSensorStatus, RunRequest, SensorEvaluationContext, SensorResult, SkipReason, sensor

from storemon_pipeline.automation.inbox import Ingest, InboxCursor, InboxPlan, RequestReport, plan_inbox_tick, scan_inbox
from storemon_pipeline.assets.raw import raw_paths_run_config
from storemon_pipeline.automation.run_requests import newest_reported_key, report_run_request, runs_in_flight
from storemon_pipeline.jobs import ingest_job, report_from_warehouse_job
from storemon_pipeline.partitions import latest_report_partition_key, report_partitions
from storemon_pipeline.resources import StoremonFiles, WarehouseResource
from storemon_pipeline.runs import FILES_TAG, TRIGGER_TAG

# The sensor's name is also the trigger tag of the runs it requests, by which it finds its busy runs.
INBOX_SENSOR_NAME = "inbox_sensor"
# A dropped file is complete once unchanged over one interval: ingested within about two ticks.
INBOX_SENSOR_INTERVAL_S = 15


@sensor(
    name=INBOX_SENSOR_NAME,
    jobs=[ingest_job, report_from_warehouse_job],
    minimum_interval_seconds=INBOX_SENSOR_INTERVAL_S,
    default_status=DefaultSensorStatus.RUNNING,
    description=(
        "Watches STOREMON_INBOX for CSVs of any kind: ingests each complete new file once (ingest_job), "
        "then adds the report partition for the newest ping and requests its report (report_from_warehouse_job)."
    ),
)
def inbox_sensor(context: SensorEvaluationContext, warehouse: WarehouseResource, files: StoremonFiles):
    inbox = Path(files.inbox_dir)
    cursor = InboxCursor.load(context.cursor)
    scanned = scan_inbox(inbox, cursor)
    busy = runs_in_flight(context.instance, {TRIGGER_TAG: INBOX_SENSOR_NAME})
    if busy:
        # Nothing is decided from the warehouse while a run is in flight: it is not asked.
        plan = plan_inbox_tick(cursor, scanned, busy_run_id=busy[0].run_id)
    else:
        store = warehouse.open()
        plan = plan_inbox_tick(
            cursor,
            scanned,
            loaded_sha256=set(store.ingested_files()["sha256"]),
            latest_key=latest_report_partition_key(store),
            newest_reported_key=newest_reported_key(context.instance),
        )
    return sensor_result(context, plan, inbox)


def sensor_result(context: SensorEvaluationContext, plan: InboxPlan, inbox: Path) -> SensorResult:
    """The plan as Dagster's answer: a run request (and the partition it needs), or a skip reason."""
    if plan.already_ingested:
        context.log.info("already ingested, skipped: " + ", ".join(plan.already_ingested))
    cursor = plan.cursor.dump()
    match plan.action:
        case Ingest() as ingest:
            for file in ingest.files:
                if file.problem:
                    context.log.error(f"not an input file (never retried unless it changes): {file.problem}")
            context.log.info("ingest requested: " + ", ".join(f"{f.name} ({f.kind})" for f in ingest.files))
            return SensorResult(run_requests=[ingest_run_request(ingest, inbox)], cursor=cursor)
        case RequestReport(key=key, after=after):
            return SensorResult(
                run_requests=[report_run_request(key, INBOX_SENSOR_NAME, after)],
                dynamic_partitions_requests=[report_partitions.build_add_request([key])],
                cursor=cursor,
            )
        case _:  # WaitForRun, WaitForFiles, Skip
            return SensorResult(skip_reason=SkipReason(plan.action.reason), cursor=cursor)


def ingest_run_request(ingest: Ingest, inbox: Path) -> RunRequest:
    """An ingest_job run whose raw assets load exactly these files, and nothing else in the folders."""
    names = ", ".join(f.name for f in ingest.files)
    return RunRequest(
        run_key=ingest.run_key,
        job_name=ingest_job.name,
        run_config=raw_paths_run_config([str(inbox / f.name) for f in ingest.files]),
        tags={TRIGGER_TAG: INBOX_SENSOR_NAME, FILES_TAG: names[:200]},
    )
