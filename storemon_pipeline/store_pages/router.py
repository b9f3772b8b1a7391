"""The HTTP side of the store pages: a FastAPI APIRouter that create_app includes with one line.

Thin on purpose: each endpoint opens the warehouse, calls store_pages.service, and maps the
result or the one-line refusal to a response (JSON `{"error": ...}` for the JSON endpoint, a
small HTML page for the pages). The router knows the API's settings only by their
`database_url`, so it does not depend on how the API module is laid out.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from storemon_pipeline.core.segments import ACTIVE, INACTIVE, UNKNOWN
from storemon_pipeline.core.timeline import timeline_json, timeline_layout
from storemon_pipeline.resources import WarehouseResource
from storemon_pipeline.store_pages import service
from storemon_pipeline.store_pages.paths import STORE_PAGE_ROUTE, STORE_TIMELINE_ROUTE
from storemon_pipeline.store_pages.render import CONTENT_SECURITY_POLICY, index_html, message_html, store_page_html
from storemon_pipeline.warehouse import Warehouse, WarehouseUnavailable, WarehouseUrlError

_AS_OF_QUERY = Query(
    default=None, description="a report's as-of (partition key, e.g. 2023-01-25T18:13:23Z); default: the latest report"
)


class TimelineSegment(BaseModel):
    start: str = Field(description="ISO 8601 UTC, e.g. 2023-01-25T09:00:00Z")
    end: str
    status: Literal[ACTIVE, INACTIVE, UNKNOWN]  # type: ignore[valid-type]


class TimelinePing(BaseModel):
    timestamp: str
    status: Literal[ACTIVE, INACTIVE]  # type: ignore[valid-type]
    evidence: bool = Field(description="taken during business hours, so it counts (docs/report-semantics.md)")


class TimelineInterval(BaseModel):
    start: str
    end: str


class TimelineAnswer(BaseModel):
    store_id: str
    as_of: str
    timezone: str
    segments: list[TimelineSegment] = Field(description="the week's business time; active adds up to uptime_last_week")
    pings: list[TimelinePing] = Field(description="the store's pings in [as_of - 8 d, as_of]")
    business_intervals: list[TimelineInterval]
    report: dict[str, str | float] = Field(description="the store's row of the report")
    notes: list[str] = Field(description="where the stored data moved since the report run (usually empty)")


class PageErrorBody(BaseModel):
    error: str


_ERRORS = {
    404: {"model": PageErrorBody, "description": "no such report (as_of) or store in it"},
    409: {"model": PageErrorBody, "description": "the report's segments were pruned: re-run it for that as-of"},
    503: {"model": PageErrorBody, "description": "the warehouse is unreachable"},
}
_HTML = {"content": {"text/html": {"schema": {"type": "string"}}}}
_TITLES = {404: "Not found", 409: "Re-run the report", 503: "Warehouse unavailable"}


def _html(content: str, status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(content, status_code=status_code, headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY})


def store_pages_router(settings) -> APIRouter:
    """The pages and the timeline endpoint on the warehouse at `settings.database_url`."""
    database_url = settings.database_url
    router = APIRouter(tags=["store pages"])

    def answer(build, as_html: bool) -> Response:
        try:
            try:
                warehouse: Warehouse = WarehouseResource(database_url=database_url).open()
                return build(warehouse)
            except (WarehouseUrlError, WarehouseUnavailable) as error:
                # A URL storemon cannot use is the operator's to fix, like a database that is down: 503.
                raise service.WarehouseDown(str(error)) from None
        except service.PageError as error:
            if as_html:
                return _html(message_html(_TITLES.get(error.status_code, "Error"), error.message), error.status_code)
            return JSONResponse({"error": error.message}, status_code=error.status_code)

    @router.get("/", response_class=HTMLResponse, responses={200: _HTML, 404: _ERRORS[404], 503: _ERRORS[503]},
                summary="The latest report's worst stores, each linked to its page")
    def worst_stores_page(as_of: str | None = _AS_OF_QUERY) -> Response:
        def build(warehouse):
            worst, n_stores, choice = service.load_worst_stores(warehouse, as_of)
            return _html(index_html(choice.key, worst, n_stores, choice.keys))

        return answer(build, as_html=True)

    # Before the page's route: `{store_id:path}` would also match ".../timeline".
    @router.get(STORE_TIMELINE_ROUTE, response_model=TimelineAnswer, responses=_ERRORS,
                summary="A store's report week: segments, pings, business hours and its report row")
    def store_timeline(store_id: str, as_of: str | None = _AS_OF_QUERY) -> Response:
        def build(warehouse):
            timeline, _ = service.load_timeline(warehouse, store_id, as_of)
            return JSONResponse(timeline_json(timeline))

        return answer(build, as_html=False)

    @router.get(STORE_PAGE_ROUTE, response_class=HTMLResponse, responses={200: _HTML, **_ERRORS},
                summary="A store's report week as a page (HTML)")
    def store_page(store_id: str, as_of: str | None = _AS_OF_QUERY) -> Response:
        def build(warehouse):
            timeline, choice = service.load_timeline(warehouse, store_id, as_of)
            return _html(store_page_html(timeline, timeline_layout(timeline), choice.keys))

        return answer(build, as_html=True)

    return router
