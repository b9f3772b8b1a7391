"""Pruning old report partitions: the warehouse rows, the report files and Dagster's record of them.

One function for `storemon prune` and the retention schedule's job. What goes is decided by
core/retention.py; the SQL is warehouse/retention.py's. Each partition is pruned in its own
transaction under the partition's lock (the one report writers take), and its files are deleted
inside that lock, as a writer writes them: a report run of the same partition at the same time
comes wholly before (and is pruned) or wholly after (and rebuilds it, segments included).

With a Dagster instance, the dynamic partition key of each pruned report goes too, with the finished
runs of that partition and the finished ingest and retention runs launched before them: the instance's storage
(DAGSTER_HOME) and the UI's partition list stop growing with the reports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from storemon_pipeline.core.clock import as_of_from_partition_key, partition_key
from storemon_pipeline.core.retention import RetentionCutoffs, RetentionPolicy, plan_retention
from storemon_pipeline.resources import StoremonFiles
from storemon_pipeline.warehouse import Warehouse

if TYPE_CHECKING:
    from dagster import DagsterInstance


@dataclass
class PruneOutcome:
    """What one prune deleted; `summary()` is its one line."""

    cutoffs: RetentionCutoffs | None = None
    segment_partitions: int = 0
    segment_rows: int = 0
    report_partitions: int = 0
    report_rows: int = 0
    files: int = 0
    file_bytes: int = 0
    partition_keys: int = 0
    runs: int = 0
    warehouse_bytes_before: int = 0
    warehouse_bytes_after: int = 0
    pruned_keys: list[str] = field(default_factory=list)

    def summary(self) -> str:
        if self.cutoffs is None:
            return "nothing to prune: no report in the warehouse yet"
        freed = self.warehouse_bytes_before - self.warehouse_bytes_after
        return (
            f"pruned back from the report as of {partition_key(self.cutoffs.newest_report_us)}: "
            f"segments of {self.segment_partitions} partitions ({self.segment_rows:,} rows), "
            f"{self.report_partitions} reports ({self.report_rows:,} rows, {self.files} files, "
            f"{_size(self.file_bytes)}), {self.partition_keys} partition keys, {self.runs} runs; "
            f"warehouse {_size(self.warehouse_bytes_before)} -> {_size(self.warehouse_bytes_after)} "
            f"({_size(max(freed, 0))} freed)"
        )


def _size(n_bytes: int) -> str:
    for unit, scale in (("GB", 2**30), ("MB", 2**20), ("kB", 2**10)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:.1f} {unit}"
    return f"{n_bytes} B"


def prune(
    warehouse: Warehouse, files: StoremonFiles, policy: RetentionPolicy, instance: DagsterInstance | None = None
) -> PruneOutcome:
    outcome = PruneOutcome(warehouse_bytes_before=warehouse.storage_bytes())
    newest_us = warehouse.newest_report_us()
    if newest_us is None:
        outcome.warehouse_bytes_after = outcome.warehouse_bytes_before
        return outcome
    cutoffs = policy.cutoffs(newest_us)
    reports, segments = warehouse.partitions_before(max(cutoffs.segments_before_us, cutoffs.reports_before_us))
    plan = plan_retention(policy, newest_us, reports, segments)
    outcome.cutoffs = plan.cutoffs

    report_files = files.report_files()
    for as_of_us in plan.reports_dropped_us:
        key = partition_key(as_of_us)
        with warehouse.report_partition(as_of_us) as partition:
            outcome.segment_rows += partition.drop_segments()
            outcome.report_rows += partition.drop_report()
            _delete_files(report_files.pop(key, []), outcome)
        outcome.report_partitions += 1
        outcome.pruned_keys.append(key)
    for as_of_us in plan.segments_dropped_us:
        with warehouse.report_partition(as_of_us) as partition:
            outcome.segment_rows += partition.drop_segments()
        outcome.segment_partitions += 1
    # Files of reports the warehouse no longer holds (pruned before a crash, or copied in by hand).
    for key, paths in report_files.items():
        if _is_key(key) and cutoffs.drops_report(as_of_from_partition_key(key)):
            _delete_files(paths, outcome)

    warehouse.give_space_back()
    outcome.warehouse_bytes_after = warehouse.storage_bytes()
    if instance is not None:
        _prune_instance(instance, cutoffs, outcome)
    return outcome


def _is_key(key: str) -> bool:
    try:
        as_of_from_partition_key(key)
    except ValueError:
        return False
    return True


def _delete_files(paths: list[Path], outcome: PruneOutcome) -> None:
    for path in paths:
        try:
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:  # another prune got there first
            continue
        outcome.files += 1
        outcome.file_bytes += size


def _prune_instance(instance: DagsterInstance, cutoffs: RetentionCutoffs, outcome: PruneOutcome) -> None:
    """Dynamic partition keys older than the reports cutoff, their finished runs, and the finished ingest and
    retention runs launched before the last of those (runs without a partition have no as-of: their age is
    told by the report runs of their time)."""
    from dagster import RunsFilter

    from storemon_pipeline.partitions import report_partitions
    from storemon_pipeline.runs import (
        FINISHED_STATUSES,
        INGEST_JOB_NAME,
        PARTITION_TAG,
        REPORT_KEY_TAG,
        RETENTION_JOB_NAME,
    )

    dropped = [
        key for key in instance.get_dynamic_partitions(report_partitions.name)
        if _is_key(key) and cutoffs.drops_report(as_of_from_partition_key(key))
    ]
    newest_dropped_run_created = None
    for key in dropped:
        for tag in (PARTITION_TAG, REPORT_KEY_TAG):
            records = instance.get_run_records(
                filters=RunsFilter(tags={tag: key}, statuses=list(FINISHED_STATUSES))
            )
            for record in records:
                if newest_dropped_run_created is None or record.create_timestamp > newest_dropped_run_created:
                    newest_dropped_run_created = record.create_timestamp
                outcome.runs += _delete_run(instance, record.dagster_run.run_id)
        instance.delete_dynamic_partition(report_partitions.name, key)
        outcome.partition_keys += 1
    if newest_dropped_run_created is not None:
        for job_name in (INGEST_JOB_NAME, RETENTION_JOB_NAME):
            older = instance.get_run_records(
                filters=RunsFilter(
                    job_name=job_name, statuses=list(FINISHED_STATUSES), created_before=newest_dropped_run_created
                )
            )
            for record in older:
                outcome.runs += _delete_run(instance, record.dagster_run.run_id)


def _delete_run(instance: DagsterInstance, run_id: str) -> int:
    """Delete a run, its events and its captured logs; with SQLite event storage also its own event file,
    which delete_run empties but leaves on disk (one file per run under DAGSTER_HOME/history/runs)."""
    if instance.get_run_by_id(run_id) is None:  # found under both tags
        return 0
    instance.delete_run(run_id)
    path_for_shard = getattr(instance.event_log_storage, "path_for_shard", None)
    if path_for_shard is not None:
        for suffix in ("", "-wal", "-shm"):
            Path(path_for_shard(run_id) + suffix).unlink(missing_ok=True)
    # The run's captured stdout/stderr (DAGSTER_HOME/storage/<run_id> with the local manager).
    try:
        instance.compute_log_manager.delete_logs(prefix=[run_id])
    except NotImplementedError:
        pass
    return 1
