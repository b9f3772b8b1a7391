"""`make growth`: what one day of hourly reports at 14,000 stores adds, per component, and what retention leaves.

For each dialect: the M fleet (14,000 stores, 8 days of pings; benchmarks/run.py's cache) is loaded into a fresh
warehouse and its first report built, then 24 hourly drops (one ping per store) go through the two runs the inbox
sensor launches (ingest_job, report_from_warehouse_job), in-process against a persistent Dagster instance in a
temporary DAGSTER_HOME. Sizes are taken before and after the 24 hours, per warehouse table (SQLite: dbstat pages;
PostgreSQL: pg_total_relation_size), and for the reports folder and DAGSTER_HOME.

After retention (defaults: segments 48h, reports 90d), computed from those per-report sizes: status_segments
holds 49 partitions (as-of in [newest - 48h, newest]) and stops growing after 2 days; store_report rows, the
report files and DAGSTER_HOME's runs hold 90 days x 24 reports (+1) and stop growing after 90 days; pings and
ping_days (the inputs, which retention keeps so that any pruned report can be rebuilt) keep their growth.

  python benchmarks/growth.py                          # both dialects, prints the markdown table
  python benchmarks/growth.py --dialects sqlite --json growth.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # noqa: E402

HOURS = 24
KEEP_SEGMENT_PARTITIONS = 48 + 1  # hourly as-ofs in [newest - 48h, newest]
KEEP_REPORT_PARTITIONS = 90 * 24 + 1
SEGMENT_TABLES = ("status_segments", "report_partitions")
REPORT_TABLES = ("store_report",)
PING_TABLES = ("pings", "ping_days", "stores", "ingested_files", "rejected_rows")


def table_bytes(url: str) -> dict[str, int]:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = conn.execute(
                sa.text(
                    "SELECT m.tbl_name, SUM(d.pgsize) FROM dbstat d JOIN sqlite_master m ON m.name = d.name "
                    "GROUP BY m.tbl_name"
                )
            ).all()
        else:
            rows = conn.execute(
                sa.text(
                    "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c "
                    "WHERE c.relkind = 'r' AND c.relnamespace = current_schema()::regnamespace"
                )
            ).all()
    engine.dispose()
    return {name: int(size) for name, size in rows}


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def measure(dialect: str, cache: Path, pg_url: str, reports: Path) -> dict:
    """`reports`: the same folder for every dialect, emptied first: the code location reads its path once,
    when its definitions are first imported."""
    work = Path(tempfile.mkdtemp(prefix=f"storemon-growth-{dialect}-"))
    dagster_home = work / "dagster_home"
    dagster_home.mkdir()
    shutil.rmtree(reports, ignore_errors=True)
    reports.mkdir(parents=True)
    databases = bench.Databases(dialect, work, pg_url)
    url = databases.fresh_url()
    os.environ.update({"DAGSTER_HOME": str(dagster_home), "STOREMON_DATABASE_URL": url,
                       "STOREMON_REPORTS_DIR": str(reports)})
    from dagster import DagsterInstance

    from storemon_pipeline.instance import ensure_instance_settings
    from storemon_pipeline.warehouse import Warehouse

    ensure_instance_settings(dagster_home)
    folder = bench.ensure_fleet(cache, bench.SIZES["M"])
    fleet = json.loads((folder / "fleet.json").read_text())
    warehouse = Warehouse(url)
    steps = bench.Steps()
    try:
        bench.ingest_files(warehouse, bench.input_paths(folder), steps)
        bench.report_as_of(warehouse, fleet["as_of_us"], reports, steps)
        store_ids = list(warehouse.report_store_ids(2**62))
        before = {"tables": table_bytes(url), "reports": folder_bytes(reports), "dagster_home": folder_bytes(dagster_home)}
        with DagsterInstance.get() as instance:
            for hour in range(1, HOURS + 1):
                drop = bench.write_drop(work, store_ids, fleet["as_of_us"] + (hour - 1) * 3_600_000_000, hour)
                bench.hourly_through_dagster(warehouse, drop, instance, steps)
                drop.unlink()
                print(f"  {dialect} hour {hour}", flush=True)
        after = {"tables": table_bytes(url), "reports": folder_bytes(reports), "dagster_home": folder_bytes(dagster_home)}
    finally:
        warehouse.dispose()
        for schema in list(databases.schemas):
            databases.drop(f"x%3D{schema}")
        shutil.rmtree(work, ignore_errors=True)
    return {"dialect": dialect, "stores": len(store_ids), "before": before, "after": after}


def growth_rows(result: dict) -> list[tuple[str, float, float, str]]:
    """(component, MB a day before retention, MB a day in the steady state, what retention keeps)."""
    before, after = result["before"], result["after"]

    def day(tables: tuple[str, ...]) -> float:
        return sum(after["tables"].get(t, 0) - before["tables"].get(t, 0) for t in tables) / 2**20

    other_tables = tuple(t for t in after["tables"] if t not in SEGMENT_TABLES + REPORT_TABLES + PING_TABLES)
    segments, report_rows, pings, other = day(SEGMENT_TABLES), day(REPORT_TABLES), day(PING_TABLES), day(other_tables)
    files = (after["reports"] - before["reports"]) / 2**20
    home = (after["dagster_home"] - before["dagster_home"]) / 2**20
    per_report = lambda mb_a_day: mb_a_day / HOURS  # noqa: E731
    return [
        ("status_segments", segments, 0.0, f"{KEEP_SEGMENT_PARTITIONS} partitions: {per_report(segments) * KEEP_SEGMENT_PARTITIONS:,.0f} MB"),
        ("store_report rows", report_rows, 0.0, f"90 days: {per_report(report_rows) * KEEP_REPORT_PARTITIONS:,.0f} MB"),
        ("pings + ping_days (inputs, kept)", pings, pings, "grows: a year adds " f"{pings * 365 / 1024:,.1f} GB"),
        ("other tables", other, other, ""),
        ("warehouse total", segments + report_rows + pings + other, pings + other, ""),
        ("reports folder (CSV + chart)", files, 0.0, f"90 days: {per_report(files) * KEEP_REPORT_PARTITIONS / 1024:,.2f} GB"),
        ("DAGSTER_HOME (runs, events, logs)", home, 0.0, f"90 days: {per_report(home) * KEEP_REPORT_PARTITIONS / 1024:,.2f} GB"),
        ("dynamic partitions (count a day)", 24, 0, f"{KEEP_REPORT_PARTITIONS:,} keys"),
    ]


def table_markdown(results: list[dict]) -> str:
    lines = ["| component | dialect | MB a day, no retention | MB a day, after retention | held in the steady state |",
             "| --- | --- | ---: | ---: | --- |"]
    for result in results:
        for name, before, after, held in growth_rows(result):
            lines.append(f"| {name} | {result['dialect']} | {before:,.1f} | {after:,.1f} | {held} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dialects", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--cache", type=Path, default=bench.DEFAULT_CACHE)
    parser.add_argument("--pg-url", default=bench.DEFAULT_PG_URL)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    reports = Path(tempfile.mkdtemp(prefix="storemon-growth-reports-"))
    try:
        results = [measure(dialect, args.cache, args.pg_url, reports) for dialect in args.dialects]
    finally:
        shutil.rmtree(reports, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    print(table_markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
