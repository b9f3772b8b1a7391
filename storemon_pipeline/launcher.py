"""The run launcher of the production topology: Dagster's default one, plus a worker health check.

Under `DefaultRunLauncher` a run's worker is a process the gRPC code server spawns. The code
server notices when that worker dies and marks the run failed, but only while the code server
itself lives: when both die (kill -9 of the code server's process group, a machine's OOM
killer, the whole stack killed and restarted) nobody does, and the run stays STARTED forever,
holding its partition's slot in the run queue. DefaultRunLauncher (1.13) has no
`check_run_worker_health`, so run monitoring cannot see it either.

This launcher reads the worker's pid from the engine event every worker writes as it starts
("Started process for run (pid: N)", metadata `pid`) and checks that process on this machine.
Run monitoring (deploy/dagster.yaml `run_monitoring`) calls it for every STARTED run and marks
the run failed when the worker is gone; run retries then relaunch it.
"""

from __future__ import annotations

import json
import os
import socket

from dagster import DagsterEventType, DefaultRunLauncher
from dagster._core.launcher import CheckRunHealthResult, WorkerStatus
from dagster._core.storage.dagster_run import DagsterRun
from dagster._core.storage.tags import GRPC_INFO_TAG

# Code servers this machine's pids can speak for (the topology binds them to loopback).
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", socket.gethostname()}
# How many of a run's newest engine events are read to find its worker's start event
# (a worker writes it before its first step; a resumed run would write a newer one).
ENGINE_EVENTS_READ = 1000
_CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


class WorkerHealthRunLauncher(DefaultRunLauncher):
    """DefaultRunLauncher whose run monitoring sees a worker that died with its code server."""

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        host = json.loads(run.tags.get(GRPC_INFO_TAG) or "{}").get("host")
        if host is not None and host not in LOCAL_HOSTS:
            # Another machine's pids mean nothing here: never fail a run on a guess.
            return CheckRunHealthResult(WorkerStatus.RUNNING, f"worker on {host}: not checked from this machine")
        started = worker_start(self._instance, run.run_id)
        if started is None:
            # STARTED is written by the worker after its start event, so this is a run of
            # another launcher (or an event not yet readable): not ours to judge.
            return CheckRunHealthResult(WorkerStatus.RUNNING, "no worker start event")
        pid, started_at_s = started
        if process_alive_since(pid, started_at_s):
            return CheckRunHealthResult(WorkerStatus.RUNNING, f"worker pid {pid} alive", run_worker_id=str(pid))
        return CheckRunHealthResult(
            WorkerStatus.FAILED,
            f"the run's worker (pid {pid}) is gone without ending the run: killed, or died with its code server",
            run_worker_id=str(pid),
        )


def worker_start(instance, run_id: str) -> tuple[int, float] | None:
    """(pid, unix time) of the newest worker start event of the run, else None."""
    records = instance.get_records_for_run(
        run_id, of_type=DagsterEventType.ENGINE_EVENT, limit=ENGINE_EVENTS_READ, ascending=False
    ).records
    for record in records:
        event = record.event_log_entry.dagster_event
        metadata = getattr(event.event_specific_data, "metadata", None) or {}
        if "pid" in metadata and "Started process for run" in (record.event_log_entry.message or ""):
            return int(metadata["pid"].value), record.event_log_entry.timestamp
    return None


def process_alive_since(pid: int, started_at_s: float) -> bool:
    """True when process `pid` runs (not a zombie) and was started no later than `started_at_s`:
    a pid the kernel handed to a newer process after the worker died does not count."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process: alive, and then not our worker's pid reused by us
    start = _process_start_s(pid)
    if start is None:  # no /proc (not Linux): the signal check is all there is
        return True
    state, started_s = start
    # Start times in clock ticks since boot: 1 s of slack for the rounding.
    return state != "Z" and started_s <= started_at_s + 1.0


def _process_start_s(pid: int) -> tuple[str, float] | None:
    """(state, start unix time) of `pid` from /proc, None where /proc is absent."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat_file:
            stat = stat_file.read()
        with open("/proc/stat", encoding="ascii") as proc_stat:
            boot_s = next(float(line.split()[1]) for line in proc_stat if line.startswith("btime "))
    except FileNotFoundError:
        return ("Z", 0.0) if os.path.isdir("/proc") else None
    except (OSError, StopIteration):
        return None
    # Fields after the command (which may hold spaces and parentheses): state is field 3, starttime 22.
    fields = stat.rpartition(")")[2].split()
    return fields[0], boot_s + int(fields[19]) / _CLOCK_TICKS_PER_S
