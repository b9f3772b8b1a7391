"""Asset checks: what a person should look at after a run, data quality first, then the business signal.

All checks but business_time_adds_up are non-blocking (they never stop the report), and each says in its metadata
which rows, files or stores made it fail.

| check | asset | fails when | severity |
| --- | --- | --- | --- |
| rejected_rows | raw_pings, raw_business_hours, raw_timezones | the run kept rows aside (emitted by raw_inputs itself) | WARN; ERROR when > 5 % of a file |
| files_recognised | raw_pings | a file of no known kind was given to the run (emitted by raw_inputs itself) | ERROR |
| zones_valid | normalized_schedules | more stores than at the previous build have no zone or an unknown one (America/Chicago assumed) | WARN |
| business_hours_sane | normalized_schedules | more stores than at the previous build have overlapping openings or start = end rows (24 h) | WARN |
| business_time_adds_up | store_report | (blocking, run in the asset) a row's uptime + downtime is not its window's business time | ERROR: not published |
| data_fresh | store_report | no ping in the 2 h before the report's as-of | ERROR |
| downtime_last_day | store_report | stores down more than STOREMON_DOWNTIME_ALERT_HOURS (default 2) in the last day | WARN |
"""

# No `from __future__ import annotations`: Dagster inspects check function annotations as objects.

import os
from collections.abc import Sequence

import pandas as pd
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetChecksDefinition,
    MetadataValue,
    asset_check,
)

from storemon_pipeline.assets.markdown import LISTED_ROWS, markdown_table
from storemon_pipeline.assets.report import store_report
from storemon_pipeline.assets.schedules import normalized_schedules
from storemon_pipeline.core.clock import US_PER_HOUR, as_of_from_partition_key, partition_key
from storemon_pipeline.core.quality import stores_over_downtime
from storemon_pipeline.partitions import report_partitions
from storemon_pipeline.resources import WarehouseResource

FRESHNESS_LIMIT_US = 2 * US_PER_HOUR
DEFAULT_DOWNTIME_ALERT_HOURS = 2.0


def downtime_alert_hours() -> float:
    """STOREMON_DOWNTIME_ALERT_HOURS: downtime_last_day above this is a business alert (default 2 h)."""
    return float(os.getenv("STOREMON_DOWNTIME_ALERT_HOURS") or DEFAULT_DOWNTIME_ALERT_HOURS)


# -- schedules ------------------------------------------------------------------------------------


def schedule_findings_or_none(warehouse: WarehouseResource) -> dict | None:
    """The findings stored with the last normalized_schedules build (computed once per build, not per check)."""
    built = warehouse.open().normalized_schedules_build()
    return None if built is None else built.summary["findings"]


NOT_BUILT = AssetCheckResult(
    passed=False, severity=AssetCheckSeverity.WARN, description="normalized_schedules has not been built yet"
)


def _growth(findings: dict, name: str) -> int:
    # Builds stored before growth was recorded count as a baseline.
    return int(findings.get("new_since_previous_build", {}).get(name, 0))


@asset_check(
    asset=normalized_schedules,
    blocking=False,
    description=(
        "Stores with no time zone, or only an unknown zone name, read in America/Chicago. A standing fact of "
        "real exports: WARN only when more stores lack a zone than at the previous schedules build."
    ),
)
def zones_valid(context: AssetCheckExecutionContext, warehouse: WarehouseResource) -> AssetCheckResult:
    findings = schedule_findings_or_none(warehouse)
    if findings is None:
        return NOT_BUILT
    missing, new = findings["stores_without_valid_zone"], _growth(findings, "stores_without_valid_zone")
    return AssetCheckResult(
        passed=not new,
        severity=AssetCheckSeverity.WARN,
        description=(
            f"{new} more stores without a valid zone since the previous build; {missing} of {findings['stores']} "
            "in all (America/Chicago assumed)"
        ),
        metadata={
            "stores_without_valid_zone": missing,
            "new_since_previous_build": new,
            "stores": findings["stores"],
            "rows_rejected_for_unknown_zone": findings["rows_rejected_for_unknown_zone"],
            "examples": MetadataValue.md(", ".join(findings["stores_without_valid_zone_examples"]) or "(none)"),
        },
    )


@asset_check(
    asset=normalized_schedules,
    blocking=False,
    description=(
        "A store's weekly openings that overlap each other (their union counts), or rows with start = end "
        "(24 h). Standing facts of real exports: WARN only when more stores have them than at the previous build."
    ),
)
def business_hours_sane(context: AssetCheckExecutionContext, warehouse: WarehouseResource) -> AssetCheckResult:
    findings = schedule_findings_or_none(warehouse)
    if findings is None:
        return NOT_BUILT
    overlaps, zero, stores = (
        findings["overlapping_openings"], findings["start_equals_end_rows"], findings["stores_with_odd_hours"]
    )
    new = _growth(findings, "stores_with_odd_hours")
    return AssetCheckResult(
        passed=not new,
        severity=AssetCheckSeverity.WARN,
        description=(
            f"{new} more stores with overlapping or 24 h rows since the previous build; in all {overlaps} "
            f"overlapping openings, {zero} rows with start = end, in {stores} stores"
        ),
        metadata={
            "overlapping_openings": overlaps,
            "start_equals_end_rows": zero,
            "stores_affected": stores,
            "new_since_previous_build": new,
            "overlaps": MetadataValue.md(
                markdown_table(pd.DataFrame(findings["overlapping_openings_examples"]), total=overlaps)
            ),
            "start_equals_end": MetadataValue.md(
                markdown_table(pd.DataFrame(findings["start_equals_end_examples"]), total=zero)
            ),
        },
    )


# -- the report -----------------------------------------------------------------------------------


@asset_check(
    asset=store_report,
    partitions_def=report_partitions,
    blocking=False,
    description="The newest ping at or before the report's as-of is at most 2 hours older than it.",
)
def data_fresh(context: AssetCheckExecutionContext, warehouse: WarehouseResource) -> AssetCheckResult:
    as_of_us = as_of_from_partition_key(context.partition_key)
    # One indexed max, not the window's pings: at 140,000 stores those are millions of rows.
    newest_us = warehouse.open().latest_ping_us(at_or_before_us=as_of_us)
    metadata = {"as_of": context.partition_key}
    if newest_us is not None and newest_us >= as_of_us - FRESHNESS_LIMIT_US:
        metadata["newest_ping"] = partition_key(newest_us)
        metadata["age_minutes"] = round((as_of_us - newest_us) / 60e6, 1)
        return AssetCheckResult(
            passed=True, description=f"newest ping {metadata['age_minutes']} min before as-of", metadata=metadata
        )
    if newest_us is not None:
        metadata["newest_ping"] = partition_key(newest_us)
        metadata["age_hours"] = round((as_of_us - newest_us) / US_PER_HOUR, 2)
    return AssetCheckResult(
        passed=False,
        severity=AssetCheckSeverity.ERROR,
        description="no ping in the 2 hours before the as-of: the report's last hour is guesswork",
        metadata=metadata,
    )


@asset_check(
    asset=store_report,
    partitions_def=report_partitions,
    blocking=False,
    description=(
        "Business signal: stores whose downtime_last_day exceeds STOREMON_DOWNTIME_ALERT_HOURS "
        f"(default {DEFAULT_DOWNTIME_ALERT_HOURS:g} h); lists the worst {LISTED_ROWS}."
    ),
)
def downtime_last_day(context: AssetCheckExecutionContext, warehouse: WarehouseResource) -> AssetCheckResult:
    threshold = downtime_alert_hours()
    report = warehouse.open().read_report(as_of_from_partition_key(context.partition_key))
    over = stores_over_downtime(report, threshold)
    shown = over[["store_id", "downtime_last_day", "uptime_last_day", "downtime_last_week", "downtime_last_hour"]]
    return AssetCheckResult(
        passed=over.empty,
        severity=AssetCheckSeverity.WARN,
        description=f"{len(over)} of {len(report)} stores down more than {threshold:g} h in the last day",
        metadata={
            "as_of": context.partition_key,
            "threshold_hours": threshold,
            "stores_over_threshold": len(over),
            "stores": len(report),
            "worst_stores": MetadataValue.md(markdown_table(shown)),
        },
    )


all_checks: Sequence[AssetChecksDefinition] = [
    zones_valid,
    business_hours_sane,
    data_fresh,
    downtime_last_day,
]
