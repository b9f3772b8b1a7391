"""Every job, named for what it does: the UI, the schedule, the sensors and the API launch these.

Dagster decorators inspect annotations as objects: no `from __future__ import annotations`.
"""

from dagster import (
    AssetSelection,
    Config,
    ConfigMapping,
    DagsterInvalidConfigError,
    Failure,
    Field as DagsterField,
    OpExecutionContext,
    define_asset_job,
    job,
    op,
)
from pydantic import Field

from storemon_pipeline.assets import all_assets, normalized_schedules, raw_assets, status_segments, store_report
from storemon_pipeline.core.clock import parse_instant_us, partition_key, whole_second_at_or_after_us
from storemon_pipeline.partitions import latest_report_partition_key, report_partitions
from storemon_pipeline.core.retention import RetentionPolicy
from storemon_pipeline.resources import StoremonFiles, WarehouseResource
from storemon_pipeline.retention import prune
from storemon_pipeline.runs import (
    INGEST_JOB_NAME,
    INGESTS_TAG,
    INGESTS_TAG_VALUE,
    REPORT_KEY_TAG,
    RETENTION_JOB_NAME,
    RETRY_ALL_STEPS,
    RETRY_STRATEGY_TAG,
)

# Tags every run of a job carries: the run queue reads them (instance.RUN_CONCURRENCY), and so
# does the daemon when it retries a run whose worker died (deploy/dagster.yaml run_retries).
_INGESTS = {INGESTS_TAG: INGESTS_TAG_VALUE}
_RETRY_WHOLE = {RETRY_STRATEGY_TAG: RETRY_ALL_STEPS}

ingest_job = define_asset_job(
    INGEST_JOB_NAME,
    selection=AssetSelection.assets(*raw_assets),
    description="Load new CSVs into the warehouse only.",
    tags={**_INGESTS, **_RETRY_WHOLE},
)

# Partitioned by inference from store_report: one run per as-of key, its unpartitioned
# upstream stages (ingest, schedules) refreshed in the same run. The API launches this one:
# a trigger also picks up CSVs dropped into the data folder by hand.
ingest_and_report_job = define_asset_job(
    "ingest_and_report_job",
    selection=AssetSelection.assets(*all_assets),
    description="Load new CSVs from the data folder, rebuild schedules, compute the report for one as-of partition.",
    tags={**_INGESTS, **_RETRY_WHOLE},
)

# The report from what the warehouse holds: no file scan, so the schedule's and the sensors'
# report runs never pick up stray files, and an idle refresh costs no hashing.
report_from_warehouse_job = define_asset_job(
    "report_from_warehouse_job",
    selection=AssetSelection.assets(normalized_schedules, status_segments, store_report),
    description="Rebuild schedules and compute one report partition from the warehouse (loads no files).",
    tags=_RETRY_WHOLE,
)

# Both compute a report partition: a run of either is a report run (the API's report_id).
REPORT_JOBS = (ingest_and_report_job, report_from_warehouse_job)


# -- "the latest report" from the UI: one launch, no key to type ----------------------




LATEST = "latest"


class ReportRequestConfig(Config):
    as_of: str = Field(
        default=LATEST,
        description="'latest' (the newest ping, rounded up to the second) or an ISO 8601 instant to backfill.",
    )


def _checked_request_config(outer: dict) -> dict:
    """The Launchpad's `as_of`, checked when the run is launched rather than after it starts:
    a config mapping runs while Dagster builds the run's plan, so a bad value refuses the launch
    with this one line instead of a failed run with a stack trace."""
    as_of = str(outer["as_of"]).strip()
    if as_of.lower() != LATEST:
        try:
            parse_instant_us(as_of)
        except ValueError as error:
            raise DagsterInvalidConfigError(f"as_of: {error}", [], outer) from None
    return {"ops": {resolve_report_key.name: {"config": {"as_of": as_of}}}}


@op(description="Resolves the as-of to a report key, adds the partition and leaves the key for report_request_sensor.")
def resolve_report_key(context: OpExecutionContext, config: ReportRequestConfig, warehouse: WarehouseResource) -> str:
    if config.as_of.strip().lower() == LATEST:
        key = latest_report_partition_key(warehouse.open())
        if key is None:
            raise Failure("no pings in the warehouse: load data first (drop CSVs into the inbox)")
    else:
        key = partition_key(whole_second_at_or_after_us(parse_instant_us(config.as_of)))
    if not context.instance.has_dynamic_partition(report_partitions.name, key):
        context.instance.add_dynamic_partitions(report_partitions.name, [key])
    context.instance.add_run_tags(context.run_id, {REPORT_KEY_TAG: key})
    context.log.info(f"report {key} requested; report_request_sensor launches it within seconds")
    context.add_output_metadata({"report_key": key})
    return key


@job(
    name="request_report_job",
    description=(
        "Launch with the default config to get the LATEST report (no key to type), or set as_of to an "
        "instant to backfill it. report_request_sensor then runs report_from_warehouse_job for that key."
    ),
    config=ConfigMapping(
        config_fn=_checked_request_config,
        config_schema={
            "as_of": DagsterField(
                str,
                default_value=LATEST,
                description="'latest' (the newest ping, rounded up to the second) or an instant such as "
                "2023-01-25T12:00:00Z to backfill that report.",
            )
        },
    ),
)
def request_report_job():
    resolve_report_key()


# -- retention: old partitions pruned (storemon_pipeline/retention.py) -------------------


@op(
    description=(
        "Prunes report partitions older than STOREMON_KEEP_SEGMENTS (their status_segments, default 48h) and "
        "STOREMON_KEEP_REPORTS (everything, their partition keys and runs included, default 90d), counted back "
        "from the newest report."
    )
)
def prune_old_partitions(context: OpExecutionContext, warehouse: WarehouseResource, files: StoremonFiles) -> None:
    try:
        policy = RetentionPolicy.from_env()
    except ValueError as error:
        raise Failure(str(error), allow_retries=False) from None
    outcome = prune(warehouse.open(), files, policy, context.instance)
    context.log.info(outcome.summary())
    context.add_output_metadata(
        {
            "summary": outcome.summary(),
            "segment_partitions_pruned": outcome.segment_partitions,
            "segment_rows_deleted": outcome.segment_rows,
            "reports_pruned": outcome.report_partitions,
            "report_rows_deleted": outcome.report_rows,
            "report_files_deleted": outcome.files,
            "partition_keys_deleted": outcome.partition_keys,
            "runs_deleted": outcome.runs,
            "warehouse_bytes_before": outcome.warehouse_bytes_before,
            "warehouse_bytes_after": outcome.warehouse_bytes_after,
        }
    )


@job(name=RETENTION_JOB_NAME, description="Prune old report partitions (retention_schedule runs it daily).")
def retention_job():
    prune_old_partitions()


all_jobs = [ingest_job, ingest_and_report_job, report_from_warehouse_job, request_report_job, retention_job]
