"""status_segments: each store's last-week business time cut into runs of one status."""

# No `from __future__ import annotations`: Dagster inspects the annotations of asset
# functions (context, config) as objects.

import time

from dagster import AssetExecutionContext, Failure, MaterializeResult, asset

from storemon_pipeline.assets.raw import RAW_KEYS
from storemon_pipeline.assets.schedules import normalized_schedules
from storemon_pipeline.core.inputs import PINGS
from storemon_pipeline.core.clock import EVIDENCE_SPAN_US, US_PER_HOUR, as_of_from_partition_key, partition_key
from storemon_pipeline.core.segments import ACTIVE, UNKNOWN, status_segments as compute_status_segments
from storemon_pipeline.partitions import report_partitions
from storemon_pipeline.resources import WarehouseResource
from storemon_pipeline.warehouse import Warehouse


def build_status_segments(store: Warehouse, as_of_us: int) -> dict:
    """The asset's work: schedules and window pings through the core, segments into the warehouse; returns metadata."""
    started = time.monotonic()
    store_ids = set(store.report_store_ids(as_of_us))
    # The build's version before its rows: a rebuild in between makes store_report refuse, never sum wrong.
    build = store.normalized_schedules_build()
    if build is None:
        raise Failure("normalized_schedules was never built: materialize normalized_schedules first (the report jobs do).")
    schedules = store.read_normalized_schedules()
    missing = store_ids - set(schedules["store_id"].unique())
    if missing:
        raise Failure(
            f"{len(missing)} stores have pings but no normalized schedule (e.g. {sorted(missing)[0]}): "
            "materialize normalized_schedules first (the report jobs do)."
        )
    schedules = schedules[schedules["store_id"].isin(store_ids)]
    pings = store.read_pings(as_of_us - EVIDENCE_SPAN_US, as_of_us)
    segments = compute_status_segments(schedules, pings, as_of_us)
    store.write_status_segments(as_of_us, segments, schedules_version=build.version)

    hours = (segments["end_us"] - segments["start_us"]) / US_PER_HOUR
    status = segments["status"]
    return {
        "as_of": partition_key(as_of_us),
        "segments": len(segments),
        "stores": len(store_ids),
        "evidence_window_pings": len(pings),
        "stores_without_evidence": int(
            segments["store_id"].nunique() - segments.loc[status != UNKNOWN, "store_id"].nunique()
        ),
        "business_hours_active": round(float(hours[status == ACTIVE].sum()), 2),
        "business_hours_total": round(float(hours.sum()), 2),
        "duration_s": round(time.monotonic() - started, 3),
    }


@asset(
    deps=[normalized_schedules, RAW_KEYS[PINGS]],
    partitions_def=report_partitions,
    group_name="report",
    description="Per store, business time in [T-7d, T] as maximal (start, end, status) runs; no evidence = unknown (down).",
)
def status_segments(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
    as_of_us = as_of_from_partition_key(context.partition_key)
    return MaterializeResult(metadata=build_status_segments(warehouse.open(), as_of_us))
