"""A report in 3 shards through real celery workers: `storemon report --shards 3` with
STOREMON_EXECUTOR=celery, two workers started here (the commands celery_workers.py builds), the
machine's RabbitMQ, a PostgreSQL warehouse and a PostgreSQL Dagster instance they all share.

The shard steps must have run on those workers (their engine events name the worker), and the
CSV must be the bytes of the same report in one shard, in-process.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from dagster import DagsterEventType, DagsterInstance
from sqlalchemy.engine import make_url

from storemon_pipeline import cli
from storemon_pipeline.celery_workers import celery_worker_commands
from storemon_pipeline.execution import DEFAULT_BROKER_URL
from storemon_pipeline.simulate import simulate_fleet, write_fleet
from storemon_pipeline_tests.conftest import POSTGRES_URL_ENV

AS_OF = "2023-03-14T12:00:00Z"
WORKER_START_TIMEOUT_S = 90
REPORT_TIMEOUT_S = 240


def broker_reachable() -> bool:
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex(("127.0.0.1", 5672)) == 0


@pytest.fixture
def dagster_pg_home(tmp_path):
    """DAGSTER_HOME whose instance storage is a fresh PostgreSQL database (dropped afterwards):
    the run's process and the workers write the same run's events."""
    base = os.getenv(POSTGRES_URL_ENV)
    if not base:
        pytest.skip(f"{POSTGRES_URL_ENV} is not set (CI sets it; there these tests run)")
    name = f"storemon_dagster_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    home = tmp_path / "dagster_home"
    home.mkdir()
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    (home / "dagster.yaml").write_text(
        f"storage:\n  postgres:\n    postgres_url: '{url}'\ntelemetry:\n  enabled: false\n", encoding="utf-8"
    )
    yield home
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def start_workers(env: dict, log_dir) -> dict[str, tuple[subprocess.Popen, object]]:
    workers = {}
    prefix = f"storemon-test-{uuid.uuid4().hex[:6]}"
    for name, command in celery_worker_commands(2, prefix=prefix, queue=env["STOREMON_CELERY_QUEUE"]).items():
        log = (log_dir / f"{name}.log").open("w+")
        workers[name] = (subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                                          start_new_session=True), log)
    deadline = time.monotonic() + WORKER_START_TIMEOUT_S
    for name, (process, log) in workers.items():
        while "ready." not in (log_dir / f"{name}.log").read_text():
            assert process.poll() is None, (log_dir / f"{name}.log").read_text()
            assert time.monotonic() < deadline, f"worker {name} not ready: {(log_dir / f'{name}.log').read_text()}"
            time.sleep(0.5)
    return workers


def stop_workers(workers) -> None:
    for process, _ in workers.values():
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for process, log in workers.values():
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
        log.close()


def delete_queue(queue: str) -> None:
    """The test's queue goes with it (celery declared it durable, on the machine's broker)."""
    from kombu import Connection

    with Connection(DEFAULT_BROKER_URL) as connection:
        connection.default_channel.queue_delete(queue)


def fleet_and_one_shard_report(tmp_path, monkeypatch, seed: int) -> tuple[Path, bytes]:
    """A simulated fleet's folder, and its report as of AS_OF in one shard, in-process, in this
    process and a SQLite warehouse of its own: what every other way must give."""
    data_dir = tmp_path / "fleet"
    write_fleet(simulate_fleet(150, 8, AS_OF, seed=seed), data_dir)
    one_shard = tmp_path / "one_shard.csv"
    monkeypatch.setenv("STOREMON_EXECUTOR", "in_process")
    assert cli.main(["report", "--data-dir", str(data_dir), "--as-of", AS_OF, "--out", str(one_shard),
                     "--database-url", f"sqlite:///{tmp_path / 'reference.db'}", "--shards", "1"]) == 0
    return data_dir, one_shard.read_bytes()


def test_a_report_in_3_shards_runs_its_shard_steps_on_celery_workers(pg_url, dagster_pg_home, tmp_path, monkeypatch):
    assert broker_reachable(), f"RabbitMQ is not listening on 127.0.0.1:5672 ({DEFAULT_BROKER_URL})"
    data_dir, one_shard = fleet_and_one_shard_report(tmp_path, monkeypatch, seed=21)

    queue = f"storemon-test-{uuid.uuid4().hex[:8]}"  # not another checkout's workers on this broker
    env = {
        **os.environ,
        "DAGSTER_HOME": str(dagster_pg_home),
        "STOREMON_EXECUTOR": "celery",
        "STOREMON_CELERY_QUEUE": queue,
        "STOREMON_DATABASE_URL": pg_url,
        "STOREMON_HOME": str(tmp_path / "home"),
        "STOREMON_REPORTS_DIR": str(tmp_path / "reports"),
    }
    workers = start_workers(env, tmp_path)
    try:
        sharded = tmp_path / "three_shards.csv"
        report = subprocess.run(
            [sys.executable, "-m", "storemon_pipeline.cli", "report", "--data-dir", str(data_dir), "--as-of", AS_OF,
             "--out", str(sharded), "--shards", "3"],
            env=env, capture_output=True, text=True, timeout=REPORT_TIMEOUT_S,
        )
        assert report.returncode == 0, report.stderr
    finally:
        stop_workers(workers)
        delete_queue(queue)
    assert sharded.read_bytes() == one_shard

    # Where each step ran: dagster-celery's "Executing steps ... in celery worker" event names the worker.
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_pg_home))
    with DagsterInstance.get() as instance:
        (run,) = instance.get_runs()
        assert run.tags["dagster/partition"] == AS_OF
        ran_on = {}
        for entry in instance.all_logs(run.run_id, of_type=DagsterEventType.ENGINE_EVENT):
            metadata = entry.dagster_event.engine_event_data.metadata
            if "Celery worker" in metadata:
                ran_on[entry.step_key] = metadata["Celery worker"].value
    shard_steps = {key: worker for key, worker in ran_on.items() if "shard_segments[" in key}
    assert sorted(shard_steps) == [f"status_segments.shard_segments[shard_{i}_of_3]" for i in range(3)]
    assert {worker.split("@")[0] for worker in shard_steps.values()} <= set(workers)
    # Every step of the run went through the workers, the report's included.
    assert {"normalized_schedules", "status_segments.plan_segment_shards",
            "status_segments.record_status_segments", "store_report"} <= set(ran_on)
