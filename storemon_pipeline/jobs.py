"""Jobs the UI, the schedule, the sensor and the API launch."""

from dagster import AssetSelection, define_asset_job

from storemon_pipeline.assets import all_assets, raw_assets

# Partitioned by inference from store_report: one run per as-of key, its
# unpartitioned upstream stages (ingest, schedules) refreshed in the same run.
report_job = define_asset_job(
    "report_job",
    selection=AssetSelection.assets(*all_assets),
    description="Load new CSVs, rebuild schedules, compute the report for one as-of partition.",
)

ingest_job = define_asset_job(
    "ingest_job",
    selection=AssetSelection.assets(*raw_assets),
    description="Load new CSVs into the warehouse only.",
)
