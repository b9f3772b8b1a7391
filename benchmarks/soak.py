"""`make soak`: simulated days of hourly drops through the real jobs and the retention schedule.

A fleet of S stores with 8 days of history is loaded (ingest_job), then every simulated hour one new ping
per store is dropped and run through what the inbox sensor launches, in-process against one persistent
Dagster instance (a temporary DAGSTER_HOME with SQLite storage, as `make run` has): ingest_job for the
drop (or, with --no-ingest-runs, the same load in-process, about half the time), then report_from_warehouse_job for the newest ping's partition. Once a simulated day,
retention_schedule is evaluated and the run it asks for (retention_job) is executed. After each retention
the sizes are recorded: the warehouse (SQLite file + WAL, or PostgreSQL's tables), DAGSTER_HOME, the reports
folder, and the count of dynamic partitions and runs. With retention the sizes level off once the oldest
partitions start to go (after keep-reports).

  python benchmarks/soak.py --days 30 --stores 1000 --keep-segments 48h --keep-reports 7d
  python benchmarks/soak.py --days 2 --stores 50 --dialect postgresql --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # noqa: E402  (benchmarks/run.py: the drop writer and fresh databases)

AS_OF = bench.AS_OF
HOUR_US = 3_600_000_000


@dataclass
class Sample:
    """Sizes after one retention run (or before any: hour 0)."""

    hour: int
    warehouse_bytes: int
    dagster_home_bytes: int
    reports_bytes: int
    partitions: int
    runs: int
    seconds: float  # wall time of the simulated period since the previous sample
    pruned: str = ""


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def soak(
    *, stores: int, days: float, hours_per_retention: int, keep_segments: str, keep_reports: str, dialect: str,
    work: Path, pg_url: str = bench.DEFAULT_PG_URL, seed: int = 5, ingest_runs: bool = True, log=print,
) -> list[Sample]:
    """Run the soak in `work` (DAGSTER_HOME, reports, drops; the SQLite warehouse); returns one Sample per retention."""
    dagster_home, reports, drops = work / "dagster_home", work / "reports", work / "drops"
    for folder in (dagster_home, reports, drops):
        folder.mkdir(parents=True, exist_ok=True)
    databases = bench.Databases(dialect, work, pg_url)
    url = databases.fresh_url()
    # The code location reads these when its definitions load and when each run starts; put back afterwards
    # (a test calls this function).
    saved_environ = dict(os.environ)
    os.environ.update(
        {
            "DAGSTER_HOME": str(dagster_home),
            "STOREMON_DATABASE_URL": url,
            "STOREMON_REPORTS_DIR": str(reports),
            "STOREMON_DATA_DIR": str(drops),
            "STOREMON_KEEP_SEGMENTS": keep_segments,
            "STOREMON_KEEP_REPORTS": keep_reports,
        }
    )
    from dagster import DagsterInstance, RunRequest, build_schedule_context

    from storemon_pipeline.assets.raw import ingest_csv_files, raw_paths_run_config
    from storemon_pipeline.automation import retention_schedule
    from storemon_pipeline.definitions import build_definitions
    from storemon_pipeline.partitions import latest_report_partition_key, report_partitions
    from storemon_pipeline.simulate import simulate_fleet, write_fleet
    from storemon_pipeline.instance import ensure_instance_settings
    from storemon_pipeline.warehouse import Warehouse

    ensure_instance_settings(dagster_home)  # the dagster.yaml `storemon run` writes
    defs = build_definitions()
    ingest_job, report_job = defs.resolve_job_def("ingest_job"), defs.resolve_job_def("report_from_warehouse_job")
    retention_job = defs.resolve_job_def(retention_schedule.job_name)
    quiet = bench.QUIET_RUN_CONFIG
    warehouse = Warehouse(url)
    samples: list[Sample] = []
    try:
        with DagsterInstance.get() as instance:
            fleet = simulate_fleet(stores, 8, AS_OF, seed=seed)
            history = write_fleet(fleet, work / "history", truth_path=work / "truth.csv")
            ingest_job.execute_in_process(
                run_config={**raw_paths_run_config([str(p) for p in history.values()]), **quiet}, instance=instance
            )
            store_ids = list(warehouse.report_store_ids(2**62))
            as_of_us = fleet.as_of_us

            def sample(hour: int, seconds: float, pruned: str = "") -> Sample:
                taken = Sample(
                    hour=hour,
                    warehouse_bytes=warehouse.storage_bytes(),
                    dagster_home_bytes=folder_bytes(dagster_home),
                    reports_bytes=folder_bytes(reports),
                    partitions=len(instance.get_dynamic_partitions(report_partitions.name)),
                    runs=instance.get_runs_count(),
                    seconds=round(seconds, 1),
                    pruned=pruned,
                )
                samples.append(taken)
                log(
                    f"day {hour / 24:5.1f}: warehouse {taken.warehouse_bytes / 2**20:7.1f} MB, DAGSTER_HOME "
                    f"{taken.dagster_home_bytes / 2**20:6.1f} MB, reports {taken.reports_bytes / 2**20:6.1f} MB, "
                    f"{taken.partitions} partitions, {taken.runs} runs ({taken.seconds:.0f} s)"
                )
                return taken

            sample(0, 0.0)
            period_started = time.perf_counter()
            for hour in range(1, int(days * 24) + 1):
                drop = bench.write_drop(drops, store_ids, as_of_us + (hour - 1) * HOUR_US, hour)
                if ingest_runs:
                    ingest_job.execute_in_process(
                        run_config={**raw_paths_run_config([str(drop)]), **quiet}, instance=instance
                    )
                else:  # what ingest_job's assets run, without a run around it
                    ingest_csv_files(warehouse, [drop])
                drop.unlink()
                key = latest_report_partition_key(warehouse)
                instance.add_dynamic_partitions(report_partitions.name, [key])
                report_job.execute_in_process(run_config=quiet, instance=instance, partition_key=key)
                if hour % hours_per_retention == 0:
                    request = retention_schedule(build_schedule_context(instance=instance))
                    assert isinstance(request, RunRequest), request
                    result = retention_job.execute_in_process(run_config=quiet, instance=instance, tags=request.tags)
                    summary = next(
                        value.value
                        for event in result.all_node_events
                        if event.event_type_value == "STEP_OUTPUT"
                        for name, value in event.event_specific_data.metadata.items()
                        if name == "summary"
                    )
                    sample(hour, time.perf_counter() - period_started, summary)
                    period_started = time.perf_counter()
    finally:
        warehouse.dispose()
        for schema in list(databases.schemas):
            databases.drop(f"x%3D{schema}")
        os.environ.clear()
        os.environ.update(saved_environ)
    return samples


def table_markdown(samples: list[Sample]) -> str:
    lines = [
        "| day | warehouse MB | DAGSTER_HOME MB | reports MB | partitions | runs | s per day |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for s in samples:
        lines.append(
            f"| {s.hour / 24:g} | {s.warehouse_bytes / 2**20:.1f} | {s.dagster_home_bytes / 2**20:.1f} "
            f"| {s.reports_bytes / 2**20:.2f} | {s.partitions} | {s.runs} | {s.seconds:.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", type=int, default=1000)
    parser.add_argument("--days", type=float, default=30)
    parser.add_argument("--hours-per-retention", type=int, default=24, help="simulated hours between retention runs")
    parser.add_argument("--keep-segments", default="48h")
    parser.add_argument("--keep-reports", default="7d")
    parser.add_argument("--dialect", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--pg-url", default=bench.DEFAULT_PG_URL)
    parser.add_argument("--work", type=Path, help="working folder (default: a temporary one, removed afterwards)")
    parser.add_argument("--json", type=Path, help="write the samples here")
    parser.add_argument("--no-ingest-runs", action="store_true",
                        help="load each drop in-process (the raw assets' function) instead of an ingest_job run: "
                             "about half the time per simulated hour; DAGSTER_HOME then holds report runs only")
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="storemon-soak-"))
    try:
        samples = soak(
            stores=args.stores, days=args.days, hours_per_retention=args.hours_per_retention,
            keep_segments=args.keep_segments, keep_reports=args.keep_reports, dialect=args.dialect,
            work=work, pg_url=args.pg_url, ingest_runs=not args.no_ingest_runs,
        )
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    print(table_markdown(samples))
    if args.json:
        args.json.write_text(json.dumps([asdict(s) for s in samples], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
