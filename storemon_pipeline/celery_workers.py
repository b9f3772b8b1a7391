"""The celery workers that run a report's steps when STOREMON_EXECUTOR=celery: their commands.

For whatever starts them: the production topology's supervisor (`make run-postgres` starts
STOREMON_WORKERS of them), a test, or a person on another machine. Every worker needs, in its
environment, what the run's own process has: the same STOREMON_DATABASE_URL (a PostgreSQL
warehouse every machine reaches), STOREMON_BROKER_URL, STOREMON_CELERY_BACKEND and
STOREMON_CELERY_QUEUE, and
STOREMON_REPORTS_DIR (store_report writes the CSV where its step runs: a folder every machine
shares, or the API's machine only, with the step routed there). The Dagster instance comes with
each task (the run's instance reference): PostgreSQL instance storage, reachable from the workers.
"""

from __future__ import annotations

import os
import sys

from storemon_pipeline.execution import celery_queue

# Each worker runs one step at a time: STOREMON_WORKERS is then the number of steps at once, and a
# worker's peak memory is one step's; a prefetch of 1 so a worker never holds a second step while
# another worker is idle (dagster-celery's own setting).
WORKERS_ENV = "STOREMON_WORKERS"
DEFAULT_WORKERS = 2


def workers_from_env() -> int:
    text = os.getenv(WORKERS_ENV, "").strip() or str(DEFAULT_WORKERS)
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{WORKERS_ENV}={text!r}: a whole number of workers, 1 or more")
    return int(text)


def celery_worker_command(
    name: str, *, queue: str | None = None, python: str | None = None, loglevel: str = "INFO"
) -> list[str]:
    """The command of one worker named `name` (celery adds @hostname), taking steps from `queue`
    (default STOREMON_CELERY_QUEUE); run it with the environment described above. Stop it with
    SIGTERM (warm shutdown: the running step finishes first)."""
    return [
        python or sys.executable, "-m", "celery", "-A", "storemon_pipeline.celery_app", "worker",
        "--queues", queue or celery_queue(), "--concurrency", "1", "--prefetch-multiplier", "1",
        "--hostname", f"{name}@%h", "--loglevel", loglevel, "--without-gossip", "--without-mingle",
    ]


def celery_worker_commands(
    count: int | None = None, *, prefix: str = "storemon-worker", queue: str | None = None
) -> dict[str, list[str]]:
    """Name -> command of `count` workers (default STOREMON_WORKERS, else 2), for a supervisor."""
    count = workers_from_env() if count is None else count
    return {f"{prefix}-{i}": celery_worker_command(f"{prefix}-{i}", queue=queue) for i in range(1, count + 1)}
