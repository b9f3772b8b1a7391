"""The storemon code location: the one Definitions object Dagster loads."""

from dagster import Definitions

from storemon_pipeline.assets import all_assets
from storemon_pipeline.jobs import ingest_job, report_job
from storemon_pipeline.resources import StoremonFiles, WarehouseResource

defs = Definitions(
    assets=all_assets,
    jobs=[report_job, ingest_job],
    resources={"warehouse": WarehouseResource(), "files": StoremonFiles()},
)
