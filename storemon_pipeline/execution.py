"""How a report run is spread: over how many store shards, and on which Dagster executor.

Read from the environment once, here: definitions.py picks the executor, assets/segments.py
the default number of shards (a run's config may ask for another: `storemon report --shards`).

- STOREMON_SHARDS: shards of status_segments per run (default 1: one step, today's behaviour).
- STOREMON_EXECUTOR: `in_process` (default: every step in the run's process, the fastest on a
  small machine), `multiprocess` (a process per step, STOREMON_MAX_CONCURRENT at once, default
  the machine's cores), `celery` (each step a task for the celery workers listening on
  STOREMON_BROKER_URL, queue STOREMON_CELERY_QUEUE, on any machine that shares the warehouse and
  the Dagster instance; celery_workers.py starts them).
"""

from __future__ import annotations

import os

from storemon_pipeline.core.shards import MAX_SHARDS

SHARDS_ENV = "STOREMON_SHARDS"
EXECUTOR_ENV = "STOREMON_EXECUTOR"
MAX_CONCURRENT_ENV = "STOREMON_MAX_CONCURRENT"
BROKER_URL_ENV = "STOREMON_BROKER_URL"
RESULT_BACKEND_ENV = "STOREMON_CELERY_BACKEND"
QUEUE_ENV = "STOREMON_CELERY_QUEUE"

IN_PROCESS, MULTIPROCESS, CELERY = "in_process", "multiprocess", "celery"
EXECUTORS = (IN_PROCESS, MULTIPROCESS, CELERY)

# The RabbitMQ this kind of machine runs; guest/guest is RabbitMQ's loopback-only default user.
DEFAULT_BROKER_URL = "pyamqp://guest:guest@127.0.0.1:5672//"
# Celery's rpc backend sends each step's events back over the broker to the run that asked:
# nothing else to run. (redis://... works too, where the results should outlive the run.)
DEFAULT_RESULT_BACKEND = "rpc://"
# dagster-celery's queue. Two deployments sharing a broker each take their own, or one's workers
# would run the other's steps against the wrong warehouse.
DEFAULT_QUEUE = "dagster"
CELERY_POLL_SECONDS = 0.1


class ExecutionSettingError(ValueError):
    """An environment variable of this module holds a value storemon cannot use (one line)."""


def shards_from_env() -> int:
    text = os.getenv(SHARDS_ENV, "").strip() or "1"
    if not text.isdigit() or not 1 <= int(text) <= MAX_SHARDS:
        raise ExecutionSettingError(f"{SHARDS_ENV}={text!r}: a whole number from 1 to {MAX_SHARDS}")
    return int(text)


def executor_name_from_env() -> str:
    name = os.getenv(EXECUTOR_ENV, "").strip().lower() or IN_PROCESS
    if name not in EXECUTORS:
        raise ExecutionSettingError(f"{EXECUTOR_ENV}={name!r}: one of {', '.join(EXECUTORS)}")
    return name


def max_concurrent_from_env() -> int:
    text = os.getenv(MAX_CONCURRENT_ENV, "").strip()
    if not text:
        return os.cpu_count() or 1
    if not text.isdigit() or int(text) < 1:
        raise ExecutionSettingError(f"{MAX_CONCURRENT_ENV}={text!r}: a whole number of processes, 1 or more")
    return int(text)


def broker_url() -> str:
    return os.getenv(BROKER_URL_ENV) or DEFAULT_BROKER_URL


def result_backend() -> str:
    return os.getenv(RESULT_BACKEND_ENV) or DEFAULT_RESULT_BACKEND


def celery_queue() -> str:
    return os.getenv(QUEUE_ENV) or DEFAULT_QUEUE


def celery_executor_config() -> dict:
    """The celery executor's config; the workers must be started with the same broker and backend
    (celery_workers.py writes it for them). A URL set in the environment is passed as a reference
    to its variable, resolved when the run starts, so a password in it never shows in the UI."""
    return {
        "broker": {"env": BROKER_URL_ENV} if os.getenv(BROKER_URL_ENV) else DEFAULT_BROKER_URL,
        "backend": {"env": RESULT_BACKEND_ENV} if os.getenv(RESULT_BACKEND_ENV) else DEFAULT_RESULT_BACKEND,
        "config_source": {"task_default_queue": celery_queue()},
    }


def executor_from_env():
    """The executor definition STOREMON_EXECUTOR names, configured from the environment."""
    from dagster import in_process_executor, multiprocess_executor

    name = executor_name_from_env()
    if name == IN_PROCESS:
        return in_process_executor
    if name == MULTIPROCESS:
        return multiprocess_executor.configured({"max_concurrent": max_concurrent_from_env()})
    import dagster_celery.core_execution_loop
    from dagster_celery import celery_executor

    # The run's process polls its celery tasks once per TICK_SECONDS (1 s, no setting for it), and
    # a report's steps form six levels that each wait for a poll: 0.1 s instead takes about 4 s off
    # every report (measured: 1,000 stores, 16 shards, 2 workers). A poll is a look at results
    # already received (rpc:// pushes them), so polling more often costs next to nothing.
    dagster_celery.core_execution_loop.TICK_SECONDS = CELERY_POLL_SECONDS
    return celery_executor.configured(celery_executor_config())
