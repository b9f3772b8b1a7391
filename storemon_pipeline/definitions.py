"""The storemon code location: the one Definitions object Dagster loads."""

from dagster import Definitions

from storemon_pipeline.assets import all_assets
from storemon_pipeline.assets.checks import all_checks
from storemon_pipeline.automation import automation_schedules, automation_sensors
from storemon_pipeline.execution import executor_from_env
from storemon_pipeline.jobs import all_jobs
from storemon_pipeline.resources import StoremonFiles, warehouse_from_env


def build_definitions(resources: dict | None = None) -> Definitions:
    """Everything the code location defines, with these resources (default: from the environment).
    Tests build the same definitions around their own warehouse and folders."""
    return Definitions(
        assets=all_assets,
        asset_checks=all_checks,
        jobs=all_jobs,
        schedules=automation_schedules,
        sensors=automation_sensors,
        resources=resources or {"warehouse": warehouse_from_env(), "files": StoremonFiles()},
        # STOREMON_EXECUTOR (execution.py). By default one process per run, not per step: on a small
        # machine a subprocess per step (and per check) costs ~5-10 s each, and the steps share one
        # SQLite file that concurrent writers would lock. multiprocess or celery spread the shard
        # steps of status_segments over processes or machines.
        executor=executor_from_env(),
    )


defs = build_definitions()
