"""The production topology (`storemon run-production`, `make run-postgres`).

As Dagster's deployment guides lay it out, each its own long-lived process:

    the code server   dagster api grpc -m storemon_pipeline.definitions   (runs' workers are its children)
    the webserver     dagster-webserver -w $DAGSTER_HOME/workspace.yaml   (UI, GraphQL for the API)
    the daemon        dagster-daemon run -w ...                           (run queue, schedule, sensors,
                                                                            run monitoring, retries)
    the report API    storemon serve
    celery workers    python -m celery -A storemon_pipeline.celery_app worker ...  (STOREMON_EXECUTOR=celery:
                                                                            STOREMON_WORKERS of them)

Dagster's instance storage (runs, event log, schedules) and the warehouse share one PostgreSQL
database: Dagster's tables in its `public` schema, the warehouse's in schema `warehouse`, so
neither's names or upgrades can meet. The instance settings are deploy/dagster.yaml, copied
into DAGSTER_HOME at every start (the shipped file is the one source).

The supervisor restarts a child that dies, saying which and how on stderr, instead of stopping
everything as `storemon run` does: a platform running this for years wants the stack back, and
Dagster's run monitoring (deploy/dagster.yaml) cleans up after the run a dead process left.
"""

from __future__ import annotations

import shutil
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import Popen

import yaml

from storemon_pipeline.celery_workers import celery_worker_commands, workers_from_env
from storemon_pipeline.child_processes import how_it_ended, start_in_group, stop_groups
from storemon_pipeline.execution import CELERY, executor_name_from_env
from storemon_pipeline.instance import CODE_LOCATION, DEFINITIONS_MODULE
from storemon_pipeline.warehouse import create_database_if_missing, create_schema_if_missing, validate_database_url

DEFAULT_POSTGRES_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/storemon"
POSTGRES_URL_ENV = "STOREMON_POSTGRES_URL"
# deploy/dagster.yaml reads the instance storage's URL from POSTGRES_URL_ENV.
DEFAULT_INSTANCE_CONFIG = Path("deploy/dagster.yaml")
DEFAULT_DAGSTER_HOME = Path("var/dagster_home_prod")
# Dagster's conventional code server port (deploy/workspace.yaml says the same).
DEFAULT_GRPC_PORT = 4266
WAREHOUSE_SCHEMA = "warehouse"
CODE_SERVER_READY_TIMEOUT_S = 180
# A child that dies again within this long after its start waits before the next restart,
# twice as long each time up to RESTART_DELAY_MAX_S: a broken child does not spin.
STEADY_AFTER_S = 60
RESTART_DELAY_MAX_S = 30
NAME = "storemon run-production"


def warehouse_url(postgres_url: str) -> str:
    """The same database, its search_path the warehouse's schema (the form the warehouse documents)."""
    separator = "&" if "?" in postgres_url else "?"
    return f"{postgres_url}{separator}options=-csearch_path%3D{WAREHOUSE_SCHEMA}"


def celery_workers_from_env() -> int:
    """STOREMON_WORKERS workers when STOREMON_EXECUTOR=celery, else none (raises ValueError for a bad value)."""
    return workers_from_env() if executor_name_from_env() == CELERY else 0


def workspace(host: str, grpc_port: int) -> dict:
    """What the webserver and the daemon load: the running code server, nothing they spawn."""
    return {"load_from": [{"grpc_server": {"host": host, "port": grpc_port, "location_name": CODE_LOCATION}}]}


@dataclass
class Topology:
    postgres_url: str
    dagster_home: Path
    instance_config: Path
    host: str = "127.0.0.1"
    dagster_port: int = 3000
    api_port: int = 8000
    grpc_port: int = DEFAULT_GRPC_PORT
    base_env: dict[str, str] = field(default_factory=dict)
    # Celery workers started beside the rest (STOREMON_EXECUTOR=celery): they take the runs' steps
    # from the broker and share the warehouse and the instance through this topology's environment.
    celery_workers: int = 0

    @property
    def workspace_path(self) -> Path:
        return self.dagster_home / "workspace.yaml"

    def env(self) -> dict[str, str]:
        env = dict(self.base_env)
        env.update(
            DAGSTER_HOME=str(self.dagster_home),
            **{POSTGRES_URL_ENV: self.postgres_url},
            STOREMON_DATABASE_URL=warehouse_url(self.postgres_url),
            STOREMON_DAGSTER_URL=f"http://{self.host}:{self.dagster_port}",
            STOREMON_API_URL=f"http://{self.host}:{self.api_port}",
        )
        return env

    def prepare(self) -> None:
        """The database and the warehouse schema (created when missing), DAGSTER_HOME with the shipped
        instance settings and a workspace pointing at the code server. Raises WarehouseUrlError /
        WarehouseUnavailable for a URL storemon cannot use or a server that is down."""
        validate_database_url(self.postgres_url)
        if create_database_if_missing(self.postgres_url):
            print(f"{NAME}: created the database of {self.postgres_url_masked}", file=sys.stderr)
        create_schema_if_missing(self.postgres_url, WAREHOUSE_SCHEMA)
        self.dagster_home.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.instance_config, self.dagster_home / "dagster.yaml")
        self.workspace_path.write_text(yaml.safe_dump(workspace(self.host, self.grpc_port), sort_keys=False))

    @property
    def postgres_url_masked(self) -> str:
        from sqlalchemy.engine import make_url

        return make_url(self.postgres_url).render_as_string(hide_password=True)

    def commands(self) -> dict[str, list[str]]:
        """Each child by the name the supervisor's messages use, in start order."""
        bin_dir = Path(sys.executable).parent
        workspace_args = ["-w", str(self.workspace_path)]
        workers = {
            f"the celery worker {name}": command
            for name, command in celery_worker_commands(self.celery_workers).items()
        } if self.celery_workers else {}
        return {
            "the code server (dagster api grpc)": [
                str(bin_dir / "dagster"), "api", "grpc", "-m", DEFINITIONS_MODULE, "--location-name", CODE_LOCATION,
                "-h", self.host, "-p", str(self.grpc_port),
            ],
            "the webserver (dagster-webserver)": [
                str(bin_dir / "dagster-webserver"), *workspace_args, "-h", self.host, "-p", str(self.dagster_port),
            ],
            "the daemon (dagster-daemon)": [str(bin_dir / "dagster-daemon"), "run", *workspace_args],
            "the report API (storemon serve)": [
                str(bin_dir / "storemon"), "serve", "--host", self.host, "--port", str(self.api_port),
            ],
            **workers,
        }

    def wait_for_code_server(self, child: Popen, timeout_s: float = CODE_SERVER_READY_TIMEOUT_S) -> None:
        """Until the code server accepts connections: the webserver and the daemon then load it at once."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and child.poll() is None:
            try:
                with socket.create_connection((self.host, self.grpc_port), timeout=1):
                    return
            except OSError:
                time.sleep(0.5)


@dataclass
class Child:
    name: str
    command: list[str]
    process: Popen | None = None
    started_at: float = 0.0
    restart_delay_s: float = 1.0


def supervise(topology: Topology) -> int:
    """Start every child and keep them running until SIGINT/SIGTERM (then stop all, exit 0)."""
    env = topology.env()
    children = [Child(name, command) for name, command in topology.commands().items()]

    def start(child: Child) -> None:
        child.process = start_in_group(child.command, env)
        child.started_at = time.monotonic()

    def interrupt(*_) -> None:
        raise KeyboardInterrupt

    # SIGTERM (a service manager's stop) ends it like Ctrl-C: every child stopped, exit 0.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, interrupt)
    try:
        for child in children:
            start(child)
            if child is children[0]:
                topology.wait_for_code_server(child.process)
        print(f"Dagster UI: http://{topology.host}:{topology.dagster_port}   "
              f"report API: http://{topology.host}:{topology.api_port}/docs", flush=True)
        while True:
            for child in children:
                if child.process.poll() is None:
                    continue
                steady = time.monotonic() - child.started_at > STEADY_AFTER_S
                child.restart_delay_s = 1.0 if steady else min(child.restart_delay_s * 2, RESTART_DELAY_MAX_S)
                print(f"{NAME}: {child.name} (pid {child.process.pid}) {how_it_ended(child.process.returncode)}; "
                      f"restarting it in {child.restart_delay_s:g} s", file=sys.stderr, flush=True)
                time.sleep(child.restart_delay_s)
                start(child)
            time.sleep(1)
    except KeyboardInterrupt:
        return 0
    finally:
        # The API first, the code server last: nothing is left talking to a process already gone.
        stop_groups(child.process for child in reversed(children) if child.process is not None)
