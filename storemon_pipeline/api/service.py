"""Trigger and look up reports: what the HTTP layer maps to responses.

The API keeps no state of its own; a report_id is a Dagster run id.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from storemon_pipeline.api.dagster_client import REPORT_JOB_NAMES, DagsterClient
from storemon_pipeline.api.errors import (
    ApiError,
    NothingToReport,
    ReportNotFound,
    WarehouseDown,
    one_line,
)
from storemon_pipeline.core.clock import as_of_from_partition_key, partition_key
from storemon_pipeline.resources import StoremonFiles, WarehouseResource, default_database_url, default_reports_dir
from storemon_pipeline.runs import IN_FLIGHT_STATUSES, PARTITION_TAG, TRIGGER_TAG, WILL_REPORT_STATUSES

log = logging.getLogger("storemon.api")

DEFAULT_DAGSTER_URL = "http://127.0.0.1:3000"
# Dagster run ids are lower-case canonical UUIDs; nothing else is looked up.
REPORT_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# Dagster's GraphQL spells run statuses as the enum's values.
RUNNING = tuple(status.value for status in IN_FLIGHT_STATUSES)
WILL_REPORT = tuple(status.value for status in WILL_REPORT_STATUSES)
TRIGGERED_BY_API = "api"


@dataclass(frozen=True)
class ApiSettings:
    """Where the API finds Dagster, the warehouse and the report files (env defaults)."""

    dagster_url: str = field(default_factory=lambda: os.getenv("STOREMON_DAGSTER_URL") or DEFAULT_DAGSTER_URL)
    database_url: str = field(default_factory=default_database_url)
    reports_dir: str = field(default_factory=default_reports_dir)
    # One GraphQL call; launching a run can take a few seconds on a busy 2-core machine.
    dagster_timeout_s: float = 30.0
    # Bearer token required on the report endpoints; None (STOREMON_API_TOKEN unset): open.
    api_token: str | None = field(default_factory=lambda: os.getenv("STOREMON_API_TOKEN") or None, repr=False)



# -- the reports -------------------------------------------------------------------------


class ReportStatus(BaseModel):
    status: Literal["Running", "Failed"] = Field(description="Running while queued or running; Failed after a failure")
    error: str | None = Field(default=None, description="why the report failed (only with Failed)")


class TriggerAnswer(BaseModel):
    report_id: str = Field(description="pass it to GET /get_report (a Dagster run id)")
    as_of: str = Field(description="the report's instant (partition key), e.g. 2023-01-25T18:13:23Z")


class ErrorBody(BaseModel):
    error: str


class WarehouseHealth(BaseModel):
    ok: bool
    error: str | None = None
    latest_report_as_of: str | None = Field(default=None, description="as-of a trigger would use now")


class DagsterHealth(BaseModel):
    ok: bool
    url: str
    error: str | None = None
    code_location: str | None = None
    daemons_healthy: dict[str, bool | None] | None = Field(
        default=None, description="required Dagster daemons (runs stay queued while the run queue daemon is down)"
    )


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    warehouse: WarehouseHealth
    dagster: DagsterHealth


@dataclass(frozen=True)
class CompletedReport:
    as_of: str
    csv: bytes


def parse_report_id(report_id: str | None) -> str:
    """The run id, or ReportNotFound: checked before anything touches Dagster or the disk."""
    if report_id is None or len(report_id) != 36 or not REPORT_ID.fullmatch(report_id.lower()):
        raise ReportNotFound("unknown report_id (expected the id returned by POST /trigger_report)")
    return report_id.lower()


class ReportService:
    """Trigger and look up reports; the HTTP layer only maps results and errors to responses."""

    def __init__(self, settings: ApiSettings) -> None:
        self.settings = settings
        self.dagster = DagsterClient(settings.dagster_url, settings.dagster_timeout_s)
        self.files = StoremonFiles(reports_dir=settings.reports_dir)
        # Check-then-launch is one critical section: two triggers at once in this process
        # launch one run. (Separate API processes rely on the same check, without the lock.)
        self._trigger_lock = threading.Lock()

    def warehouse(self):
        from storemon_pipeline.warehouse import WarehouseUnavailable, WarehouseUrlError

        try:
            return WarehouseResource(database_url=self.settings.database_url).open()
        except (WarehouseUrlError, WarehouseUnavailable) as error:
            # A URL storemon cannot use is the operator's to fix, like a database that is down: 503.
            raise WarehouseDown(str(error)) from None

    def latest_report_key(self) -> str | None:
        from storemon_pipeline.partitions import latest_report_partition_key
        from storemon_pipeline.warehouse import WarehouseUnavailable

        try:
            return latest_report_partition_key(self.warehouse())
        except WarehouseUnavailable as error:
            raise WarehouseDown(str(error)) from None

    def trigger(self) -> TriggerAnswer:
        key = self.latest_report_key()
        if key is None:
            raise NothingToReport("no pings in the warehouse yet: ingest a pings file, then trigger again")
        with self._trigger_lock:
            running = self.dagster.newest_report_run(key, WILL_REPORT)
            if running is not None:
                return TriggerAnswer(report_id=running, as_of=key)
            self.dagster.add_report_partition(key)
            run_id = self.dagster.launch_report_run(key, tags={TRIGGER_TAG: TRIGGERED_BY_API})
        log.info("launched report run %s for %s", run_id, key)
        return TriggerAnswer(report_id=run_id, as_of=key)

    def report(self, report_id: str | None) -> ReportStatus | CompletedReport:
        run_id = parse_report_id(report_id)
        run = self.dagster.run(run_id)
        if run is None or run.job_name not in REPORT_JOB_NAMES:
            raise ReportNotFound("unknown report_id (expected the id returned by POST /trigger_report)")
        if run.status in RUNNING:
            return ReportStatus(status="Running")
        if run.status == "CANCELED":
            return ReportStatus(status="Failed", error="the report run was canceled")
        if run.status != "SUCCESS":
            return ReportStatus(status="Failed", error=self.dagster.failure_reason(run_id))
        key = run.tags.get(PARTITION_TAG, "")
        path = self.report_file(key)
        if path is None:
            return ReportStatus(status="Failed", error="the run has no valid report partition tag")
        try:
            return CompletedReport(as_of=key, csv=path.read_bytes())
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return ReportStatus(
                status="Failed", error=f"the run succeeded but report_{key}.csv is no longer in the reports folder"
            )

    def report_file(self, key: str) -> Path | None:
        """The report CSV of partition `key`, only if the key is canonical and the path inside the folder."""
        try:
            if partition_key(as_of_from_partition_key(key)) != key:
                return None
        except (ValueError, OverflowError, OSError):
            return None
        folder = Path(self.settings.reports_dir).resolve()
        path = self.files.report_path(key).resolve()
        if not path.is_relative_to(folder) or path.parent != folder:
            return None
        return path

    def health(self) -> Health:
        warehouse = WarehouseHealth(ok=True)
        try:
            warehouse.latest_report_as_of = self.latest_report_key()
        except Exception as error:  # noqa: BLE001 - any failure means "not reachable"
            warehouse = WarehouseHealth(ok=False, error=one_line(getattr(error, "message", None) or error))
        dagster = DagsterHealth(ok=True, url=self.dagster.url)
        try:
            dagster.code_location = self.dagster.report_repository()["repositoryLocationName"]
            dagster.daemons_healthy = self.dagster.daemon_health()
        except ApiError as error:
            dagster = DagsterHealth(ok=False, url=self.dagster.url, error=error.message)
        except Exception as error:  # noqa: BLE001
            dagster = DagsterHealth(ok=False, url=self.dagster.url, error=one_line(f"{type(error).__name__}: {error}"))
        status = "ok" if warehouse.ok and dagster.ok else "unavailable"
        return Health(status=status, warehouse=warehouse, dagster=dagster)


