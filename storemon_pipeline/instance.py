"""What storemon needs of the Dagster instance it runs in, defined once.

The run queue is where "one writer per report partition" is enforced in Dagster: whoever
launches a report run (the API, the hourly schedule, the sensors, the Launchpad, the Materialize
button), runs that carry the same `dagster/partition` tag are dequeued one at a time, so two
runs of one report partition never overlap. The warehouse enforces the same rule again with a
lock per partition, for writers that do not go through the queue (`storemon report`, tests).

`storemon run` writes these settings into `$DAGSTER_HOME/dagster.yaml` when the file has none of
its own; an operator's own file is left alone and checked.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from storemon_pipeline.runs import INGESTS_TAG, INGESTS_TAG_VALUE, PARTITION_TAG

RUN_CONCURRENCY = {
    "runs": {
        "tag_concurrency_limits": [
            # One run at a time per report partition (each partition key is its own limit).
            {"key": PARTITION_TAG, "value": {"applyLimitPerUniqueValue": True}, "limit": 1},
            # One run that loads files at a time (ingest_job, ingest_and_report_job): two would
            # hash and load the same new file side by side, one of them for nothing.
            {"key": INGESTS_TAG, "value": INGESTS_TAG_VALUE, "limit": 1},
        ]
    }
}

# The code location's name in every workspace (pyproject's [tool.dagster] says the same).
CODE_LOCATION = "storemon"
DEFINITIONS_MODULE = "storemon_pipeline.definitions"

# Dagster's default launcher plus a worker health check (launcher.py), and the daemon's run
# monitor asking it about every STARTED run: a run whose worker died with its code server (a
# whole stack killed) is marked failed at the first poll after the daemon is back, instead of
# staying STARTED and holding its partition's queue slot forever. deploy/dagster.yaml says the same.
RUN_LAUNCHER = {"module": "storemon_pipeline.launcher", "class": "WorkerHealthRunLauncher"}
RUN_MONITORING = {
    "enabled": True,
    "poll_interval_seconds": 10,  # the longest a dead worker's run stays STARTED
    "start_timeout_seconds": 180,  # launched but never started (its code server died meanwhile)
    "cancel_timeout_seconds": 180,
    "max_resume_run_attempts": 0,  # the default launcher cannot resume a run in a new worker
}

DEV_INSTANCE_SETTINGS = {
    "concurrency": RUN_CONCURRENCY,
    "run_launcher": RUN_LAUNCHER,
    "run_monitoring": RUN_MONITORING,
    "telemetry": {"enabled": False},
}


def has_partition_run_limit(settings: dict) -> bool:
    """True when the instance settings limit runs to one per partition key."""
    limits = (((settings or {}).get("concurrency") or {}).get("runs") or {}).get("tag_concurrency_limits") or []
    limits += ((settings or {}).get("run_queue") or {}).get("tag_concurrency_limits") or []
    return any(
        limit.get("key") == PARTITION_TAG
        and isinstance(limit.get("value"), dict)
        and limit["value"].get("applyLimitPerUniqueValue")
        and limit.get("limit") == 1
        for limit in limits
    )


def ensure_instance_settings(dagster_home: Path) -> str | None:
    """Write storemon's settings as `dagster.yaml` where there is none; a warning line if an
    existing file lacks the one-run-per-partition limit, else None."""
    dagster_home.mkdir(parents=True, exist_ok=True)
    path = dagster_home / "dagster.yaml"
    if not path.exists():
        path.write_text(
            "# Written by storemon (storemon_pipeline/instance.py): edit freely; storemon only checks that\n"
            "# runs of one report partition are limited to one at a time.\n"
            + yaml.safe_dump(DEV_INSTANCE_SETTINGS, sort_keys=False),
            encoding="utf-8",
        )
        return None
    if has_partition_run_limit(yaml.safe_load(path.read_text(encoding="utf-8")) or {}):
        return None
    return (
        f"warning: {path} does not limit runs to one per report partition (concurrency: runs: "
        f"tag_concurrency_limits with key {PARTITION_TAG}, applyLimitPerUniqueValue, limit 1); "
        "the warehouse still serialises them, but runs may wait on each other's locks"
    )


def write_dev_workspace(dagster_home: Path) -> Path:
    """A workspace file for `dagster dev` that loads the installed package, so `storemon run` works
    from any folder after a plain `pip install`, not only from a checkout of the repository."""
    path = dagster_home / "workspace.yaml"
    workspace = {"load_from": [{"python_module": {"module_name": DEFINITIONS_MODULE, "location_name": CODE_LOCATION}}]}
    path.write_text(yaml.safe_dump(workspace, sort_keys=False), encoding="utf-8")
    return path
