"""The classic report API on top of Dagster: POST /trigger_report, GET /get_report, GET /healthz.

A report_id is the id (a UUID) of the Dagster run of `report_job` that computes
the report. The API keeps no state of its own: it asks Dagster's GraphQL API
(the running webserver) for runs and reads the finished CSV from the reports
folder, so it can be restarted at any time and several copies agree.

    POST /trigger_report            adds the partition for the latest ping and launches its run;
                                    a run already queued or running for that as-of is returned instead
    GET  /get_report?report_id=ID   `Running` | `Failed` + a line with the reason (text/plain) | the CSV
    GET  /get_report/ID             the same
    GET  /healthz                   warehouse and Dagster reachable (200) or not (503)

Classic clients poll with their HTTP library's default `Accept: */*` and read a
text/plain `Running`; a client whose Accept names application/json gets
`{"status": "Running"}` / `{"status": "Failed", "error": ...}` instead. The CSV is
text/csv whatever the Accept. Every error is JSON `{"error": "..."}`; no stack trace
ever leaves the process.

When STOREMON_API_TOKEN is set, /trigger_report and /get_report require the header
`Authorization: Bearer <token>` (401 otherwise; compared in constant time). /healthz
and the OpenAPI docs stay open: they carry no report data, and probes need no secret.

/docs (Swagger UI) loads its script and style from this server, not a CDN, so it
works on a machine without the internet. /redoc is off: ReDoc's page fetches its
maker's logo from the internet.
"""

from __future__ import annotations

import hmac
import importlib.resources
import logging
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx
from dagster import Failure
from fastapi import Depends, FastAPI, Query, Request
from fastapi import Path as PathParameter
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from storemon_pipeline.core.clock import as_of_from_partition_key, partition_key
from storemon_pipeline.resources import StoremonFiles, WarehouseResource, default_database_url, default_reports_dir

log = logging.getLogger("storemon.api")

DEFAULT_DAGSTER_URL = "http://127.0.0.1:3000"
REPORT_JOB = "report_job"
# Jobs whose runs compute a store_report partition: the API's own, and the one the
# inbox sensor, the hourly schedule and request_report launch (automation.py).
REPORT_JOBS = (REPORT_JOB, "warehouse_report_job")
PARTITION_TAG = "dagster/partition"
PARTITIONS_DEF_NAME = "report_ts"
TRIGGER_TAG = "storemon/trigger"
# Dagster run statuses a client sees as "Running" (waiting for or doing work).
IN_FLIGHT_STATUSES = ("QUEUED", "NOT_STARTED", "STARTING", "STARTED", "MANAGED", "SUSPENDED", "CANCELING")
# Only these block a second launch: a run being canceled will not produce a report.
DEDUP_STATUSES = ("QUEUED", "NOT_STARTED", "STARTING", "STARTED")
# Dagster run ids are lower-case canonical UUIDs; nothing else is looked up.
REPORT_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
ERROR_MESSAGE_LIMIT = 2000
# Where /docs and /redoc find Swagger UI's and ReDoc's files, served by this app.
DOCS_ASSETS_URL = "/docs-assets"


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


# -- errors the client sees ------------------------------------------------------------


class ApiError(Exception):
    status_code = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Unauthorized(ApiError):
    status_code = 401


class ReportNotFound(ApiError):
    status_code = 404


class NothingToReport(ApiError):
    """No pings in the warehouse yet: there is no as-of to report on."""

    status_code = 409


class DagsterUnavailable(ApiError):
    """The webserver cannot be reached, or the storemon code location is not loaded."""

    status_code = 503


class WarehouseDown(ApiError):
    status_code = 503


class DagsterError(ApiError):
    """Dagster answered, but with an error (schema mismatch, launch refused)."""

    status_code = 502


def _short(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= ERROR_MESSAGE_LIMIT else text[: ERROR_MESSAGE_LIMIT - 1] + "…"


# -- Dagster through its GraphQL API -----------------------------------------------------

_WORKSPACE_QUERY = """
query StoremonWorkspace {
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError {
          __typename
          ... on RepositoryLocation { repositories { name jobs { name } } }
          ... on PythonError { message }
        }
      }
    }
    ... on PythonError { message }
  }
}
"""

_ADD_PARTITION_MUTATION = """
mutation StoremonAddPartition($repositorySelector: RepositorySelector!, $partitionsDefName: String!,
                              $partitionKey: String!) {
  addDynamicPartition(repositorySelector: $repositorySelector, partitionsDefName: $partitionsDefName,
                      partitionKey: $partitionKey) {
    __typename
    ... on Error { message }
  }
}
"""

_LAUNCH_MUTATION = """
mutation StoremonLaunchReport($executionParams: ExecutionParams!) {
  launchRun(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on Error { message }
  }
}
"""

_RUNS_QUERY = """
query StoremonRuns($filter: RunsFilter!) {
  runsOrError(filter: $filter, limit: 20) {
    __typename
    ... on Runs { results { runId status jobName } }
    ... on Error { message }
  }
}
"""

_RUN_QUERY = """
query StoremonRun($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run { runId status jobName tags { key value } }
    ... on Error { message }
  }
}
"""

_RUN_FAILURE_QUERY = """
query StoremonRunFailure($runId: ID!) {
  logsForRun(runId: $runId) {
    __typename
    ... on EventConnection {
      events {
        __typename
        ... on ExecutionStepFailureEvent { stepKey message error { ...ErrorChain } }
        ... on RunFailureEvent { message error { ...ErrorChain } }
      }
    }
    ... on Error { message }
  }
}

fragment ErrorChain on PythonError {
  message
  cause { message cause { message cause { message } } }
}
"""

_DAEMONS_QUERY = """
query StoremonDaemons {
  instance { daemonHealth { allDaemonStatuses { daemonType required healthy } } }
}
"""


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    status: str
    job_name: str
    tags: dict[str, str]


class DagsterClient:
    """The few GraphQL calls the API needs, against a running `dagster dev` / webserver."""

    def __init__(self, url: str, timeout_s: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, timeout=timeout_s)
        self._repository: dict[str, str] | None = None

    def close(self) -> None:
        self._http.close()

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            answer = self._http.post("/graphql", json={"query": query, "variables": variables or {}})
        except httpx.TransportError as error:
            raise DagsterUnavailable(
                f"Dagster webserver unreachable at {self.url}: {_short(str(error) or type(error).__name__)}"
            ) from None
        if answer.status_code != 200:
            raise DagsterUnavailable(f"Dagster webserver at {self.url} answered HTTP {answer.status_code}")
        try:
            body = answer.json()
        except ValueError:
            raise DagsterError(f"Dagster webserver at {self.url} answered something that is not JSON") from None
        if body.get("errors"):
            raise DagsterError(f"Dagster GraphQL error: {_short(body['errors'][0].get('message', body['errors']))}")
        return body["data"]

    # -- where report_job lives ---------------------------------------------------------

    def report_repository(self) -> dict[str, str]:
        """{repositoryLocationName, repositoryName} of the repository holding report_job (cached)."""
        if self._repository is None:
            self._repository = self._find_report_repository()
        return self._repository

    def _find_report_repository(self) -> dict[str, str]:
        workspace = self.graphql(_WORKSPACE_QUERY)["workspaceOrError"]
        if workspace["__typename"] != "Workspace":
            raise DagsterError(f"Dagster workspace error: {_short(workspace.get('message', ''))}")
        problems = []
        for entry in workspace["locationEntries"]:
            location = entry.get("locationOrLoadError") or {}
            if location.get("__typename") == "RepositoryLocation":
                for repository in location["repositories"]:
                    if any(job["name"] == REPORT_JOB for job in repository["jobs"]):
                        return {"repositoryLocationName": entry["name"], "repositoryName": repository["name"]}
            elif location.get("__typename") == "PythonError":
                problems.append(f"code location {entry['name']} failed to load: {_short(location['message'])}")
            else:
                problems.append(f"code location {entry['name']} is {entry['loadStatus'].lower()}")
        detail = "; ".join(problems) or "no code location defines it"
        raise DagsterUnavailable(f"Dagster at {self.url} has no {REPORT_JOB}: {detail}")

    # -- runs ----------------------------------------------------------------------------

    def add_report_partition(self, key: str) -> None:
        result = self.graphql(
            _ADD_PARTITION_MUTATION,
            {"repositorySelector": self.report_repository(), "partitionsDefName": PARTITIONS_DEF_NAME,
             "partitionKey": key},
        )["addDynamicPartition"]
        # A key added before (by the schedule, the sensor or an earlier trigger) is what we want.
        if result["__typename"] not in ("AddDynamicPartitionSuccess", "DuplicateDynamicPartitionError"):
            raise DagsterError(f"adding report partition {key} failed: {_short(result.get('message', result))}")

    def launch_report_run(
        self, key: str, *, run_config: dict | None = None, tags: dict[str, str] | None = None,
        asset_selection: list[list[str]] | None = None,
    ) -> str:
        selector = {**self.report_repository(), "jobName": REPORT_JOB}
        if asset_selection is not None:
            selector["assetSelection"] = [{"path": path} for path in asset_selection]
        all_tags = {PARTITION_TAG: key, **(tags or {})}
        params = {
            "selector": selector,
            "runConfigData": run_config or {},
            "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in all_tags.items()]},
        }
        result = self.graphql(_LAUNCH_MUTATION, {"executionParams": params})["launchRun"]
        if result["__typename"] == "LaunchRunSuccess":
            return result["run"]["runId"]
        if result["__typename"] == "PipelineNotFoundError":
            self._repository = None  # the code location was reloaded or renamed: look again next time
        reason = result.get("message") or "; ".join(e["message"] for e in result.get("errors", []))
        raise DagsterError(f"Dagster refused to launch {REPORT_JOB} for {key}: {_short(reason or result['__typename'])}")

    def newest_report_run(self, key: str, statuses: tuple[str, ...]) -> str | None:
        """The newest run of a report job (REPORT_JOBS) for partition `key` in one of `statuses`, else None."""
        result = self.graphql(
            _RUNS_QUERY,
            {"filter": {"tags": [{"key": PARTITION_TAG, "value": key}], "statuses": list(statuses)}},
        )["runsOrError"]
        if result["__typename"] != "Runs":
            raise DagsterError(f"listing report runs failed: {_short(result.get('message', ''))}")
        # Newest first; any partitioned run of another job (none today) is not a report.
        return next((run["runId"] for run in result["results"] if run["jobName"] in REPORT_JOBS), None)

    def run(self, run_id: str) -> RunInfo | None:
        result = self.graphql(_RUN_QUERY, {"runId": run_id})["runOrError"]
        if result["__typename"] == "RunNotFoundError":
            return None
        if result["__typename"] != "Run":
            raise DagsterError(f"reading run {run_id} failed: {_short(result.get('message', ''))}")
        tags = {tag["key"]: tag["value"] for tag in result["tags"]}
        return RunInfo(result["runId"], result["status"], result["jobName"], tags)

    def failure_reason(self, run_id: str) -> str:
        """The first failed step's error (else the run failure message), one line, no stack."""
        result = self.graphql(_RUN_FAILURE_QUERY, {"runId": run_id})["logsForRun"]
        if result["__typename"] != "EventConnection":
            return "the report run failed"
        events = result["events"]
        for event in events:
            if event["__typename"] == "ExecutionStepFailureEvent":
                return _short(f"step {event['stepKey']} failed: {_root_cause(event.get('error'), event['message'])}")
        for event in events:
            if event["__typename"] == "RunFailureEvent":
                return _short(_root_cause(event.get("error"), event["message"]))
        return "the report run failed"

    def daemon_health(self) -> dict[str, bool | None]:
        statuses = self.graphql(_DAEMONS_QUERY)["instance"]["daemonHealth"]["allDaemonStatuses"]
        return {s["daemonType"]: s["healthy"] for s in statuses if s["required"]}


def _root_cause(error: dict | None, fallback: str) -> str:
    """The innermost error's message ("FileExistsError: ..."), not Dagster's "Error occurred while executing"."""
    message = fallback
    while error:
        message = error.get("message") or message
        error = error.get("cause")
    # A step's own refusal (dagster Failure) is already one line for a person: drop the class path.
    return message.strip().removeprefix(f"{Failure.__module__}.{Failure.__name__}: ")


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
            running = self.dagster.newest_report_run(key, DEDUP_STATUSES)
            if running is not None:
                return TriggerAnswer(report_id=running, as_of=key)
            self.dagster.add_report_partition(key)
            run_id = self.dagster.launch_report_run(key, tags={TRIGGER_TAG: "api"})
        log.info("launched report run %s for %s", run_id, key)
        return TriggerAnswer(report_id=run_id, as_of=key)

    def report(self, report_id: str | None) -> ReportStatus | CompletedReport:
        run_id = parse_report_id(report_id)
        run = self.dagster.run(run_id)
        if run is None or run.job_name not in REPORT_JOBS:
            raise ReportNotFound("unknown report_id (expected the id returned by POST /trigger_report)")
        if run.status in IN_FLIGHT_STATUSES:
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
            warehouse = WarehouseHealth(ok=False, error=_short(getattr(error, "message", None) or error))
        dagster = DagsterHealth(ok=True, url=self.dagster.url)
        try:
            dagster.code_location = self.dagster.report_repository()["repositoryLocationName"]
            dagster.daemons_healthy = self.dagster.daemon_health()
        except ApiError as error:
            dagster = DagsterHealth(ok=False, url=self.dagster.url, error=error.message)
        except Exception as error:  # noqa: BLE001
            dagster = DagsterHealth(ok=False, url=self.dagster.url, error=_short(f"{type(error).__name__}: {error}"))
        status = "ok" if warehouse.ok and dagster.ok else "unavailable"
        return Health(status=status, warehouse=warehouse, dagster=dagster)


# -- HTTP ----------------------------------------------------------------------------------

_ERRORS = {
    401: {"model": ErrorBody, "description": "STOREMON_API_TOKEN is set and the bearer token is missing or wrong"},
    404: {"model": ErrorBody, "description": "unknown or malformed report_id"},
    409: {"model": ErrorBody, "description": "no pings in the warehouse yet"},
    502: {"model": ErrorBody, "description": "Dagster answered with an error"},
    503: {"model": ErrorBody, "description": "Dagster or the warehouse unreachable"},
}


def _error(status_code: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status_code)


# The report status in the Accept ranges that decide its form, most specific first.
_PLAIN_TEXT_RANGES = ("text/plain", "text/*", "*/*")


def wants_json(accept: str | None) -> bool:
    """True when the Accept header names application/json and does not prefer text/plain to it.

    `*/*` (what HTTP libraries send by default), `application/*` and no Accept at all mean
    plain text: the form classic clients parse. Equal preference goes to JSON, the form the
    client named (axios sends `application/json, text/plain, */*`).
    """
    json_q, text_q = None, {}
    for item in (accept or "").split(","):
        media_range, *parameters = (part.strip() for part in item.split(";"))
        q = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0  # a q that is not a number: the range is not accepted
        media_range = media_range.lower()
        if media_range == "application/json":
            json_q = max(q, json_q or 0.0)
        elif media_range in _PLAIN_TEXT_RANGES:
            text_q[media_range] = max(q, text_q.get(media_range, 0.0))
    # text/plain's own preference is that of the most specific range matching it.
    plain_q = next((text_q[r] for r in _PLAIN_TEXT_RANGES if r in text_q), 0.0)
    return json_q is not None and json_q > 0 and json_q >= plain_q


def report_status_response(status: ReportStatus, accept: str | None) -> Response:
    """Running / Failed as text/plain (`Failed`, then the reason on a second line), or as JSON on request."""
    headers = {"Vary": "Accept"}
    if wants_json(accept):
        return JSONResponse(status.model_dump(exclude_none=True), headers=headers)
    lines = [status.status, *([" ".join(status.error.split())] if status.error else [])]
    return PlainTextResponse("\n".join(lines), headers=headers)


def report_csv_response(report: CompletedReport) -> Response:
    filename = f"report_{report.as_of.replace(':', '-')}.csv"
    return Response(
        content=report.csv,
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


_bearer = HTTPBearer(auto_error=False, description="the server's STOREMON_API_TOKEN (only when it is set)")


def token_check(expected_token: str | None):
    """A dependency refusing requests without `Authorization: Bearer <expected_token>` (none: no check)."""
    expected = expected_token.encode() if expected_token else None

    def require_token(credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> None:
        if expected is None:
            return
        given = credentials.credentials.encode() if credentials is not None else b""
        # compare_digest: the time taken does not tell how much of a guess was right.
        if not hmac.compare_digest(given, expected):
            raise Unauthorized("missing or wrong API token (send the header Authorization: Bearer <token>)")

    return require_token


def docs_assets_dir() -> Path:
    """Swagger UI 5 as files (swagger-ui-bundle.js, swagger-ui.css, favicon.png), from the
    fastapi-offline package. (swagger-ui-bundle ships Swagger UI 4, which cannot render the
    OpenAPI 3.1 schema FastAPI writes.)"""
    return Path(str(importlib.resources.files("fastapi_offline"))) / "static"


def add_offline_docs(app: FastAPI) -> None:
    """/docs built on files this app serves: FastAPI's default loads them from a CDN, a blank
    page on a machine without the internet."""
    app.mount(DOCS_ASSETS_URL, StaticFiles(directory=docs_assets_dir()), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{DOCS_ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{DOCS_ASSETS_URL}/favicon.png",
            oauth2_redirect_url=None,  # bearer tokens only, no OAuth2 flow
            # No badge from the online validator (validator.swagger.io).
            swagger_ui_parameters={"validatorUrl": None},
        )


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    settings = settings or ApiSettings()
    service = ReportService(settings)
    protected = [Depends(token_check(settings.api_token))]
    app = FastAPI(
        title="storemon report API",
        version="1.0",
        description="Trigger a store uptime report (as of the latest ping) through Dagster and fetch its CSV.",
        docs_url=None,  # add_offline_docs serves it from local files
        redoc_url=None,  # ReDoc loads its maker's logo from the internet: one docs page, offline
    )
    app.state.service = service
    add_offline_docs(app)

    @app.exception_handler(ApiError)
    async def api_error(_request: Request, error: ApiError) -> JSONResponse:
        response = _error(error.status_code, error.message)
        if error.status_code == 401:
            response.headers["WWW-Authenticate"] = "Bearer"
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, error: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(map(str, e.get('loc', ())))}: {e.get('msg', '')}" for e in error.errors())
        return _error(422, _short(f"invalid request: {problems}"))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, error: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(error.detail)}, status_code=error.status_code, headers=error.headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=error)
        return _error(500, "internal error (details are in the API server's log)")

    @app.post(
        "/trigger_report",
        response_model=TriggerAnswer,
        responses={k: _ERRORS[k] for k in (401, 409, 502, 503)},
        summary="Start the report as of the latest ping",
        dependencies=protected,
    )
    def trigger_report() -> TriggerAnswer:
        """Adds the report partition for the latest ping (rounded up to the second) and launches its Dagster run.

        While a run for the same as-of is queued or running, its report_id is returned and nothing is launched."""
        return service.trigger()

    # GET /get_report?report_id=ID and GET /get_report/ID: one behaviour, one description.
    get_report_route = dict(
        response_model=ReportStatus,
        responses={
            200: {
                "description": "`Running` while the run is queued or running; `Failed` and, on a second line, why; "
                "as text/plain by default, as JSON (`{\"status\": ...}`) when Accept names application/json. "
                "Once complete, the report itself: a CSV attachment whatever the Accept.",
                "content": {
                    "text/plain": {
                        "schema": {"type": "string"},
                        "examples": {
                            "running": {"value": "Running"},
                            "failed": {"value": "Failed\nstep store_report failed: FileExistsError: ..."},
                        },
                    },
                    "text/csv": {
                        "schema": {"type": "string"},
                        "example": "store_id,uptime_last_hour,uptime_last_day,uptime_last_week,"
                        "downtime_last_hour,downtime_last_day,downtime_last_week\n",
                    },
                },
            },
            **{k: _ERRORS[k] for k in (401, 404, 502, 503)},
        },
        summary="Status of a report, or the report CSV once complete",
        dependencies=protected,
    )

    def report_answer(report_id: str | None, request: Request) -> Response:
        outcome = service.report(report_id)
        if isinstance(outcome, ReportStatus):
            return report_status_response(outcome, request.headers.get("accept"))
        return report_csv_response(outcome)

    @app.get("/get_report", **get_report_route)
    def get_report(
        request: Request,
        report_id: str | None = Query(default=None, description="the id POST /trigger_report returned"),
    ) -> Response:
        return report_answer(report_id, request)

    @app.get("/get_report/{report_id}", **get_report_route, operation_id="get_report_by_path")
    def get_report_by_path(
        request: Request,
        report_id: str = PathParameter(description="the id POST /trigger_report returned"),
    ) -> Response:
        """The same as GET /get_report?report_id=..."""
        return report_answer(report_id, request)

    @app.get(
        "/healthz",
        response_model=Health,
        responses={503: {"model": Health, "description": "the warehouse or Dagster is unreachable"}},
        summary="Are the warehouse and Dagster reachable?",
    )
    def healthz() -> JSONResponse:
        health = service.health()
        return JSONResponse(health.model_dump(), status_code=200 if health.status == "ok" else 503)

    return app


def serve(host: str = "127.0.0.1", port: int = 8000, settings: ApiSettings | None = None) -> None:
    import uvicorn

    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")
