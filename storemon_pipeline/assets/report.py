"""store_report: uptime and downtime per store and window, as a table and a CSV file."""

# No `from __future__ import annotations`: Dagster inspects the annotations of asset
# functions (context, config) as objects.

import base64
import os
import time
from pathlib import Path

import pandas as pd
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from storemon_pipeline.assets.charts import uptime_histogram_png
from storemon_pipeline.assets.segments import status_segments
from storemon_pipeline.core.clock import as_of_from_partition_key, partition_key
from storemon_pipeline.core.report import report_csv, store_report as compute_store_report
from storemon_pipeline.partitions import report_partitions
from storemon_pipeline.resources import StoremonFiles, WarehouseResource
from storemon_pipeline.warehouse import Warehouse

WORST_STORES_SHOWN = 20


def write_atomically(path: Path, data: str | bytes) -> None:
    """A reader (the API, a user) sees the old file or the whole new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    if isinstance(data, str):
        partial.write_text(data, encoding="utf-8", newline="")
    else:
        partial.write_bytes(data)
    os.replace(partial, path)


def fleet_uptime_percent(report: pd.DataFrame) -> dict[str, float]:
    percent = {}
    for window in ("hour", "day", "week"):
        up = report[f"uptime_last_{window}"].sum()
        total = up + report[f"downtime_last_{window}"].sum()
        percent[window] = round(100.0 * float(up) / float(total), 2) if total else 0.0
    return percent


def worst_stores_markdown(report: pd.DataFrame, limit: int = WORST_STORES_SHOWN) -> str:
    worst = report.sort_values(["downtime_last_week", "store_id"], ascending=[False, True]).head(limit)
    lines = [
        "| store_id | downtime last week (h) | downtime last day (h) | downtime last hour (min) | uptime last week (h) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {r.store_id} | {r.downtime_last_week:.2f} | {r.downtime_last_day:.2f} | {r.downtime_last_hour:.2f} "
        f"| {r.uptime_last_week:.2f} |"
        for r in worst.itertuples()
    ]
    return "\n".join(lines)


def weekly_uptime_histogram_png(report: pd.DataFrame, as_of: str) -> bytes:
    """A small PNG: how many stores were up what share of last week's business time."""
    business = report["uptime_last_week"] + report["downtime_last_week"]
    share = (100.0 * report["uptime_last_week"] / business.where(business > 0)).dropna()
    title = f"{len(share)} stores as of {as_of}; median {share.median():.1f} %" if len(share) else as_of
    return uptime_histogram_png(share.to_numpy(), title)


def build_store_report(store: Warehouse, as_of_us: int, path: Path) -> dict:
    """The asset's work: segments summed per window, into the warehouse, the CSV and its chart; returns metadata."""
    started = time.monotonic()
    key = partition_key(as_of_us)
    segments = store.read_status_segments(as_of_us)
    report = compute_store_report(segments, store.report_store_ids(as_of_us), as_of_us)
    store.write_report(as_of_us, report)
    write_atomically(path, report_csv(report))

    chart = weekly_uptime_histogram_png(report, key)
    chart_path = path.with_name(path.stem + "_uptime_week.png")
    write_atomically(chart_path, chart)

    uptime = fleet_uptime_percent(report)
    return {
        "as_of": key,
        "rows": len(report),
        "stores": len(report),
        "rejected_rows_total": store.rows_rejected_total(),
        "report_path": MetadataValue.path(str(path)),
        # The UI renders markdown images: the histogram shows on the materialization itself.
        "uptime_week_histogram": MetadataValue.md(
            f"![weekly uptime histogram](data:image/png;base64,{base64.b64encode(chart).decode('ascii')})"
        ),
        "uptime_week_histogram_path": MetadataValue.path(str(chart_path)),
        "fleet_uptime_pct_last_hour": uptime["hour"],
        "fleet_uptime_pct_last_day": uptime["day"],
        "fleet_uptime_pct_last_week": uptime["week"],
        "worst_stores": MetadataValue.md(worst_stores_markdown(report)),
        "duration_s": round(time.monotonic() - started, 3),
    }


@asset(
    deps=[status_segments],
    partitions_def=report_partitions,
    group_name="report",
    description="The report as of the partition's instant: one row per store, SPEC.md's columns; also report_<key>.csv.",
)
def store_report(
    context: AssetExecutionContext, warehouse: WarehouseResource, files: StoremonFiles
) -> MaterializeResult:
    as_of_us = as_of_from_partition_key(context.partition_key)
    return MaterializeResult(
        metadata=build_store_report(warehouse.open(), as_of_us, files.report_path(context.partition_key))
    )
