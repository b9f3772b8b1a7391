"""A real running storemon stack for tests: `dagster dev` (webserver + daemon) and the report API.

Everything lives in one temporary folder: DAGSTER_HOME, a SQLite warehouse with
the sample data ingested, the data, inbox and reports folders. Processes run in
their own process group (a `dagster dev` started from a script ignores SIGTERM
sent to it alone) and are stopped by signalling the group.

The schedule and sensors (default RUNNING in automation.py) are stopped before
the daemon starts, so only what a test launches runs (on 2 cores a sensor-launched
report beside the test's own doubles every run time). A test of the automation
itself starts them (GraphQL startSensor) or builds `DagsterStack(root, automation=True)`.

Use the `dagster_stack` fixture (import it into the test module). Several test
modules importing it share one stack per pytest session: it starts on first use
and stops when the last user is torn down.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from storemon_pipeline.instance import ensure_instance_settings
from storemon_pipeline_tests.conftest import REPO_ROOT, SAMPLE_DATA_DIR

BIN_DIR = Path(sys.executable).parent
DAGSTER_READY_TIMEOUT_S = 180
API_READY_TIMEOUT_S = 60
STOP_TIMEOUT_S = 30
# Used only when data/ holds no sample CSVs: a small simulated fleet.
FALLBACK_FLEET = {"n_stores": 40, "days": 8, "as_of": "2023-01-25T18:00:00Z", "seed": 11}


def wait_until(what: str, probe, timeout_s: float, log_tail, poll_s: float = 0.5):
    """probe()'s first true value, polled every poll_s; past timeout_s the test fails naming
    `what`, with log_tail()'s text (the processes' recent output) to say why."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout_s} s\n{log_tail()}")
        time.sleep(poll_s)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def closed_port() -> int:
    """A loopback port nothing listens on (bound and released: refused until someone takes it)."""
    return free_port()


def stop_process_group(process: subprocess.Popen, timeout_s: float = STOP_TIMEOUT_S) -> None:
    """SIGINT the group (Ctrl-C), wait for every member to leave, then SIGKILL what is left."""
    pgid = process.pid
    try:
        os.killpg(pgid, signal.SIGINT)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None and not _group_alive(pgid):
            return
        time.sleep(0.2)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=10)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def write_sample_data(data_dir: Path) -> None:
    """The repo's data/*.csv, else a small simulated fleet (the truth file kept out of the folder)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    samples = sorted(SAMPLE_DATA_DIR.glob("*.csv"))
    if samples:
        for path in samples:
            shutil.copy(path, data_dir / path.name)
        return
    from storemon_pipeline.simulate import simulate_fleet, write_fleet

    write_fleet(simulate_fleet(**FALLBACK_FLEET), data_dir, truth_path=data_dir.parent / "truth.csv")


@dataclass
class DagsterStack:
    root: Path
    automation: bool = False
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def dagster_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def dagster_home(self) -> Path:
        return self.root / "dagster_home"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def reports_dir(self) -> Path:
        return self.root / "reports"

    @property
    def database_url(self) -> str:
        return f"sqlite:///{self.root / 'warehouse.db'}"

    @property
    def log_path(self) -> Path:
        return self.root / "dagster_dev.log"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            DAGSTER_HOME=str(self.dagster_home),
            STOREMON_HOME=str(self.root),
            STOREMON_DATABASE_URL=self.database_url,
            STOREMON_DATA_DIR=str(self.data_dir),
            STOREMON_INBOX=str(self.root / "inbox"),
            STOREMON_REPORTS_DIR=str(self.reports_dir),
            STOREMON_DAGSTER_URL=self.dagster_url,
        )
        return env

    def api_settings(self, **overrides):
        from storemon_pipeline.api import ApiSettings

        values = {"dagster_url": self.dagster_url, "database_url": self.database_url,
                  "reports_dir": str(self.reports_dir)}
        return ApiSettings(**{**values, **overrides})

    def start(self) -> None:
        from storemon_pipeline.cli import main as storemon

        for folder in (self.dagster_home, self.root / "inbox", self.reports_dir):
            folder.mkdir(parents=True, exist_ok=True)
        assert ensure_instance_settings(self.dagster_home) is None  # as `storemon run` writes it
        write_sample_data(self.data_dir)
        # As `make run` does: the warehouse knows the latest ping before anything is triggered.
        assert storemon(["ingest", "--data-dir", str(self.data_dir), "--database-url", self.database_url]) == 0
        if not self.automation:
            self.stop_automation()
        command = [str(BIN_DIR / "dagster"), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(self.port)]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command, cwd=REPO_ROOT, env=self.env(), stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise

    def stop_automation(self) -> None:
        """Record every schedule and sensor as stopped in the instance (overrides default RUNNING)."""
        from storemon_pipeline.definitions import defs

        from dagster import DagsterInstance

        # The instance's SQLite storage is created once here, not by the parallel commands racing.
        DagsterInstance.from_config(str(self.dagster_home)).dispose()
        repository = defs.get_repository_def()
        commands = [["sensor", "stop", s.name] for s in repository.sensor_defs]
        commands += [["schedule", "stop", s.name] for s in repository.schedule_defs]
        stoppers = [
            subprocess.Popen([str(BIN_DIR / "dagster"), *c, "-w", "workspace.yaml"], cwd=REPO_ROOT, env=self.env(),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            for c in commands
        ]
        for command, stopper in zip(commands, stoppers):
            output, _ = stopper.communicate(timeout=120)
            if stopper.returncode != 0:
                raise RuntimeError(f"dagster {' '.join(command)} failed:\n{output.decode(errors='replace')[-3000:]}")

    def wait_ready(self, timeout_s: float = DAGSTER_READY_TIMEOUT_S) -> None:
        """Until the webserver answers and the storemon code location has loaded ingest_and_report_job."""
        from storemon_pipeline.api import DagsterClient, DagsterUnavailable

        client = DagsterClient(self.dagster_url, timeout_s=10)
        deadline = time.monotonic() + timeout_s
        last_problem = "not started"
        try:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"dagster dev exited ({self.process.returncode}):\n{self.log_tail()}")
                try:
                    client.report_repository()
                    return
                except DagsterUnavailable as problem:
                    last_problem = problem.message
                    if "failed to load" in last_problem:
                        raise RuntimeError(f"{last_problem}\n{self.log_tail()}") from None
                time.sleep(0.5)
        finally:
            client.close()
        raise RuntimeError(f"dagster dev not ready in {timeout_s} s: {last_problem}\n{self.log_tail()}")

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return ""

    def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            stop_process_group(self.process)


_shared_lock = threading.Lock()
_shared: dict[str, object] = {"stack": None, "users": 0}


@contextmanager
def shared_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DagsterStack]:
    """One stack per session however many modules use it; stopped with its last user."""
    with _shared_lock:
        if _shared["stack"] is None:
            stack = DagsterStack(tmp_path_factory.mktemp("stack"))
            stack.start()
            _shared["stack"] = stack
        _shared["users"] += 1
        stack = _shared["stack"]
    try:
        yield stack
    finally:
        with _shared_lock:
            _shared["users"] -= 1
            if _shared["users"] == 0:
                _shared["stack"] = None
                stack.stop()


@pytest.fixture(scope="session")
def dagster_stack(tmp_path_factory) -> Iterator[DagsterStack]:
    with shared_stack(tmp_path_factory) as stack:
        yield stack


@contextmanager
def api_server(stack: DagsterStack, port: int | None = None) -> Iterator[str]:
    """`storemon serve` on a free loopback port, pointed at the stack; yields its base URL."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = stack.root / f"api_{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(BIN_DIR / "storemon"), "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=stack.root, env=stack.env(), stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
    try:
        deadline = time.monotonic() + API_READY_TIMEOUT_S
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"storemon serve exited ({process.returncode}):\n{log_path.read_text()[-3000:]}")
            try:
                httpx.get(f"{url}/openapi.json", timeout=2).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"storemon serve not ready:\n{log_path.read_text()[-3000:]}") from None
                time.sleep(0.3)
        yield url
    finally:
        stop_process_group(process)


def says_running(response) -> bool:
    """A GET /get_report answer saying Running: text/plain `Running` (the default) or JSON."""
    content_type = response.headers.get("content-type", "")
    if content_type.startswith("text/plain"):
        return response.text == "Running"
    return content_type.startswith("application/json") and response.json().get("status") == "Running"


def wait_for_report(get, report_id: str, timeout_s: float = 420, poll_s: float = 1.0):
    """Poll GET /get_report until it is no longer Running; `get(report_id)` returns a response."""
    deadline = time.monotonic() + timeout_s
    while True:
        response = get(report_id)
        if not says_running(response) or time.monotonic() > deadline:
            return response
        time.sleep(poll_s)
