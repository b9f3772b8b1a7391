"""normalized_schedules: every known store's weekly opening rows, zone resolved."""

# No `from __future__ import annotations`: Dagster inspects the annotations of asset
# functions (context, config) as objects.

import time

from dagster import AssetExecutionContext, MaterializeResult, asset

from storemon_pipeline.assets.raw import raw_business_hours, raw_pings, raw_timezones
from storemon_pipeline.core.schedules import normalize_schedules
from storemon_pipeline.resources import WarehouseResource

# report_store_ids(as_of) with an as-of past every ping: all stores ever seen.
EVERY_PING_US = 2**62


@asset(
    deps=[raw_pings, raw_business_hours, raw_timezones],
    group_name="schedules",
    description="Per store: zone (America/Chicago when missing), weekly openings with SPEC's end rules, 24x7 when no hours.",
)
def normalized_schedules(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
    started = time.monotonic()
    store = warehouse.open()
    hours = store.read_business_hours()
    zones = store.read_timezones()
    store_ids = store.report_store_ids(EVERY_PING_US)
    schedules = normalize_schedules(hours, zones, store_ids)
    store.write_normalized_schedules(schedules)
    n_stores = int(schedules["store_id"].nunique())
    return MaterializeResult(
        metadata={
            "rows": len(schedules),
            "stores": n_stores,
            "stores_open_24x7": n_stores - int(hours["store_id"].nunique()),
            "stores_default_zone": n_stores - int(zones["store_id"].isin(schedules["store_id"]).sum()),
            "duration_s": round(time.monotonic() - started, 3),
        }
    )
