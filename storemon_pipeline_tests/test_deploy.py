"""deploy/: the instance settings and workspace the production topology ships, and its worker check.

No server needed: the yaml is validated by Dagster's own instance schema, its run limits are
the ones storemon_pipeline/instance.py defines, and the launcher's process check is tried on
real processes of this machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

from storemon_pipeline.instance import (
    DEV_INSTANCE_SETTINGS,
    RUN_CONCURRENCY,
    RUN_LAUNCHER,
    RUN_MONITORING,
    has_partition_run_limit,
)
from storemon_pipeline.launcher import WorkerHealthRunLauncher, process_alive_since
from storemon_pipeline.topology import (
    DEFAULT_GRPC_PORT,
    DEFAULT_INSTANCE_CONFIG,
    POSTGRES_URL_ENV,
    warehouse_url,
    workspace,
)
from storemon_pipeline_tests.conftest import REPO_ROOT

DEPLOY = REPO_ROOT / "deploy"
SHIPPED = yaml.safe_load((DEPLOY / "dagster.yaml").read_text())


def test_the_shipped_instance_settings_pass_dagsters_schema(tmp_path, monkeypatch):
    from dagster._core.instance.config import dagster_instance_config

    monkeypatch.setenv(POSTGRES_URL_ENV, "postgresql+psycopg2://postgres@127.0.0.1:5432/storemon")
    shutil.copy(DEPLOY / "dagster.yaml", tmp_path / "dagster.yaml")
    config, custom_instance_class = dagster_instance_config(str(tmp_path))
    assert custom_instance_class is None
    assert config["storage"]["postgres"]["postgres_url"] == {"env": POSTGRES_URL_ENV}
    assert DEFAULT_INSTANCE_CONFIG == Path("deploy/dagster.yaml")


def test_the_shipped_run_limits_are_instance_pys():
    assert SHIPPED["concurrency"] == RUN_CONCURRENCY
    assert has_partition_run_limit(SHIPPED)
    assert SHIPPED["run_coordinator"]["class"] == "QueuedRunCoordinator"


def test_run_monitoring_uses_the_launcher_with_a_worker_check():
    # The same in the production file and in what `storemon run` writes for `make run`.
    assert SHIPPED["run_launcher"] == DEV_INSTANCE_SETTINGS["run_launcher"] == RUN_LAUNCHER
    assert SHIPPED["run_monitoring"] == DEV_INSTANCE_SETTINGS["run_monitoring"] == RUN_MONITORING
    launcher = SHIPPED["run_launcher"]
    assert (launcher["module"], launcher["class"]) == (WorkerHealthRunLauncher.__module__, WorkerHealthRunLauncher.__name__)
    assert WorkerHealthRunLauncher().supports_check_run_worker_health
    monitoring = SHIPPED["run_monitoring"]
    assert monitoring["enabled"] is True
    # The bound is 5 minutes from a crash to a failed run: one poll, with room to spare.
    assert monitoring["poll_interval_seconds"] <= 60
    # The default launcher cannot resume a run: a resume attempt would raise in the daemon.
    assert monitoring["max_resume_run_attempts"] == 0
    retries = SHIPPED["run_retries"]
    assert retries["enabled"] and retries["max_retries"] >= 1
    assert retries["retry_on_asset_or_op_failure"] is False  # storemon's refusals fail the same way again
    assert SHIPPED["telemetry"] == {"enabled": False}
    assert set(SHIPPED["retention"]) == {"schedule", "sensor"}


def test_the_shipped_workspace_is_the_one_run_production_writes():
    assert yaml.safe_load((DEPLOY / "workspace.yaml").read_text()) == workspace("127.0.0.1", DEFAULT_GRPC_PORT)


def test_the_warehouse_gets_its_own_schema_in_the_same_database():
    assert warehouse_url("postgresql+psycopg2://u@h:5432/storemon") == (
        "postgresql+psycopg2://u@h:5432/storemon?options=-csearch_path%3Dwarehouse"
    )
    assert warehouse_url("postgresql+psycopg2://u@h/db?sslmode=require").endswith(
        "?sslmode=require&options=-csearch_path%3Dwarehouse"
    )


def test_make_run_postgres_starts_the_production_topology():
    makefile = (REPO_ROOT / "Makefile").read_text()
    recipe = makefile.split("\nrun-postgres:", 1)[1].split("\n\n", 1)[0]
    assert "storemon run-production" in recipe and "dagster dev" not in recipe


# -- the worker check, on real processes ---------------------------------------------------------


def test_a_live_process_started_before_the_event_is_alive():
    assert process_alive_since(os.getpid(), time.time())


def test_a_process_that_ended_is_not_alive():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert not process_alive_since(child.pid, time.time())


def test_a_pid_reused_by_a_newer_process_is_not_the_worker():
    # This process started before now; an event written an hour before it started names
    # another process that had the same pid.
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert not process_alive_since(child.pid, time.time() - 3600)
        assert process_alive_since(child.pid, time.time())
    finally:
        child.kill()
        child.wait()


def test_a_zombie_is_not_alive():
    # A child that exited and was not yet reaped (what a dead worker is until its code server waits for it).
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 30
    while Path(f"/proc/{child.pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    try:
        assert not process_alive_since(child.pid, time.time())
    finally:
        child.wait()
