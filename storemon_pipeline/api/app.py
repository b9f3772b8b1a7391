"""The HTTP layer: routes, content negotiation for classic clients, offline docs, the bearer token."""

from __future__ import annotations

import hmac
import importlib.resources
import logging
from pathlib import Path

from fastapi import Depends, FastAPI, Query, Request
from fastapi import Path as PathParameter
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from storemon_pipeline.api.errors import ApiError, Unauthorized, one_line
from storemon_pipeline.api.service import (
    ApiSettings,
    CompletedReport,
    ErrorBody,
    Health,
    ReportService,
    ReportStatus,
    TriggerAnswer,
)

log = logging.getLogger("storemon.api")

# Where /docs finds Swagger UI's files, served by this app.
DOCS_ASSETS_URL = "/docs-assets"


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
    from storemon_pipeline.store_pages.router import store_pages_router; app.include_router(store_pages_router(settings), dependencies=protected)  # noqa: E702, I001

    @app.exception_handler(ApiError)
    async def api_error(_request: Request, error: ApiError) -> JSONResponse:
        response = _error(error.status_code, error.message)
        if error.status_code == 401:
            response.headers["WWW-Authenticate"] = "Bearer"
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, error: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(map(str, e.get('loc', ())))}: {e.get('msg', '')}" for e in error.errors())
        return _error(422, one_line(f"invalid request: {problems}"))

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
