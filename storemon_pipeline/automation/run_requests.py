"""The run requests the schedule and the sensors share, and the instance facts they decide by."""

from dagster import RunRequest, RunsFilter

from storemon_pipeline.assets import store_report
from storemon_pipeline.jobs import report_from_warehouse_job
from storemon_pipeline.runs import IN_FLIGHT_STATUSES, REPORT_KEY_TAG, TRIGGER_TAG


def report_run_request(key: str, trigger: str, after: str | None = None) -> RunRequest:
    """A report run for `key`. The run_key makes a second request for the same key a no-op, unless it
    comes `after` a new ingest (new hours or zones change the report without changing its key)."""
    return RunRequest(
        run_key=f"report:{key}" + (f":after:{after}" if after else ""),
        job_name=report_from_warehouse_job.name,
        partition_key=key,
        tags={TRIGGER_TAG: trigger, REPORT_KEY_TAG: key},
    )


def newest_reported_key(instance) -> str | None:
    """The newest store_report partition materialized so far (keys sort like their instants)."""
    keys = instance.get_materialized_partitions(store_report.key)
    return max(keys) if keys else None


def runs_in_flight(instance, tags: dict[str, str]) -> list:
    """Up to five runs with these tags that have not finished (queued, starting, running, cancelling)."""
    return list(instance.get_runs(filters=RunsFilter(statuses=list(IN_FLIGHT_STATUSES), tags=tags), limit=5))
