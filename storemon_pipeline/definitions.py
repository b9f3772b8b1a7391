"""The storemon code location: the one Definitions object Dagster loads."""

from dagster import Definitions, in_process_executor

from storemon_pipeline.assets import all_assets
from storemon_pipeline.assets.checks import all_checks
from storemon_pipeline.automation import automation_jobs, automation_schedules, automation_sensors
from storemon_pipeline.jobs import ingest_job, report_job
from storemon_pipeline.resources import StoremonFiles, warehouse_from_env

defs = Definitions(
    assets=all_assets,
    asset_checks=all_checks,
    jobs=[report_job, ingest_job, *automation_jobs],
    schedules=automation_schedules,
    sensors=automation_sensors,
    resources={"warehouse": warehouse_from_env(), "files": StoremonFiles()},
    # One process per run, not per step: on a small machine a subprocess per step (and per check) costs
    # ~5-10 s each, and the steps share one SQLite file that concurrent writers would lock.
    executor=in_process_executor,
)
