"""The report's partitions: one per as-of instant, keyed like 2023-01-25T18:13:23Z."""

from dagster import DynamicPartitionsDefinition

from storemon_pipeline.core.clock import latest_report_as_of_us, partition_key
from storemon_pipeline.warehouse import Warehouse

report_partitions = DynamicPartitionsDefinition(name="report_ts")


def latest_report_partition_key(warehouse: Warehouse) -> str | None:
    """The partition key of the latest report (newest ping rounded up to the second), None with no pings."""
    latest_us = warehouse.latest_ping_us()
    return None if latest_us is None else partition_key(latest_report_as_of_us(latest_us))
