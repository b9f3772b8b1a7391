"""A report in 4 shards on Dagster's multiprocess executor: `storemon report --shards 4` with
STOREMON_EXECUTOR=multiprocess and STOREMON_MAX_CONCURRENT=2, a PostgreSQL warehouse, and a
Dagster instance on disk (every step's process records its events there).

Each shard step must have run in a process of its own (its "Executing step ... in subprocess"
event gives the pid), two at once at most, and the CSV must be the bytes of the same report in
one shard, in-process.
"""

from __future__ import annotations

import os
import subprocess
import sys

from dagster import DagsterEventType, DagsterInstance

from storemon_pipeline_tests.test_celery_shards import AS_OF, fleet_and_one_shard_report

REPORT_TIMEOUT_S = 300


def test_a_report_in_4_shards_runs_each_shard_step_in_its_own_process(pg_url, tmp_path, monkeypatch):
    data_dir, one_shard = fleet_and_one_shard_report(tmp_path, monkeypatch, seed=23)

    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(dagster_home),
        "STOREMON_EXECUTOR": "multiprocess",
        "STOREMON_MAX_CONCURRENT": "2",
        "STOREMON_DATABASE_URL": pg_url,
        "STOREMON_HOME": str(tmp_path / "home"),
        "STOREMON_REPORTS_DIR": str(tmp_path / "reports"),
    }
    sharded = tmp_path / "four_shards.csv"
    report = subprocess.run(
        [sys.executable, "-m", "storemon_pipeline.cli", "report", "--data-dir", str(data_dir), "--as-of", AS_OF,
         "--out", str(sharded), "--shards", "4"],
        env=env, capture_output=True, text=True, timeout=REPORT_TIMEOUT_S,
    )
    assert report.returncode == 0, report.stderr
    assert sharded.read_bytes() == one_shard

    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
    with DagsterInstance.get() as instance:
        (run,) = instance.get_runs()
        assert run.tags["dagster/partition"] == AS_OF
        pid_of_step, started, ended, parent_pids = {}, {}, {}, set()
        for entry in instance.all_logs(run.run_id):
            event = entry.dagster_event
            if event is not None and entry.message.startswith("Executing steps using multiprocess executor"):
                parent_pids.add(event.engine_event_data.metadata["pid"].value)
            if event is None or entry.step_key is None:
                continue
            if event.event_type == DagsterEventType.STEP_WORKER_STARTED:
                pid_of_step[entry.step_key] = event.event_specific_data.metadata["pid"].value
            elif event.event_type == DagsterEventType.STEP_START:
                started[entry.step_key] = entry.timestamp
            elif event.event_type in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
                ended[entry.step_key] = entry.timestamp
    shard_steps = sorted(key for key in pid_of_step if "shard_segments[" in key)
    assert shard_steps == [f"status_segments.shard_segments[shard_{i}_of_4]" for i in range(4)]
    # A process per step, none of them the run's own (the executor's parent process).
    assert len(parent_pids) == 1
    assert len(set(pid_of_step.values())) == len(pid_of_step) and not parent_pids & set(pid_of_step.values())
    # STOREMON_MAX_CONCURRENT=2: never more than two steps running at one instant.
    for key in started:
        running = [other for other in started if started[other] <= started[key] < ended.get(other, float("inf"))]
        assert len(running) <= 2, running
