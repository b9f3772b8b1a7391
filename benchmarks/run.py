"""`make bench`: time the report pipeline at fleet size, per phase, on SQLite and PostgreSQL.

Sizes (simulated with storemon_pipeline.simulate, cached under --cache, default /tmp/storemon-bench):
  S = 1,000 stores x 8 days, M = 14,000 stores x 8 days (~2.7 M pings), L = 14,000 stores x 80 days (10 x M history).

Phases, each timed over --runs runs (median reported), each size x dialect in a fresh subprocess:
  cold_ingest   the three CSVs into an empty warehouse (a new SQLite file / a new PostgreSQL schema per run):
                peek_kind + parse_csv_file + Warehouse.ingest, exactly what the raw assets call.
  report        a report for a new as-of (T, T-1 min, T-2 min) from the loaded warehouse: the bodies of
                normalized_schedules, status_segments and store_report (reads, core, writes, the CSV file).
  hourly        the steady state: a drop of one new ping per store (T+1 h, T+2 h, T+3 h), ingested, then the
                report partition as of the newest ping (what the inbox sensor + warehouse_report_job run).

"Asset compute time": the same calls the asset functions make, in-process, without Dagster's run machinery
(an in-process `materialize` with a shared ephemeral instance adds about 0.15 s per run; `--dagster` measures it).
Peak RSS per phase: the process's VmHWM, reset before each phase through /proc/self/clear_refs.

  python benchmarks/run.py                       # S, M, L on SQLite and PostgreSQL, writes benchmarks/results.md
  python benchmarks/run.py --sizes S --dialects sqlite --no-write
  python benchmarks/run.py --profile M:sqlite:cold_ingest   # pyinstrument of one phase
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


SIZES = {"S": Size("S", 1_000, 8), "M": Size("M", 14_000, 8), "L": Size("L", 14_000, 80)}
PHASES = ("cold_ingest", "report", "hourly")
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
    """assets.raw.ingest_csv_files, with parse and load timed apart; returns rows loaded."""
    from storemon_pipeline.assets.raw import now_us
    from storemon_pipeline.core.inputs import parse_csv_file, peek_kind

    rows = 0
    for path in sorted(paths, key=lambda p: p.name):
        peek_kind(path)
        ingested_at_us = now_us()
        with steps.step(f"parse {path.stem}"):
            parsed = parse_csv_file(path, ingested_at_us)
        with steps.step(f"load {path.stem}"):
            result = warehouse.ingest(parsed, ingested_at_us)
        rows += result.rows_loaded + result.rows_rejected
        del parsed
    return rows


def report_as_of(warehouse, as_of_us: int, reports_dir: Path, steps: Steps) -> int:
    """The bodies of normalized_schedules, status_segments and store_report; returns evidence-window pings."""
    from storemon_pipeline.assets.report import write_atomically
    from storemon_pipeline.assets.schedules import EVERY_PING_US
    from storemon_pipeline.core.clock import EVIDENCE_SPAN_US, partition_key
    from storemon_pipeline.core.report import report_csv, store_report
    from storemon_pipeline.core.schedules import normalize_schedules
    from storemon_pipeline.core.segments import status_segments

    with steps.step("normalized_schedules"):
        schedules = normalize_schedules(
            warehouse.read_business_hours(), warehouse.read_timezones(), warehouse.report_store_ids(EVERY_PING_US)
        )
        warehouse.write_normalized_schedules(schedules)
    with steps.step("segments: read"):
        store_ids = set(warehouse.report_store_ids(as_of_us))
        schedules = warehouse.read_normalized_schedules()
        schedules = schedules[schedules["store_id"].isin(store_ids)]
        pings = warehouse.read_pings(as_of_us - EVIDENCE_SPAN_US, as_of_us)
    with steps.step("segments: compute"):
        segments = status_segments(schedules, pings, as_of_us)
    with steps.step("segments: write"):
        warehouse.write_status_segments(as_of_us, segments)
    with steps.step("store_report"):
        segments = warehouse.read_status_segments(as_of_us)
        report = store_report(segments, warehouse.report_store_ids(as_of_us), as_of_us)
        warehouse.write_report(as_of_us, report)
        write_atomically(reports_dir / f"report_{partition_key(as_of_us)}.csv", report_csv(report))
    return len(pings)


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


def run_worker(args: argparse.Namespace) -> dict:
    # Imports first (dagster alone takes over a second): a phase is timed, not a module load.
    import storemon_pipeline.assets.raw  # noqa: F401
    import storemon_pipeline.assets.report  # noqa: F401
    import storemon_pipeline.assets.schedules  # noqa: F401
    import storemon_pipeline.core.plain_pings  # noqa: F401
    import storemon_pipeline.core.segments  # noqa: F401
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
                    "fleet": fleet, "phases": {}}

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
        print(f"  {size.name} {args.dialect} {phase} run {run_index + 1}: {seconds:.2f} s, "
              f"peak RSS {peak_rss_mb():.0f} MB", flush=True)

    runs = {phase: args.runs for phase in PHASES}
    if args.cold_runs is not None:
        runs["cold_ingest"] = args.cold_runs
    try:
        url = None
        for run_index in range(runs["cold_ingest"]):
            if url is not None:
                databases.drop(url)
            url = databases.fresh_url()
            warehouse = Warehouse(url)
            measure("cold_ingest", run_index, lambda steps: ingest_files(warehouse, input_paths(folder), steps))
            if run_index < runs["cold_ingest"] - 1:
                warehouse.dispose()
        # The last cold-ingested warehouse is the loaded one the other phases use.
        for run_index in range(runs["report"]):
            measure("report", run_index,
                    lambda steps: report_as_of(warehouse, as_of_us - run_index * 60_000_000, work / "reports", steps))
        store_ids = list(warehouse.report_store_ids(2**62))
        from storemon_pipeline.core.clock import latest_report_as_of_us

        for run_index in range(runs["hourly"]):
            drop = write_drop(work, store_ids, as_of_us + run_index * 3_600_000_000, run_index + 1)

            def hourly(steps: Steps) -> int:
                rows = ingest_files(warehouse, [drop], steps)
                with steps.step("latest_ping_us"):
                    latest_us = latest_report_as_of_us(warehouse.latest_ping_us())
                report_as_of(warehouse, latest_us, work / "reports", steps)
                return rows

            measure("hourly", run_index, hourly)
        if args.dagster:
            result["dagster_overhead"] = measure_dagster_overhead(warehouse, url, as_of_us, work)
        warehouse.dispose()
    finally:
        for schema_url in list(databases.schemas):
            databases.drop(f"x%3D{schema_url}")
        shutil.rmtree(work, ignore_errors=True)
    result["process_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def measure_dagster_overhead(warehouse, url: str, as_of_us: int, work: Path) -> dict:
    """The same report through in-process `materialize` (shared ephemeral instance) vs the direct calls."""
    from dagster import DagsterInstance, materialize

    from storemon_pipeline.assets import normalized_schedules, status_segments, store_report
    from storemon_pipeline.core.clock import partition_key
    from storemon_pipeline.partitions import report_partitions
    from storemon_pipeline.resources import StoremonFiles, WarehouseResource

    instance = DagsterInstance.ephemeral()
    resources = {"warehouse": WarehouseResource(database_url=url),
                 "files": StoremonFiles(reports_dir=str(work / "reports"), data_dir=str(work))}
    dagster_s, direct_s = [], []
    for k in range(3):
        key = partition_key(as_of_us - (10 + k) * 60_000_000)
        instance.add_dynamic_partitions(report_partitions.name, [key])
        started = time.perf_counter()
        materialize([normalized_schedules, status_segments, store_report], resources=resources, partition_key=key,
                    instance=instance, raise_on_error=True,
                    run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}})
        dagster_s.append(time.perf_counter() - started)
        started = time.perf_counter()
        report_as_of(warehouse, as_of_us - (20 + k) * 60_000_000, work / "reports", Steps())
        direct_s.append(time.perf_counter() - started)
    return {"materialize_s": statistics.median(dagster_s), "direct_s": statistics.median(direct_s)}


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
    lines = ["| size | dialect | phase | rows | median s | runs (s) | peak RSS MB |",
             "| --- | --- | --- | ---: | ---: | --- | ---: |"]
    for r in results:
        for phase in PHASES:
            entry = r["phases"].get(phase)
            if not entry:
                continue
            runs = ", ".join(f"{s:.2f}" for s in entry["seconds"])
            lines.append(f"| {r['size']} | {r['dialect']} | {phase} | {entry['rows']:,} | {median(entry['seconds']):.2f} "
                         f"| {runs} | {max(entry['rss_mb']):.0f} |")
    return "\n".join(lines)


def steps_markdown(results: list[dict]) -> str:
    lines = ["| size | dialect | phase | step | median s |", "| --- | --- | --- | --- | ---: |"]
    for r in results:
        for phase in PHASES:
            entry = r["phases"].get(phase)
            if not entry:
                continue
            for name, values in entry["steps"].items():
                lines.append(f"| {r['size']} | {r['dialect']} | {phase} | {name} | {median(values):.2f} |")
    return "\n".join(lines)


def targets_markdown(results: list[dict]) -> str:
    by = {(r["size"], r["dialect"]): r for r in results}

    def med(size: str, dialect: str, phase: str) -> float | None:
        entry = by.get((size, dialect), {}).get("phases", {}).get(phase)
        return median(entry["seconds"]) if entry else None

    lines = ["| target | dialect | measured | met |", "| --- | --- | ---: | --- |"]
    for dialect in ("sqlite", "postgresql"):
        cold, report, hourly = (med("M", dialect, p) for p in PHASES)
        if cold is not None and report is not None:
            limit = TARGETS_M[dialect]["cold_ingest+report"]
            total = cold + report
            lines.append(f"| M cold ingest + report <= {limit:.0f} s | {dialect} | {total:.2f} s | "
                         f"{'yes' if total <= limit else 'NO'} |")
        if report is not None:
            lines.append(f"| M report for a new as-of <= {TARGET_REPORT_S:.0f} s | {dialect} | {report:.2f} s | "
                         f"{'yes' if report <= TARGET_REPORT_S else 'NO'} |")
        if hourly is not None:
            lines.append(f"| M hourly steady state <= {TARGET_HOURLY_S:.0f} s | {dialect} | {hourly:.2f} s | "
                         f"{'yes' if hourly <= TARGET_HOURLY_S else 'NO'} |")
        for phase in ("report", "hourly"):
            m, big = med("M", dialect, phase), med("L", dialect, phase)
            if m and big is not None:
                ratio = big / m
                lines.append(f"| L {phase} <= {TARGET_L_RATIO} x M | {dialect} | {ratio:.2f} x ({big:.2f} s) | "
                             f"{'yes' if ratio <= TARGET_L_RATIO else 'NO'} |")
        if (("L", dialect)) in by:
            for phase in PHASES:
                entry = by[("L", dialect)]["phases"].get(phase)
                if entry:
                    rss = max(entry["rss_mb"])
                    lines.append(f"| L peak RSS ({phase}) < {TARGET_RSS_MB} MB | {dialect} | {rss:.0f} MB | "
                                 f"{'yes' if rss < TARGET_RSS_MB else 'NO'} |")
    return "\n".join(lines)


def write_results(path: Path, results: list[dict], pg_url: str, notes_path: Path) -> None:
    dagster = [r["dagster_overhead"] for r in results if "dagster_overhead" in r]
    parts = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`benchmarks/run.py`); rerun it to refresh. Times are *asset compute time*: the calls",
        "the asset functions make (parse_csv_file + Warehouse.ingest; normalize_schedules + its reads and write;",
        "read_pings + status_segments + write; store_report + write + the report CSV), in-process, without Dagster's",
        "run machinery and without process start (`import dagster` alone is about 1.4 s).",
        "",
        "## Machine",
        "",
        *machine_description(pg_url),
        "",
        "## Results (median of the runs listed)",
        "",
        "- **cold_ingest**: the three CSVs into an empty warehouse; rows = rows of the three files.",
        "- **report**: a new as-of partition from the loaded warehouse (normalized_schedules, status_segments,",
        "  store_report); rows = pings in the 8-day evidence window.",
        "- **hourly**: one new ping per store ingested, then the report as of the newest ping; rows = rows of the drop.",
        "- peak RSS = the process's high-water mark during that phase (VmHWM reset before each phase).",
        "",
        table_markdown(results),
        "",
        "## Targets (issue 5)",
        "",
        targets_markdown(results),
        "",
    ]
    if dagster:
        d = dagster[0]
        parts += [f"Dagster overhead, measured at S: an in-process `materialize` of the three report assets with a "
                  f"shared ephemeral instance took {d['materialize_s']:.2f} s against {d['direct_s']:.2f} s for the "
                  f"same calls made directly (median of 3): about {d['materialize_s'] - d['direct_s']:.2f} s per run.",
                  ""]
    parts += ["## Steps inside each phase (median s)", "", steps_markdown(results), ""]
    if notes_path.exists():
        parts += [notes_path.read_text().rstrip(), ""]
    path.write_text("\n".join(parts))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="S,M,L")
    parser.add_argument("--dialects", default="sqlite,postgresql")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cold-runs", type=int, default=None,
                        help="runs of cold_ingest (default --runs; 1 for L, whose cold load takes minutes)")
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
    parser.add_argument("--profile-phase", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--dagster", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
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

    results = []
    for size in sizes:
        for dialect in dialects:
            print(f"{size.name} ({size.stores} stores x {size.days} days) on {dialect}", flush=True)
            result_path = args.cache / f"result-{size.name}-{dialect}.json"
            command = [sys.executable, str(Path(__file__).resolve()), "--worker", "--size", size.name,
                       "--dialect", dialect, "--cache", str(args.cache), "--pg-url", args.pg_url,
                       "--runs", str(args.runs), "--result", str(result_path)]
            if args.cold_runs is not None:
                command += ["--cold-runs", str(args.cold_runs)]
            elif size.name == "L":
                # One cold load of the 1.4 GB L history takes minutes per dialect: once is enough.
                command += ["--cold-runs", "1"]
            if profile_phase:
                command += ["--profile-phase", profile_phase]
            if size.name == "S" and dialect == "sqlite" and not profile_phase:
                command.append("--dagster")
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
