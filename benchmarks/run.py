"""`make bench`: time the report pipeline at fleet size, per phase, on SQLite and PostgreSQL.

Sizes (simulated with storemon_pipeline.simulate, cached under --cache, default /tmp/storemon-bench):
  S = 1,000 stores x 8 days, M = 14,000 stores x 8 days (~2.4 M pings), L = 14,000 stores x 80 days (10 x M history),
  XL = 140,000 stores x 8 days (~24 M pings in the window: 10 x M's fleet; not in the default --sizes).

Store shards and executors (issue 12): --shards 1,16 runs every size and dialect once per number of shards of
status_segments; --executors in_process,multiprocess,celery once per executor. in_process times the asset
functions as below, the shards one after the other; multiprocess and celery time `report` and `hourly` as real
report runs (report_from_warehouse_job, executed by reference) whose steps run in a process each or on
--workers celery workers (benchmarks/distributed.py). Each phase also records the slowest shard's time and the
largest peak RSS of a process that ran a shard (status_segments' metadata).

Phases, each timed over --runs runs (median reported), each size x dialect in a fresh subprocess:
  cold_ingest     the three CSVs into an empty warehouse (a new SQLite file / a new PostgreSQL schema per run):
                  assets.raw.ingest_csv_files, what the raw assets run.
  first_report    right after it, the report as of T (normalized_schedules built, status_segments, store_report).
  report          a report for a new as-of (T-1 min, T-2 min, T-3 min) from the loaded warehouse.
  hourly          the steady state: a drop of one new ping per store (T+1 h, T+2 h, ...), ingested, then the report
                  as of the newest ping.
  hourly_dagster  the same drop and report as the two Dagster runs the inbox sensor launches (ingest_job, then
                  report_from_warehouse_job), executed in-process with every asset check: what a user waits for, minus
                  process start.

Every phase but hourly_dagster is "asset compute time": the functions the asset bodies call (build_* in
storemon_pipeline/assets), in-process, without Dagster's run machinery.
Peak RSS per phase: the process's VmHWM, reset before each phase through /proc/self/clear_refs.

  python benchmarks/run.py                       # S, M, L on SQLite and PostgreSQL, writes benchmarks/results.md
  python benchmarks/run.py --sizes S --dialects sqlite --no-write
  python benchmarks/run.py --profile M:sqlite:report   # pyinstrument of one phase's first run
  python benchmarks/run.py --sizes XL --dialects postgresql --shards 1,16 --executors in_process,multiprocess,celery \
      --runs 1 --json xl.json --no-write             # issue 12's XL table (docs/scaling.md)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CACHE = Path(os.getenv("STOREMON_BENCH_CACHE", "/tmp/storemon-bench"))
DEFAULT_PG_URL = os.getenv("STOREMON_BENCH_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
AS_OF = "2023-03-14T12:00:00Z"
SEED = 5


@dataclass(frozen=True)
class Size:
    name: str
    stores: int
    days: int


SIZES = {"S": Size("S", 1_000, 8), "M": Size("M", 14_000, 8), "L": Size("L", 14_000, 80),
         "XL": Size("XL", 140_000, 8)}
EXECUTORS = ("in_process", "multiprocess", "celery")
PHASES = ("cold_ingest", "first_report", "report", "hourly", "hourly_dagster")
# Issue 5's targets at M (seconds) and the L/M ratio the report and the hourly state may reach.
TARGETS_M = {"sqlite": {"cold_ingest+report": 25.0}, "postgresql": {"cold_ingest+report": 15.0}}
TARGET_REPORT_S = 4.0
TARGET_HOURLY_S = 3.0
TARGET_L_RATIO = 1.5
TARGET_RSS_MB = 2048


# ------------------------------------------------------------------ fleets


def fleet_dir(cache: Path, size: Size) -> Path:
    return cache / f"{size.name}-{size.stores}x{size.days}d-seed{SEED}"


def ensure_fleet(cache: Path, size: Size) -> Path:
    """The fleet's three CSVs, generated once (in a subprocess: the simulator's memory goes with it)."""
    out = fleet_dir(cache, size)
    if (out / "fleet.json").exists():
        return out
    print(f"generating fleet {size.name} ({size.stores} stores x {size.days} days) in {out}", flush=True)
    code = (
        "import json,sys,time;from storemon_pipeline.simulate import simulate_fleet,write_fleet;"
        "t=time.perf_counter();"
        f"f=simulate_fleet({size.stores},{size.days},{AS_OF!r},seed={SEED});"
        "s=time.perf_counter()-t;"
        f"p=write_fleet(f,{str(out)!r},truth_path={str(out / 'truth' / 'truth.csv')!r});"
        "json.dump({'as_of_us':f.as_of_us,'pings':len(f.ping_log),'business_hours':len(f.business_hours),"
        "'timezones':len(f.timezones),'simulate_s':round(s,1),'write_s':round(time.perf_counter()-t-s,1)},"
        f"open({str(out / 'fleet.json')!r},'w'))"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    return out


def input_paths(folder: Path) -> list[Path]:
    return [folder / "store_status.csv", folder / "menu_hours.csv", folder / "timezones.csv"]


# ------------------------------------------------------------------ measurement (worker side)


def reset_peak_rss() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        pass


def peak_rss_mb() -> float:
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Steps:
    """Wall time of named steps inside one phase run."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.shard_costs: dict[str, float] = {}  # the slowest shard and the largest shard process peak RSS

    def add_shard_costs(self, segments_metadata: dict) -> None:
        for name in ("shard_seconds_max", "shard_process_peak_rss_mb_max"):
            self.shard_costs[name] = max(self.shard_costs.get(name, 0.0), float(segments_metadata[name]))

    @contextmanager
    def step(self, name: str):
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started


class Databases:
    """Fresh warehouses: a new SQLite file, or a new PostgreSQL schema (dropped at the end)."""

    def __init__(self, dialect: str, work: Path, pg_url: str) -> None:
        self.dialect, self.work, self.pg_url = dialect, work, pg_url
        self.schemas: list[str] = []

    def fresh_url(self) -> str:
        if self.dialect == "sqlite":
            path = self.work / f"warehouse-{uuid.uuid4().hex[:8]}.db"
            return f"sqlite:///{path}"
        import sqlalchemy as sa

        schema = f"storemon_bench_{uuid.uuid4().hex[:10]}"
        engine = sa.create_engine(self.pg_url)
        with engine.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        engine.dispose()
        self.schemas.append(schema)
        separator = "&" if "?" in self.pg_url else "?"
        return f"{self.pg_url}{separator}options=-csearch_path%3D{schema}"

    def drop(self, url: str) -> None:
        if self.dialect == "sqlite":
            path = Path(url.removeprefix("sqlite:///"))
            for suffix in ("", "-wal", "-shm"):
                Path(str(path) + suffix).unlink(missing_ok=True)
            return
        import sqlalchemy as sa

        schema = url.rsplit("%3D", 1)[1]
        engine = sa.create_engine(self.pg_url)
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()
        self.schemas.remove(schema)


def ingest_files(warehouse, paths: list[Path], steps: Steps) -> int:
    """What the raw assets run (assets.raw.ingest_csv_files), one file per step; returns rows loaded + rejected."""
    from storemon_pipeline.assets.raw import ingest_csv_files

    rows = 0
    for path in sorted(paths, key=lambda p: p.name):
        with steps.step(f"ingest {path.stem}"):
            outcome = ingest_csv_files(warehouse, [path])
        if outcome.unrecognised:
            raise RuntimeError(f"not loaded: {outcome.unrecognised}")
        rows += sum(r.rows_loaded + r.rows_rejected for r in outcome.results)
    return rows


def report_as_of(warehouse, as_of_us: int, reports_dir: Path, steps: Steps, shards: int = 1) -> int:
    """What normalized_schedules, status_segments (in `shards` shards, one after the other) and
    store_report run; returns evidence-window pings."""
    from storemon_pipeline.assets.report import build_store_report
    from storemon_pipeline.assets.schedules import build_normalized_schedules
    from storemon_pipeline.assets.segments import build_status_segments
    from storemon_pipeline.core.clock import partition_key

    with steps.step("normalized_schedules"):
        build_normalized_schedules(warehouse)
    with steps.step("status_segments"):
        segments = build_status_segments(warehouse, as_of_us, shards)
    steps.add_shard_costs(segments)
    with steps.step("store_report"):
        build_store_report(warehouse, as_of_us, reports_dir / f"report_{partition_key(as_of_us)}.csv")
    return segments["evidence_window_pings"]


def write_drop(folder: Path, store_ids: list[str], after_us: int, index: int) -> Path:
    """One new ping per store in (after_us, after_us + 1 h], in the export's own format."""
    import numpy as np

    from storemon_pipeline.simulate import format_timestamps_utc

    rng = np.random.default_rng(index)
    ts_us = after_us + 3_600_000_000 - rng.integers(0, 600_000_000, len(store_ids))
    ts_us[0] = after_us + 3_600_000_000  # the newest ping: the report clock moves exactly an hour
    lines = [
        f"{s},{'active' if a else 'inactive'},{t}"
        for s, a, t in zip(store_ids, rng.random(len(store_ids)) < 0.9, format_timestamps_utc(ts_us).astype(str))
    ]
    path = folder / f"drop_{index:02d}.csv"
    path.write_text("store_id,status,timestamp_utc\n" + "\n".join(lines) + "\n")
    return path


QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


def run_worker(args: argparse.Namespace) -> dict:
    # The jobs read the warehouse URL at run start (an EnvVar): set before definitions load, and the
    # executor, which the definitions pick when they load.
    os.environ["STOREMON_DATABASE_URL"] = "set-per-phase"
    os.environ["STOREMON_EXECUTOR"] = args.executor
    # The celery executor's queue is fixed when the definitions load too: this run's own, so that no
    # other checkout's workers on the machine's broker take its steps (nor it theirs).
    os.environ["STOREMON_CELERY_QUEUE"] = f"storemon-bench-{uuid.uuid4().hex[:8]}"
    # Imports first (dagster alone takes over a second): a phase is timed, not a module load.
    import storemon_pipeline.assets.raw  # noqa: F401
    import storemon_pipeline.assets.report  # noqa: F401
    import storemon_pipeline.assets.schedules  # noqa: F401
    import storemon_pipeline.core.segments  # noqa: F401
    import storemon_pipeline.definitions  # noqa: F401
    from dagster import DagsterInstance

    from storemon_pipeline.warehouse import Warehouse

    size = SIZES[args.size]
    folder = fleet_dir(args.cache, size)
    fleet = json.loads((folder / "fleet.json").read_text())
    as_of_us = fleet["as_of_us"]
    work = args.cache / "work" / f"{size.name}-{args.dialect}-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    (work / "reports").mkdir(parents=True)
    databases = Databases(args.dialect, work, args.pg_url)
    profile_phase = args.profile_phase
    result: dict = {"size": size.name, "dialect": args.dialect, "stores": size.stores, "days": size.days,
                    "shards": args.shards, "executor": args.executor, "fleet": fleet, "phases": {}}

    def measure(phase: str, run_index: int, body):
        steps = Steps()
        reset_peak_rss()
        profiler = None
        if profile_phase == phase and run_index == 0:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.005)
            profiler.start()
        started = time.perf_counter()
        rows = body(steps)
        seconds = time.perf_counter() - started
        if profiler is not None:
            profiler.stop()
            result["profile"] = profiler.output_text(unicode=False, color=False, show_all=False)
        entry = result["phases"].setdefault(phase, {"rows": rows, "seconds": [], "rss_mb": [], "steps": {}})
        entry["seconds"].append(seconds)
        entry["rss_mb"].append(peak_rss_mb())
        for name, value in steps.seconds.items():
            entry["steps"].setdefault(name, []).append(value)
        for name, value in steps.shard_costs.items():
            entry.setdefault(name, []).append(value)
        print(f"  {size.name} {args.dialect} {phase} run {run_index + 1}: {seconds:.2f} s, "
              f"peak RSS {peak_rss_mb():.0f} MB", flush=True)

    runs = {phase: args.runs for phase in PHASES}
    if args.cold_runs is not None:
        runs["cold_ingest"] = runs["first_report"] = args.cold_runs
    drops = 0

    def next_drop() -> Path:
        nonlocal drops
        drops += 1
        return write_drop(work, store_ids, as_of_us + (drops - 1) * 3_600_000_000, drops)

    try:
        url = None
        for run_index in range(runs["cold_ingest"]):
            if url is not None:
                databases.drop(url)
            url = databases.fresh_url()
            warehouse = Warehouse(url)
            measure("cold_ingest", run_index, lambda steps: ingest_files(warehouse, input_paths(folder), steps))
            # The first report also builds normalized_schedules; later ones find it up to date.
            measure("first_report", run_index,
                    lambda steps: report_as_of(warehouse, as_of_us, work / "reports", steps, args.shards))
            if run_index < runs["cold_ingest"] - 1:
                warehouse.dispose()
        # The last cold-ingested warehouse is the loaded one the other phases use.
        store_ids = list(warehouse.report_store_ids(2**62))
        from storemon_pipeline.core.clock import latest_report_as_of_us

        if args.executor == "in_process":
            report_phases(warehouse, as_of_us, work, args, runs, measure, next_drop)
        else:
            from distributed import DistributedReports

            with DistributedReports(args.executor, args.pg_url, url, work, args.workers) as distributed:
                report_phases(warehouse, as_of_us, work, args, runs, measure, next_drop, distributed)
            runs["hourly_dagster"] = 0  # an in-process run of the jobs: the in_process rows have it

        os.environ["STOREMON_DATABASE_URL"] = url
        os.environ["STOREMON_REPORTS_DIR"] = str(work / "reports")
        instance = DagsterInstance.ephemeral()
        for run_index in range(runs["hourly_dagster"]):
            drop = next_drop()
            measure("hourly_dagster", run_index,
                    lambda steps: hourly_through_dagster(warehouse, drop, instance, steps, args.shards))
        warehouse.dispose()
    finally:
        for schema_url in list(databases.schemas):
            databases.drop(f"x%3D{schema_url}")
        shutil.rmtree(work, ignore_errors=True)
    result["process_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def report_phases(warehouse, as_of_us, work, args, runs, measure, next_drop, distributed=None) -> None:
    """`report` (new as-ofs) and `hourly` (a drop, then the latest report): through the asset functions
    in this process, or as report runs of `distributed` (multiprocess or celery)."""
    from storemon_pipeline.core.clock import latest_report_as_of_us

    def report(steps: Steps, as_of: int) -> int:
        if distributed is None:
            return report_as_of(warehouse, as_of, work / "reports", steps, args.shards)
        with steps.step(f"report run ({args.executor})"):
            segments = distributed.report(as_of, args.shards)
        steps.add_shard_costs(segments)
        return segments["evidence_window_pings"]

    for run_index in range(runs["report"]):
        as_of = as_of_us - (run_index + 1) * 60_000_000
        measure("report", run_index, lambda steps: report(steps, as_of))
    for run_index in range(runs["hourly"]):
        drop = next_drop()

        def hourly(steps: Steps) -> int:
            rows = ingest_files(warehouse, [drop], steps)
            with steps.step("latest_ping_us"):
                latest_us = latest_report_as_of_us(warehouse.latest_ping_us())
            report(steps, latest_us)
            return rows

        measure("hourly", run_index, hourly)


def hourly_through_dagster(warehouse, drop: Path, instance, steps: Steps, shards: int = 1) -> int:
    """The two runs the inbox sensor launches for a drop, executed in-process: ingest_job, then
    report_from_warehouse_job for the newest ping's partition; every asset check included."""
    from storemon_pipeline.assets.raw import raw_materialization_metadata, raw_paths_run_config
    from storemon_pipeline.assets.segments import shards_run_config
    from storemon_pipeline.core.inputs import PINGS
    from storemon_pipeline.definitions import defs
    from storemon_pipeline.partitions import latest_report_partition_key, report_partitions

    with steps.step("ingest_job"):
        ingest = defs.resolve_job_def("ingest_job").execute_in_process(
            run_config={**raw_paths_run_config([str(drop)]), **QUIET_RUN_CONFIG}, instance=instance
        )
    with steps.step("report_from_warehouse_job"):
        key = latest_report_partition_key(warehouse)
        instance.add_dynamic_partitions(report_partitions.name, [key])
        defs.resolve_job_def("report_from_warehouse_job").execute_in_process(
            run_config={**QUIET_RUN_CONFIG, **shards_run_config(shards)}, instance=instance, partition_key=key
        )
    metadata = raw_materialization_metadata(ingest, PINGS)
    return metadata["rows_loaded"].value + metadata["rows_rejected"].value


# ------------------------------------------------------------------ the table (parent side)


def machine_description(pg_url: str) -> list[str]:
    import numpy
    import pandas
    import sqlalchemy

    lines = [f"- CPU: {os.cpu_count()} cores ({platform.processor() or platform.machine()}), "
             f"RAM {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB, "
             f"Linux {platform.release()}",
             f"- Python {platform.python_version()}, pandas {pandas.__version__}, numpy {numpy.__version__}, "
             f"SQLAlchemy {sqlalchemy.__version__}, SQLite {__import__('sqlite3').sqlite_version}"]
    try:
        engine = sqlalchemy.create_engine(pg_url)
        with engine.connect() as conn:
            version = conn.execute(sqlalchemy.text("SHOW server_version")).scalar_one()
        engine.dispose()
        lines.append(f"- PostgreSQL {version} on the same machine (default settings)")
    except Exception as exc:  # noqa: BLE001 - only a description line
        lines.append(f"- PostgreSQL: not reachable ({type(exc).__name__})")
    lines.append(f"- load average when the table was written: {' '.join(f'{x:.1f}' for x in os.getloadavg())} "
                 "(the machine is shared: medians of runs, ratios matter more than absolutes)")
    return lines


def median(values: list[float]) -> float:
    return statistics.median(values)


def table_markdown(results: list[dict]) -> str:
    lines = ["| size | dialect | shards | executor | phase | rows | median s | runs (s) | peak RSS MB "
             "| slowest shard s | shard process peak RSS MB |",
             "| --- | --- | ---: | --- | --- | ---: | ---: | --- | ---: | ---: | ---: |"]
    for r in results:
        for phase in PHASES:
            entry = r["phases"].get(phase)
            if not entry:
                continue
            runs = ", ".join(f"{s:.2f}" for s in entry["seconds"])
            shard_s = f"{median(entry['shard_seconds_max']):.2f}" if entry.get("shard_seconds_max") else ""
            shard_rss = (f"{max(entry['shard_process_peak_rss_mb_max']):.0f}"
                         if entry.get("shard_process_peak_rss_mb_max") else "")
            lines.append(f"| {r['size']} | {r['dialect']} | {r.get('shards', 1)} | {r.get('executor', 'in_process')} "
                         f"| {phase} | {entry['rows']:,} | {median(entry['seconds']):.2f} | {runs} "
                         f"| {max(entry['rss_mb']):.0f} | {shard_s} | {shard_rss} |")
    return "\n".join(lines)


def steps_markdown(results: list[dict]) -> str:
    lines = ["| size | dialect | shards | executor | phase | step | median s |",
             "| --- | --- | ---: | --- | --- | --- | ---: |"]
    for r in results:
        for phase in PHASES:
            entry = r["phases"].get(phase)
            if not entry:
                continue
            for name, values in entry["steps"].items():
                lines.append(f"| {r['size']} | {r['dialect']} | {r.get('shards', 1)} | {r.get('executor', 'in_process')} "
                             f"| {phase} | {name} | {median(values):.2f} |")
    return "\n".join(lines)


def targets_markdown(results: list[dict]) -> str:
    # Issue 5's targets are those of the one-shard, in-process report.
    by = {(r["size"], r["dialect"]): r for r in results
          if r.get("shards", 1) == 1 and r.get("executor", "in_process") == "in_process"}

    def med(size: str, dialect: str, phase: str) -> float | None:
        entry = by.get((size, dialect), {}).get("phases", {}).get(phase)
        return median(entry["seconds"]) if entry else None

    lines = ["| target | dialect | measured | met |", "| --- | --- | ---: | --- |"]

    def judged(target: str, dialect: str, measured: str, met: bool) -> None:
        lines.append(f"| {target} | {dialect} | {measured} | {'yes' if met else 'NO'} |")

    for dialect in ("sqlite", "postgresql"):
        cold, first, report, hourly = (med("M", dialect, p) for p in ("cold_ingest", "first_report", "report", "hourly"))
        if cold is not None and first is not None:
            limit = TARGETS_M[dialect]["cold_ingest+report"]
            judged(f"M cold ingest + report <= {limit:.0f} s", dialect, f"{cold + first:.2f} s", cold + first <= limit)
        if report is not None:
            judged(f"M report for a new as-of <= {TARGET_REPORT_S:.0f} s", dialect, f"{report:.2f} s",
                   report <= TARGET_REPORT_S)
        if hourly is not None:
            judged(f"M hourly steady state <= {TARGET_HOURLY_S:.0f} s", dialect, f"{hourly:.2f} s",
                   hourly <= TARGET_HOURLY_S)
        for phase in ("report", "hourly"):
            m, big = med("M", dialect, phase), med("L", dialect, phase)
            if m and big is not None:
                judged(f"L {phase} <= {TARGET_L_RATIO} x M", dialect, f"{big / m:.2f} x ({big:.2f} s)",
                       big / m <= TARGET_L_RATIO)
        if ("L", dialect) in by:
            for phase in PHASES:
                entry = by[("L", dialect)]["phases"].get(phase)
                if entry:
                    rss = max(entry["rss_mb"])
                    judged(f"L peak RSS ({phase}) < {TARGET_RSS_MB} MB", dialect, f"{rss:.0f} MB", rss < TARGET_RSS_MB)
    return "\n".join(lines)


def write_results(path: Path, results: list[dict], pg_url: str, notes_path: Path) -> None:
    parts = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`benchmarks/run.py`); rerun it to refresh. Times are *asset compute time*: the",
        "functions the asset bodies call (`ingest_csv_files`, `build_normalized_schedules`, `build_status_segments`,",
        "`build_store_report`), in-process, without Dagster's run machinery and without process start (`import",
        "dagster` alone is about 1.4 s); `hourly_dagster` is the same hour through the real jobs and their checks.",
        "",
        "## Machine",
        "",
        *machine_description(pg_url),
        "",
        "## Results (median of the runs listed)",
        "",
        "- **cold_ingest**: the three CSVs into an empty warehouse; rows = rows of the three files.",
        "- **first_report**: the report as of T right after the cold ingest, normalized_schedules built from scratch;",
        "  rows = pings in the 8-day evidence window.",
        "- **report**: a report for a new as-of from the loaded warehouse (normalized_schedules up to date, so reused).",
        "- **hourly**: one new ping per store ingested, then the report as of the newest ping; rows = rows of the drop.",
        "- **hourly_dagster**: the same hour as `ingest_job` then `report_from_warehouse_job`, executed in-process by",
        "  Dagster with every asset check (what the inbox sensor launches), process start excluded.",
        "- peak RSS = the process's high-water mark during that phase (VmHWM reset before each phase).",
        "",
        table_markdown(results),
        "",
        "## Targets (issue 5)",
        "",
        targets_markdown(results),
        "",
        "## Steps inside each phase (median s)",
        "",
        steps_markdown(results),
        "",
    ]
    if notes_path.exists():
        parts += [notes_path.read_text().rstrip(), ""]
    path.write_text("\n".join(parts))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="S,M,L")
    parser.add_argument("--dialects", default="sqlite,postgresql")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--shards", default="1", help="numbers of store shards, e.g. 1,16 (each a worker run)")
    parser.add_argument("--executors", default="in_process", help=f"any of {','.join(EXECUTORS)}")
    parser.add_argument("--workers", type=int, default=2, help="celery workers started for --executors celery")
    parser.add_argument("--cold-runs", type=int, default=None,
                        help="runs of cold_ingest and first_report (default --runs; 1 for L, whose cold load takes minutes)")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results.md")
    parser.add_argument("--json", type=Path, default=None, help="also write the raw measurements here")
    parser.add_argument("--notes", type=Path, default=REPO / "benchmarks" / "notes.md",
                        help="markdown appended to results.md (profile, changes, gaps)")
    parser.add_argument("--no-write", action="store_true", help="print the table, leave results.md alone")
    parser.add_argument("--profile", default=None, metavar="SIZE:DIALECT:PHASE",
                        help="run only that size and dialect, profile the phase's first run with pyinstrument")
    parser.add_argument("--from-json", type=Path, nargs="+", default=None, metavar="JSON",
                        help="no runs: write results.md from measurements saved with --json (e.g. one per size)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--size", help=argparse.SUPPRESS)
    parser.add_argument("--dialect", help=argparse.SUPPRESS)
    parser.add_argument("--shard-count", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--executor", default="in_process", help=argparse.SUPPRESS)
    parser.add_argument("--profile-phase", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        args.shards = args.shard_count
        os.environ.setdefault("STOREMON_HOME", str(args.cache / "home"))
        result = run_worker(args)
        args.result.write_text(json.dumps(result))
        return 0

    if args.from_json:
        results = [result for path in args.from_json for result in json.loads(path.read_text())]
        results.sort(key=lambda r: (list(SIZES).index(r["size"]), r["dialect"] != "sqlite"))
        print(table_markdown(results))
        print()
        print(targets_markdown(results))
        write_results(args.out, results, args.pg_url, args.notes)
        print(f"\nwrote {args.out}")
        return 0

    args.cache.mkdir(parents=True, exist_ok=True)
    sizes = [SIZES[s.strip()] for s in args.sizes.split(",") if s.strip()]
    dialects = [d.strip() for d in args.dialects.split(",") if d.strip()]
    profile_phase = None
    if args.profile:
        size_name, dialect, profile_phase = args.profile.split(":")
        sizes, dialects = [SIZES[size_name]], [dialect]
        args.no_write = True
    for size in sizes:
        ensure_fleet(args.cache, size)

    shard_counts = [int(n) for n in args.shards.split(",") if n.strip()]
    executors = [e.strip() for e in args.executors.split(",") if e.strip()]
    unknown = set(executors) - set(EXECUTORS)
    if unknown:
        parser.error(f"--executors: unknown {', '.join(sorted(unknown))} (one of {', '.join(EXECUTORS)})")
    if set(executors) - {"in_process"} and dialects != ["postgresql"]:
        # Steps in other processes or machines share the warehouse: PostgreSQL, as in production.
        parser.error("--executors multiprocess or celery need --dialects postgresql")
    runs_wanted = [(size, dialect, shards, executor) for size in sizes for dialect in dialects
                   for shards in shard_counts for executor in executors]
    results = []
    for size, dialect, shards, executor in runs_wanted:
        print(f"{size.name} ({size.stores} stores x {size.days} days) on {dialect}, {shards} shard(s), {executor}",
              flush=True)
        result_path = args.cache / f"result-{size.name}-{dialect}-{shards}-{executor}.json"
        command = [sys.executable, str(Path(__file__).resolve()), "--worker", "--size", size.name,
                   "--dialect", dialect, "--cache", str(args.cache), "--pg-url", args.pg_url,
                   "--runs", str(args.runs), "--result", str(result_path), "--shard-count", str(shards),
                   "--executor", executor, "--workers", str(args.workers)]
        if args.cold_runs is not None:
            command += ["--cold-runs", str(args.cold_runs)]
        elif size.name in ("L", "XL"):
            # One cold load of the 1.4 GB L (XL) history takes minutes per dialect: once is enough.
            command += ["--cold-runs", "1"]
        if profile_phase:
            command += ["--profile-phase", profile_phase]
        subprocess.run(command, check=True)
        results.append(json.loads(result_path.read_text()))
        if profile_phase:
            print(results[-1].get("profile", ""))

    print(table_markdown(results))
    print()
    print(targets_markdown(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    if not args.no_write:
        write_results(args.out, results, args.pg_url, args.notes)
        print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
