"""SQL lives here and nowhere above: schema, bulk load and reads for SQLite and PostgreSQL."""

from storemon_pipeline.warehouse.engine import (
    WarehouseUnavailable,
    WarehouseUrlError,
    create_database_if_missing,
    create_schema_if_missing,
    drop_database_if_exists,
    validate_database_url,
)
from storemon_pipeline.warehouse.segment_shards import BuildSuperseded, ShardsMissing
from storemon_pipeline.warehouse.warehouse import (
    IngestResult,
    PartitionIncomplete,
    PartitionNotBuilt,
    SchedulesChanged,
    Warehouse,
)

__all__ = [
    "IngestResult",
    "PartitionIncomplete",
    "PartitionNotBuilt",
    "SchedulesChanged",
    "BuildSuperseded",
    "ShardsMissing",
    "Warehouse",
    "WarehouseUnavailable",
    "WarehouseUrlError",
    "create_database_if_missing",
    "create_schema_if_missing",
    "drop_database_if_exists",
    "validate_database_url",
]
