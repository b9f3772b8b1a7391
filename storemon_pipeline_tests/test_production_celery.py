"""`make run-postgres` with STOREMON_EXECUTOR=celery: the topology starts STOREMON_WORKERS celery
workers beside the code server, webserver, daemon and API, and a report asked for through the API
runs its shard steps on them.

The run is the daemon's, launched from the API's trigger: its shard steps must have been executed
by the topology's own workers (dagster-celery's engine events name the worker), and the CSV the API
serves must be the bytes of the same report in one shard, in-process, from the same files.
"""

from __future__ import annotations

import uuid

from dagster import DagsterEventType, DagsterInstance

from storemon_pipeline import cli
from storemon_pipeline_tests.production_stack import (
    REPORT_TIMEOUT_S,
    descendants,
    get_report,
    parent_pid,
    quiet,
    running_production,
    trigger,
    wait_until,
)
from storemon_pipeline_tests.test_celery_shards import broker_reachable, delete_queue

SHARDS = 3
WORKERS = 2


def test_a_report_through_the_api_runs_its_shard_steps_on_the_topology_s_celery_workers(tmp_path, monkeypatch):
    assert broker_reachable(), "RabbitMQ is not listening on 127.0.0.1:5672"
    # A queue of its own: no other checkout's workers on this broker take these steps.
    queue = f"storemon-topo-{uuid.uuid4().hex[:8]}"
    settings = {"STOREMON_EXECUTOR": "celery", "STOREMON_SHARDS": str(SHARDS), "STOREMON_WORKERS": str(WORKERS),
                "STOREMON_CELERY_QUEUE": queue}
    try:
        with running_production(tmp_path / "production", settings) as production:
            workers = [pid for pid, command in descendants(production.process.pid).items()
                       if "storemon_pipeline.celery_app worker" in command and parent_pid(pid) == production.process.pid]
            assert len(workers) == WORKERS, descendants(production.process.pid)
            with DagsterInstance.from_config(str(production.dagster_home)) as instance:
                wait_until("no run in flight", lambda: quiet(instance), REPORT_TIMEOUT_S, production)
                answer = trigger(production)
                report = get_report(production, answer["report_id"])
                assert report.headers["content-type"].startswith("text/csv"), report.text
                ran_on = {
                    entry.step_key: entry.dagster_event.engine_event_data.metadata["Celery worker"].value
                    for entry in instance.all_logs(answer["report_id"], of_type=DagsterEventType.ENGINE_EVENT)
                    if "Celery worker" in entry.dagster_event.engine_event_data.metadata
                }
    finally:
        delete_queue(queue)

    shard_steps = {key: worker for key, worker in ran_on.items() if "shard_segments[" in key}
    assert sorted(shard_steps) == [f"status_segments.shard_segments[shard_{i}_of_{SHARDS}]" for i in range(SHARDS)]
    # The topology's workers, by the names the supervisor gave them (celery_workers.py).
    assert {worker.split("@")[0] for worker in shard_steps.values()} <= {
        f"storemon-worker-{i}" for i in range(1, WORKERS + 1)
    }

    monkeypatch.setenv("STOREMON_EXECUTOR", "in_process")
    expected = tmp_path / "one_shard.csv"
    assert cli.main(["report", "--data-dir", str(production.root / "data"), "--as-of", answer["as_of"],
                     "--out", str(expected), "--database-url", f"sqlite:///{tmp_path / 'reference.db'}",
                     "--shards", "1"]) == 0
    assert report.content == expected.read_bytes()
