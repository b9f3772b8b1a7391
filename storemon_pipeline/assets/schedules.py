"""normalized_schedules: every known store's weekly opening rows, zone resolved."""

# No `from __future__ import annotations`: Dagster inspects the annotations of asset
# functions (context, config) as objects.

import time

from dagster import AssetExecutionContext, DataVersion, MaterializeResult, asset

from storemon_pipeline.assets.markdown import LISTED_ROWS
from storemon_pipeline.assets.raw import RAW_KEYS
from storemon_pipeline.core.values import known_zone_names
from storemon_pipeline.core.quality import findings_growth, schedule_findings
from storemon_pipeline.core.schedules import normalize_schedules
from storemon_pipeline.resources import WarehouseResource
from storemon_pipeline.warehouse import Warehouse

# report_store_ids(as_of) with an as-of past every ping: all stores ever seen.
EVERY_PING_US = 2**62
# Bump when normalize_schedules or schedule_findings give other output for the same inputs:
# a warehouse built by the previous rules is then rebuilt on the next run.
RULES_VERSION = 1


def build_normalized_schedules(store: Warehouse) -> tuple[dict, str]:
    """The asset's work: rebuild the table if its inputs changed since the last build; (metadata, data version).

    Hours and zones change a few times a year while reports run every hour, so an unchanged
    build (no hours or zones file loaded, no new store since) is reused instead of rewritten.
    """
    started = time.monotonic()
    # Read before the inputs: a file loaded meanwhile makes the stored version stale, never wrong.
    version = f"rules-{RULES_VERSION}/{store.schedule_inputs_version()}"
    built = store.normalized_schedules_build()
    rebuilt = built is None or built.version != version
    if rebuilt:
        hours = store.read_business_hours()
        zones = store.read_timezones()
        schedules = normalize_schedules(hours, zones, store.report_store_ids(EVERY_PING_US))
        n_stores = int(schedules["store_id"].nunique())
        findings = {
            **schedule_findings(hours, zones, schedules, known_zone_names(), LISTED_ROWS),
            "rows_rejected_for_unknown_zone": store.count_rejected_rows("unknown zone name"),
        }
        findings["new_since_previous_build"] = findings_growth(built.summary["findings"] if built else None, findings)
        summary = {
            "rows": len(schedules),
            "stores": n_stores,
            "stores_open_24x7": n_stores - int(hours["store_id"].nunique()),
            "stores_default_zone": n_stores - int(zones["store_id"].isin(schedules["store_id"]).sum()),
            "findings": findings,
        }
        store.write_normalized_schedules(schedules, version=version, summary=summary)
    else:
        summary = built.summary
    metadata = {name: value for name, value in summary.items() if name != "findings"}
    metadata.update(rebuilt=rebuilt, inputs_version=version, duration_s=round(time.monotonic() - started, 3))
    return metadata, version


@asset(
    deps=list(RAW_KEYS.values()),
    group_name="schedules",
    description=(
        "Per store: zone (America/Chicago when missing), weekly openings with the end-of-day, overnight and 24 h rules of docs/report-semantics.md, 24x7 when no hours. "
        "Rebuilt only when an hours or zones file, or a new store, arrived since the last build."
    ),
)
def normalized_schedules(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
    metadata, version = build_normalized_schedules(warehouse.open())
    return MaterializeResult(metadata=metadata, data_version=DataVersion(version))
