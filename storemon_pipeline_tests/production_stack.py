"""The production topology for tests: `storemon run-production` on free ports, its processes, its API.

Used by test_production_topology.py. Processes are found from /proc (the supervisor's children by
their command line); the API is spoken to with a plain HTTP client that waits through a restart.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from storemon_pipeline.assets import status_segments
from storemon_pipeline.assets.segments import shard_mapping_key, shard_segments
from storemon_pipeline.core.shards import Shard
from storemon_pipeline.topology import POSTGRES_URL_ENV, warehouse_url
from storemon_pipeline.warehouse import Warehouse, drop_database_if_exists
from storemon_pipeline_tests.conftest import REPO_ROOT, _postgres_base_url
from storemon_pipeline_tests import stack
from storemon_pipeline_tests.stack import BIN_DIR, free_port, says_running, stop_process_group, write_sample_data

READY_TIMEOUT_S = 240
# The bound: a dead report run is marked failed within 5 minutes.
FAILED_WITHIN_S = 300
REPORT_TIMEOUT_S = 240
# The step a held partition lock stops a report run in: with one shard (the topology's default),
# status_segments' shard step, which replaces and records the partition under that lock.
BLOCKED_STEP = (
    f"{status_segments.key.to_python_identifier()}.{shard_segments.name}[{shard_mapping_key(Shard(0, 1))}]"
)
# What each kind of process looks like in its command line (the supervisor's children).
KIND_COMMANDS = {
    "code server": "dagster api grpc",
    "webserver": "dagster-webserver",
    "daemon": "dagster-daemon run",
    "API": "storemon serve",
}


# -- processes, from /proc ---------------------------------------------------------------------


def parent_pid(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(errors="replace")
    except OSError:
        return None
    return int(stat.rpartition(")")[2].split()[1])


def _command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def descendants(root_pid: int) -> dict[int, str]:
    """Every live process below `root_pid`, with its command line."""
    parents = {int(p.name): parent_pid(int(p.name)) for p in Path("/proc").iterdir() if p.name.isdigit()}
    found, frontier = {}, {root_pid}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier and pid not in found}
        found.update({pid: _command_line(pid) for pid in frontier})
    return {pid: command for pid, command in found.items() if command}


# -- the topology --------------------------------------------------------------------------------


@dataclass
class Production:
    root: Path
    postgres_url: str
    dagster_port: int = field(default_factory=free_port)
    api_port: int = field(default_factory=free_port)
    grpc_port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None
    log_offset: int = 0
    # Settings of this topology beyond the test process's own environment (STOREMON_EXECUTOR, ...).
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def dagster_home(self) -> Path:
        return self.root / "dagster_home"

    @property
    def log_path(self) -> Path:
        return self.root / "run_production.log"

    @property
    def warehouse(self) -> Warehouse:
        return Warehouse(warehouse_url(self.postgres_url))

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            STOREMON_HOME=str(self.root), STOREMON_DATA_DIR=str(self.root / "data"),
            STOREMON_INBOX=str(self.root / "inbox"), STOREMON_REPORTS_DIR=str(self.root / "reports"),
            STOREMON_LOG_LEVEL="CRITICAL",
        )
        env.update(self.extra_env)
        return env

    def start(self) -> None:
        for folder in ("inbox", "reports"):
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        command = [
            str(BIN_DIR / "storemon"), "run-production", "--postgres-url", self.postgres_url,
            "--dagster-home", str(self.dagster_home), "--instance-config", str(REPO_ROOT / "deploy" / "dagster.yaml"),
            "--dagster-port", str(self.dagster_port), "--api-port", str(self.api_port),
            "--grpc-port", str(self.grpc_port),
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, cwd=self.root, env=self.env(), stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )
        self.wait_ready()

    def wait_ready(self) -> None:
        """Until the API says Dagster (webserver, code location, daemons) and the warehouse are fine."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        last = "no answer"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"storemon run-production exited ({self.process.returncode}):\n{self.log_tail()}")
            try:
                health = httpx.get(f"{self.api_url}/healthz", timeout=10).json()
                daemons = (health.get("dagster") or {}).get("daemons_healthy") or {}
                if health.get("status") == "ok" and daemons and all(daemons.values()):
                    return
                last = json.dumps(health)
            except (httpx.HTTPError, ValueError) as error:
                last = repr(error)
            time.sleep(1)
        pytest.fail(f"the topology was not ready in {READY_TIMEOUT_S} s: {last}\n{self.log_tail()}")

    def log_tail(self, chars: int = 5000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return ""

    def pid_of(self, kind: str) -> int | None:
        """The supervisor's child of this kind (its direct child, not a run worker)."""
        pattern = KIND_COMMANDS[kind]
        for pid, command in descendants(self.process.pid).items():
            if pattern in command and parent_pid(pid) == self.process.pid:
                return pid
        return None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            stop_process_group(self.process, timeout_s=60)


@contextmanager
def running_production(root: Path, extra_env: dict[str, str] | None = None) -> Iterator[Production]:
    """The topology on a fresh database `storemon_topo_<random>` (created by run-production itself,
    dropped at the end), with the sample data; this process's DAGSTER_HOME and instance URL point at
    it meanwhile, so the test reads the same runs and events."""
    url = make_url(_postgres_base_url()).set(database=f"storemon_topo_{uuid.uuid4().hex[:10]}")
    url = url.render_as_string(hide_password=False)
    write_sample_data(root / "data")
    topology = Production(root, url, extra_env=dict(extra_env or {}))
    saved = os.environ.get(POSTGRES_URL_ENV), os.environ.get("DAGSTER_HOME")
    os.environ[POSTGRES_URL_ENV], os.environ["DAGSTER_HOME"] = url, str(topology.dagster_home)
    try:
        topology.start()
        yield topology
    finally:
        topology.stop()
        for name, value in zip((POSTGRES_URL_ENV, "DAGSTER_HOME"), saved):
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        drop_database_if_exists(url)
        shutil.rmtree(root / "dagster_home" / "storage", ignore_errors=True)


# -- the API, as a plain HTTP client ---------------------------------------------------------------


def trigger(production: Production, timeout_s: float = 120) -> dict:
    """POST /trigger_report, through a restart of the API or the webserver if one is under way."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            answer = httpx.post(f"{production.api_url}/trigger_report", timeout=60)
            if answer.status_code == 200:
                return answer.json()
            problem = f"{answer.status_code} {answer.text}"
        except httpx.HTTPError as error:
            problem = repr(error)
        if time.monotonic() > deadline:
            pytest.fail(f"POST /trigger_report: {problem}\n{production.log_tail()}")
        time.sleep(1)


def get_report(production: Production, report_id: str, timeout_s: float = REPORT_TIMEOUT_S) -> httpx.Response:
    """GET /get_report until it is no longer Running (an API or webserver down meanwhile is waited for)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            answer = httpx.get(f"{production.api_url}/get_report", params={"report_id": report_id}, timeout=60)
            if answer.status_code == 200 and not says_running(answer):
                return answer
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"report {report_id} still not ready after {timeout_s} s\n{production.log_tail()}")
        time.sleep(1)


# -- runs, from the instance -----------------------------------------------------------------------


def wait_until(what: str, probe, timeout_s: float, production: Production, poll_s: float = 0.5):
    return stack.wait_until(what, probe, timeout_s, production.log_tail, poll_s)


def in_step(instance, run_id: str, step_key: str) -> bool:
    from dagster import DagsterEventType

    records = instance.get_records_for_run(run_id, of_type=DagsterEventType.STEP_START).records
    return any(record.event_log_entry.step_key == step_key for record in records)


def quiet(instance) -> bool:
    """No run queued or in flight (the sensors' own runs at start included)."""
    from dagster import RunsFilter

    from storemon_pipeline.runs import IN_FLIGHT_STATUSES

    return not instance.get_runs(filters=RunsFilter(statuses=list(IN_FLIGHT_STATUSES)))
