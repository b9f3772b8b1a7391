"""What launches runs unattended: one module each.

- `inbox_sensor`: CSVs dropped into the inbox are ingested once each, then their report requested.
  Its decisions are a pure function in `inbox` (no Dagster), tested without an instance.
- `hourly_schedule`: every hour, the report as of the newest ping when there is a newer one.
- `request_sensor`: the report run for the key a request_report_job run resolved (the UI's button).
- `retention_schedule`: every day, old report partitions pruned (retention_job).
- `run_requests`: the run requests and instance look-ups the three share.
"""

from storemon_pipeline.automation.hourly_schedule import hourly_report_schedule
from storemon_pipeline.automation.inbox import MAX_INGEST_ATTEMPTS, InboxCursor
from storemon_pipeline.automation.inbox_sensor import inbox_sensor
from storemon_pipeline.automation.request_sensor import report_request_sensor
from storemon_pipeline.automation.retention_schedule import retention_schedule
from storemon_pipeline.assets.raw import raw_paths_run_config

automation_sensors = [inbox_sensor, report_request_sensor]
automation_schedules = [hourly_report_schedule, retention_schedule]

__all__ = [
    "MAX_INGEST_ATTEMPTS",
    "InboxCursor",
    "automation_schedules",
    "automation_sensors",
    "hourly_report_schedule",
    "inbox_sensor",
    "raw_paths_run_config",
    "report_request_sensor",
    "retention_schedule",
]
