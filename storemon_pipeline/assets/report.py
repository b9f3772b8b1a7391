"""store_report: uptime and downtime per store and window, as a table and a CSV file."""

# No `from __future__ import annotations`: Dagster inspects the annotations of asset
# functions (context, config) as objects.

import base64
import os
import re
import time
from pathlib import Path

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)

from storemon_pipeline.assets.charts import uptime_histogram_png
from storemon_pipeline.assets.markdown import LISTED_ROWS, markdown_table
from storemon_pipeline.assets.segments import status_segments
from storemon_pipeline.core.business_time import business_intervals_utc
from storemon_pipeline.core.clock import WINDOW_SPANS_US, as_of_from_partition_key, partition_key
from storemon_pipeline.core.report import (
    business_time_by_window,
    business_time_mismatches,
    report_csv,
    store_report as compute_store_report,
    worst_stores,
)
from storemon_pipeline.partitions import report_partitions
from storemon_pipeline.resources import StoremonFiles, WarehouseResource, chart_path_of, default_api_url
from storemon_pipeline.store_pages.paths import store_page_path
from storemon_pipeline.warehouse import PartitionIncomplete, PartitionNotBuilt, SchedulesChanged, Warehouse



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


def _markdown_text(text: str) -> str:
    """Text shown as is inside a markdown table cell and link label."""
    return re.sub(r"([\\`*_\[\]<>|#])", r"\\\1", text)


def worst_stores_markdown(report: pd.DataFrame, as_of_key: str, limit: int = LISTED_ROWS) -> str:
    """The worst stores, each linked to its page on the report API (STOREMON_API_URL)."""
    api_url = default_api_url()
    lines = [
        "| store_id | downtime last week (h) | downtime last day (h) | downtime last hour (min) | uptime last week (h) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    lines += [
        f"| [{_markdown_text(r.store_id)}]({api_url}{store_page_path(r.store_id, as_of_key)}) "
        f"| {r.downtime_last_week:.2f} | {r.downtime_last_day:.2f} | {r.downtime_last_hour:.2f} "
        f"| {r.uptime_last_week:.2f} |"
        for r in worst_stores(report, limit).itertuples()
    ]
    return "\n".join(lines)


def weekly_uptime_histogram_png(report: pd.DataFrame, as_of: str) -> bytes:
    """A small PNG: how many stores were up what share of last week's business time."""
    business = report["uptime_last_week"] + report["downtime_last_week"]
    share = (100.0 * report["uptime_last_week"] / business.where(business > 0)).dropna()
    title = f"{len(share)} stores as of {as_of}; median {share.median():.1f} %" if len(share) else as_of
    return uptime_histogram_png(share.to_numpy(), title)


BUSINESS_TIME_CHECK = "business_time_adds_up"


class ReportRefused(Exception):
    """The report cannot be published as right; the message is one line, `metadata` says where."""

    def __init__(self, message: str, metadata: dict | None = None) -> None:
        super().__init__(message)
        self.metadata = metadata or {}


class ReportDoesNotAddUp(ReportRefused):
    """The blocking check failed: some row's uptime + downtime is not its window's business time."""


def build_store_report(store: Warehouse, as_of_us: int, path: Path) -> dict:
    """The asset's work: segments summed per window, checked against the business time of each
    window, then into the warehouse, the CSV and its chart; returns metadata.

    All of it under the partition's lock in one transaction: the rows and the file another
    run writes for the same partition come wholly before or after these. A report that does
    not add up raises ReportRefused and leaves the warehouse and the files as they were.
    """
    started = time.monotonic()
    key = partition_key(as_of_us)
    store_ids = store.report_store_ids(as_of_us)
    with store.report_partition(as_of_us) as partition:
        try:
            schedules = partition.normalized_schedules()
        except PartitionIncomplete as incomplete:
            raise ReportRefused(
                f"status_segments[{key}] is incomplete: {incomplete}: materialize status_segments and "
                f"store_report for {key} together (a failed shard step fails its run; re-execute it)"
            ) from None
        except PartitionNotBuilt:
            raise ReportRefused(
                f"status_segments[{key}] was never built: materialize status_segments and store_report "
                f"for {key} together (Materialize all, request_report_job or the API do)"
            ) from None
        except SchedulesChanged:
            raise ReportRefused(
                f"status_segments[{key}] was built from schedules that have changed since: "
                f"materialize status_segments and store_report for {key} together"
            ) from None
        report = compute_store_report(partition.status_segments(), store_ids, as_of_us)
        business = business_time_by_window(
            business_intervals_utc(schedules, as_of_us - WINDOW_SPANS_US["week"], as_of_us), store_ids, as_of_us
        )
        mismatches = business_time_mismatches(report, business)
        check = {"rows_checked": len(report), "mismatches": len(mismatches)}
        if len(mismatches):
            first = mismatches.iloc[0]
            raise ReportDoesNotAddUp(
                f"report {key} refused: uptime + downtime is not the business time for {mismatches['store_id'].nunique()} "
                f"stores (e.g. {first.store_id}, last {first.window}: {first.reported} reported, "
                f"{first.business} business, window {first.limit:g})",
                {**check, "examples": MetadataValue.md(markdown_table(mismatches))},
            )
        partition.write_report(report)
        write_atomically(path, report_csv(report))
        chart = weekly_uptime_histogram_png(report, key)
        chart_path = chart_path_of(path)
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
        "worst_stores": MetadataValue.md(worst_stores_markdown(report, key)),
        BUSINESS_TIME_CHECK: MetadataValue.json(check),
        "duration_s": round(time.monotonic() - started, 3),
    }


@asset(
    deps=[status_segments],
    partitions_def=report_partitions,
    group_name="report",
    description=(
        "The report as of the partition's instant: one row per store (see docs/report-semantics.md), "
        "also written as `report_{partition key}.csv`. Published only when every row's uptime + downtime "
        "is the business time of its window (blocking check business_time_adds_up)."
    ),
    check_specs=[
        AssetCheckSpec(
            BUSINESS_TIME_CHECK,
            asset="store_report",
            blocking=True,
            description=(
                "Per store and window, uptime + downtime equals the business time of the window (to the "
                "0.01 of the rounding) and never exceeds the window (60 min, 24 h, 168 h). A report failing "
                "it is not written: the warehouse, the CSV and the API keep the previous one."
            ),
        )
    ],
)
def store_report(context: AssetExecutionContext, warehouse: WarehouseResource, files: StoremonFiles):
    as_of_us = as_of_from_partition_key(context.partition_key)
    try:
        metadata = build_store_report(warehouse.open(), as_of_us, files.report_path(context.partition_key))
    except ReportDoesNotAddUp as refused:
        yield AssetCheckResult(
            check_name=BUSINESS_TIME_CHECK,
            passed=False,
            severity=AssetCheckSeverity.ERROR,
            description=str(refused),
            metadata=refused.metadata,
        )
        raise Failure(description=str(refused), metadata=refused.metadata, allow_retries=False) from None
    except ReportRefused as refused:
        raise Failure(description=str(refused), allow_retries=False) from None
    yield MaterializeResult(
        metadata=metadata,
        check_results=[
            AssetCheckResult(check_name=BUSINESS_TIME_CHECK, passed=True, metadata=metadata[BUSINESS_TIME_CHECK].value)
        ],
    )
