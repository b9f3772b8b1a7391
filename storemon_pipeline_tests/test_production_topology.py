"""The production topology on the real PostgreSQL: `storemon run-production`, crashes and recovery.

One topology for the module (a fresh database `storemon_topo_<random>`, created by
run-production itself and dropped at the end; its own DAGSTER_HOME, data, inbox and reports
folders; free ports). A clean report first gives the bytes every recovered report must equal.

Each crash test kills one process with SIGKILL while a report run is inside a step: the test
holds the report partition's warehouse lock (Warehouse.report_partition, the lock every report
writer takes), so the run waits in `status_segments` with its worker alive for as long as the
test needs, with no sleep added to the product. Then it checks what the issue asks: the run is
over within 5 minutes (failed where its worker died), GET /get_report says Failed for a dead run,
the next POST /trigger_report launches a new run that completes through the restarted process,
its CSV equals the clean one byte for byte, and the partition's segments and report rows are
not doubled.

Recovery times are measured as they happen; with STOREMON_RECOVERY_TIMES=path the table is
written there as JSON (README.md, Production, quotes it).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from storemon_pipeline.core.clock import as_of_from_partition_key
from storemon_pipeline.launcher import worker_start
from storemon_pipeline_tests.production_stack import (
    BLOCKED_STEP,
    FAILED_WITHIN_S,
    KIND_COMMANDS,
    REPORT_TIMEOUT_S,
    Production,
    descendants,
    get_report,
    in_step,
    parent_pid,
    quiet,
    running_production,
    trigger,
    wait_until,
)

RECOVERY: dict[str, dict[str, float | str]] = {}



@pytest.fixture(scope="module")
def production(tmp_path_factory):
    with running_production(tmp_path_factory.mktemp("production")) as topology:
        yield topology


@pytest.fixture(scope="module")
def instance(production):
    from dagster import DagsterInstance

    with DagsterInstance.from_config(str(production.dagster_home)) as dagster_instance:
        yield dagster_instance


@dataclass(frozen=True)
class CleanReport:
    key: str
    csv: bytes
    segments: int
    report_rows: int


@pytest.fixture(scope="module")
def clean(production, instance) -> CleanReport:
    wait_until("no run in flight", lambda: quiet(instance), REPORT_TIMEOUT_S, production)
    answer = trigger(production)
    report = get_report(production, answer["report_id"])
    assert report.headers["content-type"].startswith("text/csv"), report.text
    return CleanReport(answer["as_of"], report.content, *_partition_sizes(production, answer["as_of"]))


def _partition_sizes(production: Production, key: str) -> tuple[int, int]:
    as_of_us = as_of_from_partition_key(key)
    warehouse = production.warehouse
    try:
        report = warehouse.read_report(as_of_us)
        assert not report["store_id"].duplicated().any()
        return len(warehouse.read_status_segments(as_of_us)), len(report)
    finally:
        warehouse.dispose()


# -- what a fresh start shows ------------------------------------------------------------------------


def test_the_topology_runs_as_separate_processes_with_runs_in_postgresql(production, clean):
    commands = descendants(production.process.pid).values()
    assert not any(" dev " in f"{command} " and "dagster" in command for command in commands), commands
    for kind in KIND_COMMANDS:
        assert production.pid_of(kind) is not None, f"no {kind} among {list(commands)}"
    engine = sa.create_engine(production.postgres_url)
    try:
        with engine.connect() as conn:
            runs = conn.execute(sa.text("SELECT status, count(*) FROM runs GROUP BY status")).all()
    finally:
        engine.dispose()
    # The data folder's ingest at start, the clean report (and any sensor run): all in PostgreSQL.
    assert dict(runs).get("SUCCESS", 0) >= 2, runs
    assert clean.report_rows > 0 and clean.segments > 0
    assert not (production.dagster_home / "history").exists()  # no SQLite run storage beside it


# -- crashes -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Crash:
    name: str
    kind: str | None  # the supervisor's child killed; None: the run's worker alone
    with_worker: bool  # the run's worker dies too (its run must be marked failed)


CRASHES = [
    Crash("run worker", None, True),
    Crash("code server with its run worker", "code server", True),
    Crash("code server", "code server", False),
    Crash("daemon", "daemon", False),
    Crash("webserver", "webserver", False),
    Crash("API", "API", False),
]


def _serves(production: Production, kind: str) -> bool:
    """The restarted process answers on its port (the daemon: its process is back)."""
    if kind == "API":
        port = production.api_port
    elif kind == "webserver":
        port = production.dagster_port
    elif kind == "code server":
        port = production.grpc_port
    else:
        return True
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@pytest.mark.parametrize("crash", CRASHES, ids=[c.name.replace(" ", "_") for c in CRASHES])
def test_a_killed_process_during_a_report_recovers(production, instance, clean, crash):
    wait_until("no run in flight", lambda: quiet(instance), REPORT_TIMEOUT_S, production)
    times: dict[str, float | str] = {}
    lock_holder = production.warehouse
    with lock_holder.report_partition(as_of_from_partition_key(clean.key)):
        run_id = trigger(production)["report_id"]
        wait_until(f"run {run_id} in {BLOCKED_STEP}", lambda: in_step(instance, run_id, BLOCKED_STEP), 180, production)
        worker_pid, _ = worker_start(instance, run_id)
        victim = production.pid_of(crash.kind) if crash.kind else worker_pid
        assert victim is not None
        killed_at = time.monotonic()
        if crash.kind == "code server" and crash.with_worker:
            os.killpg(victim, signal.SIGKILL)  # the code server leads its group; the worker is in it
        else:
            os.kill(victim, signal.SIGKILL)
        # Both clocks at once: the run's end (a dead worker's run fails whatever the lock) and the
        # process's restart; the lock is released once the process serves again.
        def run_over():
            run = instance.get_run_by_id(run_id)
            if run.is_finished and "run_over_s" not in times:
                times["run_over_s"] = time.monotonic() - killed_at
            return run if run.is_finished else None

        def restarted():
            back = production.pid_of(crash.kind) not in (None, victim) and _serves(production, crash.kind)
            if back and "restarted_s" not in times:
                times["restarted_s"] = time.monotonic() - killed_at
            return back

        wait_until(f"{crash.name}: back", lambda: (run_over() or True) and (crash.kind is None or restarted()),
                   180, production, poll_s=0.2)
        if crash.with_worker:
            wait_until(f"run {run_id} over", run_over, FAILED_WITHIN_S, production, poll_s=0.2)
        # Leaving the block releases the lock: a worker still alive goes on with the report.
    lock_holder.dispose()
    run = wait_until(f"run {run_id} over", run_over, FAILED_WITHIN_S, production, poll_s=0.2)
    if crash.with_worker:
        assert run.status.value == "FAILURE", run.status
        answer = get_report(production, run_id)
        assert answer.text.splitlines()[0] == "Failed", answer.text
    else:
        # The worker lived through it: the report it was writing is the clean one.
        assert run.status.value == "SUCCESS", (run.status, production.log_tail())
        assert get_report(production, run_id).content == clean.csv

    # The next trigger: a new run (a retry of the dead one, if the daemon launched it first), complete.
    answer = trigger(production)
    assert answer["report_id"] != run_id and answer["as_of"] == clean.key
    times["next_run"] = "the daemon's retry" if _retry_of(instance, answer["report_id"]) == run_id else "a new run"
    report = get_report(production, answer["report_id"])
    times["next_report_s"] = time.monotonic() - killed_at
    assert report.headers["content-type"].startswith("text/csv"), report.text
    assert report.content == clean.csv
    assert _partition_sizes(production, clean.key) == (clean.segments, clean.report_rows)
    # run_retries (deploy/dagster.yaml): the daemon relaunches a crashed run once, by itself. It is
    # best effort on Dagster's side (it gives up when the code server is down at that moment, and
    # was seen not to start one at all once in three runs of this file), so it is not required;
    # a retry that did start must complete, one at a time with the trigger's run, nothing doubled.
    wait_until("no run in flight", lambda: quiet(instance), REPORT_TIMEOUT_S, production)
    from dagster import RunsFilter

    retries = instance.get_runs(filters=RunsFilter(tags={"dagster/parent_run_id": run_id}))
    assert [r.status.value for r in retries] in ([], ["SUCCESS"])
    times["retried_by_daemon"] = "yes" if retries else "no"
    if crash.with_worker:
        # What Dagster decided when the run failed (dagster/will_retry): for the record when no retry came.
        times["dead_run_will_retry"] = instance.get_run_by_id(run_id).tags.get("dagster/will_retry", "unset")
    assert _partition_sizes(production, clean.key) == (clean.segments, clean.report_rows)
    RECOVERY[crash.name] = times


def _retry_of(instance, run_id: str) -> str | None:
    return instance.get_run_by_id(run_id).tags.get("dagster/parent_run_id")


def _kill_everything(production: Production) -> None:
    """SIGKILL the supervisor and every child's process group (run workers included): a power cut."""
    children = [pid for pid in descendants(production.process.pid) if parent_pid(pid) == production.process.pid]
    os.kill(production.process.pid, signal.SIGKILL)
    for pid in children:
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    production.process.wait(timeout=30)


def test_the_whole_stack_killed_and_started_again_fails_the_dead_run(production, instance, clean):
    """The issue's report: after kill -9 of the stack during a report run and a restart, the run
    stayed STARTED forever. Nobody who knew the worker is left; run monitoring finds it gone."""
    wait_until("no run in flight", lambda: quiet(instance), REPORT_TIMEOUT_S, production)
    lock_holder = production.warehouse
    with lock_holder.report_partition(as_of_from_partition_key(clean.key)):
        run_id = trigger(production)["report_id"]
        wait_until(f"run {run_id} in {BLOCKED_STEP}", lambda: in_step(instance, run_id, BLOCKED_STEP), 180, production)
        killed_at = time.monotonic()
        _kill_everything(production)
    lock_holder.dispose()
    assert instance.get_run_by_id(run_id).status.value == "STARTED"  # what nobody would ever change
    times: dict[str, float | str] = {}
    production.start()
    times["restarted_s"] = time.monotonic() - killed_at
    wait_until(f"run {run_id} over", lambda: instance.get_run_by_id(run_id).is_finished, FAILED_WITHIN_S, production)
    times["run_over_s"] = time.monotonic() - killed_at
    assert instance.get_run_by_id(run_id).status.value == "FAILURE"
    assert get_report(production, run_id).text.splitlines()[0] == "Failed"
    answer = trigger(production)
    assert answer["report_id"] != run_id
    times["next_run"] = "the daemon's retry" if _retry_of(instance, answer["report_id"]) == run_id else "a new run"
    report = get_report(production, answer["report_id"])
    times["next_report_s"] = time.monotonic() - killed_at
    assert report.content == clean.csv
    assert _partition_sizes(production, clean.key) == (clean.segments, clean.report_rows)
    RECOVERY["the whole stack (kill -9 of everything, then run-production again)"] = times


# -- the table ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def recovery_table():
    yield
    target = os.getenv("STOREMON_RECOVERY_TIMES")
    if target and RECOVERY:
        Path(target).write_text(json.dumps(RECOVERY, indent=2))
