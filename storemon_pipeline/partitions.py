"""The report's partitions: one per as-of instant, keyed like 2023-01-25T18:13:23Z."""

from dagster import DynamicPartitionsDefinition

report_partitions = DynamicPartitionsDefinition(name="report_ts")
