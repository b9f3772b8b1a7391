"""store_report: uptime and downtime per store and window, as a table and a CSV file."""

# No `from __future__ import annotations`: Dagster inspects the annotations of asset
# functions (context, config) as objects.

import base64
import os
import time
from pathlib import Path

import pandas as pd
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from storemon_pipeline.assets.segments import status_segments
from storemon_pipeline.core.clock import as_of_from_partition_key
from storemon_pipeline.core.report import report_csv, store_report as compute_store_report
from storemon_pipeline.partitions import report_partitions
from storemon_pipeline.resources import StoremonFiles, WarehouseResource

WORST_STORES_SHOWN = 20


def write_atomically(path: Path, text: str) -> None:
    """A reader (the API, a user) sees the old file or the whole new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8", newline="")
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
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    business = report["uptime_last_week"] + report["downtime_last_week"]
    share = (100.0 * report["uptime_last_week"] / business.where(business > 0)).dropna()
    figure = Figure(figsize=(6, 2.6), dpi=80)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.hist(share, bins=range(0, 105, 5), color="#4f7cac", edgecolor="white")
    axes.set_xlim(0, 100)
    axes.set_xlabel("uptime, % of last week's business hours")
    axes.set_ylabel("stores")
    axes.set_title(f"{len(share)} stores as of {as_of}; median {share.median():.1f} %" if len(share) else as_of,
                   fontsize=10)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def write_bytes_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(data)
    os.replace(partial, path)


@asset(
    deps=[status_segments],
    partitions_def=report_partitions,
    group_name="report",
    description="The report as of the partition's instant: one row per store, SPEC.md's columns; also report_<key>.csv.",
)
def store_report(
    context: AssetExecutionContext, warehouse: WarehouseResource, files: StoremonFiles
) -> MaterializeResult:
    started = time.monotonic()
    as_of_us = as_of_from_partition_key(context.partition_key)
    store = warehouse.open()
    segments = store.read_status_segments(as_of_us)
    report = compute_store_report(segments, store.report_store_ids(as_of_us), as_of_us)
    store.write_report(as_of_us, report)
    path = files.report_path(context.partition_key)
    write_atomically(path, report_csv(report))

    chart = weekly_uptime_histogram_png(report, context.partition_key)
    chart_path = path.with_name(path.stem + "_uptime_week.png")
    write_bytes_atomically(chart_path, chart)

    uptime = fleet_uptime_percent(report)
    return MaterializeResult(
        metadata={
            "as_of": context.partition_key,
            "rows": len(report),
            "stores": len(report),
            "rejected_rows_total": int(store.ingested_files()["rows_rejected"].sum()),
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
    )
