"""`make bench --executors multiprocess,celery`: the report through Dagster's distributed executors.

The report run (report_from_warehouse_job) is executed by reference (execute_job), as `storemon
report` does off in-process: its steps run in a process each (multiprocess) or on celery workers
started here (the commands storemon_pipeline.celery_workers builds, the machine's RabbitMQ, a
queue of this benchmark's own). The Dagster instance is a fresh PostgreSQL database, the one
storage every process can write at once (SQLite instance storage locks under many writers).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from pathlib import Path


class DistributedReports:
    """Report runs on `executor` against the warehouse at `database_url`; a context manager."""

    def __init__(self, executor: str, pg_url: str, database_url: str, work: Path, workers: int) -> None:
        self.executor, self.pg_url, self.database_url, self.work, self.workers = (
            executor, pg_url, database_url, work, workers)
        self.database = f"storemon_bench_dagster_{uuid.uuid4().hex[:8]}"
        self.queue = os.environ["STOREMON_CELERY_QUEUE"]  # run.py set it before the definitions loaded
        self.processes: list[subprocess.Popen] = []

    def __enter__(self) -> DistributedReports:
        import sqlalchemy as sa
        from sqlalchemy.engine import make_url

        admin = sa.create_engine(self.pg_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{self.database}"'))
        admin.dispose()
        home = self.work / "dagster_home"
        home.mkdir(parents=True, exist_ok=True)
        url = make_url(self.pg_url).set(database=self.database).render_as_string(hide_password=False)
        (home / "dagster.yaml").write_text(
            f"storage:\n  postgres:\n    postgres_url: '{url}'\ntelemetry:\n  enabled: false\n")
        # The run's process reads these when it loads the code location; its step processes and the
        # celery workers inherit them.
        os.environ.update({"DAGSTER_HOME": str(home), "STOREMON_DATABASE_URL": self.database_url})
        if self.executor == "celery":
            self._start_workers()
        return self

    def _start_workers(self) -> None:
        from storemon_pipeline.celery_workers import celery_worker_commands

        logs = []
        for name, command in celery_worker_commands(self.workers, prefix="storemon-bench", queue=self.queue).items():
            log = self.work / f"{name}.log"
            logs.append(log)
            self.processes.append(subprocess.Popen(command, env=dict(os.environ), stdout=log.open("w"),
                                                   stderr=subprocess.STDOUT, start_new_session=True))
        deadline = time.monotonic() + 120
        while not all("ready." in log.read_text() for log in logs):
            if time.monotonic() > deadline or any(p.poll() is not None for p in self.processes):
                raise RuntimeError(f"celery workers did not start: see {self.work}")
            time.sleep(0.5)

    def report(self, as_of_us: int, shards: int) -> dict:
        """One report run for as_of_us in `shards` shards; status_segments' metadata (plain values)."""
        from dagster import DagsterInstance, execute_job
        from dagster._core.definitions.reconstruct import ReconstructableRepository

        from storemon_pipeline.assets.segments import shards_run_config
        from storemon_pipeline.core.clock import partition_key
        from storemon_pipeline.instance import DEFINITIONS_MODULE
        from storemon_pipeline.partitions import report_partitions
        from storemon_pipeline.runs import PARTITION_TAG

        key = partition_key(as_of_us)
        job = ReconstructableRepository.for_module(DEFINITIONS_MODULE, "defs").get_reconstructable_job(
            "report_from_warehouse_job")
        run_config = {**shards_run_config(shards), "loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
        with DagsterInstance.get() as instance:
            instance.add_dynamic_partitions(report_partitions.name, [key])
            with execute_job(job, instance, run_config=run_config, tags={PARTITION_TAG: key}) as result:
                if not result.success:
                    raise RuntimeError(f"report run {result.run_id} failed")
                event = result.asset_materializations_for_node("status_segments")[0]
                return {name: value.value for name, value in event.metadata.items()}

    def __exit__(self, *_exc) -> None:
        import sqlalchemy as sa

        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            process.wait(60)
        if self.executor == "celery":
            from kombu import Connection

            from storemon_pipeline.execution import broker_url

            with Connection(broker_url()) as connection:
                connection.default_channel.queue_delete(self.queue)
        admin = sa.create_engine(self.pg_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)'))
        admin.dispose()
