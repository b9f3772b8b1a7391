"""`make run`'s instance fails a run whose whole `dagster dev` stack was killed, once it is back.

The instance settings `storemon run` writes include the worker-checking launcher and run
monitoring (instance.py), as the production topology's do. Here a report run is held in its first
step by a SQLite write transaction the test holds (the run's first write waits on it up to its busy
timeout), then `dagster dev` and every process
below it (webserver, daemon, code server, the run's worker) get SIGKILL: nobody is left to record
the run's end. Started again on the same DAGSTER_HOME, the daemon's run monitor asks the launcher
about the STARTED run, finds its worker gone and marks it failed, and the partition takes the
next report.
"""

from __future__ import annotations

import os
import signal
import time

import httpx
from dagster import DagsterInstance

from storemon_pipeline.core.clock import as_of_from_partition_key
from storemon_pipeline.instance import RUN_MONITORING
from storemon_pipeline.warehouse import Warehouse
from storemon_pipeline_tests.production_stack import descendants
from storemon_pipeline_tests.stack import DagsterStack, api_server, says_running, wait_until

# The daemon's first monitoring poll after it is back, with room for its start.
FAILED_WITHIN_S = RUN_MONITORING["poll_interval_seconds"] + 90


def _kill_everything(stack: DagsterStack) -> None:
    """SIGKILL dagster dev and every process below it, whatever their process groups: a power cut."""
    below = descendants(stack.process.pid)
    os.killpg(stack.process.pid, signal.SIGKILL)
    for pid in below:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    stack.process.wait(timeout=30)


def test_a_run_whose_dev_stack_was_killed_is_failed_once_the_stack_is_back(tmp_path):
    stack = DagsterStack(tmp_path / "stack")
    stack.start()
    try:
        with api_server(stack) as api, DagsterInstance.from_config(str(stack.dagster_home)) as instance:
            as_of = httpx.post(f"{api}/trigger_report", timeout=60).json()
            first = wait_until("the first report", lambda: _finished(api, as_of["report_id"]), 240, stack.log_tail)
            assert first.headers["content-type"].startswith("text/csv")

            lock_holder = Warehouse(stack.database_url)
            with lock_holder.report_partition(as_of_from_partition_key(as_of["as_of"])):
                run_id = httpx.post(f"{api}/trigger_report", timeout=60).json()["report_id"]
                assert run_id != as_of["report_id"]
                # Its worker waits on the lock in its first step (the first write of a new process).
                wait_until(f"run {run_id} in a step", lambda: _in_a_step(instance, run_id), 25, stack.log_tail)
                _kill_everything(stack)
            lock_holder.dispose()
            assert instance.get_run_by_id(run_id).status.value == "STARTED"  # what nobody would ever change

            stack.start()
            wait_until(f"run {run_id} over", lambda: instance.get_run_by_id(run_id).is_finished, FAILED_WITHIN_S,
                       stack.log_tail)
            assert instance.get_run_by_id(run_id).status.value == "FAILURE"

            # The partition's queue slot is free again: the next request is a new run, and it reports.
            again = httpx.post(f"{api}/trigger_report", timeout=60).json()
            assert again["report_id"] != run_id
            report = wait_until("the next report", lambda: _finished(api, again["report_id"]), 240, stack.log_tail)
            assert report.content == first.content
    finally:
        stack.stop()


def _in_a_step(instance, run_id: str) -> bool:
    from dagster import DagsterEventType

    return bool(instance.get_records_for_run(run_id, of_type=DagsterEventType.STEP_START, limit=1).records)


def _finished(api: str, report_id: str):
    """The answer of GET /get_report once it no longer says Running (None before)."""
    started = time.monotonic()
    response = httpx.get(f"{api}/get_report", params={"report_id": report_id}, timeout=30)
    assert time.monotonic() - started < 30
    return None if says_running(response) else response
